//! `oracle-aud`: traditional OS audit files (`AUDIT_FILE_DEST/*.aud`), written
//! for SYS operations, mandatory auditing and `AUDIT_TRAIL=OS`.
//!
//! A file starts with a header (`Audit file ...`, version, node, instance,
//! pid); then each record starts with a line like
//! `Wed Oct  7 10:52:45 2020 -04:00` followed by one of two layouts:
//!
//! - classic: one `NAME :[len] 'value'` per line (`ACTION :[7] 'CONNECT'`);
//! - extended: `LENGTH: "357"` then `NAME:[len] "value"` pairs on one line.
//!
//! Values are not escaped: SQL text can hold quotes and newlines. The `[len]`
//! prefix (bytes) cuts a value when it lands on its closing quote followed by
//! the next field or the end; when it does not (sanitized or truncated files),
//! the value ends at the first closing quote that is followed by the next
//! `NAME:[len]` field or the end of the record.
//!
//! The same records sent to syslog (`AUDIT_SYSLOG_LEVEL`,
//! `... Oracle Audit[pid]: LENGTH : '...' ACTION :[7] 'CONNECT' ...`) are
//! read too, one line per record.

use chrono::{DateTime, Utc};
use onetrail_event::{Engine, Event, Flush, RecordPos};

use crate::classify::{action_from_statement, action_name_of_code, normalize_action};
use crate::row::{UnifiedAuditRow, map_row, native_fields};
use crate::syslog::parse_syslog_prefix;
use crate::util::{MAX_RECORD, is_aud_header, parse_aud_header};

fn is_syslog_record(line: &str) -> bool {
    line.contains("Oracle Audit[") && line.contains("LENGTH")
}

pub(crate) fn is_record_start(line: &[u8]) -> bool {
    let l = String::from_utf8_lossy(line);
    let l = l.trim_end_matches(['\n', '\r']);
    is_aud_header(l) || is_syslog_record(l)
}

/// Frame one record (or the file header).
pub(crate) fn frame(buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    let first_len = match memchr::memchr(b'\n', buf) {
        Some(i) => i + 1,
        None => {
            return (flush == Flush::Final || buf.len() >= MAX_RECORD).then_some(buf.len());
        }
    };
    if is_syslog_record(&String::from_utf8_lossy(&buf[..first_len])) {
        return Some(first_len);
    }
    // The record runs until the next line that starts a record.
    let mut at = first_len;
    while at < buf.len() {
        let Some(i) = memchr::memchr(b'\n', &buf[at..]) else {
            break;
        };
        let line = &buf[at..at + i + 1];
        if is_record_start(line) {
            return Some(at);
        }
        at += i + 1;
        if at >= MAX_RECORD {
            return Some(at);
        }
    }
    // `at` is the end of the last complete line.
    match flush {
        Flush::Final => Some(buf.len()),
        Flush::Quiet => {
            // A trailing partial line could still be a record start: stop before it.
            let tail = &buf[at..];
            if tail.is_empty() || at == buf.len() {
                Some(buf.len())
            } else {
                Some(at)
            }
        }
        Flush::No => None,
    }
}

/// One `NAME:[len] 'value'` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub value: String,
    /// The `[len]` prefix did not match the value (sanitized or truncated record).
    pub length_mismatch: bool,
}

/// Whether `s` starts (after whitespace) with `NAME :[digits] 'x` / `"x`.
fn field_start(s: &str) -> bool {
    let s = s.trim_start();
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_uppercase() {
        return false;
    }
    let Some(colon) = s.find(':') else {
        return false;
    };
    let name = &s[..colon];
    if name.len() > 40
        || !name
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || b" $#_".contains(&c))
    {
        return false;
    }
    let rest = s[colon + 1..].trim_start();
    let Some(rest) = rest.strip_prefix('[') else {
        return false;
    };
    let Some(close) = rest.find(']') else {
        return false;
    };
    if close == 0 || !rest[..close].bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let rest = rest[close + 1..].trim_start();
    rest.starts_with('\'') || rest.starts_with('"')
}

