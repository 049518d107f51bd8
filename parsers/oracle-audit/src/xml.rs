//! `oracle-audit-xml`: the XML audit trail (`AUDIT_TRAIL=XML[,EXTENDED]`),
//! the files behind `V$XML_AUDIT_TRAIL`:
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?>
//! <Audit xmlns="http://xmlns.oracle.com/oracledb/security/audit" ...>
//!   <Version>11.2</Version>
//! <AuditRecord><Audit_Type>1</Audit_Type><Session_Id>201</Session_Id>...
//!  <Extended_Timestamp>2024-05-01T10:00:00.123456Z</Extended_Timestamp>...</AuditRecord>
//! ```
//!
//! Each `<AuditRecord>` is one event; the preamble and the closing `</Audit>`
//! (missing while the session is alive) produce none. Element names are
//! matched without case and underscores (`Session_Id`, `SessionId`).

use chrono::{DateTime, Utc};
use onetrail_event::{Engine, Event, Flush, RecordPos};

use crate::row::{UnifiedAuditRow, map_row, native_fields};
use crate::util::{MAX_RECORD, parse_time};

const OPEN: &[u8] = b"<AuditRecord";
const CLOSE: &[u8] = b"</AuditRecord>";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Extend `end` over trailing spaces and one newline.
fn eat_eol(buf: &[u8], mut end: usize) -> usize {
    while end < buf.len() && (buf[end] == b' ' || buf[end] == b'\t' || buf[end] == b'\r') {
        end += 1;
    }
    if end < buf.len() && buf[end] == b'\n' {
        end += 1;
    }
    end
}

/// Does a line start a record (or close the document)?
pub(crate) fn starts_record(line: &[u8]) -> Option<bool> {
    onetrail_event::decide_on_line(line, 64, |l| {
        let t = l.trim_ascii_start();
        t.starts_with(OPEN) || t.starts_with(b"</Audit>")
    })
}

pub(crate) fn frame(buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    let lead = buf.iter().take_while(|c| c.is_ascii_whitespace()).count();
    if buf[lead..].starts_with(OPEN) {
        let body = lead + OPEN.len();
        let close = find(&buf[body..], CLOSE).map(|i| body + i);
        let next_open = find(&buf[body..], OPEN).map(|j| body + j);
        match (close, next_open) {
            // A newer record starts before this one closed: it was cut short.
            (c, Some(o)) if c.is_none_or(|c| o < c) => return Some(o),
            (Some(c), _) => {
                let end = eat_eol(buf, c + CLOSE.len());
                // Wait for the line end so every reader frames the same bytes.
                if flush == Flush::No && end == buf.len() && buf[end - 1] != b'\n' {
                    return None;
                }
                return Some(end);
            }
            _ => {}
        }
        return match flush {
            Flush::Final => Some(buf.len()),
            _ if buf.len() >= MAX_RECORD => Some(buf.len()),
            _ => None,
        };
    }
    // Preamble, `</Audit>` or noise: up to the next record start, or through
    // a complete `</Audit>` line (the end of the file: nothing need follow, so
    // waiting for a record start would never end). Both rules hold whether or
    // not more bytes follow, so every reader frames the same bytes.
    let open = find(buf, OPEN);
    let mut from = 0;
    while let Some(i) = find(&buf[from..], b"</Audit>").map(|i| from + i) {
        if open.is_some_and(|o| o < i) {
            break;
        }
        let end = eat_eol(buf, i + b"</Audit>".len());
        if buf[end - 1] == b'\n' {
            return Some(end);
        }
        from = i + 1;
    }
    if let Some(j) = open {
        return Some(j);
    }
    match flush {
        Flush::Final => Some(buf.len()),
        Flush::Quiet => memchr::memrchr(b'\n', buf).map(|i| i + 1),
        Flush::No if buf.len() >= MAX_RECORD => Some(buf.len()),
        Flush::No => None,
    }
}

