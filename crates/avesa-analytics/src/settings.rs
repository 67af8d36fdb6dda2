//! A tenant's analytics settings: its time zone, its members' capacities, its goals and
//! its calculated metrics. The state store keeps them as JSON by key; this module gives
//! the keys and values their meaning and validates what an admin saves.
//!
//! | key | value |
//! | --- | --- |
//! | `time_zone` | `"Europe/Amsterdam"`: the zone periods and days are read in |
//! | `capacity_default` | `7.5`: a member's working hours a day unless set for them |
//! | `capacity:{member}` | `6`: one member's working hours a day (`connectwise:167`) |
//! | `goal:{metric}` | a [`Goal`] |
//! | `metric:{id}` | a [`CalculatedDef`] |

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::calculated::{Calculated, CalculatedDef};
use crate::metrics::{Better, DEFAULT_CAPACITY_HOURS, Unit};
use crate::period::{Period, Span, parse_tz};

pub const TIME_ZONE: &str = "time_zone";
pub const DEFAULT_CAPACITY: &str = "capacity_default";
pub const CAPACITY_PREFIX: &str = "capacity:";
pub const GOAL_PREFIX: &str = "goal:";
pub const METRIC_PREFIX: &str = "metric:";

/// The most goals and calculated metrics a tenant may keep (each).
pub const MAX_DEFINITIONS: usize = 200;

/// Members' working hours a day (Monday to Friday), for utilisation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capacity {
    /// The tenant's default; [`DEFAULT_CAPACITY_HOURS`] unless set.
    pub default_hours: Option<f64>,
    /// By member id (`connectwise:167`).
    pub members: BTreeMap<String, f64>,
}

impl Capacity {
    /// A member's working hours a day.
    pub fn hours_per_day(&self, member: Option<&str>) -> f64 {
        member
            .and_then(|m| self.members.get(m))
            .copied()
            .or(self.default_hours)
            .unwrap_or(DEFAULT_CAPACITY_HOURS)
    }
}

/// Checks a capacity an admin sets: hours a working day, more than 0 and at most 24.
pub fn check_capacity(hours: f64) -> Result<f64, String> {
    if hours.is_finite() && hours > 0.0 && hours <= 24.0 {
        Ok(hours)
    } else {
        Err(format!("hours_per_day: {hours} is not between 0 (excluded) and 24"))
    }
}

/// Which side of its target a goal wants the metric on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value should reach the target (tickets closed, SLA met %).
    AtLeast,
    /// The value should stay under the target (backlog, resolution hours).
    AtMost,
}

impl Direction {
    /// The direction a metric that is better `better` wants.
    pub fn of(better: Better) -> Direction {
        match better {
            Better::Higher => Direction::AtLeast,
            Better::Lower => Direction::AtMost,
        }
    }
}

/// A goal as an admin sends it; left-out fields take their defaults.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalInput {
    /// The value to reach (or stay under).
    pub target: f64,
    /// Default: the metric's own (at_least for metrics where higher is better).
    pub direction: Option<Direction>,
    /// How far on the wrong side of the target still counts as "at risk" rather than
    /// "missed", in the metric's unit (default 0: no band).
    pub warning_band: Option<f64>,
    /// The span of period the target is for (a month's closed tickets); left out: any
    /// period (a percentage or an average).
    pub period: Option<Span>,
}

/// A target on a metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub target: f64,
    pub direction: Direction,
    pub warning_band: f64,
    /// The span of period the target is for; null: any period.
    pub period: Option<Span>,
}

/// Where a value stands against its goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    /// On the right side of the target (or on it).
    Met,
    /// On the wrong side, within the warning band (or on its edge).
    AtRisk,
    /// Past the warning band.
    Missed,
}

/// Units whose value grows with the length of the period (a count, hours, money).
pub fn additive(unit: Unit) -> bool {
    matches!(unit, Unit::Count | Unit::Hours | Unit::Money)
}

impl Goal {
    /// A goal from an admin's input for a metric of `unit`, better `better`.
    pub fn new(input: GoalInput, better: Better) -> Result<Goal, String> {
        if !input.target.is_finite() {
            return Err("target: must be a finite number".into());
        }
        let band = input.warning_band.unwrap_or(0.0);
        if !band.is_finite() || band < 0.0 {
            return Err(format!("warning_band: {band} must be a number, 0 or more"));
        }
        Ok(Goal {
            target: input.target,
            direction: input.direction.unwrap_or(Direction::of(better)),
            warning_band: band,
            period: input.period,
        })
    }

    /// Whether the goal holds for figures over `period`: a goal for a span applies to
    /// periods of that span only.
    pub fn applies(&self, period: &Period) -> bool {
        self.period.is_none_or(|s| period.span() == Some(s))
    }

