//! Moving a directory's clock and changing objects inside the window.

use std::collections::{BTreeMap, HashSet};

use super::Kind;
use super::data::{DEPARTMENTS, Directory, description_note, new_group, new_user, org_name};
use crate::connectwise::catalog::LAST_NAMES;
use crate::{ChangeReport, Changes};

/// Splits `n` over kinds in proportion to `weights`, giving every kind with a positive weight
/// at least one when `n` allows.
fn split(n: usize, weights: [usize; 2]) -> [usize; 2] {
    let total: usize = weights.iter().sum();
    if n == 0 || total == 0 {
        return [0, 0];
    }
    let mut groups = (n * weights[1] + total / 2) / total;
    if weights[1] > 0 && groups == 0 && n >= 2 {
        groups = 1;
    }
    if weights[0] > 0 && groups == n && n >= 2 {
        groups = n - 1;
    }
    if weights[0] == 0 {
        groups = n;
    }
    [n - groups, groups]
}

enum Op {
    Update(String),
    Create,
    Delete(String),
}

/// Picks up to `n` distinct live ids of `kind`, avoiding `taken`.
fn pick_ids(dir: &mut Directory, kind: Kind, n: usize, taken: &mut HashSet<String>) -> Vec<String> {
    let live: Vec<&String> = match kind {
        Kind::Users => dir.users.by_id.keys().collect(),
        Kind::Groups => dir.groups.by_id.keys().collect(),
    };
    let mut out = Vec::new();
    if live.is_empty() {
        return out;
    }
    let mut tries = 0;
    while out.len() < n && tries < n * 20 + 100 {
        tries += 1;
        let id = live[dir.rng.index(live.len())].clone();
        if taken.insert(id.clone()) {
            out.push(id);
        }
    }
    out
}

pub(super) fn advance(dir: &mut Directory, changes: &Changes) -> ChangeReport {
    let from = dir.now;
    let to = from + changes.duration.num_seconds().max(1);
    let live = [dir.live(Kind::Users), dir.live(Kind::Groups)];
    let size_weights = if live.iter().sum::<usize>() > 0 {
        live
    } else {
        [dir.spec.sizes.users.max(1), dir.spec.sizes.groups]
    };

    // Plan: which objects change how, then give each change a time and apply in time order
    // so that sequence numbers follow the clock.
    let mut taken = HashSet::new();
    let mut plan: Vec<(Op, Kind)> = Vec::new();
    let deletes = split(changes.deletes, live);
    let updates = split(changes.updates, live);
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        for id in pick_ids(dir, kind, deletes[i], &mut taken) {
            plan.push((Op::Delete(id), kind));
        }
        for id in pick_ids(dir, kind, updates[i], &mut taken) {
            plan.push((Op::Update(id), kind));
        }
    }
    let creates = split(changes.creates, size_weights);
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        plan.extend((0..creates[i]).map(|_| (Op::Create, kind)));
    }
    // Shuffle the plan deterministically, then assign increasing times in (from, to].
    for i in (1..plan.len()).rev() {
        let j = dir.rng.index(i + 1);
        plan.swap(i, j);
    }
    let mut times: Vec<i64> = plan.iter().map(|_| dir.rng.range(from + 1, to + 1)).collect();
    times.sort_unstable();

    let mut report = ChangeReport {
        from: crate::time::to_datetime(from),
        to: crate::time::to_datetime(to),
        ..ChangeReport::default()
    };
    let mut created: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut updated: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut deleted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let org = org_name(&dir.spec);
    for ((op, kind), at) in plan.into_iter().zip(times) {
        match op {
            Op::Delete(id) => {
                let seq = dir.next_seq();
                let ok = match kind {
                    Kind::Users => dir.users.delete(&id, seq, at),
                    Kind::Groups => dir.groups.delete(&id, seq, at),
                };
                if ok {
                    deleted.entry(kind.name()).or_default().push(id);
                }
            }
            Op::Update(id) => {
                if update(dir, kind, &id, at) {
                    updated.entry(kind.name()).or_default().push(id);
                }
            }
            Op::Create => {
                let seq = dir.next_seq();
                let id = match kind {
                    Kind::Users => {
                        let n = dir.users.objs.len();
                        let mut u =
                            new_user(&mut dir.rng, &dir.spec, &org, &mut dir.used_names, n, at);
                        u.meta.seq = seq;
                        let id = u.id.clone();
                        dir.users.insert(u);
                        id
                    }
                    Kind::Groups => {
                        let n = dir.groups.objs.len();
                        let mut g =
                            new_group(&mut dir.rng, &dir.spec, &mut dir.used_names, n, at, at);
                        g.meta.seq = seq;
                        let id = g.id.clone();
                        dir.groups.insert(g);
                        id
                    }
                };
                created.entry(kind.name()).or_default().push(id);
            }
        }
    }
    dir.now = to;
    for kind in Kind::ALL {
        let k = kind.name();
        let take = |m: &mut BTreeMap<&str, Vec<String>>| {
            let mut v = m.remove(k).unwrap_or_default();
            v.sort();
            v
        };
        report.updated.insert(k.to_string(), take(&mut updated));
        report.created.insert(k.to_string(), take(&mut created));
        report.deleted.insert(k.to_string(), take(&mut deleted));
    }
    report
}

