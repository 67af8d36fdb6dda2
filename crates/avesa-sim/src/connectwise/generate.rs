//! Deterministic generation of one simulated ConnectWise company from its seed.
//!
//! Everything is drawn from ChaCha8 streams seeded from `spec.seed` (one stream per table,
//! so the shape of one table does not depend on the size of another), over the two years
//! before `spec.now`. Shapes worth knowing when reading tests:
//!
//! * companies: ~70% clients; ticket volume follows a Zipf-like law over the clients, so a
//!   few big clients raise most tickets; every company gets at least one contact when there
//!   are enough contacts, and its first contact is its default contact;
//! * tickets: ids grow with `dateEntered`; ~12% are open (mostly recent ones), the rest are
//!   `Completed`/`Closed` with `closedFlag`, `dateResolved` and `closedDate`
//!   (`dateEntered <= dateResponded <= dateResolved <= closedDate <= lastUpdated <= now`);
//! * time entries: charged to tickets, inside the ticket's life, in quarter hours;
//!   a ticket's `actualHours` is the sum of its entries as generated;
//! * every `_info.lastUpdated` is at or before `now`.

use std::collections::HashSet;

use rand::Rng;
use rand::distributions::{Distribution, WeightedIndex};

use super::CwCompanySpec;
use super::catalog::*;
use super::data::*;

const DAY: i64 = 86_400;

pub(super) use crate::rng::Gen;

/// Increasing ids with occasional gaps, as a real instance has after deletions.
pub(super) fn next_id(g: &mut Gen, last: i64) -> i64 {
    last + 1 + if g.chance(0.04) { g.range(1, 4) } else { 0 }
}

/// A weekday, office-hours instant in `[lo, hi)` (US Eastern), most of the time.
fn office_time(g: &mut Gen, lo: i64, hi: i64, strict: f64) -> i64 {
    let mut t = g.range(lo, hi);
    for _ in 0..4 {
        let wd = crate::time::weekday(t, -5);
        let h = crate::time::hour(t, -5);
        if (1..=5).contains(&wd) && (7..19).contains(&h) || !g.chance(strict) {
            break;
        }
        t = g.range(lo, hi);
    }
    t
}

/// Midnight UTC of the day holding `t` (ConnectWise keeps date-only fields at midnight).
pub(super) fn day_start(t: i64) -> i64 {
    t.div_euclid(DAY) * DAY
}

fn phone(g: &mut Gen, area: i64) -> String {
    format!("{area}555{:04}", g.range(100, 10_000))
}

