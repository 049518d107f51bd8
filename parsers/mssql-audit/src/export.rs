//! Offline formats: exports of `sys.fn_get_audit_file`'s output.
//!
//! - `mssql-audit-csv`: a header row with the column names, then one row per
//!   line (RFC 4180 quoting; quoted fields may hold newlines; a bare `NULL`
//!   is SQL NULL, as SSMS and `bcp`/`sqlcmd` exports write it).
//! - `mssql-audit-json`: an array of objects (`FOR JSON PATH`,
//!   `Invoke-Sqlcmd | ConvertTo-Json`) or one object per line.
//!
//! Rows are mapped exactly like polled rows, so when the export carries
//! `file_name` and `audit_file_offset` an event gets the same id whether it was
//! polled or imported. Rows of one buffer are held until the next buffer
//! starts ([`RecordFormat::held_since`]) so split statements are joined.

use chrono::{DateTime, Utc};
use onetrail_event::{Engine, Event, Flush, RecordFormat, RecordPos};
use serde_json::Value;

use crate::map::{Mapper, Origin, group_key, is_continuation};
use crate::row::{Cell, Row};

/// Rows of one group at most held before they are mapped anyway.
const MAX_HELD_ROWS: usize = 10_000;

/// Collects rows into groups (one audit buffer) and maps complete groups.
struct Assembler {
    mapper: Mapper,
    rows: Vec<Row>,
    origins: Vec<Origin>,
    key: (Option<String>, Option<i64>),
}

impl Assembler {
    fn new(format: &'static str) -> Assembler {
        Assembler {
            mapper: Mapper::new(format, "export"),
            rows: Vec::new(),
            origins: Vec::new(),
            key: (None, None),
        }
    }

    fn push(&mut self, row: Row, origin: Origin, out: &mut Vec<Event>) {
        let key = group_key(&row);
        let keyless = key.0.is_none() || key.1.is_none();
        if !self.rows.is_empty() && (key != self.key || (keyless && !is_continuation(&row))) {
            self.flush(out);
        }
        self.key = key;
        self.rows.push(row);
        self.origins.push(origin);
        if self.rows.len() >= MAX_HELD_ROWS {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        if !self.rows.is_empty() {
            self.mapper.map_group(&self.rows, &self.origins, out);
        }
        self.rows.clear();
        self.origins.clear();
    }

    fn held_since(&self) -> Option<u64> {
        self.origins.first().map(|o| o.offset)
    }
}

fn origin(pos: &RecordPos<'_>) -> Origin {
    Origin {
        source_key: pos.source_key.to_string(),
        path: pos.path.map(str::to_string),
        offset: pos.offset,
    }
}

fn unparsed(pos: &RecordPos<'_>, raw: &[u8], err: impl Into<String>) -> Event {
    Event::unparsed(
        Engine::Sqlserver,
        DateTime::<Utc>::UNIX_EPOCH,
        pos,
        raw,
        err,
    )
}

/// `mssql-audit-csv`.
pub struct CsvExport {
    header: Option<Vec<String>>,
    asm: Assembler,
}

impl CsvExport {
    pub fn new() -> CsvExport {
        CsvExport {
            header: None,
            asm: Assembler::new("mssql-audit-csv"),
        }
    }
}

impl Default for CsvExport {
    fn default() -> Self {
        CsvExport::new()
    }
}

/// Length of the first CSV record (through its unquoted line end).
fn csv_frame(buf: &[u8], flush: Flush) -> Option<usize> {
    let mut quoted = false;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => return Some(i + 1),
            _ => {}
        }
    }
    (flush == Flush::Final && !buf.is_empty()).then_some(buf.len())
}

/// Split one CSV record into fields. `None` on a malformed quote.
pub fn csv_fields(rec: &str) -> Option<Vec<String>> {
    let rec = rec.trim_end_matches(['\n', '\r']);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = rec.chars().peekable();
    let mut quoted_field = false;
    loop {
        match chars.next() {
            None => {
                out.push(std::mem::take(&mut cur));
                return Some(out);
            }
            Some(',') => {
                out.push(std::mem::take(&mut cur));
                quoted_field = false;
            }
            Some('"') if cur.is_empty() && !quoted_field => {
                quoted_field = true;
                loop {
                    match chars.next() {
                        None => return None,
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            cur.push('"');
                        }
                        Some('"') => break,
                        Some(c) => cur.push(c),
                    }
                }
                match chars.peek() {
                    None | Some(',') => {}
                    Some(_) => return None,
                }
            }
            Some(c) => cur.push(c),
        }
    }
}

