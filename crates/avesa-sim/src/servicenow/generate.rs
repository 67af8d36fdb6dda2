//! Deterministic generation of one simulated ServiceNow instance from its seed.
//!
//! One ChaCha8 stream per table, seeded from `spec.seed`, over the two years before
//! `spec.now`. Shapes worth knowing when reading tests:
//!
//! * every company gets a contact when there are enough contacts; a few big customers raise
//!   most incidents (Zipf-like);
//! * incidents are numbered `INC0010001…` in `opened_at` order; the caller is a contact of
//!   the incident's company (or, rarely, an agent); the state follows the timeline:
//!   `opened_at <= resolved_at <= closed_at <= sys_updated_on <= now`, `Closed` (7) once
//!   `closed_at` has passed, `Resolved` (6) once `resolved_at` has, otherwise `New` (1),
//!   `In Progress` (2) or `On Hold` (3); `active` is false only when closed; priority follows
//!   ServiceNow's impact × urgency matrix;
//! * time-worked rows belong to incidents past `New`, fall inside the incident's life and
//!   are worked by agents (mostly the assignee).

use std::collections::HashSet;

use rand::Rng;

use super::SnTenantSpec;
use super::data::*;
use crate::connectwise::catalog::{
    APPS, CITIES, COMPANY_PREFIXES, COMPANY_SUFFIXES, CONTACT_TITLES, DEPARTMENTS, FIRST_NAMES,
    HOST_KINDS, INDUSTRIES, LAST_NAMES, ROLE_TITLES, STREETS,
};

pub(super) const DAY: i64 = 86_400;
pub(super) const HOUR: i64 = 3_600;

pub(crate) use crate::rng::Gen;

/// A fresh sys_id not in `used`.
pub(crate) fn sys_id(g: &mut Gen, used: &mut HashSet<Id>) -> Id {
    loop {
        let id = Id(g.rng.r#gen());
        if used.insert(id) {
            return id;
        }
    }
}

/// Cumulative weights for picking an index by Zipf-like weights in O(log n).
pub(super) struct Picker {
    cumulative: Vec<f64>,
}

impl Picker {
    pub fn zipf(n: usize, exponent: f64) -> Picker {
        let mut acc = 0.0;
        let cumulative = (0..n)
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(exponent);
                acc
            })
            .collect();
        Picker { cumulative }
    }
    pub fn pick(&self, g: &mut Gen) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        if total <= 0.0 {
            return 0;
        }
        let x = g.rng.gen_range(0.0..total);
        self.cumulative.partition_point(|c| *c <= x).min(self.cumulative.len() - 1)
    }
}

/// A weekday, office-hours instant in `[lo, hi)` (US Eastern), most of the time.
pub(super) fn office_time(g: &mut Gen, lo: i64, hi: i64) -> i64 {
    let mut t = g.range(lo, hi);
    for _ in 0..4 {
        let wd = crate::time::weekday(t, -5);
        let h = crate::time::hour(t, -5);
        if (1..=5).contains(&wd) && (7..19).contains(&h) || !g.chance(0.85) {
            break;
        }
        t = g.range(lo, hi);
    }
    t
}

pub(super) fn phone(g: &mut Gen) -> String {
    format!("({}) 555-{:04}", g.range(201, 990), g.range(100, 10_000))
}

