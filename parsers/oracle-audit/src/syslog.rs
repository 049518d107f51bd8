//! `oracle-unified-syslog`: the key fields Oracle writes to syslog when
//! `UNIFIED_AUDIT_SYSTEMLOG` (or `UNIFIED_AUDIT_COMMON_SYSTEMLOG`) is set:
//!
//! ```text
//! Nov 13 15:52:56 db21si journal: Oracle Unified Audit[23128]: LENGTH: '215' TYPE:"4" DBID:"2809789491" SESID:"2759083216" CLIENTID:"" ENTRYID:"1" STMTID:"9" DBUSER:"C##TEST" CURUSER:"C##TEST" ACTION:"1" RETCODE:"0" SCHEMA:"C##TEST" OBJNAME:"TEST" PDB_GUID:"B3316DF8AB281563E053E704F40AD8A9"
//! ```
//!
//! Values are double-quoted and never escaped; `CLIENTID` is user-settable, so
//! a value ends only where the next *known* key starts. The line carries no
//! timestamp of its own (the syslog header's is used), no SQL text and no
//! client address: join back to `UNIFIED_AUDIT_TRAIL` on
//! `(DBID, SESID, ENTRYID, STMTID)` for the full record.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use onetrail_event::{Category, Engine, Event, RecordPos};

use crate::row::{UnifiedAuditRow, map_row, native_fields};
use crate::util::{ParsedTime, parse_time};

/// Keys Oracle writes, with the view column each one fills.
const KEYS: &[(&str, &str)] = &[
    ("TYPE", "AUDIT_TYPE_CODE"),
    ("DBID", "DBID"),
    ("SESID", "SESSIONID"),
    ("CLIENTID", "CLIENT_IDENTIFIER"),
    ("ENTRYID", "ENTRY_ID"),
    ("STMTID", "STATEMENT_ID"),
    ("DBUSER", "DBUSERNAME"),
    ("CURUSER", "CURRENT_USER"),
    ("ACTION", "ACTION"),
    ("RETCODE", "RETURN_CODE"),
    ("SCHEMA", "OBJECT_SCHEMA"),
    ("OBJNAME", "OBJECT_NAME"),
    ("PDB_GUID", "PDB_GUID"),
];

/// The syslog header in front of a message, as far as it was understood.
#[derive(Debug, Default)]
pub(crate) struct SyslogPrefix {
    pub time: Option<ParsedTime>,
    /// RFC 3164 time without a year: the year was assumed.
    pub year_assumed: bool,
    pub host: Option<String>,
    pub pid: Option<String>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Read `Mmm dd HH:MM:SS host tag[pid]:`, `<pri>1 2024-05-01T... host ...` or
/// `2024-05-01T12:00:00.123+00:00 host tag[pid]:`.
pub(crate) fn parse_syslog_prefix(prefix: &str, year: i32) -> SyslogPrefix {
    let mut p = SyslogPrefix::default();
    let mut s = prefix.trim_start();
    if s.starts_with('<')
        && let Some(i) = s.find('>')
    {
        s = s[i + 1..].trim_start();
        if let Some(rest) = s.strip_prefix("1 ") {
            s = rest;
        }
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    if let Some(w0) = words.first()
        && w0.len() >= 19
        && w0.as_bytes()[4] == b'-'
    {
        p.time = parse_time(w0);
        p.host = words.get(1).map(|h| h.to_string());
    } else if words.len() >= 3
        && let Some(m) = MONTHS.iter().position(|m| *m == words[0])
        && let Ok(d) = words[1].parse::<u32>()
        && let Ok(t) = chrono::NaiveTime::parse_from_str(words[2], "%H:%M:%S")
        && let Some(date) = NaiveDate::from_ymd_opt(year, m as u32 + 1, d)
    {
        let naive = NaiveDateTime::new(date, t);
        p.time = Some(ParsedTime {
            time: DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc),
            zoned: false,
        });
        p.year_assumed = true;
        p.host = words.get(3).map(|h| h.to_string());
    }
    if let Some(open) = prefix.rfind('[')
        && let Some(close) = prefix[open..].find(']')
    {
        let pid = &prefix[open + 1..open + close];
        if !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit()) {
            p.pid = Some(pid.to_string());
        }
    }
    p
}

fn is_key_start(s: &str, known_only: bool) -> Option<usize> {
    // `KEY:"` at the start of `s`; returns the length of `KEY`.
    let colon = s.find(":\"")?;
    let key = &s[..colon];
    if key.is_empty()
        || !key
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_' || c == b'$')
    {
        return None;
    }
    if known_only && !KEYS.iter().any(|(k, _)| *k == key) {
        return None;
    }
    Some(colon)
}

/// Split `KEY:"value" KEY:"value" ...` into pairs.
pub(crate) fn split_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.trim().is_empty() {
        let Some(klen) = is_key_start(rest, false) else {
            return Err(format!(
                "expected KEY:\"value\" at {:?}",
                rest.chars().take(24).collect::<String>()
            ));
        };
        let key = &rest[..klen];
        let vstart = klen + 2;
        let body = &rest[vstart..];
        let known_only = key == "CLIENTID";
        let mut end = None;
        for (i, _) in body.match_indices('"') {
            let after = &body[i + 1..];
            if after.trim().is_empty() {
                end = Some(i);
                break;
            }
            if let Some(a) = after.strip_prefix(' ')
                && is_key_start(a.trim_start(), known_only).is_some()
            {
                end = Some(i);
                break;
            }
        }
        let Some(end) = end else {
            return Err(format!("unterminated value of {key}"));
        };
        out.push((key.to_string(), body[..end].to_string()));
        rest = body[end + 1..].trim_start();
    }
    Ok(out)
}

