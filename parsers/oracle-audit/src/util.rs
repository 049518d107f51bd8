//! Shared helpers: time texts, client addresses, line framing.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Largest record a framer waits for; longer ones are cut at a newline (or at
/// this size) and reported as they are, so a corrupt file cannot make the
/// runtime's buffer grow without bound.
pub(crate) const MAX_RECORD: usize = 4 << 20;

/// A timestamp text as Oracle writes it. `zoned` is false when the text had no
/// zone and was read as UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    pub time: DateTime<Utc>,
    pub zoned: bool,
}

/// Parse the timestamp spellings found in Oracle exports and files:
/// ISO (`2024-05-01 12:00:00.123456`, `2024-05-01T12:00:00.1Z`, with offset),
/// Oracle's default NLS format (`01-MAY-24 12.00.00.123456 PM`,
/// `01-MAY-2024 12.00.00.123456000 PM [+00:00|UTC]`), and the `.aud` record
/// header (`Wed Oct  7 10:52:45 2020 -04:00`).
pub fn parse_time(s: &str) -> Option<ParsedTime> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(zoned(t));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f %:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(zoned(t));
        }
    }
    // Trailing " UTC" / "Z" / " +00:00" on otherwise zone-less forms.
    let (body, utc_suffix) = if let Some(b) = s.strip_suffix(" UTC").or_else(|| s.strip_suffix('Z'))
    {
        (b.trim_end(), true)
    } else {
        (s, false)
    };
    if let Some(t) = parse_naive(body) {
        return Some(ParsedTime {
            time: Utc.from_utc_datetime(&t),
            zoned: utc_suffix,
        });
    }
    // `<naive> <+hh:mm>` in Oracle's NLS spelling.
    if let Some((b, z)) = body.rsplit_once(' ')
        && let Some(off) = parse_offset(z)
        && let Some(t) = parse_naive(b)
    {
        let t = off.from_local_datetime(&t).single()?;
        return Some(zoned(t));
    }
    None
}

fn zoned(t: DateTime<FixedOffset>) -> ParsedTime {
    ParsedTime {
        time: t.with_timezone(&Utc),
        zoned: true,
    }
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%d-%b-%y %I.%M.%S%.f %p",
        "%d-%b-%Y %I.%M.%S%.f %p",
        "%d-%b-%y %H.%M.%S%.f",
        "%d-%b-%Y %H.%M.%S%.f",
        "%d-%b-%Y %H:%M:%S%.f",
        "%d/%m/%Y %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    // Oracle prints up to 9 fractional digits; chrono's %.f takes them, but
    // `%I.%M.%S%.f` needs the digits right after the seconds.
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0);
    }
    None
}

/// `+03:00`, `-0400`, `+00:00`.
pub(crate) fn parse_offset(z: &str) -> Option<FixedOffset> {
    let b = z.as_bytes();
    if b.len() < 5 || !(b[0] == b'+' || b[0] == b'-') {
        return None;
    }
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    let secs = h * 3600 + m * 60;
    if b[0] == b'+' {
        FixedOffset::east_opt(secs)
    } else {
        FixedOffset::west_opt(secs)
    }
}

/// The `.aud` record header: `Wed Oct  7 10:52:45 2020 -04:00` (zone optional).
pub fn parse_aud_header(line: &str) -> Option<ParsedTime> {
    let line = line.trim_end_matches(['\r', '\n']);
    if !is_aud_header(line) {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    // Wed Oct 7 10:52:45 2020 [-04:00]
    let naive = format!("{} {} {} {}", words[1], words[2], words[3], words[4]);
    let t = NaiveDateTime::parse_from_str(&naive, "%b %d %H:%M:%S %Y").ok()?;
    match words.get(5) {
        Some(z) => {
            let off = parse_offset(z)?;
            Some(zoned(off.from_local_datetime(&t).single()?))
        }
        None => Some(ParsedTime {
            time: Utc.from_utc_datetime(&t),
            zoned: false,
        }),
    }
}

/// Whether a line (without its newline) is an `.aud` record header.
pub(crate) fn is_aud_header(line: &str) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    if !(w.len() == 5 || w.len() == 6) {
        return false;
    }
    let alpha3 = |s: &str| s.len() == 3 && s.bytes().all(|c| c.is_ascii_alphabetic());
    let num = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())
    };
    let time = |s: &str| {
        let b = s.as_bytes();
        b.len() == 8 && b[2] == b':' && b[5] == b':'
    };
    alpha3(w[0])
        && alpha3(w[1])
        && num(w[2], 1, 2)
        && time(w[3])
        && num(w[4], 4, 4)
        && (w.len() == 5 || parse_offset(w[5]).is_some())
}