/// Decode the five XML entities and numeric references.
pub(crate) fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        // Bytes, not `str`: the 12th byte may fall inside a multi-byte char.
        let Some(semi) = memchr::memchr(b';', &after.as_bytes()[..after.len().min(12)]) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let ent = &after[1..semi];
        let rep = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let n = if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                n.and_then(char::from_u32)
            }
        };
        match rep {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The child elements of a record, in order: (name, text).
pub(crate) fn elements(rec: &str) -> Result<Vec<(String, String)>, String> {
    let start = rec.find("<AuditRecord").ok_or("no <AuditRecord>")?;
    let open_end = rec[start..].find('>').ok_or("unterminated <AuditRecord")? + start + 1;
    let mut rest = &rec[open_end..];
    let mut out = Vec::new();
    loop {
        let Some(lt) = rest.find('<') else {
            return Err("missing </AuditRecord>".into());
        };
        rest = &rest[lt..];
        if rest.starts_with("</AuditRecord") {
            return Ok(out);
        }
        if rest.starts_with("<!--") {
            let e = rest.find("-->").ok_or("unterminated comment")?;
            rest = &rest[e + 3..];
            continue;
        }
        let gt = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        if tag.starts_with('/') {
            return Err(format!("unexpected closing tag <{tag}>"));
        }
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_end_matches('/')
            .split_whitespace()
            .next()
            .ok_or("empty tag")?
            .to_string();
        rest = &rest[gt + 1..];
        if self_closing {
            out.push((name, String::new()));
            continue;
        }
        // Content: text or CDATA up to </name>.
        let close = format!("</{name}>");
        let mut value = String::new();
        loop {
            if let Some(r) = rest.strip_prefix("<![CDATA[") {
                let e = r.find("]]>").ok_or("unterminated CDATA")?;
                value.push_str(&r[..e]);
                rest = &r[e + 3..];
                continue;
            }
            let lt = rest
                .find('<')
                .ok_or_else(|| format!("unterminated <{name}>"))?;
            value.push_str(&unescape(&rest[..lt]));
            rest = &rest[lt..];
            if rest.starts_with("<![CDATA[") {
                continue;
            }
            if let Some(r) = rest.strip_prefix(close.as_str()) {
                rest = r;
                break;
            }
            return Err(format!("unexpected markup inside <{name}>"));
        }
        out.push((name, value));
    }
}

fn column_of(name: &str) -> Option<&'static str> {
    let n: String = name
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match n.as_str() {
        "sessionid" => "SESSIONID",
        "proxysessionid" => "PROXY_SESSIONID",
        "statementid" => "STATEMENT_ID",
        "entryid" => "ENTRY_ID",
        "extendedtimestamp" => "EVENT_TIMESTAMP_UTC",
        "globaluid" => "GLOBAL_USERID",
        "dbuser" => "DBUSERNAME",
        "clientid" | "clientidentifier" => "CLIENT_IDENTIFIER",
        "extname" => "EXTERNAL_USERID",
        "osuser" => "OS_USERNAME",
        "userhost" | "oshost" => "USERHOST",
        "osprocess" => "OS_PROCESS",
        "terminal" => "TERMINAL",
        "instancenumber" => "INSTANCE_ID",
        "objectschema" | "objschema" => "OBJECT_SCHEMA",
        "objectname" | "objname" => "OBJECT_NAME",
        "policyname" => "FGA_POLICY_NAME",
        "newowner" => "NEW_SCHEMA",
        "newname" => "NEW_NAME",
        "action" => "ACTION",
        "transactionid" => "TRANSACTION_ID",
        "returncode" => "RETURN_CODE",
        "scn" => "SCN",
        "commenttext" => "COMMENT_TEXT",
        "sqlbind" => "SQL_BINDS",
        "sqltext" => "SQL_TEXT",
        "dbid" => "DBID",
        "privused" => "SYSTEM_PRIVILEGE_USED",
        "objprivilege" => "OBJECT_PRIVILEGES",
        "sysprivilege" => "SYSTEM_PRIVILEGE",
        "grantee" => "TARGET_USER",
        "currentuser" => "CURRENT_USER",
        _ => return None,
    })
}

/// `Audit_Type` codes of 11g and later (`V$XML_AUDIT_TRAIL`).
fn audit_type(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "Standard XML Audit",
        2 => "Fine Grained XML Audit",
        4 => "SYS XML Audit",
        8 => "Mandatory XML Audit",
        _ => return None,
    })
}

#[derive(Debug, Default)]
pub(crate) struct XmlState {
    last_time: Option<DateTime<Utc>>,
    version: Option<String>,
}