fn alnum(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

pub(super) fn new_member(
    g: &mut Gen,
    i: usize,
    id: i64,
    domain: &str,
    start: i64,
    now: i64,
    used: &mut HashSet<String>,
) -> Member {
    let first = g.pick(&FIRST_NAMES);
    let last = g.pick(&LAST_NAMES);
    let base = format!("{}{}", &first[..1], last);
    let mut identifier = base.clone();
    let mut n = 2;
    while !used.insert(identifier.to_ascii_lowercase()) {
        identifier = format!("{base}{n}");
        n += 1;
    }
    // a spread of roles: the first six members cover all of them
    let role =
        if i < WORK_ROLES.len() { i } else { g.weighted(&[0.35, 0.2, 0.12, 0.12, 0.08, 0.13]) }
            as u8;
    let inactive = i >= WORK_ROLES.len() && g.chance(0.1);
    let hired = day_start(if g.chance(0.7) {
        start - g.range(30, 6 * 365) * DAY
    } else {
        g.range(start, now - 30 * DAY)
    });
    let last_login =
        if inactive { g.range(start, (start + now) / 2) } else { now - g.range(600, 4 * DAY) };
    Member {
        id,
        email: format!("{}@{domain}", identifier.to_ascii_lowercase()),
        phone: phone(g, 813),
        name: format!("{first} {last}"),
        identifier,
        first,
        last,
        role,
        inactive,
        hired,
        last_login,
        time_zone: g.weighted(&[0.55, 0.25, 0.08, 0.12]) as u8,
        last_updated: g.range(hired.max(start), now - DAY).min(now),
        updated_by: 0,
    }
}

pub(super) fn new_company(
    g: &mut Gen,
    id: i64,
    acquired: i64,
    members: &[Member],
    names: &mut HashSet<String>,
    identifiers: &mut HashSet<String>,
) -> Company {
    let industry = g.index(INDUSTRIES.len());
    let mut name = String::new();
    for attempt in 0.. {
        let prefix = g.pick(&COMPANY_PREFIXES);
        let suffix = g.pick(&COMPANY_SUFFIXES);
        name = match (suffix, attempt) {
            ("", a) if a < 20 => format!("{prefix} {}", INDUSTRIES[industry].0),
            (s, a) if a < 20 => format!("{prefix} {} {s}", INDUSTRIES[industry].0),
            (s, a) => format!("{prefix} {} {s} {}", INDUSTRIES[industry].0, a - 18),
        }
        .trim()
        .to_string();
        if names.insert(name.to_ascii_lowercase()) {
            break;
        }
    }
    let mut stem_src = name.as_str();
    for suffix in COMPANY_SUFFIXES.iter().filter(|s| !s.is_empty()) {
        if let Some(rest) = stem_src.strip_suffix(suffix) {
            stem_src = rest;
            break;
        }
    }
    let stem: String = alnum(stem_src).chars().take(22).collect();
    let mut identifier = stem.clone();
    let mut n = 2;
    while !identifiers.insert(identifier.to_ascii_lowercase()) {
        identifier = format!("{stem}{n}");
        n += 1;
    }
    let kind = g.weighted(&COMPANY_TYPES.map(|t| t.2)) as u8;
    let inactive_p = if kind == TYPE_CLIENT { 0.08 } else { 0.15 };
    let city = g.index(CITIES.len());
    let area = g.range(201, 990);
    let employees = (5.0 * (g.normal() * 1.1 + 1.8).exp()).round().clamp(2.0, 5000.0) as i64;
    let revenue = (employees * g.range(60, 250) * 1000) as f64;
    let active_members: Vec<u16> =
        members.iter().enumerate().filter(|(_, m)| !m.inactive).map(|(i, _)| i as u16).collect();
    let manager = if active_members.is_empty() { 0 } else { g.pick(&active_members) };
    Company {
        id,
        website: format!("www.{}.com", identifier.to_ascii_lowercase()),
        identifier,
        name,
        status: u8::from(g.chance(inactive_p)),
        kind,
        address: format!("{} {}", g.range(100, 9_900), g.pick(&STREETS)),
        suite: if g.chance(0.3) { g.range(100, 600) as u16 } else { 0 },
        city: city as u8,
        zip: format!("{:03}{:02}", CITIES[city].2, g.range(1, 99)),
        phone: phone(g, area),
        fax: if g.chance(0.2) { phone(g, area) } else { String::new() },
        industry: industry as u8,
        default_contact: None,
        acquired,
        revenue,
        employees,
        manager,
        has_agreement: kind == TYPE_CLIENT && g.chance(0.7),
        agreement: None,
        weight: 0.0,
        last_updated: acquired,
        updated_by: manager,
        deleted: None,
    }
}

pub(super) fn new_contact(
    g: &mut Gen,
    id: i64,
    company_idx: u32,
    company: &Company,
    default_flag: bool,
) -> Contact {
    let first = g.pick(&FIRST_NAMES);
    let last = g.pick(&LAST_NAMES);
    let domain = company.website.trim_start_matches("www.");
    let area: i64 = company.phone.get(..3).and_then(|a| a.parse().ok()).unwrap_or(555);
    Contact {
        id,
        first,
        last,
        company: company_idx,
        title: g.pick(&CONTACT_TITLES),
        inactive: g.chance(0.08),
        phone: phone(g, area),
        extension: if g.chance(0.4) { g.range(100, 400) as u16 } else { 0 },
        mobile: if g.chance(0.4) { Some(phone(g, area)) } else { None },
        email: format!("{}.{}@{domain}", first.to_ascii_lowercase(), last.to_ascii_lowercase()),
        default_flag,
        last_updated: 0,
        updated_by: 0,
        deleted: false,
    }
}

/// Fills a summary template.
pub(super) fn summary(
    g: &mut Gen,
    board: usize,
    company: &Company,
    contact: Option<&Contact>,
) -> String {
    let template = g.pick(BOARDS[board].summaries);
    let mut s = template.to_string();
    if s.contains("{dept}") {
        s = s.replace("{dept}", g.pick(&DEPARTMENTS));
    }
    if s.contains("{person}") {
        let person = match contact {
            Some(c) if g.chance(0.5) => format!("{} {}", c.first, c.last),
            _ => format!("{} {}", g.pick(&FIRST_NAMES), g.pick(&LAST_NAMES)),
        };
        s = s.replace("{person}", &person);
    }
    if s.contains("{app}") {
        s = s.replace("{app}", g.pick(&APPS));
    }
    if s.contains("{svc}") {
        s = s.replace("{svc}", g.pick(&SERVICES));
    }
    if s.contains("{n}") {
        s = s.replace("{n}", &g.range(5, 40).to_string());
    }
    if s.contains("{host}") {
        let prefix: String =
            company.identifier.chars().take(4).collect::<String>().to_ascii_uppercase();
        let kind = g.pick(&HOST_KINDS);
        s = s.replace("{host}", &format!("{prefix}-{kind}{:02}", g.range(1, 30)));
    }
    s
}

/// Members that can own work: active ones, preferring roles that fit the board.
pub(super) fn pick_owner(g: &mut Gen, members: &[Member], board: usize) -> Option<u16> {
    let preferred: &[u8] = match board {
        0 => &[0, 1],
        1 => &[2, 3],
        2 => &[4, 1, 3],
        3 => &[5, 1],
        _ => &[0, 2],
    };
    let fits: Vec<u16> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.inactive && preferred.contains(&m.role))
        .map(|(i, _)| i as u16)
        .collect();
    if !fits.is_empty() && g.chance(0.85) {
        return Some(g.pick(&fits));
    }
    let active: Vec<u16> =
        members.iter().enumerate().filter(|(_, m)| !m.inactive).map(|(i, _)| i as u16).collect();
    if active.is_empty() { None } else { Some(g.pick(&active)) }
}