fn slug(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

/// (category, subcategories, short descriptions)
pub(super) const INCIDENT_TOPICS: [(&str, &[&str], &[&str]); 5] = [
    (
        "inquiry",
        &["email", "internal application", "how-to"],
        &[
            "How do I set up email on my new phone?",
            "Request: add user to shared mailbox",
            "Question about password reset policy",
            "How do I map the shared drive from home?",
            "Need access to {app}",
        ],
    ),
    (
        "software",
        &["email", "operating system", "internal application", "antivirus"],
        &[
            "Outlook keeps prompting for password",
            "{app} crashes on startup",
            "Windows update failed with error 0x80070002",
            "Teams calendar not syncing",
            "Antivirus quarantined a file in {dept}",
            "{app} license expired",
        ],
    ),
    (
        "hardware",
        &["cpu", "disk", "keyboard", "monitor", "mouse", "printer"],
        &[
            "Laptop will not boot",
            "Printer in {dept} jammed",
            "Monitor flickering at {dept} workstation",
            "Low disk space on {host}",
            "Docking station does not detect monitors",
            "Keyboard keys unresponsive",
        ],
    ),
    (
        "network",
        &["dhcp", "dns", "vpn", "wireless", "firewall"],
        &[
            "VPN disconnects every few minutes",
            "Wi-Fi slow in {dept}",
            "Cannot reach the shared drive",
            "Internet outage at the main office",
            "Firewall alert: repeated failed logins",
            "{host} unreachable",
        ],
    ),
    (
        "database",
        &["ms sql server", "oracle", "backup"],
        &[
            "SQL backup job failed on {host}",
            "High CPU on database server {host}",
            "Report query timing out",
            "Database log file full on {host}",
        ],
    ),
];

pub(super) const CLOSE_CODES: [&str; 5] = [
    "Solved (Permanently)",
    "Solved (Work Around)",
    "Solved Remotely (Permanently)",
    "Not Solved (Not Reproducible)",
    "Closed/Resolved by Caller",
];

pub(super) const CLOSE_NOTES: [&str; 6] = [
    "Issue resolved, confirmed with the caller.",
    "Applied the latest update and restarted the service.",
    "Reset the user's credentials and verified sign-in.",
    "Replaced faulty hardware.",
    "Could not reproduce; caller will reopen if it happens again.",
    "Reconfigured the affected settings remotely.",
];

pub(super) const WORK_COMMENTS: [&str; 8] = [
    "Remote session with the user",
    "Investigated logs",
    "Called the user back",
    "Applied fix and tested",
    "Waiting on vendor; followed up",
    "Onsite visit",
    "Documented resolution",
    "Escalated to senior engineer",
];

/// ServiceNow's default priority matrix (impact, urgency) → priority.
pub(super) fn priority(impact: i64, urgency: i64) -> i64 {
    match impact + urgency {
        2 => 1,
        3 => 2,
        4 => 3,
        5 => 4,
        _ => 5,
    }
}

/// Resolution time median (seconds) and SLA target by priority 1..=5.
pub(super) fn targets(priority: i64) -> (f64, i64) {
    match priority {
        1 => (3.0 * HOUR as f64, 4 * HOUR),
        2 => (8.0 * HOUR as f64, 8 * HOUR),
        3 => (DAY as f64, 3 * DAY),
        4 => (2.5 * DAY as f64, 5 * DAY),
        _ => (5.0 * DAY as f64, 10 * DAY),
    }
}

fn fill(template: &str, g: &mut Gen) -> String {
    let host = format!(
        "{}-{}{:02}",
        g.pick(&["ACME", "HQ", "BR", "OFC"]),
        g.pick(&HOST_KINDS),
        g.range(1, 20)
    );
    template
        .replace("{app}", g.pick(&APPS))
        .replace("{dept}", g.pick(&DEPARTMENTS))
        .replace("{host}", &host)
}

/// Short description, description, category and subcategory of a new incident.
pub(super) fn incident_text(g: &mut Gen) -> (String, String, &'static str, &'static str) {
    let topic = g.weighted(&[0.15, 0.35, 0.25, 0.2, 0.05]);
    let (category, subs, shorts) = INCIDENT_TOPICS[topic];
    let short = fill(g.pick(shorts), g);
    let description = format!(
        "{short}. {} Reported impact: {}.",
        g.pick(&[
            "Started this morning.",
            "Happening intermittently since yesterday.",
            "Affects the whole team.",
            "User tried restarting without success.",
            "Noticed after the latest update.",
        ]),
        g.pick(&["single user", "several users", "whole office"]),
    );
    (short, description, category, g.pick(subs))
}

/// Fields of an agent or contact person.
pub(super) struct Person {
    pub first: &'static str,
    pub last: &'static str,
}

impl Person {
    pub fn random(g: &mut Gen) -> Person {
        Person { first: g.pick(&FIRST_NAMES), last: g.pick(&LAST_NAMES) }
    }
    pub fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.first, self.last).to_ascii_lowercase().replace(['\'', ' '], "")
    }
}

