//! Moving an instance's clock: updates, creates and deletes inside the new window.
//!
//! An advance from `from` to `to` (`to = from + duration`) touches records so that every
//! changed record's `sys_updated_on` lies in `(from, to]` and no other record's does:
//!
//! * deletes come first and are spread over the data tables in proportion to their sizes;
//!   a deleted incident takes its time-worked rows with it (cascade), and companies, agents
//!   and contacts are only deleted when nothing references them (so references stay
//!   resolvable; fewer deletes happen when there is no such record). Each deleted record
//!   leaves a `sys_audit_delete` row (`documentkey` = its sys_id, `sys_created_on` = the
//!   deletion time);
//! * updates then pick distinct surviving records: incidents move along their life cycle
//!   (New → In Progress → On Hold / Resolved → Closed, or a reopen from Resolved, with
//!   `resolved_at`/`closed_at`/`active` kept consistent), time-worked rows change their
//!   duration, companies their phone, agents their last login, contacts their title; each
//!   gets `sys_mod_count + 1`;
//! * creates add new rows with fresh sys_ids (incidents continue the `INC` numbering),
//!   created and updated inside the window, referencing live records.

use std::collections::HashSet;

use super::data::*;
use super::generate::{
    self, CLOSE_CODES, CLOSE_NOTES, Gen, Person, WORK_COMMENTS, new_incident, new_time_worked,
    sys_id,
};
use crate::connectwise::catalog::{
    CITIES, COMPANY_PREFIXES, CONTACT_TITLES, INDUSTRIES, ROLE_TITLES,
};
use crate::{ChangeReport, Changes};

/// Splits `n` over tables in proportion to `weights`, giving every table with a positive
/// weight at least one when `n` allows.
fn split(n: usize, weights: &[usize]) -> Vec<usize> {
    let total: usize = weights.iter().sum();
    if total == 0 || n == 0 {
        return vec![0; weights.len()];
    }
    let mut out: Vec<usize> = weights.iter().map(|w| n * w / total).collect();
    let mut rest = n - out.iter().sum::<usize>();
    let live = weights.iter().filter(|w| **w > 0).count();
    if n >= live {
        for (i, w) in weights.iter().enumerate() {
            if *w > 0 && out[i] == 0 && rest > 0 {
                out[i] = 1;
                rest -= 1;
            }
        }
        // still short of the minimum: take from the largest share
        for i in 0..weights.len() {
            if weights[i] > 0
                && out[i] == 0
                && let Some(max) = (0..out.len()).max_by_key(|&j| out[j]).filter(|&j| out[j] > 1)
            {
                out[max] -= 1;
                out[i] = 1;
            }
        }
    }
    // remainder to the biggest tables
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    for &i in order.iter().cycle().take(rest) {
        out[i] += 1;
    }
    out
}

struct Ctx {
    from: i64,
    to: i64,
    g: Gen,
    used: HashSet<Id>,
    /// (id, user_name) of live agents.
    staff: Vec<(Id, String)>,
}

impl Ctx {
    /// An instant in `(from, to]`.
    fn at(&mut self) -> i64 {
        self.g.range(self.from + 1, self.to + 1)
    }
    fn staff_name(&mut self) -> V {
        if self.staff.is_empty() {
            V::St("admin")
        } else {
            let i = self.g.index(self.staff.len());
            V::s(self.staff[i].1.clone())
        }
    }
    fn agent(&mut self) -> Option<(Id, String)> {
        (!self.staff.is_empty()).then(|| self.staff[self.g.index(self.staff.len())].clone())
    }
}

fn get<'a>(r: &'a Row, t: Tab, name: &str) -> &'a V {
    &r.vals[t.col(name)]
}

fn set(r: &mut Row, t: Tab, name: &str, v: V) {
    r.vals[t.col(name)] = v;
}