pub(super) fn pick_priority(g: &mut Gen, board: usize) -> u8 {
    if board == ALERTS_BOARD {
        g.weighted(&[0.05, 0.45, 0.45, 0.05]) as u8
    } else {
        g.weighted(&PRIORITIES.map(|p| p.3)) as u8
    }
}

pub(super) fn levels_for(g: &mut Gen, priority: u8) -> (u8, u8) {
    let base: i64 = match priority {
        0 => 2,
        1 => 1 + i64::from(g.chance(0.5)),
        2 => i64::from(g.chance(0.4)),
        _ => 0,
    };
    let impact = (base + g.range(-1, 2)).clamp(0, 2);
    (base as u8, impact as u8)
}

/// Index of the first open status of a board with this name.
pub(super) fn status_index(board: usize, name: &str) -> u8 {
    BOARDS[board].statuses.iter().position(|s| *s == name).unwrap_or(0) as u8
}

/// A quarter-hour count for a piece of work on this board.
pub(super) fn quarters_for(g: &mut Gen, board: usize) -> u16 {
    let max = [12.0, 16.0, 32.0, 24.0, 4.0][board];
    let x: f64 = g.rng.r#gen();
    ((x.powf(2.2) * max).ceil() as u16).clamp(1, 32)
}

pub(super) fn work_type_for(g: &mut Gen, board: usize, start: i64) -> u8 {
    match board {
        PROJECTS_BOARD => 3,
        ONSITE_BOARD => {
            if g.chance(0.15) {
                4
            } else {
                1
            }
        }
        ALERTS_BOARD => 5,
        _ => {
            let h = crate::time::hour(start, -5);
            let wd = crate::time::weekday(start, -5);
            if !(7..19).contains(&h) || wd == 0 || wd == 6 { 2 } else { 0 }
        }
    }
}

pub(super) fn billable_for(g: &mut Gen, board: usize) -> u8 {
    if board == ALERTS_BOARD && g.chance(0.6) {
        2
    } else {
        g.weighted(&BILLABLE.map(|b| b.1)) as u8
    }
}

/// Time-entry status from its age and billable option.
pub(super) fn entry_status(g: &mut Gen, billable: u8, age: i64) -> u8 {
    let bills = BILLABLE[billable as usize].0 == "Billable";
    if age > 30 * DAY {
        if bills { ENTRY_BILLED } else { ENTRY_APPROVED }
    } else if age > 7 * DAY {
        if bills { ENTRY_READY } else { ENTRY_APPROVED }
    } else if g.chance(0.5) {
        ENTRY_OPEN
    } else {
        ENTRY_PENDING
    }
}

