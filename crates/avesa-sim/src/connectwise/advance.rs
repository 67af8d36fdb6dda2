//! Moving a simulated company's clock forward: updates, creates and deletes spread over the
//! tables in proportion to their sizes, each update, create and (company) soft delete
//! stamped with a `_info.lastUpdated` inside the advanced window.
//!
//! The four synced tables ([`super::CW_TABLES`]) draw from one random stream in a fixed
//! order (updates, creates, then deletes only when asked for); agreements,
//! configurations, projects, opportunities, boards and board statuses draw from a second
//! stream, so the synced tables' changes depend only on how many of them each gets. Boards
//! and board statuses come from the catalog: they are updated, never created or deleted.

use std::collections::{BTreeMap, HashSet};

use rand::distributions::{Distribution, WeightedIndex};

use super::catalog::*;
use super::data::Dataset;
use super::generate::*;
use super::{AdvanceReport, AdvanceSpec, Table};

/// Every table an advance changes, in allocation order: the synced ones, then the ones that
/// are created and deleted too, then the catalog ones (updated only).
const CHANGED: [Table; 10] = [
    Table::Companies,
    Table::Contacts,
    Table::Tickets,
    Table::TimeEntries,
    Table::Agreements,
    Table::Configurations,
    Table::Projects,
    Table::Opportunities,
    Table::Boards,
    Table::BoardStatuses,
];

const DAY: i64 = 86_400;

/// Splits `total` over tables in proportion to `sizes` (largest remainder), giving every
/// eligible table at least one when there are enough to go round. With `cap`, no table gets
/// more than it has rows.
pub(super) fn allocate<const N: usize>(total: usize, sizes: [usize; N], cap: bool) -> [usize; N] {
    let mut out = [0usize; N];
    let eligible: Vec<usize> = (0..N).filter(|&i| !cap || sizes[i] > 0).collect();
    if eligible.is_empty() || total == 0 {
        return out;
    }
    let limit = |i: usize| if cap { sizes[i] } else { usize::MAX };
    let mut remaining = if cap { total.min(sizes.iter().sum()) } else { total };
    if remaining >= eligible.len() {
        for &i in &eligible {
            out[i] = 1;
        }
        remaining -= eligible.len();
    }
    while remaining > 0 {
        let open: Vec<usize> = eligible.iter().copied().filter(|&i| out[i] < limit(i)).collect();
        if open.is_empty() {
            break;
        }
        let weight: Vec<f64> = open.iter().map(|&i| (sizes[i] as f64).max(1.0)).collect();
        let sum: f64 = weight.iter().sum();
        let mut given = 0;
        let mut rems: Vec<(f64, usize)> = Vec::new();
        for (k, &i) in open.iter().enumerate() {
            let exact = remaining as f64 * weight[k] / sum;
            let add = (exact.floor() as usize).min(limit(i) - out[i]);
            out[i] += add;
            given += add;
            rems.push((exact - exact.floor(), i));
        }
        remaining -= given;
        rems.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in rems {
            if remaining == 0 {
                break;
            }
            if out[i] < limit(i) {
                out[i] += 1;
                remaining -= 1;
            }
        }
        if given == 0 && remaining > 0 && open.iter().all(|&i| out[i] >= limit(i)) {
            break;
        }
    }
    out
}

fn push_id(map: &mut BTreeMap<String, Vec<i64>>, t: Table, id: i64) {
    map.entry(t.path().to_string()).or_default().push(id);
}

/// Picks `k` distinct rows of `pool`, preferring `preferred` (rows of the pool) for about
/// `share` of them. With `pool` = `0..len` this draws exactly what sampling `0..len` does.
fn choose(g: &mut Gen, pool: &[usize], k: usize, preferred: &[usize], share: f64) -> Vec<usize> {
    let len = pool.len();
    let k = k.min(len);
    let want_pref = ((k as f64 * share).round() as usize).min(preferred.len());
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(k);
    for i in rand::seq::index::sample(&mut g.rng, preferred.len(), want_pref) {
        if seen.insert(preferred[i]) {
            out.push(preferred[i]);
        }
    }
    for i in rand::seq::index::sample(&mut g.rng, len, k) {
        if out.len() >= k {
            break;
        }
        if seen.insert(pool[i]) {
            out.push(pool[i]);
        }
    }
    out
}