/// Whether the value may end right before `after` (the text after the closing quote).
fn boundary(after: &str) -> bool {
    after.trim().is_empty()
        || (after.starts_with(|c: char| c.is_whitespace()) && field_start(after))
}

/// Parse the fields of a record body (everything after the header line).
pub(crate) fn parse_fields(body: &str) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let Some(colon) = rest.find(':') else {
            return Err(format!("expected NAME:[len] 'value' at {:?}", head(rest)));
        };
        let name = rest[..colon]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() || name.len() > 40 || name.contains(['\'', '"', '\n']) {
            return Err(format!("expected a field name at {:?}", head(rest)));
        }
        let mut after = rest[colon + 1..].trim_start();
        let mut declared = None;
        if let Some(r) = after.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| format!("unclosed [len] in {name}"))?;
            declared = r[..close].trim().parse::<usize>().ok();
            after = r[close + 1..].trim_start();
        }
        let quote = match after.chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(format!("value of {name} is not quoted")),
        };
        let vbody = &after[1..];
        let by_len = declared.and_then(|n| {
            let v = vbody.get(..n)?;
            let tail = &vbody[n..];
            (tail.starts_with(quote) && boundary(&tail[1..])).then_some((v, n))
        });
        let (value, end, mismatch) = match by_len {
            Some((v, n)) => (v, n, false),
            None => {
                let mut found = None;
                for (i, _) in vbody.match_indices(quote) {
                    if boundary(&vbody[i + 1..]) {
                        found = Some(i);
                        break;
                    }
                }
                match found {
                    Some(i) => (&vbody[..i], i, declared.is_some()),
                    None => {
                        // No closing quote: the rest is the (truncated) value.
                        let v = vbody.trim_end();
                        (v, vbody.len(), true)
                    }
                }
            }
        };
        out.push(Field {
            name,
            value: value.to_string(),
            length_mismatch: mismatch,
        });
        rest = vbody.get(end + 1..).unwrap_or("");
    }
    Ok(out)
}

fn head(s: &str) -> String {
    s.chars().take(24).collect()
}