/// Builds the whole dataset for `spec`.
pub(super) fn generate(spec: CwCompanySpec) -> Dataset {
    let now = spec.now.timestamp();
    let start = now - 730 * DAY;
    let seed = spec.seed;
    let sizes = spec.sizes.clone();
    let domain = format!("{}.com", alnum(&spec.company_id).to_ascii_lowercase());

    // members
    let mut g = Gen::new(seed, 1);
    let mut used = HashSet::new();
    let mut members = Vec::with_capacity(sizes.members);
    let mut id = 141;
    for i in 0..sizes.members {
        id = next_id(&mut g, id);
        members.push(new_member(&mut g, i, id, &domain, start, now, &mut used));
    }

    // companies
    let mut g = Gen::new(seed, 2);
    let mut names = HashSet::new();
    let mut identifiers = HashSet::new();
    let mut acquired: Vec<i64> = (0..sizes.companies)
        .map(|_| {
            day_start(if g.chance(0.75) {
                start - g.range(0, 8 * 365) * DAY
            } else {
                g.range(start, now - DAY)
            })
        })
        .collect();
    acquired.sort_unstable();
    let mut companies = Vec::with_capacity(sizes.companies);
    let mut id = 249;
    for &at in &acquired {
        id = next_id(&mut g, id);
        let mut c = new_company(&mut g, id, at, &members, &mut names, &mut identifiers);
        c.last_updated = g.range(at.max(start), now).min(now);
        companies.push(c);
    }
    // Zipf-like ticket volume over clients in random order
    let mut ranks: Vec<usize> = (0..companies.len()).collect();
    for i in (1..ranks.len()).rev() {
        let j = g.index(i + 1);
        ranks.swap(i, j);
    }
    for (rank, &ci) in ranks.iter().enumerate() {
        let c = &mut companies[ci];
        let base = 1.0 / (rank as f64 + 1.0).powf(0.95);
        let kind_factor = if c.kind == TYPE_CLIENT { 1.0 } else { 0.03 };
        let status_factor = if c.status == 0 { 1.0 } else { 0.3 };
        c.weight = base * kind_factor * status_factor;
    }

    // contacts
    let mut g = Gen::new(seed, 3);
    let mut contacts = Vec::with_capacity(sizes.contacts);
    let mut company_contacts: Vec<Vec<u32>> = vec![Vec::new(); companies.len()];
    if !companies.is_empty() {
        let w: Vec<f64> = companies.iter().map(|c| c.weight.sqrt() + 0.05).collect();
        let dist = WeightedIndex::new(&w).ok();
        let mut id = 1_799;
        for i in 0..sizes.contacts {
            let ci = if i < companies.len() {
                i
            } else {
                dist.as_ref().map_or(0, |d| d.sample(&mut g.rng))
            };
            id = next_id(&mut g, id);
            let default_flag = company_contacts[ci].is_empty();
            let mut c = new_contact(&mut g, id, ci as u32, &companies[ci], default_flag);
            let from = companies[ci].acquired.max(start);
            c.last_updated = g.range(from, now).min(now);
            c.updated_by = g.index(members.len()) as u16;
            company_contacts[ci].push(contacts.len() as u32);
            contacts.push(c);
        }
        for (ci, list) in company_contacts.iter().enumerate() {
            companies[ci].default_contact = list.first().copied();
        }
    }

    // tickets
    let mut g = Gen::new(seed, 4);
    let mut tickets: Vec<Ticket> = Vec::with_capacity(sizes.tickets);
    if !companies.is_empty() {
        let dist = WeightedIndex::new(companies.iter().map(|c| c.weight.max(1e-9))).ok();
        let board_w = BOARDS.map(|b| b.weight);
        for _ in 0..sizes.tickets {
            let board = g.weighted(&board_w);
            let ci = dist.as_ref().map_or(0, |d| d.sample(&mut g.rng));
            let strict = if board == ALERTS_BOARD { 0.0 } else { 0.8 };
            let entered = office_time(&mut g, start, now - 600, strict);
            tickets.push(new_generated_ticket(
                &mut g,
                false,
                board,
                ci as u32,
                entered,
                now,
                &companies,
                &contacts,
                &company_contacts,
                &members,
            ));
        }
        tickets.sort_by_key(|t| t.entered);
        let mut id = 240_999;
        for t in &mut tickets {
            id = next_id(&mut g, id);
            t.id = id;
        }
    }

    // time entries
    let mut g = Gen::new(seed, 5);
    let mut entries: Vec<TimeEntry> = Vec::with_capacity(sizes.time_entries);
    let weights: Vec<f64> = tickets
        .iter()
        .map(|t| {
            let window = t.closed.unwrap_or(now) - t.entered;
            let fresh = BOARDS[t.board as usize].statuses[t.status as usize] == STATUS_NEW;
            if window < 1800 || fresh {
                0.0
            } else {
                BOARDS[t.board as usize].effort * (0.5 + t.budget_hours.sqrt())
            }
        })
        .collect();
    if let Ok(dist) = WeightedIndex::new(&weights) {
        for _ in 0..sizes.time_entries {
            let ti = dist.sample(&mut g.rng);
            entries.push(new_generated_entry(&mut g, ti as u32, &tickets[ti], now, &members));
        }
        entries.sort_by_key(|e| (e.entered, e.start));
        let mut id = 1_179_999;
        for e in &mut entries {
            id = next_id(&mut g, id);
            e.id = id;
            let t = &mut tickets[e.ticket as usize];
            t.actual_hours += e.quarters as f64 / 4.0;
            t.last_updated = t.last_updated.max(e.entered);
        }
    }
    for t in &mut tickets {
        t.last_updated = (t.last_updated + g.range(0, 1800)).min(now);
        if t.closed.is_some() && g.chance(0.05) {
            t.last_updated = g.range(t.last_updated, now).min(now);
        }
    }

    // boards and their statuses, from the catalog
    let mut g = Gen::new(seed, 6);
    let (boards, statuses) = catalog_boards(&mut g, start, now, members.len());

    // agreements: a managed-services one for every client that has one, then others
    let mut g = Gen::new(seed, 7);
    let managed: Vec<usize> =
        (0..companies.len()).filter(|&i| companies[i].has_agreement).collect();
    let mut drafts: Vec<(Agreement, Option<usize>)> = Vec::new();
    for &ci in &managed {
        let from = companies[ci].acquired.max(start - 4 * 365 * DAY);
        let at = g.range(from, now - DAY).max(from);
        let a = new_agreement(
            &mut g,
            AGREEMENT_MANAGED,
            ci as u32,
            at,
            now,
            start,
            &companies,
            &company_contacts,
            members.len(),
        );
        drafts.push((a, Some(ci)));
    }
    let client_dist = WeightedIndex::new(companies.iter().map(|c| c.weight.sqrt() + 0.02)).ok();
    for _ in 0..sizes.agreements.saturating_sub(managed.len()) {
        let Some(dist) = &client_dist else { break };
        let ci = dist.sample(&mut g.rng);
        let kind = g.range(1, AGREEMENT_TYPES.len() as i64) as u8;
        let from = companies[ci].acquired.max(start - 365 * DAY);
        let at = g.range(from, now - DAY).max(from);
        let a = new_agreement(
            &mut g,
            kind,
            ci as u32,
            at,
            now,
            start,
            &companies,
            &company_contacts,
            members.len(),
        );
        drafts.push((a, None));
    }
    drafts.sort_by_key(|(a, _)| a.entered);
    let mut agreements = Vec::with_capacity(drafts.len());
    let mut id = 19_999;
    for (mut a, owner) in drafts {
        id = next_id(&mut g, id);
        a.id = id;
        if let Some(ci) = owner {
            companies[ci].agreement = Some(agreements.len() as u32);
        }
        agreements.push(a);
    }

    // configurations
    let mut g = Gen::new(seed, 8);
    let mut configurations = Vec::with_capacity(sizes.configurations);
    if let Some(dist) = &client_dist {
        for _ in 0..sizes.configurations {
            let ci = dist.sample(&mut g.rng);
            let from = companies[ci].acquired.max(start - 5 * 365 * DAY);
            let at = g.range(from, now - DAY).max(from);
            configurations.push(new_configuration(
                &mut g,
                ci as u32,
                at,
                now,
                start,
                &companies,
                &company_contacts,
                members.len(),
            ));
        }
        configurations.sort_by_key(|c| c.installed);
        name_configurations(&mut configurations, &companies);
        let mut id = 4_999;
        for c in &mut configurations {
            id = next_id(&mut g, id);
            c.id = id;
        }
    }

    // projects
    let mut g = Gen::new(seed, 9);
    let mut projects = Vec::with_capacity(sizes.projects);
    if let Some(dist) = &client_dist {
        for _ in 0..sizes.projects {
            let ci = dist.sample(&mut g.rng);
            let entered = g.range(start.max(companies[ci].acquired), now - DAY);
            projects.push(new_project(&mut g, ci as u32, entered, now, &companies, &members));
        }
        projects.sort_by_key(|p| p.entered);
        let mut id = 299;
        for p in &mut projects {
            id = next_id(&mut g, id);
            p.id = id;
        }
    }

    // opportunities
    let mut g = Gen::new(seed, 10);
    let mut opportunities = Vec::with_capacity(sizes.opportunities);
    if !companies.is_empty() {
        for _ in 0..sizes.opportunities {
            let ci = g.index(companies.len());
            let entered = g.range(start.max(companies[ci].acquired), now - DAY);
            opportunities.push(new_opportunity(
                &mut g,
                ci as u32,
                entered,
                now,
                &company_contacts,
                &members,
            ));
        }
        opportunities.sort_by_key(|o| o.entered);
        let mut id = 999;
        for o in &mut opportunities {
            id = next_id(&mut g, id);
            o.id = id;
        }
    }

    let mut ds = Dataset {
        spec,
        now,
        members,
        companies,
        contacts,
        tickets,
        entries,
        agreements,
        configurations,
        projects,
        opportunities,
        boards,
        statuses,
        company_contacts,
        schemas: Vec::new(),
        advances: 0,
        vanished: Default::default(),
    };
    ds.learn_schemas();
    ds
}

