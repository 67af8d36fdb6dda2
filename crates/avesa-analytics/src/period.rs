//! Periods: what `period`, `from`, `to` and `tz` of an analytics request mean, resolved
//! to UTC instants in the tenant's time zone, and the period each is compared with.
//!
//! Every period is half-open, `[from, to)`. Periods that run to now ("today", "7d",
//! "this_month" …) end at now (or at `as_of`), and are compared with the same stretch of
//! local time one unit earlier ("this_month" on 5 December at 09:00 with 1–5 November at
//! 09:00); whole periods ("yesterday", "last_month" …) with the whole unit before. Local
//! days begin at local midnight, weeks on Monday, quarters in January, April, July and
//! October; a daylight-saving change makes a local day 23 or 25 hours long, never moves
//! its bounds off midnight.

use chrono::{
    DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;

use avesa_warehouse::aggregate::{Dim, Shift};

/// A request's period could not be understood: a client error naming the parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PeriodError(pub String);

impl PeriodError {
    /// The parameter the message names (messages start `{param}: `).
    pub fn param(&self) -> Option<&str> {
        self.0
            .split_once(':')
            .map(|(p, _)| p)
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    }
}

/// The named periods, as the API spells them.
pub const NAMED: &[&str] = &[
    "today",
    "yesterday",
    "7d",
    "30d",
    "90d",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
];

/// The longest period a request may ask for.
pub const MAX_DAYS: i64 = 3660;

/// How a period steps back to the one it is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Days(u32),
    Months(u32),
    Exact(Duration),
}

/// A resolved period.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub tz: Tz,
    /// The name asked for (`30d`, `this_month`), or `custom`.
    pub label: String,
    step: Step,
}

/// A time zone by its IANA name (`Europe/Amsterdam`), or a client error.
pub fn parse_tz(name: &str) -> Result<Tz, PeriodError> {
    name.parse::<Tz>().map_err(|_| {
        PeriodError(format!(
            "tz: unknown time zone {name:?}; use an IANA name such as Europe/London"
        ))
    })
}

/// The UTC instant of a local wall-clock time: the earlier of an ambiguous time, and for
/// a time skipped by a daylight-saving change, the first instant after the gap.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..48 {
        if let Some(u) = tz.from_local_datetime(&t).earliest() {
            return u.with_timezone(&Utc);
        }
        t += Duration::minutes(30);
    }
    // No zone skips a whole day; fall back to reading the time as UTC.
    local.and_utc()
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

fn quarter_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1).expect("a valid date")
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

fn week_start(d: NaiveDate) -> NaiveDate {
    d - Duration::days(d.weekday().num_days_from_monday() as i64)
}

/// A `from`/`to` bound: a local date (`2026-11-01`; as `to`, the whole day is included)
/// or an instant (RFC 3339).
pub(crate) fn bound(
    name: &str,
    v: &str,
    tz: Tz,
    is_to: bool,
) -> Result<(DateTime<Utc>, bool), PeriodError> {
    let v = v.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let d = if is_to { d.succ_opt().unwrap_or(d) } else { d };
        return Ok((local_to_utc(tz, midnight(d)), true));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok((t.with_timezone(&Utc), false));
    }
    Err(PeriodError(format!(
        "{name}: {v:?} is neither a date (2026-11-01) nor an instant (2026-11-01T08:00:00Z)"
    )))
}