pub(super) fn advance(ds: &mut Dataset, c: &Changes) -> ChangeReport {
    let from = ds.now;
    let to = from + c.duration.num_seconds().max(1);
    ds.version += 1;
    let mut used = HashSet::new();
    for t in Tab::ALL {
        used.extend(ds.rows(t).iter().map(|r| r.id));
    }
    let mut cx = Ctx {
        from,
        to,
        g: Gen::new(ds.spec.seed ^ ds.version, 0x4144_5643),
        used,
        staff: Vec::new(),
    };
    let mut report = ChangeReport {
        from: crate::time::to_datetime(from),
        to: crate::time::to_datetime(to),
        ..Default::default()
    };
    for t in Tab::ALL {
        report.updated.insert(t.name().into(), Vec::new());
        report.created.insert(t.name().into(), Vec::new());
        report.deleted.insert(t.name().into(), Vec::new());
    }

    let sizes: Vec<usize> = Tab::DATA.iter().map(|t| ds.rows(*t).len()).collect();
    let deletes = split(c.deletes, &sizes);
    delete(ds, &mut cx, &deletes, &mut report);

    cx.staff = staff(ds);
    let sizes: Vec<usize> = Tab::DATA.iter().map(|t| ds.rows(*t).len()).collect();
    let updates = split(c.updates, &sizes);
    for (k, t) in Tab::DATA.into_iter().enumerate() {
        update(ds, &mut cx, t, updates[k], &mut report);
    }

    let weights: Vec<usize> = sizes.iter().map(|s| (*s).max(1)).collect();
    let creates = split(c.creates, &weights);
    for (k, t) in Tab::DATA.into_iter().enumerate() {
        for _ in 0..creates[k] {
            if let Some(row) = create(ds, &mut cx, t) {
                if t == Tab::User {
                    let name = get(&row, t, "user_name").as_str().unwrap_or_default().to_string();
                    cx.staff.push((row.id, name));
                }
                report.created.entry(t.name().into()).or_default().push(row.id.string());
                ds.insert(t, row);
            }
        }
    }

    ds.now = to;
    for map in [&mut report.updated, &mut report.created, &mut report.deleted] {
        map.values_mut().for_each(|ids| ids.sort_unstable());
    }
    report
}