#[allow(clippy::too_many_arguments)]
pub(super) fn new_generated_ticket(
    g: &mut Gen,
    force_open: bool,
    board: usize,
    company: u32,
    entered: i64,
    now: i64,
    companies: &[Company],
    contacts: &[Contact],
    company_contacts: &[Vec<u32>],
    members: &[Member],
) -> Ticket {
    let b = &BOARDS[board];
    let c = &companies[company as usize];
    let contact = {
        let list = &company_contacts[company as usize];
        let p = if board == ALERTS_BOARD { 0.2 } else { 0.92 };
        if !list.is_empty() && g.chance(p) { Some(g.pick(list)) } else { None }
    };
    let priority = pick_priority(g, board);
    let (severity, impact) = levels_for(g, priority);
    let source = if board == ALERTS_BOARD {
        SOURCE_MONITORING as u8
    } else {
        g.weighted(&SOURCES.map(|s| s.2)) as u8
    };
    let location = if board == ONSITE_BOARD { 1 } else { u8::from(g.chance(0.1)) * 2 };
    let budget_hours = match board {
        0 => [0.5, 1.0, 1.0, 2.0][g.index(4)],
        1 => [1.0, 2.0, 4.0][g.index(3)],
        2 => g.range(8, 41) as f64,
        3 => [2.0, 3.0, 4.0][g.index(3)],
        _ => 0.25,
    };
    let mut owner = pick_owner(g, members, board);
    let age = now - entered;
    // ~12% open overall: mostly recent tickets, with a tail of stale ones
    let open_p = match age {
        a if a < 7 * DAY => 0.8,
        a if a < 30 * DAY => 0.5,
        a if a < 90 * DAY => 0.3,
        _ if board == ALERTS_BOARD => 0.02,
        _ => 0.09,
    };
    let (_, _, _, _, respond_plan, resolve_plan) = PRIORITIES[priority as usize];
    let respond_delay = g.lognormal_secs(respond_plan as f64 * 60.0 * 0.4, 0.8);
    let mut t = Ticket {
        id: 0,
        summary: summary(g, board, c, contact.map(|i| &contacts[i as usize])),
        board: board as u8,
        status: 0,
        company,
        contact,
        kind: g.index(b.types.len()) as u8,
        priority,
        source,
        severity,
        impact,
        owner,
        location,
        budget_hours,
        actual_hours: 0.0,
        entered,
        entered_by: owner.unwrap_or(0),
        responded: None,
        resolved: None,
        closed: None,
        closed_by: None,
        required: if board == PROJECTS_BOARD || board == ONSITE_BOARD {
            Some(entered + g.range(2, 30) * DAY)
        } else {
            None
        },
        in_sla: true,
        last_updated: entered,
        updated_by: owner.unwrap_or(0),
        deleted: false,
    };
    if force_open || g.chance(open_p) {
        let choices: Vec<&str> =
            b.statuses.iter().copied().filter(|s| !is_closed_status(s)).collect();
        let name = if age < DAY && g.chance(0.5) { STATUS_NEW } else { g.pick(&choices) };
        t.status = status_index(board, name);
        if name == STATUS_NEW {
            if g.chance(0.6) {
                owner = None;
            }
        } else {
            t.responded = Some((entered + respond_delay).min(now));
        }
        t.owner = owner;
        t.in_sla = age < resolve_plan * 60 || g.chance(0.3);
        t.last_updated = t.responded.unwrap_or(entered);
    } else {
        let median = if board == ALERTS_BOARD { 1800.0 } else { resolve_plan as f64 * 60.0 * 0.35 };
        let responded = (entered + respond_delay.min(median as i64)).min(now - 60);
        let resolved =
            (responded + g.lognormal_secs(median, 1.0)).min(now - g.range(60, 3600)).max(responded);
        let closed = (resolved + if g.chance(0.5) { 0 } else { g.range(60, 2 * DAY) })
            .min(now)
            .max(resolved);
        t.responded = Some(responded.min(resolved));
        t.resolved = Some(resolved);
        t.closed = Some(closed);
        t.status =
            status_index(board, if g.chance(0.7) { STATUS_CLOSED } else { STATUS_COMPLETED });
        if t.owner.is_none() {
            t.owner = pick_owner(g, members, board);
        }
        t.closed_by = t.owner;
        t.in_sla = (resolved - entered) <= resolve_plan * 60 * 2 && g.chance(0.93);
        t.last_updated = closed;
        t.updated_by = t.owner.unwrap_or(0);
    }
    t
}

