//! PostgreSQL log timestamps → UTC.
//!
//! `%m`/`%t`/`%s` (and csvlog/jsonlog `log_time`) print the time in
//! `log_timezone` followed by the zone's *abbreviation* (`%Z`), which is not
//! always unique. Resolution rules, in order:
//!
//! 1. `UTC`, `GMT`, `UCT`, `Z` → +00:00.
//! 2. Numeric offsets as tzdata prints them for zones without an abbreviation
//!    (`+03`, `-0530`) and as pgauditlogtofile ≥ 1.8 prints them (`+03:00`).
//! 3. The small table [`ZONE_ABBREVIATIONS`] (North America, Europe, a few of
//!    Asia/Pacific). Ambiguous abbreviations are resolved to the most common
//!    server zone: `IST` → India (+05:30, not Irish +01 or Israel +02), `CST`
//!    → US Central (-06, not China +08), `BST` → British Summer (+01).
//! 4. Anything else is read as UTC and reported in
//!    `extra.time_zone_unresolved` so a downstream can correct it.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Common abbreviations and their offset east of UTC, in seconds.
pub const ZONE_ABBREVIATIONS: &[(&str, i32)] = &[
    // North America
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
    ("CST", -6 * 3600),
    ("CDT", -5 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("AKST", -9 * 3600),
    ("AKDT", -8 * 3600),
    ("HST", -10 * 3600),
    ("AST", -4 * 3600),
    ("ADT", -3 * 3600),
    ("NST", -(3 * 3600 + 1800)),
    ("NDT", -(2 * 3600 + 1800)),
    // Europe
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("CET", 3600),
    ("CEST", 2 * 3600),
    ("MET", 3600),
    ("MEST", 2 * 3600),
    ("EET", 2 * 3600),
    ("EEST", 3 * 3600),
    ("MSK", 3 * 3600),
    // Africa, Asia, Pacific
    ("SAST", 2 * 3600),
    ("IST", 5 * 3600 + 1800),
    ("PKT", 5 * 3600),
    ("WIB", 7 * 3600),
    ("HKT", 8 * 3600),
    ("AWST", 8 * 3600),
    ("JST", 9 * 3600),
    ("KST", 9 * 3600),
    ("ACST", 9 * 3600 + 1800),
    ("ACDT", 10 * 3600 + 1800),
    ("AEST", 10 * 3600),
    ("AEDT", 11 * 3600),
    ("NZST", 12 * 3600),
    ("NZDT", 13 * 3600),
];

/// A parsed log time. `unresolved_zone` is set when the zone was not
/// understood (the time was then read as UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogTime<'a> {
    pub at: Option<DateTime<Utc>>,
    pub unresolved_zone: Option<&'a str>,
    /// The time text was present but malformed.
    pub invalid: Option<&'a str>,
}

impl<'a> LogTime<'a> {
    pub fn from_text(s: &'a str) -> LogTime<'a> {
        match parse_timestamp(s) {
            Some((at, unresolved_zone)) => LogTime {
                at: Some(at),
                unresolved_zone,
                invalid: None,
            },
            None if s.is_empty() => LogTime::default(),
            None => LogTime {
                invalid: Some(s),
                ..LogTime::default()
            },
        }
    }

    pub fn from_epoch_text(s: &'a str) -> LogTime<'a> {
        match parse_epoch(s) {
            Some(at) => LogTime {
                at: Some(at),
                ..LogTime::default()
            },
            None => LogTime {
                invalid: Some(s),
                ..LogTime::default()
            },
        }
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

/// `YYYY-MM-DD HH:MM:SS[.fraction][ ZONE]` → UTC, plus the zone text when it
/// could not be resolved.
pub fn parse_timestamp(s: &str) -> Option<(DateTime<Utc>, Option<&str>)> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let frac = &b[start..end];
        if frac.is_empty() {
            return None;
        }
        let mut scale = 100_000_000u32;
        for &d in frac.iter().take(9) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
        }
        i = end;
    }
    let zone = match b.get(i) {
        None => "",
        Some(b' ') => &s[i + 1..],
        Some(_) => return None,
    };
    let naive =
        NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, min, sec, nanos)?;
    let (offset, unresolved) = match zone_offset(zone) {
        Some(off) => (off, None),
        None => (0, Some(zone)),
    };
    let utc = Utc.from_utc_datetime(&naive) - chrono::Duration::seconds(i64::from(offset));
    Some((utc, unresolved))
}