impl Period {
    /// Resolves a request's period at `now` (the request's `as_of` when it has one):
    /// `period` names one, or `from` and `to` give one (either may be left out: `from`
    /// alone runs to now, `to` alone starts 30 days before it); neither means `30d`.
    pub fn resolve(
        period: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<Period, PeriodError> {
        let named = period.map(str::trim).filter(|p| !p.is_empty());
        if named.is_some() && (from.is_some() || to.is_some()) {
            return Err(PeriodError("period: give either period or from/to, not both".into()));
        }
        if from.is_none() && to.is_none() {
            return Self::named(named.unwrap_or("30d"), tz, now);
        }
        let (to, to_date) = match to {
            Some(v) => bound("to", v, tz, true)?,
            None => (now, false),
        };
        let (from, from_date) = match from {
            Some(v) => bound("from", v, tz, false)?,
            None => (local_to_utc(tz, midnight(local_date(tz, to) - Duration::days(30))), true),
        };
        if from >= to {
            return Err(PeriodError("from: must be before to".into()));
        }
        // A period never runs past now (or as_of): there is no data there yet.
        let to = to.min(now);
        if from >= to {
            return Err(PeriodError("from: must be before now (or as_of)".into()));
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(PeriodError(format!("from: a period may span at most {MAX_DAYS} days")));
        }
        let step = if from_date && to_date {
            let days = (local_date(tz, to) - local_date(tz, from)).num_days().max(1);
            Step::Days(days as u32)
        } else {
            Step::Exact(to - from)
        };
        Ok(Period { from, to, tz, label: "custom".into(), step })
    }

    fn named(name: &str, tz: Tz, now: DateTime<Utc>) -> Result<Period, PeriodError> {
        let today = local_date(tz, now);
        let at = |d: NaiveDate| local_to_utc(tz, midnight(d));
        let (from, to, step) = match name {
            "today" => (at(today), now, Step::Days(1)),
            "yesterday" => (at(today - Duration::days(1)), at(today), Step::Days(1)),
            "7d" | "30d" | "90d" => {
                let n: u32 = name.trim_end_matches('d').parse().expect("a number");
                (at(today - Duration::days(n as i64 - 1)), now, Step::Days(n))
            }
            "this_week" => (at(week_start(today)), now, Step::Days(7)),
            "last_week" => {
                let w = week_start(today);
                (at(w - Duration::days(7)), at(w), Step::Days(7))
            }
            "this_month" => (at(month_start(today)), now, Step::Months(1)),
            "last_month" => {
                let m = month_start(today);
                (at(m - Months::new(1)), at(m), Step::Months(1))
            }
            "this_quarter" => (at(quarter_start(today)), now, Step::Months(3)),
            "last_quarter" => {
                let q = quarter_start(today);
                (at(q - Months::new(3)), at(q), Step::Months(3))
            }
            "this_year" => {
                let y = NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January");
                (at(y), now, Step::Months(12))
            }
            "last_year" => {
                let y = NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January");
                (at(y - Months::new(12)), at(y), Step::Months(12))
            }
            other => {
                return Err(PeriodError(format!(
                    "period: unknown period {other:?}; use one of {}",
                    NAMED.join(", ")
                )));
            }
        };
        Ok(Period { from, to, tz, label: name.to_owned(), step })
    }

    /// The period this one is compared with: the same stretch of local time one unit
    /// (or, for a custom period, its own length) earlier.
    pub fn previous(&self) -> Period {
        let back = |t: DateTime<Utc>| -> DateTime<Utc> {
            let local = t.with_timezone(&self.tz).naive_local();
            match self.step {
                Step::Days(n) => local_to_utc(self.tz, local - Duration::days(n as i64)),
                Step::Months(n) => {
                    local_to_utc(self.tz, local.checked_sub_months(Months::new(n)).unwrap_or(local))
                }
                Step::Exact(d) => t - d,
            }
        };
        let (from, to) = match self.step {
            Step::Exact(d) => (self.from - d, self.from),
            _ => (back(self.from), back(self.to)),
        };
        Period {
            from,
            to: to.max(from),
            tz: self.tz,
            label: format!("previous {}", self.label),
            step: self.step,
        }
    }

    /// The calendar span the period covers (a day, a week, a month, a quarter, a year),
    /// by its name or, for a custom period of whole local days, by its length; `None` for
    /// other lengths.
    pub fn span(&self) -> Option<Span> {
        match self.step {
            Step::Days(1) => Some(Span::Day),
            Step::Days(7) => Some(Span::Week),
            Step::Months(1) | Step::Days(28..=31) => Some(Span::Month),
            Step::Months(3) | Step::Days(89..=92) => Some(Span::Quarter),
            Step::Months(12) | Step::Days(365 | 366) => Some(Span::Year),
            _ => None,
        }
    }

    /// How much of the period has passed: 1 for a period that has ended, less for one
    /// that runs to now (this month on the 10th of a 30-day month: 9⅓ ÷ 30).
    pub fn progress(&self) -> f64 {
        let local = self.from.with_timezone(&self.tz).naive_local();
        let full_end = match self.step {
            Step::Days(n) => local_to_utc(self.tz, local + Duration::days(n as i64)),
            Step::Months(n) => local_to_utc(
                self.tz,
                local.checked_add_months(Months::new(n)).unwrap_or(local + Duration::days(30)),
            ),
            Step::Exact(_) => return 1.0,
        };
        let full = (full_end - self.from).num_seconds() as f64;
        if full <= 0.0 || self.to >= full_end {
            return 1.0;
        }
        ((self.to - self.from).num_seconds() as f64 / full).clamp(0.0, 1.0)
    }

    /// A part of this period (a bucket of it), compared the same way.
    pub fn part(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Period {
        Period { from, to, ..self.clone() }
    }

    pub fn from_us(&self) -> i64 {
        self.from.timestamp_micros()
    }

    pub fn to_us(&self) -> i64 {
        self.to.timestamp_micros()
    }

    /// The zone's UTC offsets over the period (and a day either side): what a
    /// [`Dim::Steps`] needs to number local days.
    pub fn shifts(&self) -> Vec<Shift> {
        shifts(self.tz, self.from - Duration::days(8), self.to + Duration::days(8))
    }

    /// Buckets of `interval` covering the period, and the dimension that numbers them.
    pub fn buckets(&self, column: &'static str, interval: Interval) -> (Dim, Vec<Bucket>) {
        let tz = self.tz;
        let first = local_date(tz, self.from);
        let last = local_date(tz, self.to - Duration::microseconds(1));
        match interval {
            Interval::Day | Interval::Week => {
                let (start, width) = match interval {
                    Interval::Day => (first, 1),
                    _ => (week_start(first), 7),
                };
                let origin = midnight(start).and_utc().timestamp_micros();
                let mut buckets = Vec::new();
                let mut d = start;
                let mut key = 0;
                while d <= last {
                    let next = d + Duration::days(width);
                    buckets.push(Bucket {
                        key,
                        start: d,
                        from: local_to_utc(tz, midnight(d)).max(self.from),
                        to: local_to_utc(tz, midnight(next)).min(self.to),
                    });
                    d = next;
                    key += 1;
                }
                let dim = Dim::Steps {
                    column,
                    origin,
                    width: width * 86_400_000_000,
                    shifts: self.shifts(),
                };
                (dim, buckets)
            }
            Interval::Month | Interval::Quarter => {
                let months = if interval == Interval::Month { 1 } else { 3 };
                let start = if months == 1 { month_start(first) } else { quarter_start(first) };
                let mut starts = vec![start];
                while let Some(next) = starts.last().map(|d| *d + Months::new(months))
                    && next <= last
                {
                    starts.push(next);
                }
                let edges: Vec<i64> = starts[1..]
                    .iter()
                    .map(|d| local_to_utc(tz, midnight(*d)).timestamp_micros())
                    .collect();
                let buckets = starts
                    .iter()
                    .enumerate()
                    .map(|(i, d)| Bucket {
                        key: i as i64,
                        start: *d,
                        from: local_to_utc(tz, midnight(*d)).max(self.from),
                        to: local_to_utc(tz, midnight(*d + Months::new(months))).min(self.to),
                    })
                    .collect();
                (Dim::Edges { column, edges }, buckets)
            }
        }
    }
}

/// The calendar span of a period, which a goal is set for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// A series' step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
    Quarter,
}

impl std::str::FromStr for Interval {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            "quarter" => Ok(Interval::Quarter),
            other => Err(PeriodError(format!(
                "interval: unknown interval {other:?}; use day, week, month or quarter"
            ))),
        }
    }
}