fn new_generated_entry(
    g: &mut Gen,
    ti: u32,
    t: &Ticket,
    now: i64,
    members: &[Member],
) -> TimeEntry {
    let board = t.board as usize;
    let end_of_life = t.closed.unwrap_or(now);
    let window = end_of_life - t.entered;
    let mut quarters = quarters_for(g, board);
    quarters = quarters.min((window / 900).clamp(1, 32) as u16);
    let span = quarters as i64 * 900;
    // start on a whole minute when that stays inside the ticket's life; people mostly
    // work office hours, alerts come at any hour
    let strict = if board == ALERTS_BOARD { 0.0 } else { 0.85 };
    let raw = office_time(g, t.entered, t.entered + (window - span).max(1), strict);
    let rounded = (raw + 59) / 60 * 60;
    let start = if rounded + span <= end_of_life { rounded } else { raw };
    let end = start + span;
    let member = match t.owner {
        Some(o) if g.chance(0.7) => o,
        _ => pick_owner(g, members, board).unwrap_or(0),
    };
    let entered = (end + g.range(0, 3600)).min(now).max(end.min(now));
    let billable = billable_for(g, board);
    let status = entry_status(g, billable, now - entered);
    let last_updated =
        if status == ENTRY_BILLED { (entered + g.range(DAY, 30 * DAY)).min(now) } else { entered };
    TimeEntry {
        id: 0,
        ticket: ti,
        company: t.company,
        member,
        work_type: work_type_for(g, board, start),
        work_role: members.get(member as usize).map_or(0, |m| m.role),
        start,
        end,
        quarters,
        billable,
        notes: g.index(ENTRY_NOTES.len()) as u8,
        status,
        entered,
        entered_by: member,
        last_updated,
        updated_by: member,
        deleted: false,
    }
}

/// The catalog's boards and statuses as rows, `_info.lastUpdated` in `[start, now)`.
fn catalog_boards(
    g: &mut Gen,
    start: i64,
    now: i64,
    members: usize,
) -> (Vec<BoardRow>, Vec<StatusRow>) {
    let mut boards = Vec::with_capacity(BOARDS.len());
    let mut statuses = Vec::new();
    for (bi, b) in BOARDS.iter().enumerate() {
        boards.push(BoardRow {
            id: b.id,
            board: bi as u8,
            location: u8::from(bi == ONSITE_BOARD),
            department: BOARD_DEFAULT_DEPARTMENT[bi],
            last_updated: g.range(start, now - DAY),
            updated_by: g.index(members) as u16,
        });
        for (si, name) in b.statuses.iter().enumerate() {
            statuses.push(StatusRow {
                id: b.status_base + si as i64,
                board: bi as u8,
                status: si as u8,
                display: *name != STATUS_CLOSED,
                last_updated: g.range(start, now - DAY),
                updated_by: g.index(members) as u16,
            });
        }
    }
    statuses.sort_by_key(|s| s.id);
    (boards, statuses)
}

