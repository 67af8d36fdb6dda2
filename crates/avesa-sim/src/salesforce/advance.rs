//! Moving an org's clock forward: updates, deletes (to the recycle bin) and creates spread
//! over the objects in proportion to their sizes, each stamped inside the advanced window.

use std::collections::HashSet;

use super::generate::*;
use super::schema::{Obj, Val};
use super::{Org, SfSizes};
use crate::connectwise::catalog::CONTACT_TITLES;
use crate::{ChangeReport, Changes};

/// Splits `total` over objects in proportion to `weights` (largest remainder), giving every
/// object with a positive weight at least one when there are enough, and none more than
/// `cap[i]`.
fn allocate(total: usize, weights: [usize; 5], cap: [usize; 5]) -> [usize; 5] {
    let mut out = [0usize; 5];
    let eligible: Vec<usize> = (0..5).filter(|&i| weights[i] > 0 && cap[i] > 0).collect();
    let mut remaining = total.min(eligible.iter().fold(0usize, |s, &i| s.saturating_add(cap[i])));
    if remaining >= eligible.len() {
        for &i in &eligible {
            out[i] = 1;
        }
        remaining -= eligible.len();
    }
    while remaining > 0 {
        let open: Vec<usize> = eligible.iter().copied().filter(|&i| out[i] < cap[i]).collect();
        if open.is_empty() {
            break;
        }
        let sum: f64 = open.iter().map(|&i| weights[i] as f64).sum();
        let mut given = 0;
        let mut rems: Vec<(f64, usize)> = Vec::new();
        for &i in &open {
            let exact = remaining as f64 * weights[i] as f64 / sum;
            let add = (exact.floor() as usize).min(cap[i] - out[i]);
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
            if out[i] < cap[i] {
                out[i] += 1;
                remaining -= 1;
            }
        }
    }
    out
}

/// `n` distinct sorted instants in `(from, to]`, or repeated ones when the window is short.
fn times_in(g: &mut Gen, n: usize, from: i64, to: i64) -> Vec<i64> {
    let mut out: Vec<i64> = (0..n).map(|_| g.range(from + 1, to + 1)).collect();
    out.sort_unstable();
    out
}

fn str_of(org: &Org, obj: Obj, row: usize, field: &str) -> String {
    org.table(obj).rows[row].vals[obj.ix(field)].as_str().unwrap_or_default().to_string()
}

