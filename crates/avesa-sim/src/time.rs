//! Second-resolution UTC timestamps: fast formatting and lenient parsing.
//!
//! Records keep their instants as Unix seconds (`i64`); the wire format is ConnectWise's
//! `2024-03-08T21:59:20Z` (ISO-8601, UTC, no fractional seconds).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_2(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends `secs` as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn push_ts(out: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    if (0..10_000).contains(&y) {
        let y = y as u32;
        push_2(out, y / 100);
        push_2(out, y % 100);
    } else {
        out.push_str(&y.to_string());
    }
    out.push('-');
    push_2(out, m);
    out.push('-');
    push_2(out, d);
    out.push('T');
    push_2(out, sod / 3600);
    out.push(':');
    push_2(out, sod / 60 % 60);
    out.push(':');
    push_2(out, sod % 60);
    out.push('Z');
}

/// `secs` as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn ts(secs: i64) -> String {
    let mut s = String::with_capacity(20);
    push_ts(&mut s, secs);
    s
}

/// `secs` as `YYYY-MM-DD`.
pub(crate) fn date_only(secs: i64) -> String {
    let mut s = ts(secs);
    s.truncate(10);
    s
}

/// Parses RFC 3339 (any offset, optional fraction), `YYYY-MM-DDTHH:MM:SS` (taken as UTC)
/// or `YYYY-MM-DD` (midnight UTC) into Unix seconds.
pub(crate) fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

pub(crate) fn to_datetime(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// Day of week for Unix seconds shifted by `offset_hours` (0 = Sunday).
pub(crate) fn weekday(secs: i64, offset_hours: i64) -> u32 {
    ((secs + offset_hours * 3600).div_euclid(86_400) + 4).rem_euclid(7) as u32
}

/// Hour of day for Unix seconds shifted by `offset_hours`.
pub(crate) fn hour(secs: i64, offset_hours: i64) -> u32 {
    ((secs + offset_hours * 3600).rem_euclid(86_400) / 3600) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        for secs in [0, 951_782_400, 1_709_935_160, 1_735_689_599, 4_102_444_800] {
            let s = ts(secs);
            assert_eq!(s, to_datetime(secs).format("%Y-%m-%dT%H:%M:%SZ").to_string());
            assert_eq!(parse_ts(&s), Some(secs));
        }
        assert_eq!(ts(1_709_935_160), "2024-03-08T21:59:20Z");
        assert_eq!(parse_ts("2024-03-08"), Some(1_709_856_000));
        assert_eq!(parse_ts("2024-03-08T22:59:20+01:00"), Some(1_709_935_160));
        assert_eq!(parse_ts("2024-03-08T21:59:20.500Z"), Some(1_709_935_160));
        assert_eq!(parse_ts("2024-03-08T21:59:20"), Some(1_709_935_160));
        assert_eq!(parse_ts("yesterday"), None);
        assert_eq!(weekday(1_709_935_160, 0), 5); // a Friday
        assert_eq!(hour(1_709_935_160, -5), 16);
    }
}