/// A contact of the company (its default one with probability `p_default`), or none.
fn some_contact(g: &mut Gen, list: &[u32], p: f64) -> Option<u32> {
    if list.is_empty() || !g.chance(p) {
        None
    } else if g.chance(0.5) {
        list.first().copied()
    } else {
        Some(g.pick(list))
    }
}

/// An agreement entered at `at` (its id is set by the caller). Managed-services agreements
/// are active and open-ended.
#[allow(clippy::too_many_arguments)]
pub(super) fn new_agreement(
    g: &mut Gen,
    kind: u8,
    company: u32,
    at: i64,
    now: i64,
    window_start: i64,
    companies: &[Company],
    company_contacts: &[Vec<u32>],
    members: usize,
) -> Agreement {
    let c = &companies[company as usize];
    let start = day_start(at + g.range(0, 14) * DAY);
    let (type_id, type_name) = AGREEMENT_TYPES[kind as usize];
    let (end, status) = if kind == AGREEMENT_MANAGED {
        (None, AGREEMENT_ACTIVE)
    } else {
        let end = start + 365 * DAY;
        let status = if end < now {
            if g.chance(0.7) { 2 } else { AGREEMENT_CANCELLED }
        } else if g.chance(0.85) {
            AGREEMENT_ACTIVE
        } else if g.chance(0.7) {
            AGREEMENT_CANCELLED
        } else {
            3
        };
        (Some(end), status)
    };
    let name = if kind == AGREEMENT_MANAGED {
        format!("{} - {type_name}", c.identifier)
    } else {
        format!("{} - {type_name} {}", c.identifier, 1_000 + type_id * 100 + g.range(0, 100))
    };
    let (work_role, work_type) = match kind {
        1 => (0, 0),
        4 => (4, 3),
        _ => (g.index(WORK_ROLES.len()) as u8, g.index(3) as u8),
    };
    Agreement {
        id: 0,
        name,
        kind,
        company,
        // ConnectWise requires a contact on an agreement: the company's default one when
        // the draw names none (none only for a company with no contact yet).
        contact: some_contact(g, &company_contacts[company as usize], 0.9)
            .or_else(|| company_contacts[company as usize].first().copied()),
        status,
        start,
        end,
        bill_time: if kind == AGREEMENT_MANAGED { 2 } else { g.weighted(&[0.7, 0.1, 0.2]) as u8 },
        work_role,
        work_type,
        entered: at,
        last_updated: g.range(at.max(window_start), now).max(at).min(now),
        updated_by: g.index(members) as u16,
        deleted: false,
    }
}

/// A configuration installed around `at` (name and id are set by the caller).
#[allow(clippy::too_many_arguments)]
pub(super) fn new_configuration(
    g: &mut Gen,
    company: u32,
    at: i64,
    now: i64,
    window_start: i64,
    companies: &[Company],
    company_contacts: &[Vec<u32>],
    members: usize,
) -> Configuration {
    let c = &companies[company as usize];
    let kind = g.weighted(&CONFIG_TYPES.map(|t| t.4));
    let models = CONFIG_TYPES[kind].3;
    let purchased = day_start(at - g.range(0, 20) * DAY);
    let installed = day_start(at).max(purchased);
    let warranty = purchased + [365, 3 * 365, 5 * 365][g.index(3)] * DAY;
    let status = if installed > now - 90 * DAY { 0 } else { g.weighted(&[0.85, 0.07, 0.08]) as u8 };
    let serial: String = {
        const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        (0..10).map(|_| CHARS[g.index(CHARS.len())] as char).collect()
    };
    let prefix: String = c.identifier.chars().take(4).collect::<String>().to_ascii_uppercase();
    let contact = some_contact(g, &company_contacts[company as usize], 0.6);
    Configuration {
        id: 0,
        name: String::new(),
        kind: kind as u8,
        status,
        company,
        contact,
        serial,
        model: g.index(models.len()) as u8,
        tag: format!("{prefix}{:05}", g.range(1, 100_000)),
        purchased,
        warranty,
        installed,
        last_updated: g.range(at.max(window_start), now).max(at).min(now),
        updated_by: g.index(members) as u16,
        deleted: false,
    }
}

/// Names configurations without a name `{PREFIX}-{CODE}{NN}`, numbering per company and
/// type after the ones already named.
pub(super) fn name_configurations(configs: &mut [Configuration], companies: &[Company]) {
    let mut seen: std::collections::HashMap<(u32, u8), usize> = std::collections::HashMap::new();
    for c in configs.iter_mut() {
        let n = seen.entry((c.company, c.kind)).or_default();
        *n += 1;
        if c.name.is_empty() {
            let prefix: String = companies[c.company as usize]
                .identifier
                .chars()
                .take(4)
                .collect::<String>()
                .to_ascii_uppercase();
            c.name = format!("{prefix}-{}{:02}", CONFIG_TYPES[c.kind as usize].2, n);
        }
    }
}