impl Interval {
    /// The step a series of a period uses unless told: days up to ~3 months, weeks up to
    /// ~a year, months beyond.
    pub fn default_for(p: &Period) -> Interval {
        let days = (p.to - p.from).num_days();
        if days <= 92 {
            Interval::Day
        } else if days <= 366 {
            Interval::Week
        } else {
            Interval::Month
        }
    }
}

/// One bucket of a series: its local start date and its instants (clipped to the period).
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// The key a [`Dim`] from [`Period::buckets`] gives rows of this bucket.
    pub key: i64,
    pub start: NaiveDate,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The zone's UTC offset at `t`, in microseconds.
fn offset_us(tz: Tz, t: DateTime<Utc>) -> i64 {
    let local = t.with_timezone(&tz).naive_local();
    (local - t.naive_utc()).num_microseconds().unwrap_or(0)
}

/// The zone's offsets from `from` to `to`: the first applies to everything before the
/// second. Transitions are found by sampling every hour and bisecting to the second.
pub fn shifts(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
    let mut out = vec![Shift { at: i64::MIN, offset: offset_us(tz, from) }];
    let mut t = from;
    let hour = Duration::hours(1);
    while t < to {
        let next = t + hour;
        let (a, b) = (offset_us(tz, t), offset_us(tz, next));
        if a != b {
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_us(tz, mid) == a { lo = mid } else { hi = mid }
            }
            out.push(Shift { at: hi.timestamp_micros(), offset: b });
        }
        t = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use avesa_warehouse::aggregate::step_key;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn named_periods_run_to_now_in_local_time() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 03:00 UTC on 5 December is 22:00 on 4 December in New York.
        let now = utc("2026-12-05T03:00:00Z");
        let p = Period::resolve(Some("today"), None, None, ny, now).unwrap();
        assert_eq!(p.from, utc("2026-12-04T05:00:00Z"));
        assert_eq!(p.to, now);
        let p = Period::resolve(Some("this_month"), None, None, ny, now).unwrap();
        assert_eq!(p.from, utc("2026-12-01T05:00:00Z"));
        let prev = p.previous();
        assert_eq!(
            (prev.from, prev.to),
            (utc("2026-11-01T04:00:00Z"), utc("2026-11-05T03:00:00Z"))
        );
        let p = Period::resolve(Some("last_month"), None, None, ny, now).unwrap();
        assert_eq!((p.from, p.to), (utc("2026-11-01T04:00:00Z"), utc("2026-12-01T05:00:00Z")));
        let p = Period::resolve(Some("7d"), None, None, Tz::UTC, now).unwrap();
        assert_eq!(p.from, utc("2026-11-29T00:00:00Z"));
        assert_eq!(p.previous().from, utc("2026-11-22T00:00:00Z"));
        assert_eq!(p.previous().to, utc("2026-11-28T03:00:00Z"));
        let p = Period::resolve(Some("last_quarter"), None, None, Tz::UTC, now).unwrap();
        assert_eq!((p.from, p.to), (utc("2026-07-01T00:00:00Z"), utc("2026-10-01T00:00:00Z")));
        assert_eq!(p.previous().from, utc("2026-04-01T00:00:00Z"));
        let p = Period::resolve(Some("last_week"), None, None, Tz::UTC, now).unwrap();
        // 5 December 2026 is a Saturday: this week began Monday 30 November.
        assert_eq!((p.from, p.to), (utc("2026-11-23T00:00:00Z"), utc("2026-11-30T00:00:00Z")));
        assert!(
            Period::resolve(Some("fortnight"), None, None, Tz::UTC, now)
                .unwrap_err()
                .0
                .contains("7d")
        );
    }

    #[test]
    fn custom_periods_take_dates_or_instants() {
        let ams: Tz = "Europe/Amsterdam".parse().unwrap();
        let now = utc("2026-12-05T03:00:00Z");
        let p = Period::resolve(None, Some("2026-03-01"), Some("2026-03-31"), ams, now).unwrap();
        assert_eq!((p.from, p.to), (utc("2026-02-28T23:00:00Z"), utc("2026-03-31T22:00:00Z")));
        // 31 local days back, across the change to summer time.
        assert_eq!(p.previous().from, utc("2026-01-28T23:00:00Z"));
        let p = Period::resolve(None, Some("2026-12-01T00:00:00Z"), None, ams, now).unwrap();
        assert_eq!(p.to, now);
        assert_eq!(p.previous().to, p.from);
        assert!(Period::resolve(None, Some("2026-12-02"), Some("2026-12-01"), ams, now).is_err());
        assert!(Period::resolve(Some("7d"), Some("2026-12-01"), None, ams, now).is_err());
        assert!(
            Period::resolve(None, Some("yesterday"), None, ams, now)
                .unwrap_err()
                .0
                .starts_with("from:")
        );
        assert!(parse_tz("Mars/Olympus").is_err());
    }

    #[test]
    fn day_buckets_follow_local_midnight_across_a_dst_change() {
        let ams: Tz = "Europe/Amsterdam".parse().unwrap();
        let now = utc("2026-12-05T03:00:00Z");
        let p = Period::resolve(None, Some("2026-03-28"), Some("2026-03-30"), ams, now).unwrap();
        let (dim, buckets) = p.buckets("opened_at", Interval::Day);
        assert_eq!(buckets.len(), 3);
        // 29 March is 23 hours long.
        assert_eq!(buckets[1].to - buckets[1].from, Duration::hours(23));
        let Dim::Steps { origin, width, shifts, .. } = dim else { panic!() };
        for b in &buckets {
            for t in [b.from, b.to - Duration::seconds(1)] {
                assert_eq!(step_key(t.timestamp_micros(), origin, width, &shifts), b.key, "{t}");
            }
        }
        let (dim, buckets) = Period::resolve(Some("this_quarter"), None, None, ams, now)
            .unwrap()
            .buckets("opened_at", Interval::Month);
        assert_eq!(buckets.iter().map(|b| b.start.month()).collect::<Vec<_>>(), vec![10, 11, 12]);
        let Dim::Edges { edges, .. } = dim else { panic!() };
        assert_eq!(
            edges,
            vec![
                utc("2026-10-31T23:00:00Z").timestamp_micros(),
                utc("2026-11-30T23:00:00Z").timestamp_micros()
            ]
        );
    }
}