pub(super) fn advance(org: &mut Org, changes: &Changes) -> ChangeReport {
    let secs = changes.duration.num_seconds().max(1);
    let from = org.now;
    let to = from + secs;
    org.advances += 1;
    let mut g = sf_gen(org.spec.seed ^ hash(&org.spec.org), 0xAD00 + org.advances);
    let mut report = ChangeReport {
        from: crate::time::to_datetime(from),
        to: crate::time::to_datetime(to),
        ..ChangeReport::default()
    };
    for obj in Obj::ALL {
        report.updated.insert(obj.name().to_string(), Vec::new());
        report.created.insert(obj.name().to_string(), Vec::new());
        report.deleted.insert(obj.name().to_string(), Vec::new());
    }

    let live: Vec<Vec<usize>> =
        Obj::ALL.iter().map(|&o| org.table(o).live(o.sys().is_deleted).collect()).collect();
    let live_counts: [usize; 5] = std::array::from_fn(|i| live[i].len());
    let users: Vec<String> = {
        let active = Obj::User.ix("IsActive");
        org.table(Obj::User)
            .rows
            .iter()
            .filter(|r| r.vals[active] == Val::Bool(true) && r.vals[0] != Val::Null)
            .map(|r| r.id().to_string())
            .collect()
    };
    let api_user = org.api_user();
    let mut any_user = |g: &mut Gen| -> String {
        if users.is_empty() { api_user.clone() } else { users[g.index(users.len())].clone() }
    };

    // Which records may be deleted: leaves only (Salesforce cascades or refuses otherwise).
    let referenced = referenced_parents(org);
    let deletable: Vec<Vec<usize>> = Obj::ALL
        .iter()
        .enumerate()
        .map(|(k, &o)| match o {
            Obj::User => Vec::new(),
            Obj::Account | Obj::Contact => live[k]
                .iter()
                .copied()
                .filter(|&r| !referenced.contains(org.table(o).rows[r].id()))
                .collect(),
            _ => live[k].clone(),
        })
        .collect();
    let del_counts =
        allocate(changes.deletes, live_counts, std::array::from_fn(|i| deletable[i].len()));
    let upd_counts = allocate(changes.updates, live_counts, live_counts);

    let mut touched: HashSet<(usize, usize)> = HashSet::new();
    let mut deleted_rows: Vec<(Obj, usize)> = Vec::new();
    for (k, &obj) in Obj::ALL.iter().enumerate() {
        let picks = rand::seq::index::sample(&mut g.rng, deletable[k].len(), del_counts[k]);
        for p in picks {
            let row = deletable[k][p];
            touched.insert((k, row));
            deleted_rows.push((obj, row));
        }
    }
    let mut updated_rows: Vec<(Obj, usize)> = Vec::new();
    for (k, &obj) in Obj::ALL.iter().enumerate() {
        let candidates: Vec<usize> =
            live[k].iter().copied().filter(|r| !touched.contains(&(k, *r))).collect();
        let n = upd_counts[k].min(candidates.len());
        for p in rand::seq::index::sample(&mut g.rng, candidates.len(), n) {
            updated_rows.push((obj, candidates[p]));
        }
    }

    // Updates.
    let mut update_times = times_in(&mut g, updated_rows.len(), from, to);
    shuffle(&mut g, &mut update_times);
    for ((obj, row), t) in updated_rows.iter().copied().zip(update_times) {
        update(&mut g, org, obj, row, t);
        let who = any_user(&mut g);
        touch(org, obj, row, t, &who);
        report
            .updated
            .entry(obj.name().to_string())
            .or_default()
            .push(org.table(obj).rows[row].id().to_string());
    }

    // Deletes.
    let mut delete_times = times_in(&mut g, deleted_rows.len(), from, to);
    shuffle(&mut g, &mut delete_times);
    for ((obj, row), t) in deleted_rows.iter().copied().zip(delete_times) {
        let who = any_user(&mut g);
        touch(org, obj, row, t, &who);
        let is_deleted = obj.sys().is_deleted;
        let rec = &mut org.table_mut(obj).rows[row];
        rec.vals[is_deleted] = Val::Bool(true);
        rec.deleted_at = Some(t * 1000);
        report.deleted.entry(obj.name().to_string()).or_default().push(rec.id().to_string());
    }

    // Creates, in proportion to the org's initial shape.
    let sizes: &SfSizes = &org.spec.sizes;
    let weights: [usize; 5] = std::array::from_fn(|i| sizes.of(Obj::ALL[i]).max(1));
    let create_counts = allocate(changes.creates, weights, [usize::MAX; 5]);
    let dead: HashSet<String> =
        deleted_rows.iter().map(|&(o, r)| org.table(o).rows[r].id().to_string()).collect();
    for (k, &obj) in Obj::ALL.iter().enumerate() {
        for t in times_in(&mut g, create_counts[k], from, to) {
            let created = create(&mut g, org, obj, t, &dead, &mut any_user);
            if let Some(id) = created {
                report.created.entry(obj.name().to_string()).or_default().push(id);
            }
        }
    }
    for ids in report.updated.values_mut().chain(report.deleted.values_mut()) {
        ids.sort();
    }
    org.now = to;
    report
}

fn shuffle(g: &mut Gen, v: &mut [i64]) {
    use rand::seq::SliceRandom;
    v.shuffle(&mut g.rng);
}

