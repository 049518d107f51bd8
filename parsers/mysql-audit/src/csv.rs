//! Percona `audit_log` CSV (`audit_log_format=CSV`): RFC 4180 records whose
//! quoted fields may contain raw newlines (Percona only doubles `"`).
//!
//! Layouts (by NAME, 12 fields; `STATUS` and `CONNECTION_ID` may be unquoted):
//! * `Connect`, `Quit`, `Change user`:
//!   `NAME,RECORD,TIMESTAMP,CONNECTION_ID,STATUS,USER,PRIV_USER,OS_LOGIN,PROXY_USER,HOST,IP,DB`
//! * `Audit`, `NoAudit`: `NAME,RECORD,TIMESTAMP[,MYSQL_VERSION,STARTUP_OPTIONS,OS_VERSION]`
//! * everything else (`Query`, `Execute`, `Init DB`, ...):
//!   `NAME,RECORD,TIMESTAMP,COMMAND_CLASS,CONNECTION_ID,STATUS,SQLTEXT,USER,HOST,OS_USER,IP,DB`
//!
//! Framing: a record ends at a newline outside quotes. As a guard against a
//! record whose closing quote was lost (crash mid-write), a newline inside
//! quotes that is followed by what looks like the start of a record
//! (`"Name","`) also ends it (it is then reported unparsed).

use std::borrow::Cow;

use onetrail_event::{Engine, Event, Flush, RecordFormat, RecordPos};

use crate::MysqlOptions;
use crate::common::{self, Clock, MAX_RECORD, trim_eol};
use crate::generic::{self, Fields};

const ENGINE: Engine = Engine::Mysql;

pub struct CsvAudit {
    clock: Clock,
}

impl CsvAudit {
    pub fn new(_opts: &MysqlOptions) -> Self {
        CsvAudit {
            clock: Clock::default(),
        }
    }
}

fn looks_like_record_start(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"\"") else {
        return false;
    };
    let n = rest
        .iter()
        .take(32)
        .take_while(|c| c.is_ascii_alphabetic() || **c == b' ')
        .count();
    n >= 2 && rest[n..].starts_with(b"\",\"")
}

/// Split one CSV record into fields (borrowing unless a field has `""`).
/// Returns `None` when a quoted field is not closed.
fn fields(rec: &[u8]) -> Option<Vec<Cow<'_, str>>> {
    let mut out = Vec::with_capacity(12);
    let mut i = 0;
    loop {
        if rec.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            let mut doubled = false;
            loop {
                let p = memchr::memchr(b'"', &rec[j..])?;
                let q = j + p;
                if rec.get(q + 1) == Some(&b'"') {
                    doubled = true;
                    j = q + 2;
                    continue;
                }
                let raw = &rec[start..q];
                out.push(if doubled {
                    let s = String::from_utf8_lossy(raw).replace("\"\"", "\"");
                    Cow::Owned(s)
                } else {
                    String::from_utf8_lossy(raw)
                });
                i = q + 1;
                break;
            }
        } else {
            let end = memchr::memchr(b',', &rec[i..]).map_or(rec.len(), |p| i + p);
            out.push(String::from_utf8_lossy(&rec[i..end]));
            i = end;
        }
        match rec.get(i) {
            None => return Some(out),
            Some(b',') => i += 1,
            Some(_) => return None, // garbage after a closing quote
        }
    }
}

impl RecordFormat for CsvAudit {
    fn name(&self) -> &'static str {
        "percona-audit-csv"
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        let mut in_q = false;
        let mut i = 0;
        while i < buf.len() {
            let Some(p) = memchr::memchr2(b'"', b'\n', &buf[i..]) else {
                break;
            };
            let j = i + p;
            if buf[j] == b'"' {
                in_q = !in_q; // `""` toggles twice
            } else if !in_q || looks_like_record_start(&buf[j + 1..]) {
                return Some(j + 1);
            }
            i = j + 1;
        }
        match flush {
            Flush::Final if !buf.is_empty() => Some(buf.len()),
            _ if buf.len() > MAX_RECORD => {
                Some(memchr::memchr(b'\n', buf).map_or(buf.len(), |p| p + 1))
            }
            _ => None,
        }
    }

    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        onetrail_event::decide_on_line(line, 64, looks_like_record_start)
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let rec = trim_eol(record);
        if rec.trim_ascii().is_empty() {
            return;
        }
        let Some(v) = fields(rec) else {
            out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                "unterminated quoted CSV field",
            ));
            return;
        };
        let name = v[0].as_ref();
        let names: &[&[u8]] = match name {
            "Connect" | "Quit" | "Change user" => &[
                b"NAME",
                b"RECORD",
                b"TIMESTAMP",
                b"CONNECTION_ID",
                b"STATUS",
                b"USER",
                b"PRIV_USER",
                b"OS_LOGIN",
                b"PROXY_USER",
                b"HOST",
                b"IP",
                b"DB",
            ],
            "Audit" | "NoAudit" => &[
                b"NAME",
                b"RECORD",
                b"TIMESTAMP",
                b"MYSQL_VERSION",
                b"STARTUP_OPTIONS",
                b"OS_VERSION",
            ],
            _ => &[
                b"NAME",
                b"RECORD",
                b"TIMESTAMP",
                b"COMMAND_CLASS",
                b"CONNECTION_ID",
                b"STATUS",
                b"SQLTEXT",
                b"USER",
                b"HOST",
                b"OS_USER",
                b"IP",
                b"DB",
            ],
        };
        let ok = match name {
            "Audit" | "NoAudit" => v.len() >= 3 && v.len() <= names.len(),
            _ => v.len() == names.len(),
        };
        if !ok || name.is_empty() {
            out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                format!(
                    "expected {} CSV fields for record {name:?}, found {}",
                    names.len(),
                    v.len()
                ),
            ));
            return;
        }
        let mut f = Fields::default();
        for (k, val) in names.iter().zip(v) {
            f.set(k, val);
        }
        out.push(generic::build(&f, &mut self.clock, pos, ENGINE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        let v = fields(
            br#""Query","1","t","select","2",0,"say ""hi"",
x","u","h","","","""#,
        )
        .unwrap();
        assert_eq!(v.len(), 12);
        assert_eq!(v[6], "say \"hi\",\nx");
        assert!(fields(br#""a","b"#).is_none());
    }
}