fn staff(ds: &Dataset) -> Vec<(Id, String)> {
    let t = Tab::User;
    ds.rows(t)
        .iter()
        .filter(|r| *get(r, t, "active") == V::Bool(true))
        .map(|r| (r.id, get(r, t, "user_name").as_str().unwrap_or_default().to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Deletes

fn delete(ds: &mut Dataset, cx: &mut Ctx, counts: &[usize], report: &mut ChangeReport) {
    if counts.iter().all(|n| *n == 0) {
        return;
    }
    // every id some live record references (incidents are deleted with their time rows)
    let mut referenced: HashSet<Id> = HashSet::new();
    for t in Tab::DATA {
        for r in ds.rows(t) {
            referenced.extend(r.vals.iter().filter_map(|v| v.as_ref_id().map(|(_, id)| id)));
        }
    }
    let mut doomed: Vec<(Tab, Id)> = Vec::new();
    let mut chosen: HashSet<Id> = HashSet::new();
    for (k, t) in Tab::DATA.into_iter().enumerate() {
        let rows = ds.rows(t);
        let mut left = counts[k];
        let mut tries = counts[k] * 30;
        while left > 0 && tries > 0 && !rows.is_empty() {
            tries -= 1;
            let r = &rows[cx.g.index(rows.len())];
            let free = matches!(t, Tab::Incident | Tab::TimeWorked) || !referenced.contains(&r.id);
            if free && chosen.insert(r.id) {
                doomed.push((t, r.id));
                left -= 1;
            }
        }
    }
    // cascade: an incident's time-worked rows go with it
    let incidents: HashSet<Id> =
        doomed.iter().filter(|(t, _)| *t == Tab::Incident).map(|(_, id)| *id).collect();
    if !incidents.is_empty() {
        let task = Tab::TimeWorked.col("task");
        for r in ds.rows(Tab::TimeWorked) {
            if let Some((_, id)) = r.vals[task].as_ref_id()
                && incidents.contains(&id)
                && chosen.insert(r.id)
            {
                doomed.push((Tab::TimeWorked, r.id));
            }
        }
    }
    for (t, id) in doomed {
        let Some(i) = ds.find(t, id) else { continue };
        let mut display = String::new();
        {
            let row = &ds.rows(t)[i];
            ds.push_display(&mut display, t, row, t.display_col());
        }
        ds.tables[t.index()].remove(i);
        let at = cx.at();
        let a = Tab::AuditDelete;
        let mut audit = Row::new(a, sys_id(&mut cx.g, &mut cx.used));
        set(&mut audit, a, "tablename", V::St(t.name()));
        set(&mut audit, a, "documentkey", V::s(id.string()));
        set(&mut audit, a, "display_value", V::s(display));
        set(&mut audit, a, "sys_created_on", V::T(at));
        let by = cx.staff_name();
        set(&mut audit, a, "sys_created_by", by.clone());
        set(&mut audit, a, "sys_updated_on", V::T(at));
        set(&mut audit, a, "sys_updated_by", by);
        set(&mut audit, a, "sys_mod_count", V::Int(0));
        report.deleted.entry(t.name().into()).or_default().push(id.string());
        report.created.entry(a.name().into()).or_default().push(audit.id.string());
        ds.deleted.entry(t.name().into()).or_default().push(id.string());
        ds.insert(a, audit);
    }
}

// ---------------------------------------------------------------------------------------------
// Updates

fn update(ds: &mut Dataset, cx: &mut Ctx, t: Tab, n: usize, report: &mut ChangeReport) {
    let len = ds.rows(t).len();
    if len == 0 || n == 0 {
        return;
    }
    let mut picked: Vec<usize> = Vec::new();
    let mut seen = HashSet::new();
    let mut tries = n * 30;
    while picked.len() < n.min(len) && tries > 0 {
        tries -= 1;
        let i = cx.g.index(len);
        if seen.insert(i) {
            picked.push(i);
        }
    }
    for i in picked {
        let at = cx.at();
        let by = cx.staff_name();
        let mut row = std::mem::replace(&mut ds.tables[t.index()][i], Row::new(t, Id::default()));
        match t {
            Tab::Incident => update_incident(cx, &mut row, at),
            Tab::TimeWorked => {
                let secs = get(&row, t, "time_in_seconds").as_int();
                let delta = [-900, 900, 1800][cx.g.index(3)];
                let secs = (secs + delta).max(300);
                set(&mut row, t, "time_in_seconds", V::Int(secs));
                set(&mut row, t, "time_worked", V::T(secs));
                set(&mut row, t, "comments", V::St(cx.g.pick(&WORK_COMMENTS)));
            }
            Tab::Company => {
                let p = generate::phone(&mut cx.g);
                set(&mut row, t, "phone", V::s(p));
            }
            Tab::User => {
                set(&mut row, t, "last_login_time", V::T(at));
                if cx.g.chance(0.2) {
                    set(&mut row, t, "title", V::St(cx.g.pick(&ROLE_TITLES)));
                }
            }
            Tab::Contact => {
                set(&mut row, t, "title", V::St(cx.g.pick(&CONTACT_TITLES)));
                let p = generate::phone(&mut cx.g);
                set(&mut row, t, "phone", V::s(p));
            }
            Tab::AuditDelete => {}
        }
        let mods = get(&row, t, "sys_mod_count").as_int() + 1;
        set(&mut row, t, "sys_mod_count", V::Int(mods));
        set(&mut row, t, "sys_updated_on", V::T(at));
        set(&mut row, t, "sys_updated_by", by);
        report.updated.entry(t.name().into()).or_default().push(row.id.string());
        ds.tables[t.index()][i] = row;
    }
}

fn update_incident(cx: &mut Ctx, r: &mut Row, at: i64) {
    let t = Tab::Incident;
    let state = get(r, t, "state").as_str().unwrap_or("1").to_string();
    let ensure_assigned = |cx: &mut Ctx, r: &mut Row| {
        if get(r, t, "assigned_to").is_empty()
            && let Some((id, _)) = cx.agent()
        {
            set(r, t, "assigned_to", V::Ref(Tab::User, id));
        }
    };
    let new_state = match state.as_str() {
        "1" => "2",
        "2" => ["6", "3", "2"][cx.g.weighted(&[0.5, 0.2, 0.3])],
        "3" => "2",
        "6" => {
            if cx.g.chance(0.85) {
                "7"
            } else {
                "2"
            }
        }
        _ => "7",
    };
    match (state.as_str(), new_state) {
        (_, "2") if state == "6" => {
            // reopened
            let n = get(r, t, "reopen_count").as_int() + 1;
            set(r, t, "reopen_count", V::Int(n));
            for f in [
                "resolved_at",
                "resolved_by",
                "close_code",
                "close_notes",
                "calendar_duration",
                "business_duration",
                "calendar_stc",
                "business_stc",
            ] {
                set(r, t, f, V::Empty);
            }
            set(r, t, "active", V::Bool(true));
        }
        ("2", "2") => {
            // re-triage: urgency changes, priority follows the matrix
            let impact: i64 =
                get(r, t, "impact").as_str().and_then(|s| s.parse().ok()).unwrap_or(3);
            let urgency = [1, 2, 3][cx.g.index(3)];
            let p = generate::priority(impact, urgency);
            set(r, t, "urgency", V::St(["0", "1", "2", "3"][urgency as usize]));
            set(r, t, "priority", V::St(["0", "1", "2", "3", "4", "5"][p as usize]));
        }
        (_, "6") => {
            ensure_assigned(cx, r);
            let open = get(r, t, "opened_at").as_t().unwrap_or(at);
            let assigned = get(r, t, "assigned_to").clone();
            set(r, t, "resolved_at", V::T(at));
            set(r, t, "resolved_by", assigned);
            set(r, t, "close_code", V::St(cx.g.pick(&CLOSE_CODES)));
            set(r, t, "close_notes", V::St(cx.g.pick(&CLOSE_NOTES)));
            let calendar = (at - open).max(0);
            let business = calendar * cx.g.range(25, 45) / 100;
            set(r, t, "calendar_duration", V::T(calendar));
            set(r, t, "business_duration", V::T(business));
            set(r, t, "calendar_stc", V::Int(calendar));
            set(r, t, "business_stc", V::Int(business));
            let due = get(r, t, "sla_due").as_t().unwrap_or(at);
            set(r, t, "made_sla", V::Bool(at <= due));
        }
        ("6", "7") => {
            let assigned = get(r, t, "assigned_to").clone();
            set(r, t, "closed_at", V::T(at));
            set(r, t, "closed_by", assigned);
            set(r, t, "active", V::Bool(false));
        }
        ("7", _) => {
            // a closed incident only gets its notes edited
            set(r, t, "close_notes", V::St(cx.g.pick(&CLOSE_NOTES)));
        }
        _ => ensure_assigned(cx, r),
    }
    set(r, t, "state", V::St(new_state));
    set(r, t, "incident_state", V::St(new_state));
}

// ---------------------------------------------------------------------------------------------
// Creates

fn pick_live(ds: &Dataset, g: &mut Gen, t: Tab) -> Option<Id> {
    let rows = ds.rows(t);
    (!rows.is_empty()).then(|| rows[g.index(rows.len())].id)
}

fn create(ds: &mut Dataset, cx: &mut Ctx, t: Tab) -> Option<Row> {
    let at = cx.at();
    let by = cx.staff_name();
    let mut r = match t {
        Tab::Company => {
            let names: HashSet<&str> =
                ds.rows(t).iter().filter_map(|r| get(r, t, "name").as_str()).collect();
            let base = format!("{} {}", cx.g.pick(&COMPANY_PREFIXES), cx.g.pick(&INDUSTRIES).0);
            let name = (1..)
                .map(|n| if n == 1 { base.clone() } else { format!("{base} {n}") })
                .find(|n| !names.contains(n.as_str()))
                .unwrap_or(base);
            let (city, state, zip3, _) = cx.g.pick(&CITIES);
            let mut r = Row::new(t, sys_id(&mut cx.g, &mut cx.used));
            let domain: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            set(&mut r, t, "name", V::s(name));
            set(&mut r, t, "customer", V::Bool(true));
            set(&mut r, t, "vendor", V::Bool(false));
            set(&mut r, t, "manufacturer", V::Bool(false));
            set(&mut r, t, "street", V::s(format!("{} Main St", cx.g.range(10, 9999))));
            set(&mut r, t, "city", V::St(city));
            set(&mut r, t, "state", V::St(state));
            set(&mut r, t, "zip", V::s(format!("{:05}", zip3 * 100 + cx.g.range(0, 100) as u32)));
            set(&mut r, t, "country", V::St("USA"));
            let p = generate::phone(&mut cx.g);
            set(&mut r, t, "phone", V::s(p));
            set(&mut r, t, "website", V::s(format!("https://www.{domain}.com")));
            r
        }
        Tab::User => {
            let p = Person::random(&mut cx.g);
            let taken: HashSet<&str> =
                ds.rows(t).iter().filter_map(|r| get(r, t, "user_name").as_str()).collect();
            let base = p.dotted();
            let user_name = (1..)
                .map(|n| if n == 1 { base.clone() } else { format!("{base}{n}") })
                .find(|n| !taken.contains(n.as_str()))
                .unwrap_or(base);
            let domain = format!(
                "{}-it.com",
                ds.spec
                    .instance
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_lowercase()
            );
            let mut r = Row::new(t, sys_id(&mut cx.g, &mut cx.used));
            set(&mut r, t, "user_name", V::s(user_name.clone()));
            set(&mut r, t, "name", V::s(p.name()));
            set(&mut r, t, "first_name", V::St(p.first));
            set(&mut r, t, "last_name", V::St(p.last));
            set(&mut r, t, "email", V::s(format!("{user_name}@{domain}")));
            set(&mut r, t, "title", V::St(cx.g.pick(&ROLE_TITLES)));
            if let Some(first) = ds.rows(t).first() {
                set(&mut r, t, "manager", V::Ref(Tab::User, first.id));
            }
            let p = generate::phone(&mut cx.g);
            set(&mut r, t, "phone", V::s(p));
            set(&mut r, t, "active", V::Bool(true));
            set(&mut r, t, "locked_out", V::Bool(false));
            set(&mut r, t, "vip", V::Bool(false));
            set(&mut r, t, "time_zone", V::St("US/Eastern"));
            set(&mut r, t, "sys_class_name", V::St("sys_user"));
            r
        }
        Tab::Contact => {
            let company = pick_live(ds, &mut cx.g, Tab::Company)?;
            let domain = ds
                .get(Tab::Company, company)
                .and_then(|c| get(c, Tab::Company, "website").as_str())
                .and_then(|w| w.strip_prefix("https://www."))
                .unwrap_or("example.com")
                .to_string();
            let p = Person::random(&mut cx.g);
            let mut r = Row::new(t, sys_id(&mut cx.g, &mut cx.used));
            let email = format!("{}{}@{domain}", p.dotted(), cx.g.range(2, 99));
            set(&mut r, t, "user_name", V::s(email.clone()));
            set(&mut r, t, "name", V::s(p.name()));
            set(&mut r, t, "first_name", V::St(p.first));
            set(&mut r, t, "last_name", V::St(p.last));
            set(&mut r, t, "email", V::s(email));
            let ph = generate::phone(&mut cx.g);
            set(&mut r, t, "phone", V::s(ph));
            set(&mut r, t, "title", V::St(cx.g.pick(&CONTACT_TITLES)));
            set(&mut r, t, "company", V::Ref(Tab::Company, company));
            set(&mut r, t, "active", V::Bool(true));
            set(&mut r, t, "vip", V::Bool(false));
            set(&mut r, t, "sys_class_name", V::St("customer_contact"));
            r
        }
        Tab::Incident => {
            let number = ds.next_number;
            ds.next_number += 1;
            let mut r = new_incident(&mut cx.g, &mut cx.used, number, at, cx.to);
            let company = pick_live(ds, &mut cx.g, Tab::Company);
            if let Some(company) = company {
                set(&mut r, t, "company", V::Ref(Tab::Company, company));
                let col = Tab::Contact.col("company");
                let callers: Vec<Id> = ds
                    .rows(Tab::Contact)
                    .iter()
                    .filter(|c| c.vals[col] == V::Ref(Tab::Company, company))
                    .map(|c| c.id)
                    .collect();
                if !callers.is_empty() {
                    set(
                        &mut r,
                        t,
                        "caller_id",
                        V::Ref(Tab::Contact, callers[cx.g.index(callers.len())]),
                    );
                }
            }
            if let Some((id, name)) = cx.agent() {
                set(&mut r, t, "opened_by", V::Ref(Tab::User, id));
                if get(&r, t, "caller_id").is_empty() {
                    set(&mut r, t, "caller_id", V::Ref(Tab::User, id));
                }
                set(&mut r, t, "sys_created_by", V::s(name));
            }
            let state = get(&r, t, "state").as_str().unwrap_or("1").to_string();
            if state != "1"
                && let Some((id, _)) = cx.agent()
            {
                set(&mut r, t, "assigned_to", V::Ref(Tab::User, id));
                if state == "6" || state == "7" {
                    set(&mut r, t, "resolved_by", V::Ref(Tab::User, id));
                }
                if state == "7" {
                    set(&mut r, t, "closed_by", V::Ref(Tab::User, id));
                }
            }
            let created_by = get(&r, t, "sys_created_by").clone();
            set(&mut r, t, "sys_updated_by", created_by);
            return Some(r);
        }
        Tab::TimeWorked => {
            let it = Tab::Incident;
            let state = it.col("state");
            let open: Vec<&Row> = ds
                .rows(it)
                .iter()
                .filter(|r| matches!(r.vals[state].as_str(), Some("2" | "3")))
                .collect();
            let task = (!open.is_empty()).then(|| open[cx.g.index(open.len())]);
            let task = task?;
            let assignee = get(task, it, "assigned_to").as_ref_id().map(|(_, id)| id);
            let open = get(task, it, "opened_at").as_t().unwrap_or(cx.from);
            let (task_id, from) = (task.id, open.max(cx.from + 1));
            let (user, name) =
                match assignee.and_then(|a| cx.staff.iter().find(|s| s.0 == a).cloned()) {
                    Some(s) => s,
                    None => cx.agent()?,
                };
            return Some(new_time_worked(
                &mut cx.g,
                &mut cx.used,
                task_id,
                user,
                &name,
                from,
                cx.to,
                cx.to,
            ));
        }
        Tab::AuditDelete => return None,
    };
    set(&mut r, t, "sys_created_on", V::T(at));
    set(&mut r, t, "sys_created_by", by.clone());
    set(&mut r, t, "sys_updated_on", V::T(at));
    set(&mut r, t, "sys_updated_by", by);
    set(&mut r, t, "sys_mod_count", V::Int(0));
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_in_proportion() {
        assert_eq!(split(10, &[10, 0, 90]), vec![1, 0, 9]);
        assert_eq!(split(3, &[1, 1, 1000]), vec![1, 1, 1]);
        assert_eq!(split(0, &[5, 5]), vec![0, 0]);
        assert_eq!(split(7, &[100, 100]).iter().sum::<usize>(), 7);
        assert_eq!(split(5, &[0, 0]), vec![0, 0]);
    }
}