/// Ids that live records refer to as their account, contact or parent.
fn referenced_parents(org: &Org) -> HashSet<String> {
    let mut out = HashSet::new();
    for (obj, fields) in [
        (Obj::Account, &["ParentId"][..]),
        (Obj::Contact, &["AccountId"][..]),
        (Obj::Case, &["AccountId", "ContactId"][..]),
        (Obj::Opportunity, &["AccountId"][..]),
    ] {
        let is_deleted = obj.sys().is_deleted;
        let ix: Vec<usize> = fields.iter().map(|f| obj.ix(f)).collect();
        for r in &org.table(obj).rows {
            if r.vals[is_deleted] == Val::Bool(true) {
                continue;
            }
            for &i in &ix {
                if let Some(id) = r.vals[i].as_str() {
                    out.insert(id.to_string());
                }
            }
        }
    }
    out
}

/// Stamps a modification at `t` (seconds) by `who`.
fn touch(org: &mut Org, obj: Obj, row: usize, t: i64, who: &str) {
    let s = obj.sys();
    let rec = &mut org.table_mut(obj).rows[row];
    rec.vals[s.modified] = Val::Time(t * 1000);
    rec.vals[s.modstamp] = Val::Time(t * 1000);
    rec.vals[s.modified_by] = Val::id(who);
}

/// Changes some business fields of a record, plausibly for its object.
fn update(g: &mut Gen, org: &mut Org, obj: Obj, row: usize, t: i64) {
    let rec = &mut org.table_mut(obj).rows[row];
    let vals = &mut rec.vals;
    match obj {
        Obj::Account => match g.index(4) {
            0 => vals[obj.ix("Phone")] = Val::str(phone(g)),
            1 => {
                let n = match vals[obj.ix("NumberOfEmployees")] {
                    Val::Int(n) => n,
                    _ => 10,
                };
                vals[obj.ix("NumberOfEmployees")] = Val::Int((n + g.range(-3, 8)).max(1));
            }
            2 => vals[obj.ix("Type")] = Val::Pick(ACCOUNT_TYPES[g.index(ACCOUNT_TYPES.len())].0),
            _ => {
                vals[obj.ix("AnnualRevenue")] =
                    Val::Num((g.lognormal(4_000_000.0, 0.8) / 1000.0).round() * 1000.0)
            }
        },
        Obj::Contact => match g.index(3) {
            0 => vals[obj.ix("Title")] = Val::Pick(g.pick(&CONTACT_TITLES)),
            1 => vals[obj.ix("Phone")] = Val::str(phone(g)),
            _ => vals[obj.ix("MobilePhone")] = Val::str(phone(g)),
        },
        Obj::Case => {
            let status = vals[obj.ix("Status")].as_str().unwrap_or("New").to_string();
            let next: &'static str = match status.as_str() {
                "New" => "Working",
                "Working" => {
                    if g.chance(0.2) {
                        "Escalated"
                    } else {
                        CASE_CLOSED
                    }
                }
                "Escalated" => CASE_CLOSED,
                _ => {
                    if g.chance(0.3) {
                        "Working"
                    } else {
                        CASE_CLOSED
                    }
                }
            };
            if next == CASE_CLOSED && status == CASE_CLOSED {
                // a closed case gets a new reason or priority, and stays closed
                if g.chance(0.5) {
                    vals[obj.ix("Reason")] = Val::Pick(g.pick(&CASE_REASONS));
                } else {
                    vals[obj.ix("Priority")] = Val::Pick(g.pick(&PRIORITIES).0);
                }
            } else {
                set_case_status(vals, next, Some(t));
            }
        }
        Obj::Opportunity => {
            let stage = vals[obj.ix("StageName")].as_str().unwrap_or_default();
            let at = STAGES.iter().position(|s| s.0 == stage).unwrap_or(0);
            if at >= STAGE_WON {
                vals[obj.ix("Amount")] =
                    Val::Num((g.lognormal(18_000.0, 0.9) / 100.0).round() * 100.0);
            } else {
                let next = if g.chance(0.25) {
                    if g.chance(0.5) { STAGE_WON } else { STAGE_LOST }
                } else {
                    (at + 1).min(STAGE_WON - 1)
                };
                set_stage(vals, next);
                if next >= STAGE_WON {
                    vals[obj.ix("CloseDate")] = Val::Date(t.div_euclid(DAY) as i32);
                }
            }
        }
        Obj::User => {
            if row > 0 && g.chance(0.15) {
                let active = vals[obj.ix("IsActive")] == Val::Bool(true);
                vals[obj.ix("IsActive")] = Val::Bool(!active);
            } else {
                vals[obj.ix("Title")] = Val::Pick(g.pick(&USER_TITLES));
            }
        }
    }
}