/// Makes `base` unique in `used` by appending 2, 3, …
fn unique(base: String, used: &mut HashSet<String>) -> String {
    if used.insert(base.clone()) {
        return base;
    }
    (2..).map(|n| format!("{base}{n}")).find(|c| used.insert(c.clone())).unwrap_or(base)
}

fn set(r: &mut Row, t: Tab, name: &str, v: V) {
    r.vals[t.col(name)] = v;
}

pub(super) fn generate(spec: SnTenantSpec) -> Dataset {
    let now = spec.now.timestamp();
    let start = now - 730 * DAY;
    let seed = spec.seed;
    let sizes = spec.sizes.clone();
    let mut used_ids: HashSet<Id> = HashSet::new();
    let msp_domain = format!("{}-it.com", slug(&spec.instance));

    // ---- agents
    let mut g = Gen::new(seed, 0x5553_4552);
    let mut users: Vec<Row> = Vec::with_capacity(sizes.users);
    let mut user_names: HashSet<String> = HashSet::new();
    let t = Tab::User;
    for i in 0..sizes.users {
        let p = Person::random(&mut g);
        let user_name = unique(p.dotted(), &mut user_names);
        let mut r = Row::new(t, sys_id(&mut g, &mut used_ids));
        let created = g.range(start - 365 * DAY, now - 60 * DAY);
        let active = i == 0 || g.chance(0.93);
        set(&mut r, t, "user_name", V::s(user_name.clone()));
        set(&mut r, t, "name", V::s(p.name()));
        set(&mut r, t, "first_name", V::St(p.first));
        set(&mut r, t, "last_name", V::St(p.last));
        set(&mut r, t, "email", V::s(format!("{user_name}@{msp_domain}")));
        let title = if i == 0 { "Service Delivery Manager" } else { g.pick(&ROLE_TITLES) };
        set(&mut r, t, "title", V::St(title));
        if let Some(first) = users.first() {
            set(&mut r, t, "manager", V::Ref(Tab::User, first.id));
        }
        set(&mut r, t, "phone", V::s(phone(&mut g)));
        set(&mut r, t, "mobile_phone", if g.chance(0.7) { V::s(phone(&mut g)) } else { V::Empty });
        set(&mut r, t, "active", V::Bool(active));
        set(&mut r, t, "locked_out", V::Bool(!active && g.chance(0.5)));
        let login =
            if active { now - g.range(600, 3 * DAY) } else { g.range(created, now - 30 * DAY) };
        set(&mut r, t, "last_login_time", V::T(login));
        set(&mut r, t, "vip", V::Bool(false));
        set(&mut r, t, "time_zone", V::St(g.pick(&["US/Eastern", "US/Central", "US/Pacific"])));
        set(&mut r, t, "sys_class_name", V::St("sys_user"));
        set(&mut r, t, "sys_created_on", V::T(created));
        set(&mut r, t, "sys_created_by", V::St("admin"));
        set(&mut r, t, "sys_updated_on", V::T(g.range(created, login.max(created + 1))));
        set(&mut r, t, "sys_updated_by", V::St(if g.chance(0.6) { "admin" } else { "system" }));
        set(&mut r, t, "sys_mod_count", V::Int(g.range(1, 40)));
        users.push(r);
    }
    let staff: Vec<(Id, String)> = users
        .iter()
        .map(|r| (r.id, r.vals[t.col("user_name")].as_str().unwrap_or_default().to_string()))
        .collect();
    let staff_name = |g: &mut Gen| -> V {
        if staff.is_empty() { V::St("admin") } else { V::s(staff[g.index(staff.len())].1.clone()) }
    };

    // ---- companies
    let mut g = Gen::new(seed, 0x434f_4d50);
    let t = Tab::Company;
    let mut companies: Vec<Row> = Vec::with_capacity(sizes.companies);
    let mut domains: Vec<String> = Vec::with_capacity(sizes.companies);
    let mut names: HashSet<String> = HashSet::new();
    for i in 0..sizes.companies {
        let base = format!("{} {}", g.pick(&COMPANY_PREFIXES), g.pick(&INDUSTRIES).0);
        let suffix = g.pick(&COMPANY_SUFFIXES);
        let base = if suffix.is_empty() { base } else { format!("{base} {suffix}") };
        let name = unique(base, &mut names);
        let domain = format!("{}.com", slug(&name.replace(suffix, "")));
        let (city, state, zip3, _) = g.pick(&CITIES);
        let mut r = Row::new(t, sys_id(&mut g, &mut used_ids));
        let created = g.range(start - 365 * DAY, now - 30 * DAY);
        let updated = g.range(created, now);
        set(&mut r, t, "name", V::s(name));
        set(&mut r, t, "customer", V::Bool(g.chance(0.9)));
        set(&mut r, t, "vendor", V::Bool(g.chance(0.08)));
        set(&mut r, t, "manufacturer", V::Bool(g.chance(0.02)));
        if i > 5 && g.chance(0.05) {
            let parent = companies[g.index(companies.len())].id;
            set(&mut r, t, "parent", V::Ref(Tab::Company, parent));
        }
        set(&mut r, t, "street", V::s(format!("{} {}", g.range(10, 9999), g.pick(&STREETS))));
        set(&mut r, t, "city", V::St(city));
        set(&mut r, t, "state", V::St(state));
        set(&mut r, t, "zip", V::s(format!("{:05}", zip3 * 100 + g.range(0, 100) as u32)));
        set(&mut r, t, "country", V::St("USA"));
        set(&mut r, t, "phone", V::s(phone(&mut g)));
        set(&mut r, t, "fax_phone", if g.chance(0.3) { V::s(phone(&mut g)) } else { V::Empty });
        set(&mut r, t, "website", V::s(format!("https://www.{domain}")));
        set(
            &mut r,
            t,
            "notes",
            if g.chance(0.2) { V::St("Managed services agreement") } else { V::Empty },
        );
        set(&mut r, t, "sys_created_on", V::T(created));
        set(&mut r, t, "sys_created_by", V::St("admin"));
        set(&mut r, t, "sys_updated_on", V::T(updated));
        set(&mut r, t, "sys_updated_by", staff_name(&mut g));
        set(&mut r, t, "sys_mod_count", V::Int(g.range(0, 15)));
        companies.push(r);
        domains.push(domain);
    }

    // ---- contacts
    let mut g = Gen::new(seed, 0x434f_4e54);
    let t = Tab::Contact;
    let company_picker = Picker::zipf(companies.len(), 0.7);
    let mut contacts: Vec<Row> = Vec::with_capacity(sizes.contacts);
    let mut company_contacts: Vec<Vec<Id>> = vec![Vec::new(); companies.len()];
    let mut emails: HashSet<String> = HashSet::new();
    for i in 0..sizes.contacts {
        if companies.is_empty() {
            break;
        }
        let c = if i < companies.len() { i } else { company_picker.pick(&mut g) };
        let p = Person::random(&mut g);
        let email = unique(format!("{}@{}", p.dotted(), domains[c]), &mut emails);
        let mut r = Row::new(t, sys_id(&mut g, &mut used_ids));
        let company_created =
            companies[c].vals[Tab::Company.col("sys_created_on")].as_t().unwrap_or(start);
        let created = g.range(company_created, now - DAY);
        set(&mut r, t, "user_name", V::s(email.clone()));
        set(&mut r, t, "name", V::s(p.name()));
        set(&mut r, t, "first_name", V::St(p.first));
        set(&mut r, t, "last_name", V::St(p.last));
        set(&mut r, t, "email", V::s(email));
        set(&mut r, t, "phone", V::s(phone(&mut g)));
        set(&mut r, t, "mobile_phone", if g.chance(0.6) { V::s(phone(&mut g)) } else { V::Empty });
        set(&mut r, t, "title", V::St(g.pick(&CONTACT_TITLES)));
        set(&mut r, t, "company", V::Ref(Tab::Company, companies[c].id));
        set(&mut r, t, "active", V::Bool(g.chance(0.93)));
        set(&mut r, t, "vip", V::Bool(g.chance(0.05)));
        set(&mut r, t, "sys_class_name", V::St("customer_contact"));
        set(&mut r, t, "sys_created_on", V::T(created));
        set(&mut r, t, "sys_created_by", staff_name(&mut g));
        set(&mut r, t, "sys_updated_on", V::T(g.range(created, now)));
        set(&mut r, t, "sys_updated_by", staff_name(&mut g));
        set(&mut r, t, "sys_mod_count", V::Int(g.range(0, 8)));
        company_contacts[c].push(r.id);
        contacts.push(r);
    }
    let contact_names: std::collections::HashMap<Id, String> = contacts
        .iter()
        .map(|r| (r.id, r.vals[t.col("user_name")].as_str().unwrap_or_default().to_string()))
        .collect();

    // ---- incidents
    let mut g = Gen::new(seed, 0x494e_4349);
    let t = Tab::Incident;
    let mut opened: Vec<i64> = (0..sizes.incidents)
        .map(|_| {
            // density grows towards now (a growing MSP)
            let u: f64 = g.rng.r#gen::<f64>().sqrt();
            let lo = start + ((now - start) as f64 * u) as i64;
            office_time(&mut g, lo, (lo + 2 * HOUR).min(now))
        })
        .collect();
    opened.sort_unstable();
    let mut incidents: Vec<Row> = Vec::with_capacity(sizes.incidents);
    let mut worked: Vec<(Id, i64, i64, Option<Id>)> = Vec::new(); // (id, from, to, assignee)
    for (i, &open) in opened.iter().enumerate() {
        let c = company_picker.pick(&mut g);
        let mut r = new_incident(&mut g, &mut used_ids, 10_001 + i as u64, open, now);
        let company = companies.get(c).map(|x| x.id);
        let (caller, caller_name) = match company.map(|_| &company_contacts[c]) {
            Some(cc) if !cc.is_empty() && (staff.is_empty() || g.chance(0.92)) => {
                let id = cc[g.index(cc.len())];
                (Some(V::Ref(Tab::Contact, id)), contact_names.get(&id).cloned())
            }
            _ if !staff.is_empty() => {
                let (id, name) = &staff[g.index(staff.len())];
                (Some(V::Ref(Tab::User, *id)), Some(name.clone()))
            }
            _ => (None, None),
        };
        if let Some(company) = company {
            set(&mut r, t, "company", V::Ref(Tab::Company, company));
        }
        if let Some(caller) = caller {
            set(&mut r, t, "caller_id", caller);
        }
        let opener = (!staff.is_empty()).then(|| staff[g.index(staff.len())].clone());
        if let Some((id, _)) = &opener {
            set(&mut r, t, "opened_by", V::Ref(Tab::User, *id));
        }
        let self_service = r.vals[t.col("contact_type")] == V::St("self-service");
        let creator = if self_service { caller_name } else { opener.as_ref().map(|o| o.1.clone()) };
        set(&mut r, t, "sys_created_by", V::s(creator.unwrap_or_else(|| "admin".into())));
        let state = r.vals[t.col("state")].as_str().unwrap_or("1").to_string();
        let assignee = if staff.is_empty() || (state == "1" && g.chance(0.7)) {
            None
        } else {
            Some(staff[g.index(staff.len())].clone())
        };
        if let Some((id, name)) = &assignee {
            set(&mut r, t, "assigned_to", V::Ref(Tab::User, *id));
            set(&mut r, t, "sys_updated_by", V::s(name.clone()));
            if state == "6" || state == "7" {
                set(&mut r, t, "resolved_by", V::Ref(Tab::User, *id));
            }
            if state == "7" {
                set(&mut r, t, "closed_by", V::Ref(Tab::User, *id));
                set(&mut r, t, "sys_updated_by", V::St("system"));
            }
        } else {
            let by = r.vals[t.col("sys_created_by")].clone();
            set(&mut r, t, "sys_updated_by", by);
        }
        if state != "1" {
            let to = r.vals[t.col("resolved_at")].as_t().unwrap_or(now);
            worked.push((r.id, open, to, assignee.map(|a| a.0)));
        }
        incidents.push(r);
    }
    let next_number = 10_001 + incidents.len() as u64;

    // ---- time worked
    let mut g = Gen::new(seed, 0x5449_4d45);
    let mut time_worked: Vec<Row> = Vec::with_capacity(sizes.time_worked);
    if !worked.is_empty() && !staff.is_empty() {
        for _ in 0..sizes.time_worked {
            let (task, from, to, assignee) = worked[g.index(worked.len())];
            let user = match assignee {
                Some(a) if g.chance(0.8) => a,
                _ => staff[g.index(staff.len())].0,
            };
            let user_name =
                staff.iter().find(|s| s.0 == user).map(|s| s.1.clone()).unwrap_or_default();
            time_worked.push(new_time_worked(
                &mut g,
                &mut used_ids,
                task,
                user,
                &user_name,
                from,
                to,
                now,
            ));
        }
    }

    let mut tables: Vec<Vec<Row>> =
        vec![companies, users, contacts, incidents, time_worked, Vec::new()];
    for rows in &mut tables {
        rows.sort_unstable_by_key(|a| a.id);
    }
    Dataset { spec, now, tables, next_number, deleted: Default::default(), version: 0 }
}