/// Changes one property of a live object (a different value than before).
fn update(dir: &mut Directory, kind: Kind, id: &str, at: i64) -> bool {
    let seq = dir.next_seq();
    let g = &mut dir.rng;
    match kind {
        Kind::Users => {
            let what = g.index(4);
            let dept = g.pick(&DEPARTMENTS);
            let title = g.pick(dept.1);
            let last = g.pick(&LAST_NAMES);
            let phone = g.range(100, 10_000);
            let alt = g.index(DEPARTMENTS.len());
            dir.users.touch(id, seq, at, |u| match what {
                0 => {
                    let new = if u.job_title.as_deref() == Some(title) {
                        format!("Senior {title}")
                    } else {
                        title.to_string()
                    };
                    u.job_title = Some(new);
                }
                1 => {
                    let n = DEPARTMENTS.len();
                    let d = (0..n)
                        .map(|k| DEPARTMENTS[(alt + k) % n].0)
                        .find(|d| u.department.as_deref() != Some(*d))
                        .unwrap_or(dept.0);
                    u.department = Some(d.to_string());
                }
                2 => {
                    let first = u.given_name.clone().unwrap_or_else(|| {
                        u.display_name.split(' ').next().unwrap_or_default().to_string()
                    });
                    let mut surname = last.to_string();
                    if u.surname.as_deref() == Some(last) {
                        surname = format!("{last}-{}", u.surname.clone().unwrap_or_default());
                    }
                    u.display_name = format!("{first} {surname}");
                    u.surname = Some(surname);
                }
                _ => {
                    let prefix = u
                        .business_phones
                        .first()
                        .and_then(|p| p.rsplit_once(" 555 ").map(|(a, _)| a.to_string()))
                        .unwrap_or_else(|| "+1 425".to_string());
                    let mut new = format!("{prefix} 555 {phone:04}");
                    if u.mobile_phone.as_deref() == Some(new.as_str()) {
                        new = format!("{prefix} 555 {:04}", (phone + 1) % 10_000);
                    }
                    u.mobile_phone = Some(new);
                }
            })
        }
        Kind::Groups => {
            let note = description_note(g);
            dir.groups.touch(id, seq, at, |gr| {
                let base = gr
                    .description
                    .as_deref()
                    .map(|d| d.split(" (").next().unwrap_or(d).to_string())
                    .unwrap_or_else(|| format!("Team site for {}", gr.display_name));
                let mut new = format!("{base} {note}");
                if gr.description.as_deref() == Some(new.as_str()) {
                    new = base;
                }
                gr.description = Some(new);
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{advance, split};
    use crate::Changes;
    use crate::graph::data::{Obj, generate};
    use crate::graph::{GraphSizes, GraphTenantSpec};

    #[test]
    fn changes_are_stamped_in_the_window_in_sequence_order() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc();
        let mut dir = generate(GraphTenantSpec::new("acme", 1, GraphSizes::small(), now));
        let before = dir.seq;
        let changes =
            Changes { duration: chrono::Duration::hours(2), updates: 10, creates: 4, deletes: 3 };
        let r = advance(&mut dir, &changes);
        let (from, to) = (r.from.timestamp(), r.to.timestamp());
        assert_eq!(to - from, 7200);
        assert_eq!(dir.now, to);
        let mut stamped: Vec<(u64, i64)> = dir
            .users
            .objs
            .iter()
            .map(|u| u.meta())
            .chain(dir.groups.objs.iter().map(|g| g.meta()))
            .filter(|m| m.seq > before)
            .map(|m| (m.seq, m.changed_at))
            .collect();
        stamped.sort_unstable();
        assert_eq!(stamped.len(), 17);
        assert!(stamped.iter().all(|&(_, t)| t > from && t <= to));
        assert!(stamped.windows(2).all(|w| w[0].1 <= w[1].1), "sequence follows the clock");
        assert_eq!(dir.seq, before + 17);
    }

    #[test]
    fn split_spreads_and_keeps_every_kind() {
        assert_eq!(split(10, [400, 60]), [9, 1]);
        assert_eq!(split(2, [400, 60]), [1, 1]);
        assert_eq!(split(1, [400, 60]), [1, 0]);
        assert_eq!(split(5, [0, 3]), [0, 5]);
        assert_eq!(split(5, [3, 0]), [5, 0]);
        assert_eq!(split(0, [3, 3]), [0, 0]);
        assert_eq!(split(100, [30, 6]), [83, 17]);
    }
}