/// Members that manage projects (project managers first), or any active one.
fn pick_manager(g: &mut Gen, members: &[Member]) -> u16 {
    let pms: Vec<u16> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.inactive && (m.role == 4 || m.role == 3))
        .map(|(i, _)| i as u16)
        .collect();
    if !pms.is_empty() && g.chance(0.8) {
        return g.pick(&pms);
    }
    pick_owner(g, members, PROJECTS_BOARD).unwrap_or(0)
}

/// A project entered at `entered` (its id is set by the caller); `now` bounds every date
/// that has happened.
pub(super) fn new_project(
    g: &mut Gen,
    company: u32,
    entered: i64,
    now: i64,
    companies: &[Company],
    members: &[Member],
) -> Project {
    let c = &companies[company as usize];
    let est_start = day_start(entered + g.range(1, 30) * DAY);
    let est_end = est_start + g.range(14, 120) * DAY;
    let budget_hours = (g.range(4, 40) * 5) as f64;
    let manager = pick_manager(g, members);
    let (status, actual_start, actual_end, actual_hours) = if est_start > now {
        (0, None, None, 0.0)
    } else {
        let actual_start = (est_start + g.range(-2, 5) * DAY).clamp(entered, now);
        if est_end < now - 30 * DAY && g.chance(0.85) {
            let end = (est_end + g.range(-10, 30) * DAY).clamp(actual_start, now);
            let hours = (budget_hours * (0.7 + g.range(0, 60) as f64 / 100.0) * 4.0).round() / 4.0;
            (if g.chance(0.7) { 4 } else { 3 }, Some(actual_start), Some(end), hours)
        } else {
            let done =
                ((now - actual_start) as f64 / (est_end - est_start).max(DAY) as f64).min(1.0);
            let hours = (budget_hours * done * 4.0).round() / 4.0;
            (if g.chance(0.8) { 1 } else { 2 }, Some(actual_start), None, hours)
        }
    };
    let last_updated = actual_end.or(actual_start).unwrap_or(entered).max(entered);
    let last_updated = (last_updated + g.range(0, 3 * DAY)).min(now);
    Project {
        id: 0,
        name: format!("{} - {}", c.name, g.pick(&PROJECT_NAMES)),
        company,
        manager,
        status,
        est_start,
        est_end,
        actual_start,
        actual_end,
        budget_hours,
        actual_hours,
        billing: g.weighted(&[0.4, 0.35, 0.2, 0.05]) as u8,
        entered,
        last_updated,
        updated_by: manager,
        deleted: false,
    }
}

/// An opportunity entered at `entered` (its id is set by the caller).
pub(super) fn new_opportunity(
    g: &mut Gen,
    company: u32,
    entered: i64,
    now: i64,
    company_contacts: &[Vec<u32>],
    members: &[Member],
) -> Opportunity {
    let (name, base) = g.pick(&OPP_NAMES);
    let expected_close = day_start(entered + g.range(14, 120) * DAY);
    let active: Vec<u16> =
        members.iter().enumerate().filter(|(_, m)| !m.inactive).map(|(i, _)| i as u16).collect();
    let rep = if active.is_empty() { 0 } else { g.pick(&active) };
    let total = ((base * (0.5 + g.range(0, 150) as f64 / 100.0)) / 50.0).round() * 50.0;
    let mut o = Opportunity {
        id: 0,
        name: name.to_string(),
        company,
        // ConnectWise requires a contact (and site) on an opportunity, as on an agreement.
        contact: some_contact(g, &company_contacts[company as usize], 0.85)
            .or_else(|| company_contacts[company as usize].first().copied()),
        rep,
        stage: g.index(OPP_STAGES.len() - 1) as u8,
        status: OPP_OPEN,
        probability: 0,
        rating: g.weighted(&[0.25, 0.5, 0.25]) as u8,
        expected_close,
        closed: None,
        total,
        entered,
        last_updated: entered,
        updated_by: rep,
        deleted: false,
    };
    o.probability = OPP_STAGES[o.stage as usize].2;
    if expected_close < now - 14 * DAY && g.chance(0.9) {
        let closed = (expected_close + g.range(-10, 10) * DAY).clamp(entered, now);
        close_opportunity(g, &mut o, closed);
    } else {
        o.last_updated = g.range(entered, now).min(now);
    }
    o
}

/// Closes an opportunity at `at`: won, lost or no decision.
pub(super) fn close_opportunity(g: &mut Gen, o: &mut Opportunity, at: i64) {
    o.status = g.weighted(&[0.0, 0.45, 0.4, 0.15]) as u8;
    if o.status == OPP_WON {
        o.stage = OPP_STAGES.len() as u8 - 1;
        o.probability = OPP_PROB_WON;
    } else {
        o.probability = OPP_PROB_LOST;
    }
    o.closed = Some(at);
    o.last_updated = at;
}
