//! `oracle-unified-csv`: an export of `UNIFIED_AUDIT_TRAIL` as CSV with a
//! header row naming the columns (SQL Developer / SQLcl `SET SQLFORMAT CSV`,
//! SQL*Plus `SET MARKUP CSV ON`, `spool`). Fields may be double-quoted with
//! `""` escapes and may span lines (SQL_TEXT). Any subset and order of
//! columns works; `EVENT_TIMESTAMP_UTC` gives the time (ISO or Oracle's
//! default `01-MAY-24 10.00.00.000000 AM` spelling).
//!
//! When reading resumes in the middle of a file (after a restart) the header
//! is not seen again; rows are then read with [`crate::TRAIL_COLUMNS`], the
//! column list of the documented export query, when their field count matches.

use chrono::{DateTime, Utc};
use onetrail_event::{Engine, Event, Flush, RecordPos};

use crate::TRAIL_COLUMNS;
use crate::row::{UnifiedAuditRow, map_row};
use crate::util::MAX_RECORD;

/// One CSV record ends at the first newline outside quotes.
pub(crate) fn frame(buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    let mut quoted = false;
    for (i, &c) in buf.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => return Some(i + 1),
            _ => {}
        }
        if i >= MAX_RECORD {
            return Some(i + 1);
        }
    }
    (flush == Flush::Final).then_some(buf.len())
}

/// Split one record into fields.
pub(crate) fn split(rec: &str) -> Result<Vec<String>, String> {
    let rec = rec.trim_end_matches(['\n', '\r']);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = rec.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if cur.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            ',' => {
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            '"' => return Err("stray quote inside an unquoted field".into()),
            c => {
                if was_quoted {
                    return Err("text after a closing quote".into());
                }
                cur.push(c);
            }
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

#[derive(Debug, Default)]
pub(crate) struct CsvState {
    header: Option<Vec<String>>,
    last_time: Option<DateTime<Utc>>,
}

fn is_header(fields: &[String]) -> bool {
    fields.iter().any(|f| {
        let f = f.trim().trim_start_matches('\u{feff}').to_ascii_uppercase();
        f == "EVENT_TIMESTAMP_UTC" || f == "ACTION_NAME"
    })
}

impl CsvState {
    pub(crate) fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(record);
        if text.trim().is_empty() {
            return;
        }
        let fields = match split(&text) {
            Ok(f) => f,
            Err(e) => {
                out.push(self.unparsed(pos, record, e));
                return;
            }
        };
        if is_header(&fields) {
            self.header = Some(
                fields
                    .iter()
                    .map(|f| f.trim().trim_start_matches('\u{feff}').to_ascii_uppercase())
                    .collect(),
            );
            return;
        }
        let cols: Vec<String> = match &self.header {
            Some(h) => h.clone(),
            None if fields.len() == TRAIL_COLUMNS.len() => {
                TRAIL_COLUMNS.iter().map(|s| s.to_string()).collect()
            }
            None => {
                out.push(self.unparsed(
                    pos,
                    record,
                    format!(
                        "no header row seen and {} fields do not match the {} default columns",
                        fields.len(),
                        TRAIL_COLUMNS.len()
                    ),
                ));
                return;
            }
        };
        if fields.len() != cols.len() {
            out.push(self.unparsed(
                pos,
                record,
                format!("{} fields, the header has {}", fields.len(), cols.len()),
            ));
            return;
        }
        let mut row = UnifiedAuditRow::new();
        for (c, v) in cols.iter().zip(fields) {
            row.set_text(c, v);
        }
        let mut note = None;
        if row.event_time().is_none()
            && let Some(t) = row.time("EVENT_TIMESTAMP")
        {
            // Only the session-local timestamp was exported.
            row.set_time("EVENT_TIMESTAMP_UTC", t.naive_utc());
            note = Some("EVENT_TIMESTAMP");
        }
        if let Some(t) = row.event_time() {
            self.last_time = Some(t);
        }
        let mut ev = map_row(&row, pos, 0);
        if let Some(n) = note {
            ev.extra.insert("time_source".into(), n.into());
            ev.extra.insert("time_zone_assumed".into(), "UTC".into());
        }
        if self.header.is_none() {
            ev.extra.insert("columns_assumed".into(), true.into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_quotes() {
        assert_eq!(
            split("a,\"b,\"\"c\"\"\n d\",,e\n").unwrap(),
            vec!["a", "b,\"c\"\n d", "", "e"]
        );
        assert!(split("\"a").is_err());
    }

    #[test]
    fn frames_across_quoted_newlines() {
        let b = b"1,\"x\ny\",2\n3\n";
        assert_eq!(frame(b, Flush::No), Some(10));
        assert_eq!(frame(b"1,\"x\n", Flush::No), None);
    }
}