pub(super) fn advance(ds: &mut Dataset, spec: &AdvanceSpec) -> AdvanceReport {
    let secs = spec.duration.num_seconds().max(1);
    let from = ds.now;
    let to = from + secs;
    ds.advances += 1;
    let mut g = Gen::new(ds.spec.seed, 1_000 + ds.advances);
    let at = |g: &mut Gen| from + g.range(1, secs + 1);
    // rows that may change: served ones, and not soft-deleted companies
    let companies_live: Vec<usize> =
        (0..ds.companies.len()).filter(|&i| ds.companies[i].deleted.is_none()).collect();
    let pools = [
        companies_live,
        ds.live_rows(Table::Contacts),
        ds.live_rows(Table::Tickets),
        ds.live_rows(Table::TimeEntries),
    ];
    let more_pools = [
        ds.live_rows(Table::Agreements),
        ds.live_rows(Table::Configurations),
        ds.live_rows(Table::Projects),
        ds.live_rows(Table::Opportunities),
        (0..ds.boards.len()).collect::<Vec<usize>>(),
        (0..ds.statuses.len()).collect::<Vec<usize>>(),
    ];
    let sizes: [usize; 10] =
        std::array::from_fn(|k| if k < 4 { pools[k].len() } else { more_pools[k - 4].len() });
    let updates = allocate(spec.updates, sizes, true);
    let creates = allocate(spec.creates, std::array::from_fn::<usize, 8, _>(|k| sizes[k]), false);
    let mut g2 = Gen::new(ds.spec.seed, 7_000 + ds.advances);
    let mut updated: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut created: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut deleted: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for t in CHANGED {
        updated.insert(t.path().to_string(), Vec::new());
        created.insert(t.path().to_string(), Vec::new());
        deleted.insert(t.path().to_string(), Vec::new());
    }
    let active: Vec<u16> =
        ds.members.iter().enumerate().filter(|(_, m)| !m.inactive).map(|(i, _)| i as u16).collect();
    let updater = |g: &mut Gen| if active.is_empty() { 0 } else { g.pick(&active) };

    // ---- updates
    for i in choose(&mut g, &pools[0], updates[0], &[], 0.0) {
        let t = at(&mut g);
        let by = updater(&mut g);
        let c = &mut ds.companies[i];
        if g.chance(0.6) {
            let area = c.phone.get(..3).unwrap_or("555").to_string();
            let mut phone = c.phone.clone();
            while phone == c.phone {
                phone = format!("{area}555{:04}", g.range(100, 10_000));
            }
            c.phone = phone;
        } else {
            c.status = 1 - c.status.min(1);
        }
        c.last_updated = t;
        c.updated_by = by;
        push_id(&mut updated, Table::Companies, c.id);
    }
    for i in choose(&mut g, &pools[1], updates[1], &[], 0.0) {
        let t = at(&mut g);
        let by = updater(&mut g);
        let c = &mut ds.contacts[i];
        let mut title = c.title;
        while title == c.title {
            title = g.pick(&CONTACT_TITLES);
        }
        c.title = title;
        c.last_updated = t;
        c.updated_by = by;
        push_id(&mut updated, Table::Contacts, c.id);
    }
    let open: Vec<usize> = ds
        .tickets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.closed.is_none() && !t.deleted)
        .map(|(i, _)| i)
        .collect();
    for i in choose(&mut g, &pools[2], updates[2], &open, 0.6) {
        let t = at(&mut g);
        let by = updater(&mut g);
        let members = &ds.members;
        let tk = &mut ds.tickets[i];
        let board = tk.board as usize;
        let statuses = BOARDS[board].statuses;
        let has = |name: &str| statuses.contains(&name);
        let name = statuses[tk.status as usize];
        let next = match name {
            STATUS_NEW => STATUS_IN_PROGRESS,
            STATUS_IN_PROGRESS => {
                let r = g.index(100);
                if r < 30 && has(STATUS_WAITING) {
                    STATUS_WAITING
                } else if r < 45 && has(STATUS_SCHEDULED) {
                    STATUS_SCHEDULED
                } else if g.chance(0.6) {
                    STATUS_CLOSED
                } else {
                    STATUS_COMPLETED
                }
            }
            STATUS_WAITING | STATUS_SCHEDULED => {
                if g.chance(0.5) {
                    STATUS_IN_PROGRESS
                } else {
                    STATUS_COMPLETED
                }
            }
            STATUS_COMPLETED => STATUS_CLOSED,
            _ => STATUS_IN_PROGRESS, // Closed: reopened
        };
        if tk.owner.is_none() {
            tk.owner = pick_owner(&mut g, members, board);
        }
        if next != STATUS_NEW {
            tk.responded.get_or_insert(t);
        }
        if is_closed_status(next) {
            if tk.closed.is_none() {
                tk.resolved = Some(t);
                tk.closed = Some(t);
                tk.closed_by = tk.owner.or(Some(by));
                let plan = PRIORITIES[tk.priority as usize].5;
                tk.in_sla = t - tk.entered <= plan * 60 * 2;
            }
        } else {
            tk.resolved = None;
            tk.closed = None;
            tk.closed_by = None;
        }
        tk.status = status_index(board, next);
        tk.last_updated = t;
        tk.updated_by = by;
        push_id(&mut updated, Table::Tickets, tk.id);
    }
    for i in choose(&mut g, &pools[3], updates[3], &[], 0.0) {
        let t = at(&mut g);
        let e = &mut ds.entries[i];
        let max_q = ((t - e.start) / 900).clamp(1, 32) as u16;
        if max_q > 1 || e.quarters != 1 {
            let mut q = e.quarters;
            while q == e.quarters {
                q = g.range(1, max_q as i64 + 1) as u16;
            }
            e.quarters = q;
            e.end = e.start + q as i64 * 900;
        } else {
            e.notes =
                ((e.notes as usize + 1 + g.index(ENTRY_NOTES.len() - 1)) % ENTRY_NOTES.len()) as u8;
        }
        if g.chance(0.15) {
            e.billable = g.weighted(&BILLABLE.map(|b| b.1)) as u8;
        }
        if e.status == ENTRY_BILLED {
            e.status = ENTRY_READY;
        }
        e.last_updated = t;
        e.updated_by = e.member;
        push_id(&mut updated, Table::TimeEntries, e.id);
    }

    update_more(ds, &mut g2, &more_pools, &updates, from, secs, &active, &mut updated);

    // ---- creates
    let mut names: HashSet<String> =
        ds.companies.iter().map(|c| c.name.to_ascii_lowercase()).collect();
    let mut identifiers: HashSet<String> =
        ds.companies.iter().map(|c| c.identifier.to_ascii_lowercase()).collect();
    let mut new_companies: Vec<(i64, usize)> = Vec::new();
    for _ in 0..creates[0] {
        let t = at(&mut g);
        let id = next_id(&mut g, ds.companies.last().map_or(249, |c| c.id));
        let mut c =
            new_company(&mut g, id, day_start(t), &ds.members, &mut names, &mut identifiers);
        c.status = 0;
        c.weight = if c.kind == TYPE_CLIENT { 0.02 } else { 0.001 };
        c.last_updated = t;
        ds.companies.push(c);
        ds.company_contacts.push(Vec::new());
        new_companies.push((t, ds.companies.len() - 1));
        push_id(&mut created, Table::Companies, id);
    }
    // soft-deleted companies get no new contacts or tickets
    let company_dist = WeightedIndex::new(
        ds.companies.iter().map(|c| if c.deleted.is_some() { 0.0 } else { c.weight.max(1e-9) }),
    )
    .ok();
    let fallback = ds.companies.iter().position(|c| c.deleted.is_none()).unwrap_or(0);
    for _ in 0..creates[1] {
        let Some(dist) = &company_dist else { break };
        let t = at(&mut g);
        let mut ci = dist.sample(&mut g.rng);
        // a company created in this window only gets contacts after it exists
        if new_companies.iter().any(|&(ct, i)| i == ci && ct > t) {
            ci = fallback;
        }
        let id = next_id(&mut g, ds.contacts.last().map_or(1_799, |c| c.id));
        let mut c = new_contact(&mut g, id, ci as u32, &ds.companies[ci], false);
        c.last_updated = t;
        c.updated_by = updater(&mut g);
        ds.company_contacts[ci].push(ds.contacts.len() as u32);
        ds.contacts.push(c);
        push_id(&mut created, Table::Contacts, id);
    }
    let board_w = BOARDS.map(|b| b.weight);
    for _ in 0..creates[2] {
        let Some(dist) = &company_dist else { break };
        let t = at(&mut g);
        let mut ci = dist.sample(&mut g.rng);
        if new_companies.iter().any(|&(ct, i)| i == ci && ct > t) {
            ci = fallback;
        }
        let board = g.weighted(&board_w);
        let mut tk = new_generated_ticket(
            &mut g,
            true,
            board,
            ci as u32,
            t,
            t,
            &ds.companies,
            &ds.contacts,
            &ds.company_contacts,
            &ds.members,
        );
        tk.id = next_id(&mut g, ds.tickets.last().map_or(240_999, |t| t.id));
        push_id(&mut created, Table::Tickets, tk.id);
        ds.tickets.push(tk);
    }
    let open_tickets: Vec<usize> = ds
        .tickets
        .iter()
        .enumerate()
        .filter(|(_, tk)| tk.closed.is_none() && !tk.deleted)
        .map(|(i, _)| i)
        .collect();
    for _ in 0..creates[3] {
        let t = at(&mut g);
        // prefer an open ticket entered at least 15 minutes before the entry ends
        let open: Vec<usize> =
            open_tickets.iter().copied().filter(|&i| ds.tickets[i].entered <= t - 900).collect();
        let ti = if !open.is_empty() && g.chance(0.85) {
            Some(g.pick(&open))
        } else {
            (0..50)
                .map(|_| g.index(ds.tickets.len()))
                .find(|&i| ds.tickets.get(i).is_some_and(|tk| !tk.deleted && tk.entered <= t - 900))
        };
        let Some(ti) = ti else { continue };
        let tk = &ds.tickets[ti];
        let board = tk.board as usize;
        let q = quarters_for(&mut g, board).min(((t - tk.entered) / 900).clamp(1, 32) as u16);
        let member = match tk.owner {
            Some(o) if g.chance(0.7) => o,
            _ => pick_owner(&mut g, &ds.members, board).unwrap_or(0),
        };
        let start = t - q as i64 * 900;
        let billable = billable_for(&mut g, board);
        let id = next_id(&mut g, ds.entries.last().map_or(1_179_999, |e| e.id));
        let e = super::data::TimeEntry {
            id,
            ticket: ti as u32,
            company: tk.company,
            member,
            work_type: work_type_for(&mut g, board, start),
            work_role: ds.members.get(member as usize).map_or(0, |m| m.role),
            start,
            end: t,
            quarters: q,
            billable,
            notes: g.index(ENTRY_NOTES.len()) as u8,
            status: entry_status(&mut g, billable, 0),
            entered: t,
            entered_by: member,
            last_updated: t,
            updated_by: member,
            deleted: false,
        };
        ds.entries.push(e);
        push_id(&mut created, Table::TimeEntries, id);
    }

    create_more(ds, &mut g2, &creates, from, secs, &new_companies, &active, &mut created);

    // ---- deletes (no randomness is drawn without them)
    if spec.deletes > 0 {
        let touched: Vec<HashSet<i64>> = CHANGED
            .iter()
            .map(|t| {
                let path = t.path();
                updated[path].iter().chain(&created[path]).copied().collect()
            })
            .collect();
        let defaults: HashSet<u32> =
            ds.companies.iter().filter_map(|c| c.default_contact).collect();
        let mut entries_of = vec![0u32; ds.tickets.len()];
        for e in ds.entries.iter().filter(|e| !e.deleted) {
            entries_of[e.ticket as usize] += 1;
        }
        let companies: Vec<usize> = (0..ds.companies.len())
            .filter(|&i| {
                let c = &ds.companies[i];
                c.deleted.is_none() && !touched[0].contains(&c.id)
            })
            .collect();
        let contacts: Vec<usize> = (0..ds.contacts.len())
            .filter(|&i| {
                let c = &ds.contacts[i];
                !c.deleted && !touched[1].contains(&c.id) && !defaults.contains(&(i as u32))
            })
            .collect();
        let tickets: Vec<usize> = (0..ds.tickets.len())
            .filter(|&i| {
                let tk = &ds.tickets[i];
                !tk.deleted && !touched[2].contains(&tk.id) && entries_of[i] == 0
            })
            .collect();
        let entries: Vec<usize> = (0..ds.entries.len())
            .filter(|&i| !ds.entries[i].deleted && !touched[3].contains(&ds.entries[i].id))
            .collect();
        let in_use: HashSet<u32> = ds.companies.iter().filter_map(|c| c.agreement).collect();
        let candidates = |t: Table, k: usize, extra: &dyn Fn(usize) -> bool| -> Vec<usize> {
            (0..ds.len(t))
                .filter(|&i| ds.live(t, i) && !touched[k].contains(&ds.id_at(t, i)) && extra(i))
                .collect()
        };
        let more = [
            candidates(Table::Agreements, 4, &|i| !in_use.contains(&(i as u32))),
            candidates(Table::Configurations, 5, &|_| true),
            candidates(Table::Projects, 6, &|_| true),
            candidates(Table::Opportunities, 7, &|_| true),
        ];
        let n = allocate(
            spec.deletes,
            [
                companies.len(),
                contacts.len(),
                tickets.len(),
                entries.len(),
                more[0].len(),
                more[1].len(),
                more[2].len(),
                more[3].len(),
            ],
            true,
        );
        for i in choose(&mut g, &companies, n[0], &[], 0.0) {
            let t = at(&mut g);
            let by = updater(&mut g);
            let c = &mut ds.companies[i];
            c.deleted = Some((t, by));
            c.last_updated = t;
            c.updated_by = by;
            push_id(&mut deleted, Table::Companies, c.id);
        }
        for i in choose(&mut g, &contacts, n[1], &[], 0.0) {
            let c = &mut ds.contacts[i];
            c.deleted = true;
            ds.company_contacts[c.company as usize].retain(|&k| k as usize != i);
            ds.vanished[Table::Contacts.index()].push(c.id);
            push_id(&mut deleted, Table::Contacts, c.id);
        }
        for i in choose(&mut g, &tickets, n[2], &[], 0.0) {
            let tk = &mut ds.tickets[i];
            tk.deleted = true;
            ds.vanished[Table::Tickets.index()].push(tk.id);
            push_id(&mut deleted, Table::Tickets, tk.id);
        }
        for i in choose(&mut g, &entries, n[3], &[], 0.0) {
            let e = &mut ds.entries[i];
            e.deleted = true;
            ds.vanished[Table::TimeEntries.index()].push(e.id);
            push_id(&mut deleted, Table::TimeEntries, e.id);
        }
        for (k, t) in
            [Table::Agreements, Table::Configurations, Table::Projects, Table::Opportunities]
                .into_iter()
                .enumerate()
        {
            for i in choose(&mut g2, &more[k], n[4 + k], &[], 0.0) {
                let id = ds.id_at(t, i);
                match t {
                    Table::Agreements => ds.agreements[i].deleted = true,
                    Table::Configurations => ds.configurations[i].deleted = true,
                    Table::Projects => ds.projects[i].deleted = true,
                    _ => ds.opportunities[i].deleted = true,
                }
                ds.vanished[t.index()].push(id);
                push_id(&mut deleted, t, id);
            }
        }
    }

    ds.now = to;
    for v in updated.values_mut().chain(deleted.values_mut()) {
        v.sort_unstable();
    }
    AdvanceReport {
        from: crate::time::to_datetime(from),
        to: crate::time::to_datetime(to),
        updated,
        created,
        deleted,
    }
}

