//! One row of `sys.fn_get_audit_file` as the mapping sees it: cells looked up
//! by column name (case-insensitive), whatever the SQL Server version and
//! whatever carried the row (TDS, a CSV or JSON export, event-log text).

use chrono::{DateTime, NaiveDateTime, Utc};

/// A cell value, already decoded from the wire or from text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// `datetime2` (SQL Server writes audit times in UTC).
    Time(DateTime<Utc>),
    /// `varbinary` (SIDs, `permission_bitmask`, `sequence_group_id`).
    Bytes(Vec<u8>),
}

/// A row: `(column name, cell)` in column order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub cells: Vec<(String, Cell)>,
}

impl Row {
    pub fn new() -> Row {
        Row::default()
    }

    pub fn push(&mut self, name: impl Into<String>, cell: Cell) {
        self.cells.push((name.into(), cell));
    }

    /// The cell of column `name` (ASCII case-insensitive); `None` when the
    /// column does not exist in this version.
    pub fn get(&self, name: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| c)
    }

    /// Text of a column; numbers and booleans are rendered, empty text and
    /// NULL are `None`. Not trimmed.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Cell::Null => None,
            Cell::Text(s) if s.is_empty() => None,
            Cell::Text(s) => Some(s.clone()),
            Cell::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            Cell::Int(i) => Some(i.to_string()),
            Cell::Float(f) => Some(f.to_string()),
            Cell::Time(t) => Some(t.to_rfc3339()),
            Cell::Bytes(b) => Some(hex(b)),
        }
    }

    /// Text with surrounding spaces removed (`action_id`, `class_type`).
    pub fn trimmed(&self, name: &str) -> Option<String> {
        let t = self.text(name)?;
        let t = t.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    /// An integer column; text is parsed.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Cell::Int(i) => Some(*i),
            Cell::Bool(b) => Some(i64::from(*b)),
            Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(*f as i64),
            Cell::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A bit column: `1`/`0`, `true`/`false` (any case).
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Cell::Bool(b) => Some(*b),
            Cell::Int(i) => Some(*i != 0),
            Cell::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "t" | "yes" => Some(true),
                "0" | "false" | "f" | "no" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A `datetime2` column; text in SQL Server's (`2021-10-23 23:01:20.4050216`)
    /// or ISO 8601 form is parsed (as UTC unless it carries an offset).
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, String> {
        match self.get(name) {
            None | Some(Cell::Null) => Ok(None),
            Some(Cell::Time(t)) => Ok(Some(*t)),
            Some(Cell::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(Cell::Text(s)) => parse_time(s).map(Some).ok_or_else(|| s.clone()),
            Some(other) => Err(format!("{other:?}")),
        }
    }
}

/// Parse SQL Server / ISO 8601 date-time text (up to 9 fractional digits).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Lowercase hex of bytes (how SIDs and bitmasks appear in the event log).
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        use std::fmt::Write;
        let _ = write!(s, "{x:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_by_name_and_case_insensitive() {
        let mut r = Row::new();
        r.push("Action_ID", Cell::Text("SL  ".into()));
        r.push("succeeded", Cell::Text("True".into()));
        r.push("session_id", Cell::Text(" 55".into()));
        assert_eq!(r.trimmed("action_id").as_deref(), Some("SL"));
        assert_eq!(r.bool("SUCCEEDED"), Some(true));
        assert_eq!(r.int("session_id"), Some(55));
        assert_eq!(r.get("client_ip"), None);
    }

    #[test]
    fn sql_server_time_text() {
        let t = parse_time("2021-10-23 23:01:20.4050216").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-10-23T23:01:20.405021600+00:00");
        assert!(parse_time("2021-10-23T23:01:20Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