/// Find the `LENGTH: '<n>'` marker; returns (prefix end, fields start).
fn find_length(line: &str) -> Option<(usize, usize)> {
    let i = line.find("LENGTH")?;
    let after = &line[i + 6..];
    let after_t = after.trim_start();
    let after_t = after_t.strip_prefix(':')?.trim_start();
    let q = after_t.chars().next()?;
    if q != '\'' && q != '"' {
        return None;
    }
    let close = after_t[1..].find(q)? + 1;
    let consumed = after.len() - after_t.len() + close + 1;
    Some((i, i + 6 + consumed))
}

#[derive(Debug, Default)]
pub(crate) struct SyslogState {
    pub forward_other: bool,
    pub year: i32,
    pub last_time: Option<DateTime<Utc>>,
}

impl SyslogState {
    pub(crate) fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(record);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return;
        }
        let Some((pfx_end, fields_at)) = find_length(line) else {
            if self.forward_other {
                let t = self.last_time.unwrap_or(DateTime::UNIX_EPOCH);
                let mut ev = Event::new(Engine::Oracle, t, pos, 0);
                ev.category = Category::Other;
                ev.action = "OTHER".into();
                ev.raw = Some(line.to_string());
                out.push(ev);
            }
            return;
        };
        let prefix = parse_syslog_prefix(&line[..pfx_end], self.year);
        let pairs = match split_pairs(&line[fields_at..]) {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => {
                out.push(self.unparsed(pos, record, "no KEY:\"value\" fields after LENGTH"));
                return;
            }
            Err(e) => {
                out.push(self.unparsed(pos, record, e));
                return;
            }
        };
        let mut row = UnifiedAuditRow::new();
        let mut unknown = Vec::new();
        for (k, v) in &pairs {
            match KEYS.iter().find(|(key, _)| key == k) {
                Some((_, col)) => {
                    row.set_text(col, v.clone());
                }
                None => unknown.push((k.clone(), v.clone())),
            }
        }
        if row.int("AUDIT_TYPE_CODE") == Some(4) {
            row.set_text("AUDIT_TYPE", "Standard");
        }
        if let Some(pid) = &prefix.pid {
            row.set_text("OS_PROCESS", pid.clone());
        }
        if let Some(t) = prefix.time {
            row.set_time("EVENT_TIMESTAMP_UTC", t.time.naive_utc());
            self.last_time = Some(t.time);
        }
        let mut ev = map_row(&row, pos, 0);
        if let Some(code) = row.int("AUDIT_TYPE_CODE") {
            ev.extra.insert("audit_type_code".into(), code.into());
        }
        if let Some(h) = prefix.host {
            ev.extra.insert("server_host".into(), h.into());
        }
        match prefix.time {
            Some(t) if !t.zoned => {
                ev.extra.insert("time_zone_assumed".into(), "UTC".into());
                if prefix.year_assumed {
                    ev.extra.insert("time_year_assumed".into(), true.into());
                }
            }
            Some(_) => {}
            None => {
                ev.extra.insert("time_source".into(), "missing".into());
            }
        }
        if !unknown.is_empty() {
            native_fields(&mut ev, "syslog_fields", &unknown);
        }
        out.push(ev);
    }

    fn unparsed(&self, pos: &RecordPos<'_>, record: &[u8], e: impl Into<String>) -> Event {
        let t = self.last_time.unwrap_or(DateTime::UNIX_EPOCH);
        Event::unparsed(Engine::Oracle, t, pos, record, e)
    }
}

/// The current year as the default for RFC 3164 timestamps is the runtime's
/// business; without it, 1970 is used and flagged.
pub(crate) fn default_year(y: Option<i32>) -> i32 {
    y.unwrap_or_else(|| DateTime::<Utc>::UNIX_EPOCH.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_with_quotes_in_clientid() {
        let p = split_pairs(r#"TYPE:"4" CLIENTID:"a" b X:"c" ENTRYID:"1" ACTION:"2""#).unwrap();
        assert_eq!(p[1], ("CLIENTID".into(), r#"a" b X:"c"#.into()));
        assert_eq!(p[2], ("ENTRYID".into(), "1".into()));
        assert!(split_pairs(r#"TYPE:"4"#).is_err());
    }

    #[test]
    fn prefixes() {
        let p = parse_syslog_prefix(
            "Nov 13 15:52:56 db21si journal: Oracle Unified Audit[23128]: ",
            2024,
        );
        assert_eq!(
            p.time.unwrap().time.to_rfc3339(),
            "2024-11-13T15:52:56+00:00"
        );
        assert_eq!(p.host.as_deref(), Some("db21si"));
        assert_eq!(p.pid.as_deref(), Some("23128"));
        let p = parse_syslog_prefix(
            "2024-11-13T15:52:56.123456+01:00 db21si Oracle Unified Audit[1]: ",
            2024,
        );
        assert!(p.time.unwrap().zoned);
        assert!(!p.year_assumed);
    }
}