/// A new incident opened at `open` with number `INC{number:07}`, its state and timeline
/// decided by how long ago that is; references (company, caller, people) are left to the
/// caller.
pub(super) fn new_incident(
    g: &mut Gen,
    used: &mut HashSet<Id>,
    number: u64,
    open: i64,
    now: i64,
) -> Row {
    let t = Tab::Incident;
    let mut r = Row::new(t, sys_id(g, used));
    let (short, description, category, subcategory) = incident_text(g);
    let impact = [3, 2, 1][g.weighted(&[0.6, 0.3, 0.1])];
    let urgency = [3, 2, 1][g.weighted(&[0.55, 0.33, 0.12])];
    let prio = priority(impact, urgency);
    let (median, sla) = targets(prio);
    let mut resolve = open + g.lognormal_secs(median, 0.9);
    if g.chance(0.06) {
        // the long tail: waiting on parts, the customer or a vendor
        resolve += g.range(10, 60) * DAY;
    }
    let close = resolve + 3 * DAY + g.range(0, 6 * HOUR);
    let age = now - open;
    let state = if close <= now {
        "7"
    } else if resolve <= now {
        "6"
    } else if age < 2 * HOUR || g.chance(0.2) {
        "1"
    } else if g.chance(0.2) {
        "3"
    } else {
        "2"
    };
    let resolved = matches!(state, "6" | "7");
    let sla_due = open + sla;
    let updated = match state {
        "7" => close,
        "6" => g.range(resolve, (resolve + HOUR).min(now) + 1),
        _ => g.range(open, now + 1),
    };
    let num = |v: i64| -> &'static str { ["0", "1", "2", "3", "4", "5"][v.clamp(0, 5) as usize] };
    set(&mut r, t, "number", V::s(format!("INC{number:07}")));
    set(&mut r, t, "short_description", V::s(short));
    set(&mut r, t, "description", V::s(description));
    set(&mut r, t, "state", V::St(state));
    set(&mut r, t, "incident_state", V::St(state));
    set(&mut r, t, "priority", V::St(num(prio)));
    set(&mut r, t, "impact", V::St(num(impact)));
    set(&mut r, t, "urgency", V::St(num(urgency)));
    set(&mut r, t, "severity", V::St("3"));
    set(&mut r, t, "category", V::St(category));
    set(&mut r, t, "subcategory", V::St(subcategory));
    let contact_type = CONTACT_TYPES[g.weighted(&[0.3, 0.4, 0.2, 0.03, 0.07])].0;
    set(&mut r, t, "contact_type", V::St(contact_type));
    set(&mut r, t, "opened_at", V::T(open));
    set(&mut r, t, "sla_due", V::T(sla_due));
    set(&mut r, t, "active", V::Bool(state != "7"));
    let made_sla = if resolved { resolve <= sla_due || g.chance(0.3) } else { now <= sla_due };
    set(&mut r, t, "made_sla", V::Bool(made_sla));
    set(&mut r, t, "reassignment_count", V::Int(g.weighted(&[0.7, 0.2, 0.07, 0.03]) as i64));
    set(&mut r, t, "reopen_count", V::Int(i64::from(resolved && g.chance(0.04))));
    if resolved {
        set(&mut r, t, "resolved_at", V::T(resolve));
        set(&mut r, t, "close_code", V::St(g.pick(&CLOSE_CODES)));
        set(&mut r, t, "close_notes", V::St(g.pick(&CLOSE_NOTES)));
        let calendar = resolve - open;
        let business = calendar * g.range(25, 45) / 100;
        set(&mut r, t, "calendar_duration", V::T(calendar));
        set(&mut r, t, "business_duration", V::T(business));
        set(&mut r, t, "calendar_stc", V::Int(calendar));
        set(&mut r, t, "business_stc", V::Int(business));
    }
    if state == "7" {
        set(&mut r, t, "closed_at", V::T(close));
    }
    set(&mut r, t, "sys_class_name", V::St("incident"));
    set(&mut r, t, "sys_created_on", V::T(open));
    set(&mut r, t, "sys_updated_on", V::T(updated.min(now)));
    let mods = match state {
        "1" => g.range(0, 3),
        "2" | "3" => g.range(2, 8),
        _ => g.range(5, 16),
    };
    set(&mut r, t, "sys_mod_count", V::Int(mods));
    r
}