/// Header lines of an `.aud` file, applied to its records.
#[derive(Debug, Default, Clone)]
struct FileHeader {
    instance: Option<String>,
    node: Option<String>,
    pid: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct AudState {
    header: FileHeader,
    last_time: Option<DateTime<Utc>>,
    pub year: i32,
}

/// Keyword-only ACTION texts that are not SQL statements.
const NOT_SQL: &[&str] = &["CONNECT", "STARTUP", "SHUTDOWN", "LOGON", "LOGOFF"];

impl AudState {
    pub(crate) fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(record);
        let (first, body) = match text.find('\n') {
            Some(i) => (&text[..i], &text[i + 1..]),
            None => (&*text, ""),
        };
        let first_t = first.trim_end_matches('\r');
        if is_syslog_record(first_t) {
            let i = first_t.find("LENGTH").unwrap_or(0);
            let prefix = parse_syslog_prefix(&first_t[..i], self.year);
            let time = prefix.time.map(|t| (t.time, t.zoned, prefix.year_assumed));
            self.record(&first_t[i..], time, prefix.pid, pos, record, out);
            return;
        }
        if let Some(t) = parse_aud_header(first_t) {
            self.record(body, Some((t.time, t.zoned, false)), None, pos, record, out);
            return;
        }
        // The file header (or noise between records).
        if text.trim().is_empty() {
            return;
        }
        let mut recognised = false;
        for line in text.lines() {
            let (k, v) = match line.split_once(':') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (line.trim(), ""),
            };
            if let Some(p) = k.strip_prefix("Audit file ") {
                recognised = true;
                let _ = p;
            } else if k == "Instance name" {
                self.header.instance = Some(v.to_string());
            } else if k == "Node name" {
                self.header.node = Some(v.to_string());
            } else if k == "Unix process pid" {
                self.header.pid = v.split(',').next().map(|s| s.trim().to_string());
            } else if let Some(ver) = k.strip_prefix("Version ") {
                self.header.version = Some(ver.trim().to_string());
            } else if k.starts_with("Oracle Database") {
                recognised = true;
            }
        }
        if !recognised {
            let t = self.last_time.unwrap_or(DateTime::UNIX_EPOCH);
            out.push(Event::unparsed(
                Engine::Oracle,
                t,
                pos,
                record,
                "not an .aud record: no `Wed Oct  7 10:52:45 2020 -04:00` header line",
            ));
        }
    }

    fn record(
        &mut self,
        body: &str,
        time: Option<(DateTime<Utc>, bool, bool)>,
        pid: Option<String>,
        pos: &RecordPos<'_>,
        raw: &[u8],
        out: &mut Vec<Event>,
    ) {
        let fields = match parse_fields(body) {
            Ok(f) => f,
            Err(e) => {
                let t = time
                    .map(|t| t.0)
                    .or(self.last_time)
                    .unwrap_or(DateTime::UNIX_EPOCH);
                out.push(Event::unparsed(Engine::Oracle, t, pos, raw, e));
                return;
            }
        };
        if fields.iter().all(|f| f.name == "LENGTH") {
            let t = time
                .map(|t| t.0)
                .or(self.last_time)
                .unwrap_or(DateTime::UNIX_EPOCH);
            out.push(Event::unparsed(
                Engine::Oracle,
                t,
                pos,
                raw,
                "record without fields",
            ));
            return;
        }
        let mut row = UnifiedAuditRow::new();
        let mut other = Vec::new();
        let mut action_text: Option<String> = None;
        let mut privilege = None;
        let mut mismatch = false;
        for f in &fields {
            mismatch |= f.length_mismatch;
            let v = f.value.clone();
            let col = match f.name.as_str() {
                "LENGTH" => continue,
                "ACTION" => {
                    if v.trim().parse::<i64>().is_ok() {
                        "ACTION"
                    } else {
                        action_text = Some(v);
                        continue;
                    }
                }
                "ACTION NUMBER" => "ACTION",
                "DATABASE USER" | "USERID" => "DBUSERNAME",
                "PRIVILEGE" => {
                    privilege = Some(v);
                    continue;
                }
                "CLIENT USER" | "OS$USERID" => "OS_USERNAME",
                "CLIENT TERMINAL" | "TERMINAL" => "TERMINAL",
                "STATUS" | "RETURNCODE" => "RETURN_CODE",
                "DBID" => "DBID",
                "SESSIONID" => "SESSIONID",
                "ENTRYID" => "ENTRY_ID",
                "STATEMENT" => "STATEMENT_ID",
                "USERHOST" => "USERHOST",
                "CLIENT ADDRESS" => "CLIENT_ADDRESS",
                "COMMENT$TEXT" => "COMMENT_TEXT",
                "OBJ$CREATOR" => "OBJECT_SCHEMA",
                "OBJ$NAME" => "OBJECT_NAME",
                "NEW$OWNER" => "NEW_SCHEMA",
                "NEW$NAME" => "NEW_NAME",
                "OBJ$PRIVILEGES" => "OBJECT_PRIVILEGES",
                "AUTH$GRANTEE" => "TARGET_USER",
                "CURRENT_USER" => "CURRENT_USER",
                "SQLTEXT" => "SQL_TEXT",
                "SQLBIND" => "SQL_BINDS",
                "CLIENTIDENTIFIER" | "CLIENT_ID" => "CLIENT_IDENTIFIER",
                "PROXY$SID" => "PROXY_SESSIONID",
                "OS$PROCESS" | "OS_PROCESS" => "OS_PROCESS",
                _ => {
                    other.push((f.name.clone(), v));
                    continue;
                }
            };
            row.set_text(col, v);
        }
        // The action: the numeric code when known, else the statement's keywords.
        let code = row.int("ACTION");
        let by_code = code.and_then(action_name_of_code);
        let name = match (by_code, &action_text) {
            (Some(n), _) => n.to_string(),
            (None, Some(t)) => {
                let n = normalize_action(t);
                if NOT_SQL.contains(&n.as_str()) {
                    n
                } else {
                    action_from_statement(t)
                }
            }
            (None, None) => code.map_or_else(|| "UNKNOWN".to_string(), |c| format!("ACTION {c}")),
        };
        row.set_text(
            "ACTION_NAME",
            if name == "CONNECT" {
                "LOGON".to_string()
            } else {
                name
            },
        );
        if let Some(t) = &action_text
            && row.get("SQL_TEXT").is_none()
            && !NOT_SQL.contains(&normalize_action(t).as_str())
        {
            row.set_text("SQL_TEXT", t.clone());
        }
        if row.get("OS_PROCESS").is_none() {
            row.set_opt_text("OS_PROCESS", pid.or_else(|| self.header.pid.clone()));
        }
        if let Some((t, _, _)) = time {
            row.set_time("EVENT_TIMESTAMP_UTC", t.naive_utc());
            self.last_time = Some(t);
        }
        let mut ev = map_row(&row, pos, 0);
        if let Some(t) = action_text {
            ev.extra.insert("action_text".into(), t.into());
        }
        if let Some(p) = privilege {
            ev.extra.insert("privilege".into(), p.into());
        }
        if let Some(i) = &self.header.instance {
            ev.extra.insert("instance_name".into(), i.clone().into());
        }
        if let Some(n) = &self.header.node {
            ev.extra.insert("server_host".into(), n.clone().into());
        }
        if let Some(v) = &self.header.version {
            ev.extra.insert("oracle_version".into(), v.clone().into());
        }
        if mismatch {
            ev.extra.insert("length_mismatch".into(), true.into());
        }
        match time {
            Some((_, false, ya)) => {
                ev.extra.insert("time_zone_assumed".into(), "UTC".into());
                if ya {
                    ev.extra.insert("time_year_assumed".into(), true.into());
                }
            }
            Some(_) => {}
            None => {
                if let Some(t) = self.last_time {
                    ev.time = t;
                    ev.extra.remove("time_missing");
                    ev.extra
                        .insert("time_fallback".into(), "previous_record".into());
                }
            }
        }
        if !other.is_empty() {
            native_fields(&mut ev, "aud_fields", &other);
        }
        out.push(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_fields_with_quotes_and_newlines() {
        let body = "LENGTH : '392'\nACTION :[151] 'select /*+ opt_param('parallel_execution_enabled',\n   'false') */ * from t'\nDATABASE USER:[1] '/'\nSTATUS:[1] '0'\n";
        let f = parse_fields(body).unwrap();
        assert_eq!(f[1].name, "ACTION");
        assert!(f[1].value.ends_with("from t"), "{:?}", f[1].value);
        assert!(f[1].length_mismatch);
        assert_eq!(f[2].value, "/");
        assert!(!f[2].length_mismatch);
    }

    #[test]
    fn extended_fields() {
        let body = r#"LENGTH: "226"
SESSIONID:[8] "10188168" ENTRYID:[1] "1" USERID:[8] "SHERLOCK" ACTION:[3] "101" RETURNCODE:[1] "0""#;
        let f = parse_fields(body).unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!(f[3].value, "SHERLOCK");
        assert!(f.iter().all(|x| !x.length_mismatch));
    }

    #[test]
    fn framing_waits_for_the_next_header() {
        let a = b"Wed Oct  7 10:52:45 2020 -04:00\nLENGTH : '1'\nACTION :[7] 'CONNECT'\n\n";
        assert_eq!(frame(a, Flush::No), None);
        assert_eq!(frame(a, Flush::Quiet), Some(a.len()));
        let mut b = a.to_vec();
        b.extend_from_slice(b"Wed Oct  7 10:52:46 2020 -04:00\n");
        assert_eq!(frame(&b, Flush::No), Some(a.len()));
    }
}