/// Updates of agreements, configurations, projects, opportunities, boards and statuses
/// (`updates[4..]`, over `pools`), stamped inside `(from, from + secs]`.
#[allow(clippy::too_many_arguments)]
fn update_more(
    ds: &mut Dataset,
    g: &mut Gen,
    pools: &[Vec<usize>; 6],
    updates: &[usize; 10],
    from: i64,
    secs: i64,
    active: &[u16],
    updated: &mut BTreeMap<String, Vec<i64>>,
) {
    let at = |g: &mut Gen| from + g.range(1, secs + 1);
    let updater = |g: &mut Gen| if active.is_empty() { 0 } else { g.pick(active) };
    for i in choose(g, &pools[0], updates[4], &[], 0.0) {
        let t = at(g);
        let by = updater(g);
        let a = &mut ds.agreements[i];
        match a.end {
            // renewal
            Some(end) if g.chance(0.6) => {
                a.end = Some(end + 365 * DAY);
                if a.status != AGREEMENT_CANCELLED {
                    a.status = AGREEMENT_ACTIVE;
                }
            }
            Some(_) if a.status == AGREEMENT_ACTIVE && g.chance(0.3) => {
                a.status = AGREEMENT_CANCELLED;
            }
            _ => {
                a.work_role = ((a.work_role as usize + 1 + g.index(WORK_ROLES.len() - 1))
                    % WORK_ROLES.len()) as u8
            }
        }
        a.last_updated = t;
        a.updated_by = by;
        push_id(updated, Table::Agreements, a.id);
    }
    for i in choose(g, &pools[1], updates[5], &[], 0.0) {
        let t = at(g);
        let by = updater(g);
        let contacts = ds.company_contacts[ds.configurations[i].company as usize].clone();
        let c = &mut ds.configurations[i];
        let r = g.index(10);
        if r < 5 {
            c.status = if c.status == 0 { 1 + g.index(2) as u8 } else { 0 };
        } else if r < 8 || contacts.is_empty() {
            c.warranty += 365 * DAY;
        } else {
            let next = g.pick(&contacts);
            c.contact = if c.contact == Some(next) { None } else { Some(next) };
        }
        c.last_updated = t;
        c.updated_by = by;
        push_id(updated, Table::Configurations, c.id);
    }
    for i in choose(g, &pools[2], updates[6], &[], 0.0) {
        let t = at(g);
        let p = &mut ds.projects[i];
        match p.status {
            0 | 2 => {
                p.status = 1;
                p.actual_start.get_or_insert(t);
            }
            1 if g.chance(0.25) => {
                p.status = 3;
                p.actual_end = Some(t);
                p.actual_hours += g.range(1, 17) as f64 / 4.0;
            }
            1 => p.actual_hours += g.range(1, 33) as f64 / 4.0,
            3 => p.status = 4,
            _ => p.budget_hours += 5.0,
        }
        p.last_updated = t;
        p.updated_by = p.manager;
        push_id(updated, Table::Projects, p.id);
    }
    for i in choose(g, &pools[3], updates[7], &[], 0.0) {
        let t = at(g);
        let o = &mut ds.opportunities[i];
        if o.closed.is_some() {
            o.rating = ((o.rating as usize + 1 + g.index(2)) % OPP_RATINGS.len()) as u8;
        } else if g.chance(0.4) {
            close_opportunity(g, o, t);
        } else if (o.stage as usize) < OPP_STAGES.len() - 1 {
            o.stage += 1;
            o.probability = OPP_STAGES[o.stage as usize].2;
        } else {
            o.expected_close += 14 * DAY;
        }
        o.last_updated = t;
        o.updated_by = o.rep;
        push_id(updated, Table::Opportunities, o.id);
    }
    for i in choose(g, &pools[4], updates[8], &[], 0.0) {
        let t = at(g);
        let by = updater(g);
        let b = &mut ds.boards[i];
        let n = BOARD_DEPARTMENTS.len();
        b.department = ((b.department as usize + 1 + g.index(n - 1)) % n) as u8;
        b.last_updated = t;
        b.updated_by = by;
        push_id(updated, Table::Boards, b.id);
    }
    for i in choose(g, &pools[5], updates[9], &[], 0.0) {
        let t = at(g);
        let by = updater(g);
        let st = &mut ds.statuses[i];
        st.display = !st.display;
        st.last_updated = t;
        st.updated_by = by;
        push_id(updated, Table::BoardStatuses, st.id);
    }
}