/// Client address found in Oracle texts: `(HOST=10.0.0.5)(PORT=51234)` inside
/// AUTHENTICATION_TYPE / COMMENT$TEXT / CLIENT ADDRESS, or a bare IP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
}

fn paren_value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let upper = s.to_ascii_uppercase();
    let pat = format!("({key}=");
    let i = upper.find(&pat)? + pat.len();
    let rest = &s[i..];
    let end = rest.find(')')?;
    let v = rest[..end].trim();
    (!v.is_empty()).then_some(v)
}

pub fn parse_client_address(s: &str) -> Option<ClientAddress> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut a = ClientAddress::default();
    if let Some(h) = paren_value(s, "HOST") {
        if h.parse::<std::net::IpAddr>().is_ok() {
            a.ip = Some(h.to_string());
        } else {
            a.host = Some(h.to_string());
        }
        a.port = paren_value(s, "PORT").and_then(|p| p.parse().ok());
        a.protocol = paren_value(s, "PROTOCOL").map(str::to_ascii_lowercase);
        return Some(a);
    }
    if s.contains('(') || s.contains(' ') {
        return None;
    }
    if s.parse::<std::net::IpAddr>().is_ok() {
        a.ip = Some(s.to_string());
    } else {
        a.host = Some(s.to_string());
    }
    Some(a)
}

/// Length of the first line (with its `\n`), or `None` without a newline.
pub(crate) fn line_len(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf).map(|i| i + 1)
}

/// Frame one line per record, for line-oriented formats.
pub(crate) fn frame_line(buf: &[u8], flush: onetrail_event::Flush) -> Option<usize> {
    use onetrail_event::Flush;
    if buf.is_empty() {
        return None;
    }
    match line_len(buf) {
        Some(n) => Some(n),
        None if flush == Flush::Final => Some(buf.len()),
        None if buf.len() >= MAX_RECORD => Some(buf.len()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_time("2024-05-01 12:00:00.123456").unwrap();
        assert_eq!(t.time.to_rfc3339(), "2024-05-01T12:00:00.123456+00:00");
        assert!(!t.zoned);
        let t = parse_time("01-MAY-24 01.02.03.500000 PM").unwrap();
        assert_eq!(t.time.to_rfc3339(), "2024-05-01T13:02:03.500+00:00");
        let t = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert!(t.zoned);
        let t = parse_time("01-MAY-2024 01.02.03.500000000 PM +02:00").unwrap();
        assert_eq!(t.time.to_rfc3339(), "2024-05-01T11:02:03.500+00:00");
        assert!(parse_time("nope").is_none());
    }

    #[test]
    fn aud_headers() {
        let t = parse_aud_header("Wed Oct  7 10:52:45 2020 -04:00").unwrap();
        assert_eq!(t.time.to_rfc3339(), "2020-10-07T14:52:45+00:00");
        assert!(parse_aud_header("Wed Oct  7 10:52:45 2020").is_some());
        assert!(parse_aud_header("LENGTH : '228'").is_none());
    }

    #[test]
    fn client_addresses() {
        let a = parse_client_address(
            "Authenticated by: DATABASE; Client address: (ADDRESS=(PROTOCOL=tcp)(HOST=10.1.2.3)(PORT=58864))",
        )
        .unwrap();
        assert_eq!(a.ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(a.port, Some(58864));
        assert_eq!(
            parse_client_address("192.168.2.2").unwrap().ip.as_deref(),
            Some("192.168.2.2")
        );
        assert_eq!(
            parse_client_address("test.local").unwrap().host.as_deref(),
            Some("test.local")
        );
        assert!(parse_client_address("").is_none());
    }
}