impl RecordFormat for CsvExport {
    fn name(&self) -> &'static str {
        "mssql-audit-csv"
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        csv_frame(buf, flush)
    }

    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        // Quoted statements span lines; a row starts with its event_time.
        onetrail_event::decide_on_line(line, 16, onetrail_event::starts_with_date_time)
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(record);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        if text.trim().is_empty() {
            return;
        }
        let Some(fields) = csv_fields(text) else {
            out.push(unparsed(pos, record, "malformed CSV quoting"));
            return;
        };
        let Some(header) = &self.header else {
            let names: Vec<String> = fields.iter().map(|f| f.trim().to_string()).collect();
            if !names.iter().any(|n| n.eq_ignore_ascii_case("action_id")) {
                out.push(unparsed(
                    pos,
                    record,
                    "the first line is not a header naming the columns (no `action_id` column)",
                ));
                return;
            }
            self.header = Some(names);
            return;
        };
        if fields.len() != header.len() {
            out.push(unparsed(
                pos,
                record,
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    header.len()
                ),
            ));
            return;
        }
        let mut row = Row::new();
        for (name, v) in header.iter().zip(fields) {
            let cell = if v == "NULL" {
                Cell::Null
            } else {
                Cell::Text(v)
            };
            row.push(name.clone(), cell);
        }
        self.asm.push(row, origin(pos), out);
    }

    fn held_since(&self) -> Option<u64> {
        self.asm.held_since()
    }

    fn release_held(&mut self, out: &mut Vec<Event>) {
        self.asm.flush(out);
    }
}

/// `mssql-audit-json`.
pub struct JsonExport {
    asm: Assembler,
}

impl JsonExport {
    pub fn new() -> JsonExport {
        JsonExport {
            asm: Assembler::new("mssql-audit-json"),
        }
    }
}

impl Default for JsonExport {
    fn default() -> Self {
        JsonExport::new()
    }
}

/// Separators between objects: whitespace, `[`, `,`, `]`.
fn is_sep(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'[' | b',' | b']')
}

fn json_frame(buf: &[u8], flush: Flush) -> Option<usize> {
    let start = buf.iter().position(|&b| !is_sep(b));
    let Some(start) = start else {
        // Only separators: a record of its own once more bytes decide, or at the end.
        return match flush {
            Flush::Final if !buf.is_empty() => Some(buf.len()),
            _ => buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1),
        };
    };
    if buf[start] != b'{' {
        // Garbage: up to the end of its line.
        return match buf[start..].iter().position(|&b| b == b'\n') {
            Some(i) => Some(start + i + 1),
            None => (flush == Flush::Final).then_some(buf.len()),
        };
    }
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &b) in buf.iter().enumerate().skip(start) {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    (flush == Flush::Final).then_some(buf.len())
}

fn json_cell(v: Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Cell::Text(s),
        other => Cell::Text(other.to_string()),
    }
}

impl RecordFormat for JsonExport {
    fn name(&self) -> &'static str {
        "mssql-audit-json"
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        json_frame(buf, flush)
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let Some(start) = record.iter().position(|&b| !is_sep(b)) else {
            return; // separators only
        };
        let body = &record[start..];
        // The record's own offset is where its object starts.
        let pos = RecordPos {
            offset: pos.offset + start as u64,
            ..*pos
        };
        match serde_json::from_slice::<Value>(trim_end_sep(body)) {
            Ok(Value::Object(map)) => {
                let mut row = Row::new();
                for (k, v) in map {
                    row.push(k, json_cell(v));
                }
                self.asm.push(row, origin(&pos), out);
            }
            Ok(_) => out.push(unparsed(&pos, body, "not a JSON object")),
            Err(e) => out.push(unparsed(&pos, body, format!("invalid JSON: {e}"))),
        }
    }

    fn held_since(&self) -> Option<u64> {
        self.asm.held_since()
    }

    fn release_held(&mut self, out: &mut Vec<Event>) {
        self.asm.flush(out);
    }
}

fn trim_end_sep(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_handle_quotes() {
        assert_eq!(
            csv_fields("a,\"b,\"\"c\"\"\",,\"x\ny\"\r\n").unwrap(),
            vec!["a", "b,\"c\"", "", "x\ny"]
        );
        assert!(csv_fields("\"open").is_none());
    }

    #[test]
    fn json_frames_array_elements() {
        let buf = br#"[{"a":"}"} , {"b":[1,2]}]"#;
        let n = json_frame(buf, Flush::No).unwrap();
        assert_eq!(&buf[..n], br#"[{"a":"}"}"#);
        let m = json_frame(&buf[n..], Flush::No).unwrap();
        assert_eq!(&buf[n..n + m], br#" , {"b":[1,2]}"#);
        assert_eq!(json_frame(&buf[n + m..], Flush::Final), Some(1));
    }
}