    /// The target and band a figure over `period` is held to: for a goal on a count,
    /// hours or money over a span that is still running, the share of the target the
    /// time passed calls for (on pace), otherwise the target.
    pub fn pace(&self, unit: Unit, period: &Period) -> (f64, f64) {
        if self.period.is_some() && additive(unit) {
            let p = period.progress();
            (self.target * p, self.warning_band * p)
        } else {
            (self.target, self.warning_band)
        }
    }

    /// Where `value` stands against `target` with band `band` (both from
    /// [`Goal::pace`]). The edges belong to the better side: a value on the target is met,
    /// on the band's far edge at risk.
    pub fn status(&self, value: f64, target: f64, band: f64) -> GoalStatus {
        // Figures are rounded to the millionth; so are the edges.
        let (target, band) = ((target * 1e6).round() / 1e6, (band * 1e6).round() / 1e6);
        let short = match self.direction {
            Direction::AtLeast => target - value,
            Direction::AtMost => value - target,
        };
        if short <= 1e-9 {
            GoalStatus::Met
        } else if short <= band + 1e-9 {
            GoalStatus::AtRisk
        } else {
            GoalStatus::Missed
        }
    }
}

/// A tenant's analytics settings, read together.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    /// The zone periods and days are read in when a request names none.
    pub time_zone: Tz,
    pub capacity: Capacity,
    /// By metric id (built-in or calculated).
    pub goals: BTreeMap<String, Goal>,
    /// By id.
    pub calculated: BTreeMap<String, Calculated>,
    /// Changes whenever any setting does: part of the key cached answers are kept by.
    pub fingerprint: u64,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            time_zone: chrono_tz::UTC,
            capacity: Capacity::default(),
            goals: BTreeMap::new(),
            calculated: BTreeMap::new(),
            fingerprint: 0,
        }
    }
}