/// A time-worked row for `task` by `user`, worked inside `[from, to)` and saved by `now`.
#[allow(clippy::too_many_arguments)]
pub(super) fn new_time_worked(
    g: &mut Gen,
    used: &mut HashSet<Id>,
    task: Id,
    user: Id,
    user_name: &str,
    from: i64,
    to: i64,
    now: i64,
) -> Row {
    let t = Tab::TimeWorked;
    let mut r = Row::new(t, sys_id(g, used));
    let seconds = (g.lognormal_secs(2_400.0, 0.8).clamp(300, 6 * 3_600) / 60) * 60;
    let start = office_time(g, from, to.max(from + 1));
    let saved = (start + seconds).min(now).max(from);
    let updated = if g.chance(0.1) { g.range(saved, now + 1) } else { saved };
    set(&mut r, t, "task", V::Ref(Tab::Incident, task));
    set(&mut r, t, "user", V::Ref(Tab::User, user));
    set(&mut r, t, "time_worked", V::T(seconds));
    set(&mut r, t, "time_in_seconds", V::Int(seconds));
    set(&mut r, t, "work_date", V::T(start.div_euclid(DAY) * DAY));
    set(&mut r, t, "comments", V::St(g.pick(&WORK_COMMENTS)));
    set(&mut r, t, "category", V::St(WORK_CATEGORIES[g.weighted(&[0.85, 0.07, 0.05, 0.03])].0));
    set(&mut r, t, "sys_created_on", V::T(saved));
    set(&mut r, t, "sys_created_by", V::s(user_name));
    set(&mut r, t, "sys_updated_on", V::T(updated));
    set(&mut r, t, "sys_updated_by", V::s(user_name));
    set(&mut r, t, "sys_mod_count", V::Int(i64::from(updated != saved)));
    r
}