impl XmlState {
    pub(crate) fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(record);
        let t = text.trim();
        if t.is_empty() {
            return;
        }
        if !t.starts_with("<AuditRecord") {
            // Preamble / closing tag: remember the version; anything else is noise.
            if let Some(i) = t.find("<Version>")
                && let Some(j) = t[i..].find("</Version>")
            {
                self.version = Some(t[i + 9..i + j].trim().to_string());
            }
            // Whatever is not the document's own scaffolding is content the
            // parser cannot place: forwarded as `unparsed`, never dropped.
            if !scaffolding_only(t) {
                out.push(self.unparsed(pos, record, "not part of an Oracle XML audit file"));
            }
            return;
        }
        let els = match elements(t) {
            Ok(e) => e,
            Err(e) => {
                out.push(self.unparsed(pos, record, e));
                return;
            }
        };
        let mut row = UnifiedAuditRow::new();
        let mut other = Vec::new();
        let mut privilege = None;
        for (name, value) in &els {
            let lname = name.to_ascii_lowercase().replace('_', "");
            if lname == "osprivilege" {
                privilege = Some(value.clone());
                continue;
            }
            if lname == "audittype" {
                if let Some(a) = value.trim().parse().ok().and_then(audit_type) {
                    row.set_text("AUDIT_TYPE", a);
                } else {
                    row.set_text("AUDIT_TYPE", value.clone());
                }
                continue;
            }
            match column_of(name) {
                Some(col) => {
                    row.set_text(col, value.clone());
                }
                None => other.push((name.clone(), value.clone())),
            }
        }
        let time = row.event_time();
        if let Some(t) = time {
            self.last_time = Some(t);
        }
        let zoned = row
            .text("EVENT_TIMESTAMP_UTC")
            .and_then(|s| parse_time(&s))
            .is_some_and(|p| p.zoned);
        let mut ev = map_row(&row, pos, 0);
        if time.is_some() && !zoned {
            ev.extra.insert("time_zone_assumed".into(), "UTC".into());
        }
        if time.is_none()
            && let Some(t) = self.last_time
        {
            ev.time = t;
            ev.extra.remove("time_missing");
            ev.extra
                .insert("time_fallback".into(), "previous_record".into());
        }
        if let Some(p) = privilege {
            ev.extra.insert("privilege".into(), p.into());
        }
        if let Some(v) = &self.version {
            ev.extra
                .insert("xml_audit_version".into(), v.clone().into());
        }
        if !other.is_empty() {
            native_fields(&mut ev, "xml_fields", &other);
        }
        out.push(ev);
    }

    fn unparsed(&self, pos: &RecordPos<'_>, record: &[u8], e: impl Into<String>) -> Event {
        Event::unparsed(
            Engine::Oracle,
            self.last_time.unwrap_or(DateTime::UNIX_EPOCH),
            pos,
            record,
            e,
        )
    }
}

/// Is `t` only the file's scaffolding: the XML declaration, comments, the
/// `<Audit ...>` opening tag, `<Version>...</Version>` and `</Audit>`?
fn scaffolding_only(t: &str) -> bool {
    let mut rest = t.trim_start();
    while !rest.is_empty() {
        let cut = if rest.starts_with("<?xml") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("</Audit>") {
            Some("</Audit>".len())
        } else if rest.starts_with("<Version>") {
            rest.find("</Version>").map(|i| i + "</Version>".len())
        } else if rest
            .strip_prefix("<Audit")
            .is_some_and(|r| r.starts_with([' ', '>', '\n', '\r', '\t']))
        {
            rest.find('>').map(|i| i + 1)
        } else {
            None
        };
        match cut {
            Some(n) => rest = rest[n..].trim_start(),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_between_version_and_first_record_is_unparsed_not_dropped() {
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "oracle-audit-xml",
        };
        let mut st = XmlState::default();
        let mut out = Vec::new();
        // The scaffolding alone yields nothing.
        st.parse(
            b"<?xml version=\"1.0\"?>\n<Audit xmlns=\"x\">\n  <Version>11.2</Version>\n",
            &pos,
            &mut out,
        );
        assert!(out.is_empty());
        // Anything else in the preamble is forwarded.
        st.parse(
            b"<?xml version=\"1.0\"?>\n<Audit xmlns=\"x\">\n  <Version>11.2</Version>\nDBA note: sessions 5-9 purged\n",
            &pos,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].category, onetrail_event::Category::Unparsed);
        assert!(
            out[0].raw.as_deref().unwrap_or_default().contains("purged"),
            "{:?}",
            out[0]
        );
    }

    #[test]
    fn elements_and_entities() {
        let r = "<AuditRecord><Session_Id>5</Session_Id><Sql_Text>a &lt; b &amp;&#65;</Sql_Text><Empty/><X><![CDATA[<raw>]]></X></AuditRecord>";
        let e = elements(r).unwrap();
        assert_eq!(e[1], ("Sql_Text".into(), "a < b &A".into()));
        assert_eq!(e[2], ("Empty".into(), String::new()));
        assert_eq!(e[3].1, "<raw>");
    }

    #[test]
    fn framing() {
        let pre = b"<?xml version=\"1.0\"?>\n<Audit>\n<AuditRecord><A>1</A></AuditRecord>\n";
        let n = frame(pre, Flush::No).unwrap();
        assert_eq!(&pre[..n], b"<?xml version=\"1.0\"?>\n<Audit>\n");
        let rest = &pre[n..];
        assert_eq!(frame(rest, Flush::No), Some(rest.len()));
        assert_eq!(frame(&rest[..rest.len() - 1], Flush::No), None);
        assert_eq!(frame(b"<AuditRecord><A>1</A>", Flush::No), None);
    }
}