impl TenantSettings {
    /// The settings from the stored entries. Entries were validated when saved; one that
    /// no longer reads (a metric since removed from the catalogue) is left out and
    /// named in the second value.
    pub fn from_entries(entries: &[(String, serde_json::Value)]) -> (TenantSettings, Vec<String>) {
        let mut s = TenantSettings::default();
        let mut skipped = Vec::new();
        let mut hasher = std::hash::DefaultHasher::new();
        for (key, value) in entries {
            key.hash(&mut hasher);
            value.to_string().hash(&mut hasher);
            let ok = if key == TIME_ZONE {
                value.as_str().and_then(|v| parse_tz(v).ok()).map(|tz| s.time_zone = tz).is_some()
            } else if key == DEFAULT_CAPACITY {
                value
                    .as_f64()
                    .and_then(|h| check_capacity(h).ok())
                    .map(|h| s.capacity.default_hours = Some(h))
                    .is_some()
            } else if let Some(member) = key.strip_prefix(CAPACITY_PREFIX) {
                value
                    .as_f64()
                    .and_then(|h| check_capacity(h).ok())
                    .map(|h| s.capacity.members.insert(member.to_owned(), h))
                    .is_some()
            } else if let Some(metric) = key.strip_prefix(GOAL_PREFIX) {
                serde_json::from_value::<Goal>(value.clone())
                    .ok()
                    .map(|g| s.goals.insert(metric.to_owned(), g))
                    .is_some()
            } else if let Some(id) = key.strip_prefix(METRIC_PREFIX) {
                serde_json::from_value::<CalculatedDef>(value.clone())
                    .ok()
                    .and_then(|d| Calculated::new(id, d).ok())
                    .map(|c| s.calculated.insert(id.to_owned(), c))
                    .is_some()
            } else {
                // Not an analytics setting.
                true
            };
            if !ok {
                skipped.push(key.clone());
            }
        }
        s.fingerprint = hasher.finish();
        (s, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use serde_json::json;

    fn goal(target: f64, direction: Direction, band: f64) -> Goal {
        Goal::new(
            GoalInput {
                target,
                direction: Some(direction),
                warning_band: Some(band),
                period: None,
            },
            Better::Higher,
        )
        .unwrap()
    }

    #[test]
    fn goal_status_changes_exactly_at_the_target_and_the_bands_edge() {
        let g = goal(95.0, Direction::AtLeast, 5.0);
        let s = |v: f64| g.status(v, 95.0, 5.0);
        assert_eq!(s(100.0), GoalStatus::Met);
        assert_eq!(s(95.0), GoalStatus::Met, "on the target: met");
        assert_eq!(s(94.999), GoalStatus::AtRisk);
        assert_eq!(s(90.0), GoalStatus::AtRisk, "on the band's edge: at risk");
        assert_eq!(s(89.999), GoalStatus::Missed);
        let g = goal(24.0, Direction::AtMost, 4.0);
        let s = |v: f64| g.status(v, 24.0, 4.0);
        assert_eq!(s(0.0), GoalStatus::Met);
        assert_eq!(s(24.0), GoalStatus::Met);
        assert_eq!(s(24.001), GoalStatus::AtRisk);
        assert_eq!(s(28.0), GoalStatus::AtRisk);
        assert_eq!(s(28.001), GoalStatus::Missed);
        // Without a band there is no at risk.
        let g = goal(10.0, Direction::AtLeast, 0.0);
        assert_eq!(g.status(10.0, 10.0, 0.0), GoalStatus::Met);
        assert_eq!(g.status(9.999, 10.0, 0.0), GoalStatus::Missed);
    }

    #[test]
    fn goals_take_the_metrics_direction_and_refuse_nonsense() {
        let input = |t: f64, b: Option<f64>| GoalInput {
            target: t,
            direction: None,
            warning_band: b,
            period: Some(Span::Month),
        };
        assert_eq!(
            Goal::new(input(5.0, None), Better::Lower).unwrap().direction,
            Direction::AtMost
        );
        assert_eq!(
            Goal::new(input(5.0, None), Better::Higher).unwrap().direction,
            Direction::AtLeast
        );
        assert!(Goal::new(input(f64::NAN, None), Better::Lower).is_err());
        assert!(
            Goal::new(input(5.0, Some(-1.0)), Better::Lower)
                .unwrap_err()
                .starts_with("warning_band")
        );
    }

    #[test]
    fn a_goal_for_a_span_applies_to_that_span_and_paces_a_running_one() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let now = utc("2026-11-16T00:00:00Z");
        let month = Period::resolve(Some("this_month"), None, None, chrono_tz::UTC, now).unwrap();
        let week = Period::resolve(Some("this_week"), None, None, chrono_tz::UTC, now).unwrap();
        let last = Period::resolve(Some("last_month"), None, None, chrono_tz::UTC, now).unwrap();
        let custom =
            Period::resolve(None, Some("2026-10-01"), Some("2026-10-31"), chrono_tz::UTC, now)
                .unwrap();
        let g = Goal::new(
            GoalInput {
                target: 300.0,
                direction: None,
                warning_band: Some(30.0),
                period: Some(Span::Month),
            },
            Better::Higher,
        )
        .unwrap();
        assert!(g.applies(&month) && g.applies(&last) && g.applies(&custom));
        assert!(!g.applies(&week));
        // Half of November has passed: 150 closed tickets are on pace.
        let (target, band) = g.pace(Unit::Count, &month);
        assert!((target - 150.0).abs() < 1e-9 && (band - 15.0).abs() < 1e-9, "{target} {band}");
        assert_eq!(g.pace(Unit::Count, &last), (300.0, 30.0));
        // A percentage is held to its target whatever has passed.
        assert_eq!(g.pace(Unit::Percent, &month), (300.0, 30.0));
    }

    #[test]
    fn settings_read_from_entries_and_skip_what_no_longer_reads() {
        let entries = vec![
            (TIME_ZONE.to_owned(), json!("Asia/Kolkata")),
            (DEFAULT_CAPACITY.to_owned(), json!(7.5)),
            ("capacity:connectwise:167".to_owned(), json!(6)),
            (
                "goal:sla_met_pct".to_owned(),
                json!({"target": 95.0, "direction": "at_least", "warning_band": 5.0, "period": null}),
            ),
            (
                "metric:tickets_per_company".to_owned(),
                json!({"label": "Tickets per company", "description": "", "unit": "count",
                       "better": "lower", "expression": "tickets_opened / companies"}),
            ),
            (
                "metric:gone".to_owned(),
                json!({"label": "Gone", "description": "", "unit": "count",
                       "better": "lower", "expression": "no_such_metric * 2"}),
            ),
        ];
        let (s, skipped) = TenantSettings::from_entries(&entries);
        assert_eq!(s.time_zone, chrono_tz::Asia::Kolkata);
        assert_eq!(s.capacity.hours_per_day(Some("connectwise:167")), 6.0);
        assert_eq!(s.capacity.hours_per_day(Some("connectwise:168")), 7.5);
        assert_eq!(s.goals["sla_met_pct"].target, 95.0);
        assert!(s.calculated.contains_key("tickets_per_company"));
        assert_eq!(skipped, vec!["metric:gone".to_owned()]);
        let (again, _) = TenantSettings::from_entries(&entries);
        assert_eq!(s.fingerprint, again.fingerprint);
        let (fewer, _) = TenantSettings::from_entries(&entries[1..]);
        assert_ne!(s.fingerprint, fewer.fingerprint);
        assert_eq!(Capacity::default().hours_per_day(None), DEFAULT_CAPACITY_HOURS);
    }
}
