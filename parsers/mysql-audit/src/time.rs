//! Timestamp parsing shared by every MySQL-family format.
//!
//! Hand-rolled (no allocation, no format-string interpretation) because it
//! runs once per record. Recognised shapes:
//!
//! * `YYYYMMDD HH:MM:SS` (MariaDB server_audit default)
//! * `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS`, optional `.fraction`, then
//!   optional zone: `Z`, ` UTC`, `+HH:MM`, `+HHMM`, ` +HH:MM` (EA, Percona, custom
//!   MariaDB formats, RFC 3339 syslog)
//! * all digits: Unix epoch in seconds (10 digits), milliseconds (13),
//!   microseconds (16, Aurora MySQL advanced auditing) or nanoseconds (19)
//!
//! Anything else is "unrecognised": the caller keeps the raw text in
//! `extra.timestamp_raw` and falls back to the previous record's time.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// A parsed timestamp and whether the text carried its own zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub time: DateTime<Utc>,
    /// False when the text had no zone and was read as UTC.
    pub zoned: bool,
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn ymd_hms(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> Option<DateTime<Utc>> {
    // Leap second 60 is clamped (MySQL never writes it, chrono rejects it).
    let s = s.min(59);
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?;
    let dt = date.and_hms_nano_opt(h, mi, s, nanos)?;
    Some(Utc.from_utc_datetime(&dt))
}

/// Parse `HH:MM:SS[.frac]` at the start of `b`; returns (h, m, s, nanos, rest).
fn hms(b: &[u8]) -> Option<(u32, u32, u32, u32, &[u8])> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = digits(&b[0..2])?;
    let mi = digits(&b[3..5])?;
    let s = digits(&b[6..8])?;
    let mut rest = &b[8..];
    let mut nanos = 0u32;
    if let [b'.' | b',', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let frac = &tail[..n.min(9)];
        let mut v = digits(frac)?;
        for _ in frac.len()..9 {
            v *= 10;
        }
        nanos = v;
        rest = &tail[n..];
    }
    Some((h, mi, s, nanos, rest))
}

/// Parse a zone suffix; `None` = not a zone, `Some(None)` = empty (no zone),
/// `Some(Some(seconds east))`.
fn zone(b: &[u8]) -> Option<Option<i32>> {
    let b = b.strip_prefix(b" ").unwrap_or(b);
    match b {
        [] => Some(None),
        b"Z" | b"z" | b"UTC" | b"GMT" | b"+00:00" | b"-00:00" | b"+0000" => Some(Some(0)),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [a, b2, b':', c, d] => (digits(&[*a, *b2])?, digits(&[*c, *d])?),
                [a, b2, c, d] => (digits(&[*a, *b2])?, digits(&[*c, *d])?),
                [a, b2] => (digits(&[*a, *b2])?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i32::try_from(h * 3600 + m * 60).ok()?;
            Some(Some(if *sign == b'-' { -secs } else { secs }))
        }
        _ => None,
    }
}

fn epoch(b: &[u8]) -> Option<DateTime<Utc>> {
    if !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: i64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    match b.len() {
        10 => Utc.timestamp_opt(v, 0).single(),
        13 => Utc.timestamp_millis_opt(v).single(),
        16 => Utc.timestamp_micros(v).single(),
        19 => Some(Utc.timestamp_nanos(v)),
        _ => None,
    }
}

/// Parse any of the shapes listed in the module docs (surrounding ASCII
/// whitespace ignored).
pub fn parse(b: &[u8]) -> Option<Parsed> {
    let b = b.trim_ascii();
    if b.len() < 8 {
        return None;
    }
    if b[0..8].iter().all(u8::is_ascii_digit) {
        if b.len() >= 10 && b.iter().all(u8::is_ascii_digit) {
            return epoch(b).map(|time| Parsed { time, zoned: true });
        }
        // YYYYMMDD HH:MM:SS
        if b.len() >= 17 && b[8] == b' ' {
            let (h, mi, s, nanos, rest) = hms(&b[9..])?;
            let off = zone(rest)?;
            let t = ymd_hms(
                digits(&b[0..4])?,
                digits(&b[4..6])?,
                digits(&b[6..8])?,
                h,
                mi,
                s,
                nanos,
            )?;
            return Some(apply_zone(t, off));
        }
        return None;
    }
    // YYYY-MM-DD[T ]HH:MM:SS
    if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && matches!(b[10], b'T' | b' ') {
        let (h, mi, s, nanos, rest) = hms(&b[11..])?;
        let off = zone(rest)?;
        let t = ymd_hms(
            digits(&b[0..4])?,
            digits(&b[5..7])?,
            digits(&b[8..10])?,
            h,
            mi,
            s,
            nanos,
        )?;
        return Some(apply_zone(t, off));
    }
    None
}

fn apply_zone(t: DateTime<Utc>, off: Option<i32>) -> Parsed {
    match off {
        None => Parsed {
            time: t,
            zoned: false,
        },
        Some(secs) => Parsed {
            time: t - chrono::Duration::seconds(i64::from(secs)),
            zoned: true,
        },
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// RFC 3164 syslog timestamp `Mmm dd HH:MM:SS` (no year). Returns
/// (month, day, h, m, s, length consumed).
pub fn parse_rfc3164(b: &[u8]) -> Option<(u32, u32, u32, u32, u32, usize)> {
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' {
        return None;
    }
    let mon = MONTHS.iter().position(|m| &b[0..3] == *m)? as u32 + 1;
    let day = if b[4] == b' ' {
        digits(&b[5..6])?
    } else {
        digits(&b[4..6])?
    };
    let (h, mi, s, _, _) = hms(&b[7..15])?;
    Some((mon, day, h, mi, s, 15))
}

/// Build a UTC time from RFC 3164 parts and a year.
pub fn from_rfc3164(year: i32, p: (u32, u32, u32, u32, u32)) -> Option<DateTime<Utc>> {
    ymd_hms(u32::try_from(year).ok()?, p.0, p.1, p.2, p.3, p.4, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &str) -> String {
        let p = parse(b.as_bytes()).unwrap();
        format!("{} {}", p.time.to_rfc3339(), p.zoned)
    }

    #[test]
    fn shapes() {
        assert_eq!(s("20201130 23:08:34"), "2020-11-30T23:08:34+00:00 false");
        assert_eq!(s("2020-10-19 19:25:51"), "2020-10-19T19:25:51+00:00 false");
        assert_eq!(
            s("2019-10-03T14:06:33 UTC"),
            "2019-10-03T14:06:33+00:00 true"
        );
        assert_eq!(s("2021-06-29T19:33:34Z"), "2021-06-29T19:33:34+00:00 true");
        assert_eq!(
            s("2024-05-01T12:00:00.123456+02:00"),
            "2024-05-01T10:00:00.123456+00:00 true"
        );
        assert_eq!(
            s("1653053459680124"),
            "2022-05-20T13:30:59.680124+00:00 true"
        );
        assert!(parse(b"TIME").is_none());
        assert!(parse(b"CUSTOM-DATE 2024-01-01").is_none());
        assert!(parse(b"20241301 00:00:00").is_none());
    }

    #[test]
    fn rfc3164() {
        let p = parse_rfc3164(b"Nov  6 06:10:00 host").unwrap();
        assert_eq!(p, (11, 6, 6, 10, 0, 15));
    }
}
