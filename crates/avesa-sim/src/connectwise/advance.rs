//! Moving a simulated company's clock forward: updates, creates and deletes spread over the
//! four synced tables, each update, create and (company) soft delete stamped with a
//! `_info.lastUpdated` inside the advanced window.
//!
//! Randomness is drawn in a fixed order (updates, creates, then deletes only when asked
//! for), so an advance without deletes draws exactly what it always did.

use std::collections::{BTreeMap, HashSet};

use rand::distributions::{Distribution, WeightedIndex};

use super::catalog::*;
use super::data::Dataset;
use super::generate::*;
use super::{AdvanceReport, AdvanceSpec, Table};

const SYNCED: [Table; 4] = [Table::Companies, Table::Contacts, Table::Tickets, Table::TimeEntries];

/// Splits `total` over tables in proportion to `sizes` (largest remainder), giving every
/// eligible table at least one when there are enough to go round. With `cap`, no table gets
/// more than it has rows.
pub(super) fn allocate(total: usize, sizes: [usize; 4], cap: bool) -> [usize; 4] {
    let mut out = [0usize; 4];
    let eligible: Vec<usize> = (0..4).filter(|&i| !cap || sizes[i] > 0).collect();
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
    let sizes = [0, 1, 2, 3].map(|k| pools[k].len());
    let updates = allocate(spec.updates, sizes, true);
    let creates = allocate(spec.creates, sizes, false);
    let mut updated: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut created: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut deleted: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for t in SYNCED {
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

    // ---- deletes (no randomness is drawn without them)
    if spec.deletes > 0 {
        let touched: Vec<HashSet<i64>> = SYNCED
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
        let n = allocate(
            spec.deletes,
            [companies.len(), contacts.len(), tickets.len(), entries.len()],
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