/// Creates one record of `obj` at `t`; `None` when it needs a parent and there is none.
fn create(
    g: &mut Gen,
    org: &mut Org,
    obj: Obj,
    t: i64,
    dead: &HashSet<String>,
    any_user: &mut dyn FnMut(&mut Gen) -> String,
) -> Option<String> {
    let live_accounts = || -> Vec<usize> {
        let is_deleted = Obj::Account.sys().is_deleted;
        org.table(Obj::Account)
            .live(is_deleted)
            .filter(|&r| !dead.contains(org.table(Obj::Account).rows[r].id()))
            .collect()
    };
    let creator = any_user(g);
    let mut row = match obj {
        Obj::Account => {
            let owner = any_user(g);
            let n = org.table(Obj::Account).rows.len() as u64;
            account_row(g, &owner, None, n)
        }
        Obj::Contact => {
            let accounts = live_accounts();
            let a = *accounts.get(g.index(accounts.len()))?;
            contact_row(g, &org.table(Obj::Account).rows[a])
        }
        Obj::Case => {
            let accounts = live_accounts();
            let a = *accounts.get(g.index(accounts.len()))?;
            let account_id = org.table(Obj::Account).rows[a].id().to_string();
            let contacts = contacts_of(org, &account_id);
            let contact = (!contacts.is_empty())
                .then(|| str_of(org, Obj::Contact, contacts[g.index(contacts.len())], "Id"));
            let owner = any_user(g);
            let number = org.next_case_number();
            case_row(g, number, &account_id, contact.as_deref(), &owner)
        }
        Obj::Opportunity => {
            let accounts = live_accounts();
            let a = *accounts.get(g.index(accounts.len()))?;
            let close = t.div_euclid(DAY) + g.range(20, 150);
            opportunity_row(g, &org.table(Obj::Account).rows[a], 0, close)
        }
        Obj::User => {
            let first = g.pick(&crate::connectwise::catalog::FIRST_NAMES);
            let last = g.pick(&crate::connectwise::catalog::LAST_NAMES);
            let n = org.table(Obj::User).rows.len();
            let username = format!(
                "{}.{}{}@{}.example.com",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                n,
                slug(&org.spec.org)
            );
            user_row(g, UserSeed { first, last, username }, true)
        }
    };
    stamp(obj, &mut row, t, &creator, t, &creator);
    let at = org.push(obj, row);
    Some(org.table(obj).rows[at].id().to_string())
}

/// Live contacts of an account (row indexes).
fn contacts_of(org: &Org, account_id: &str) -> Vec<usize> {
    let o = Obj::Contact;
    let (is_deleted, account) = (o.sys().is_deleted, o.ix("AccountId"));
    org.table(o)
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.vals[is_deleted] != Val::Bool(true) && r.vals[account].as_str() == Some(account_id)
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::allocate;

    #[test]
    fn allocation_is_proportional_and_capped() {
        let out = allocate(100, [200, 1000, 12000, 1500, 40], [usize::MAX; 5]);
        assert_eq!(out.iter().sum::<usize>(), 100);
        assert!(out.iter().all(|&n| n >= 1));
        assert!(out[2] > out[1]);
        let out = allocate(10, [5, 5, 5, 5, 0], [1, 0, 100, 100, 0]);
        assert_eq!(out, [1, 0, 5, 4, 0]);
    }
}