/// Offset east of UTC in seconds for a zone as PostgreSQL prints it.
pub fn zone_offset(zone: &str) -> Option<i32> {
    match zone {
        "UTC" | "GMT" | "UCT" | "Z" | "UT" => return Some(0),
        _ => {}
    }
    let b = zone.as_bytes();
    if let Some(&sign @ (b'+' | b'-')) = b.first() {
        let rest = &b[1..];
        let (h, m) = match rest.len() {
            1 | 2 => (digits(rest)?, 0),
            4 => (digits(&rest[..2])?, digits(&rest[2..])?),
            5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
            _ => return None,
        };
        if h > 15 || m > 59 {
            return None;
        }
        let off = (h * 3600 + m * 60) as i32;
        return Some(if sign == b'-' { -off } else { off });
    }
    ZONE_ABBREVIATIONS
        .iter()
        .find(|(abbr, _)| *abbr == zone)
        .map(|&(_, off)| off)
}

/// `%n`: seconds since the epoch with milliseconds, e.g. `1609953688.123`.
pub fn parse_epoch(s: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let secs: i64 = if secs.bytes().all(|c| c.is_ascii_digit()) && !secs.is_empty() {
        secs.parse().ok()?
    } else {
        return None;
    };
    let mut nanos = 0u32;
    let mut scale = 100_000_000u32;
    for d in frac.bytes().take(9) {
        if !d.is_ascii_digit() {
            return None;
        }
        nanos += u32::from(d - b'0') * scale;
        scale /= 10;
    }
    Utc.timestamp_opt(secs, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        let (t, _) = parse_timestamp(s).unwrap();
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    #[test]
    fn resolves_zones() {
        assert_eq!(
            iso("2024-05-01 12:00:00.123 UTC"),
            "2024-05-01T12:00:00.123000Z"
        );
        assert_eq!(
            iso("2024-05-01 12:00:00 GMT"),
            "2024-05-01T12:00:00.000000Z"
        );
        assert_eq!(
            iso("2025-04-21 03:27:13.529 EDT"),
            "2025-04-21T07:27:13.529000Z"
        );
        assert_eq!(
            iso("2024-01-10 09:00:00 CET"),
            "2024-01-10T08:00:00.000000Z"
        );
        assert_eq!(
            iso("2024-01-10 09:00:00 +03"),
            "2024-01-10T06:00:00.000000Z"
        );
        assert_eq!(
            iso("2024-01-10 09:00:00 -0530"),
            "2024-01-10T14:30:00.000000Z"
        );
        assert_eq!(
            iso("2024-01-10 09:00:00.123456789 +05:30"),
            "2024-01-10T03:30:00.123456Z"
        );
        assert_eq!(
            iso("2024-01-10 09:00:00 IST"),
            "2024-01-10T03:30:00.000000Z"
        );
    }

    #[test]
    fn unknown_zone_is_utc_and_reported() {
        let (t, z) = parse_timestamp("2024-01-10 09:00:00 XYZT").unwrap();
        assert_eq!(z, Some("XYZT"));
        assert_eq!(t.to_rfc3339(), "2024-01-10T09:00:00+00:00");
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse_timestamp("2024-13-10 09:00:00 UTC").is_none());
        assert!(parse_timestamp("2024-01-10T09:00:00 UTC").is_none());
        assert!(parse_timestamp("2024-01-10 09:00:00.").is_none());
        assert!(parse_timestamp("").is_none());
    }

    #[test]
    fn epoch() {
        let t = parse_epoch("1609953688.123").unwrap();
        assert_eq!(
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2021-01-06T17:21:28.123Z"
        );
        assert!(parse_epoch("abc").is_none());
    }
}