/// Creates agreements, configurations, projects and opportunities (`creates[4..]`) inside
/// `(from, from + secs]`, on companies that are not soft-deleted and that exist by then. A
/// client created in this window with a managed-services agreement gets it among the
/// agreements created (when enough are), or none.
#[allow(clippy::too_many_arguments)]
fn create_more(
    ds: &mut Dataset,
    g: &mut Gen,
    creates: &[usize; 8],
    from: i64,
    secs: i64,
    new_companies: &[(i64, usize)],
    active: &[u16],
    created: &mut BTreeMap<String, Vec<i64>>,
) {
    let at = |g: &mut Gen| from + g.range(1, secs + 1);
    let updater = |g: &mut Gen| if active.is_empty() { 0 } else { g.pick(active) };
    let to = from + secs;
    let company_dist = WeightedIndex::new(
        ds.companies.iter().map(|c| if c.deleted.is_some() { 0.0 } else { c.weight.sqrt() + 0.02 }),
    )
    .ok();
    let fallback = ds.companies.iter().position(|c| c.deleted.is_none()).unwrap_or(0);
    // a company, and a time in the window at which it exists
    let pick = |g: &mut Gen| -> Option<(usize, i64)> {
        let dist = company_dist.as_ref()?;
        let t = at(g);
        let mut ci = dist.sample(&mut g.rng);
        if new_companies.iter().any(|&(ct, i)| i == ci && ct > t) {
            ci = fallback;
        }
        Some((ci, t))
    };

    // agreements: managed ones for new clients first
    let mut managed: Vec<(usize, i64)> = new_companies
        .iter()
        .filter(|&&(_, i)| ds.companies[i].has_agreement && ds.companies[i].agreement.is_none())
        .map(|&(t, i)| (i, t))
        .collect();
    managed.reverse();
    for _ in 0..creates[4] {
        let (ci, t, kind) = match managed.pop() {
            Some((ci, ct)) => (ci, ct + g.range(0, to - ct + 1), AGREEMENT_MANAGED),
            None => {
                let Some((ci, t)) = pick(g) else { break };
                (ci, t, g.range(1, AGREEMENT_TYPES.len() as i64) as u8)
            }
        };
        let mut a = new_agreement(
            g,
            kind,
            ci as u32,
            t,
            to,
            from,
            &ds.companies,
            &ds.company_contacts,
            ds.members.len(),
        );
        a.id = next_id(g, ds.agreements.last().map_or(19_999, |a| a.id));
        a.last_updated = t;
        a.updated_by = updater(g);
        if kind == AGREEMENT_MANAGED {
            ds.companies[ci].agreement = Some(ds.agreements.len() as u32);
        }
        push_id(created, Table::Agreements, a.id);
        ds.agreements.push(a);
    }
    // a new client left without its agreement never gets one (its tickets would change)
    for (ci, _) in managed {
        ds.companies[ci].has_agreement = false;
    }
    for _ in 0..creates[5] {
        let Some((ci, t)) = pick(g) else { break };
        let mut c = new_configuration(
            g,
            ci as u32,
            t,
            to,
            from,
            &ds.companies,
            &ds.company_contacts,
            ds.members.len(),
        );
        c.id = next_id(g, ds.configurations.last().map_or(4_999, |c| c.id));
        c.last_updated = t;
        c.updated_by = updater(g);
        ds.configurations.push(c);
        let start = ds.configurations.len() - 1;
        // number it after the company's configurations of the same type
        let same = ds.configurations[..start]
            .iter()
            .filter(|o| o.company == ci as u32 && o.kind == ds.configurations[start].kind)
            .count();
        let prefix: String =
            ds.companies[ci].identifier.chars().take(4).collect::<String>().to_ascii_uppercase();
        let c = &mut ds.configurations[start];
        c.name = format!("{prefix}-{}{:02}", CONFIG_TYPES[c.kind as usize].2, same + 1);
        push_id(created, Table::Configurations, c.id);
    }
    for _ in 0..creates[6] {
        let Some((ci, t)) = pick(g) else { break };
        let mut p = new_project(g, ci as u32, t, t, &ds.companies, &ds.members);
        p.id = next_id(g, ds.projects.last().map_or(299, |p| p.id));
        p.last_updated = t;
        push_id(created, Table::Projects, p.id);
        ds.projects.push(p);
    }
    for _ in 0..creates[7] {
        let Some((ci, t)) = pick(g) else { break };
        let mut o = new_opportunity(g, ci as u32, t, t, &ds.company_contacts, &ds.members);
        o.id = next_id(g, ds.opportunities.last().map_or(999, |o| o.id));
        o.last_updated = t;
        push_id(created, Table::Opportunities, o.id);
        ds.opportunities.push(o);
    }
}

#[cfg(test)]
mod tests {
    use super::allocate;

    #[test]
    fn allocation_is_proportional_with_a_floor() {
        assert_eq!(allocate(100, [220, 1_200, 20_000, 50_000], true).iter().sum::<usize>(), 100);
        let a = allocate(100, [220, 1_200, 20_000, 50_000], true);
        assert!(a.iter().all(|&n| n >= 1), "{a:?}");
        assert!(a[3] > a[2] && a[2] > a[1], "{a:?}");
        assert_eq!(allocate(3, [10, 10, 10, 10], true).iter().sum::<usize>(), 3);
        assert_eq!(allocate(50, [1, 2, 3, 4], true), [1, 2, 3, 4]);
        assert_eq!(allocate(5, [0, 0, 10, 0], true), [0, 0, 5, 0]);
        assert_eq!(allocate(8, [0, 0, 0, 0], false), [2, 2, 2, 2]);
        assert_eq!(allocate(0, [5, 5, 5, 5], false), [0, 0, 0, 0]);
    }
}
