//! Rows → events. Works on *groups*: the rows of one audit buffer (same
//! `file_name` and `audit_file_offset`), in the order the function returned
//! them. Within a group, records longer than 4000 characters that SQL Server
//! split over several rows (`sequence_number` 1, 2, …) are joined back.

use chrono::{DateTime, Utc};
use onetrail_event::{Category, Client, DbObject, Engine, ErrorInfo, Event, Outcome, RecordPos};
use serde_json::Value;

use crate::row::{Cell, Row, hex};
use crate::tables::{self, ClassKind};

/// Columns the mapping places in top-level fields (or derives from); every
/// other column goes to `extra` under its own (lower-case) name.
const MAPPED: &[&str] = &[
    "event_time",
    "sequence_number",
    "action_id",
    "succeeded",
    "class_type",
    "session_id",
    "server_principal_name",
    "database_principal_name",
    "session_server_principal_name",
    "database_name",
    "schema_name",
    "object_name",
    "statement",
    "additional_information",
    "file_name",
    "audit_file_offset",
    "client_ip",
    "application_name",
    "host_name",
    "affected_rows",
];

/// Where a row was read when it carries no `file_name`/`audit_file_offset`
/// (an export without those columns): ids then come from the export itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source_key: String,
    pub path: Option<String>,
    pub offset: u64,
}

/// The group key of a row: `(file_name, audit_file_offset)`.
pub fn group_key(row: &Row) -> (Option<String>, Option<i64>) {
    (row.text("file_name"), row.int("audit_file_offset"))
}

/// Turns groups of rows into events.
#[derive(Debug, Clone)]
pub struct Mapper {
    /// Format name written to `source.format`.
    pub format: &'static str,
    /// Used in ids when a row has no `server_instance_name`.
    pub default_instance: String,
}

/// Is `row` the continuation of `prev` (a record split at 4000 characters)?
fn continues(prev: &Row, prev_seq: i64, row: &Row) -> bool {
    let seq = row.int("sequence_number").unwrap_or(0);
    if seq <= 1 || seq != prev_seq + 1 {
        return false;
    }
    ["event_time", "action_id", "session_id", "sequence_group_id"]
        .iter()
        .all(|c| prev.get(c) == row.get(c))
}

/// Is `next` the next part of the record whose (last so far) part is `prev`?
pub fn continues_into(prev: &Row, next: &Row) -> bool {
    continues(prev, prev.int("sequence_number").unwrap_or(0), next)
}

/// SQL Server cuts a long statement (or `additional_information`) into
/// parts of this many characters, one row each.
pub const PART_CHARS: usize = 4000;

/// Could `row` be followed by another part of its record? Only a part that
/// is exactly [`PART_CHARS`] characters long can.
pub fn may_continue(row: &Row) -> bool {
    ["statement", "additional_information"]
        .iter()
        .any(|c| row.text(c).is_some_and(|s| s.chars().count() == PART_CHARS))
}

/// Could the next row continue this one? (Used by exports to decide whether
/// rows without a group key may be emitted.)
pub fn is_continuation(row: &Row) -> bool {
    row.int("sequence_number").unwrap_or(0) > 1
}

impl Mapper {
    pub fn new(format: &'static str, default_instance: impl Into<String>) -> Mapper {
        Mapper {
            format,
            default_instance: default_instance.into(),
        }
    }

    /// Map one complete group. `origins[i]` (same length as `rows`, or empty
    /// for polled rows) gives the export position of row `i`.
    pub fn map_group(&self, rows: &[Row], origins: &[Origin], out: &mut Vec<Event>) {
        self.map_groups(&[(rows, origins)], out);
    }

    /// Map consecutive complete groups (buffers, in file order). A record
    /// split over several rows may run from one buffer into the next (SQL
    /// Server starts a new buffer wherever the last one filled up): it is
    /// joined and emitted once, with the id of its first row. Every record
    /// keeps the id it has when its group is mapped alone (its first row's
    /// buffer and index in that buffer).
    pub fn map_groups(&self, groups: &[(&[Row], &[Origin])], out: &mut Vec<Event>) {
        let flat: Vec<(usize, &Row, Option<&Origin>)> = groups
            .iter()
            .flat_map(|(rows, origins)| {
                rows.iter()
                    .enumerate()
                    .map(move |(i, r)| (i, r, origins.get(i)))
            })
            .collect();
        let mut i = 0;
        while i < flat.len() {
            let (index, first, origin) = flat[i];
            let mut stmt = first.text("statement");
            let mut info = first.text("additional_information");
            let mut seq = first.int("sequence_number").unwrap_or(0);
            let mut j = i + 1;
            while j < flat.len() && continues(flat[j - 1].1, seq, flat[j].1) {
                let row = flat[j].1;
                if let Some(s) = row.text("statement") {
                    stmt.get_or_insert_with(String::new).push_str(&s);
                }
                if let Some(s) = row.text("additional_information") {
                    info.get_or_insert_with(String::new).push_str(&s);
                }
                seq += 1;
                j += 1;
            }
            out.push(self.map_record(first, stmt, info, j - i, index, origin));
            i = j;
        }
    }

    fn map_record(
        &self,
        row: &Row,
        statement: Option<String>,
        additional_information: Option<String>,
        parts: usize,
        index_in_group: usize,
        origin: Option<&Origin>,
    ) -> Event {
        let file = row.text("file_name");
        let offset = row.int("audit_file_offset");
        let instance = row
            .text("server_instance_name")
            .unwrap_or_else(|| self.default_instance.clone());
        let key;
        let pos = match (&file, offset, origin) {
            (Some(f), Some(o), _) => {
                key = format!("mssql:{instance}:{f}");
                RecordPos {
                    source_key: &key,
                    path: Some(f),
                    offset: o.max(0) as u64,
                    format: self.format,
                }
            }
            (_, _, Some(o)) => RecordPos {
                source_key: &o.source_key,
                path: o.path.as_deref(),
                offset: o.offset,
                format: self.format,
            },
            _ => {
                key = format!("mssql:{instance}:");
                RecordPos {
                    source_key: &key,
                    path: file.as_deref(),
                    offset: offset.unwrap_or(0).max(0) as u64,
                    format: self.format,
                }
            }
        };
        let index = if file.is_some() && offset.is_some() {
            index_in_group as u32
        } else {
            0
        };
        let (time, time_err) = match row.time("event_time") {
            Ok(Some(t)) => (t, None),
            Ok(None) => (DateTime::<Utc>::UNIX_EPOCH, Some(None)),
            Err(bad) => (DateTime::<Utc>::UNIX_EPOCH, Some(Some(bad))),
        };
        let mut ev = Event::new(Engine::Sqlserver, time, &pos, index);
        if let Some(bad) = time_err {
            ev.extra.insert("time_missing".into(), true.into());
            if let Some(b) = bad {
                ev.extra.insert("time_invalid".into(), b.into());
            }
        }

        let action_id = row.trimmed("action_id");
        let class_type = row.trimmed("class_type");
        let class = class_type.as_deref().and_then(tables::class);
        let info = action_id.as_deref().and_then(tables::action);
        let code = action_id.as_deref().unwrap_or("");
        let (mut category, mut action) = match info {
            Some(a) => (a.category, a.name.to_string()),
            None => (
                Category::Other,
                if code.is_empty() {
                    "UNKNOWN".to_string()
                } else {
                    code.to_string()
                },
            ),
        };
        match code {
            "LGIS" | "LGSD" | "DBAS" | "DAGS" => action = "LOGIN".into(),
            "LGIF" | "LGFL" | "DBAF" | "DAGF" => action = "LOGIN FAILED".into(),
            "LGO" | "LO" | "DBL" | "DAGL" => action = "LOGOUT".into(),
            "CR" | "AL" | "DR" => {
                if let Some(c) = class {
                    action = format!("{action} {}", c.desc);
                    match c.kind {
                        ClassKind::Principal => category = Category::Dcl,
                        ClassKind::Audit => category = Category::AuditConfig,
                        ClassKind::Config => category = Category::Admin,
                        ClassKind::Object => {}
                    }
                }
            }
            "BCM" | "BST" | "RCM" | "RST" | "BCMG" | "BSTG" => {
                if let Some(c) = statement.as_deref().and_then(classify_statement) {
                    category = c;
                }
            }
            _ => {}
        }
        ev.category = category;
        ev.action = action;
        ev.alert = category == Category::AuditConfig;

        ev.outcome = match row.bool("succeeded") {
            Some(true) => Outcome::Success,
            Some(false) => Outcome::Failure,
            None => Outcome::Unknown,
        };
        if ev.outcome == Outcome::Failure {
            let msg = if ev.category == Category::Auth {
                "authentication failed"
            } else {
                "permission check failed"
            };
            ev.error = Some(ErrorInfo {
                code: None,
                message: Some(msg.to_string()),
            });
        }

        let server_principal = row.text("server_principal_name");
        let database_principal = row.text("database_principal_name");
        let session_principal = row.text("session_server_principal_name");
        ev.db_user = server_principal
            .clone()
            .or_else(|| database_principal.clone())
            .or_else(|| session_principal.clone());
        ev.database = row.text("database_name");
        if let Some(name) = row.text("object_name") {
            ev.objects.push(DbObject {
                kind: Some(
                    class
                        .map(|c| c.desc.to_ascii_lowercase().replace([' ', '-'], "_"))
                        .or_else(|| class_type.as_deref().map(str::to_ascii_lowercase))
                        .unwrap_or_else(|| "object".into()),
                ),
                schema: row.text("schema_name"),
                name: Some(name),
            });
        }
        ev.statement = statement;
        ev.rows = row.int("affected_rows");

        let raw_ip = row.text("client_ip");
        let local = raw_ip
            .as_deref()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("local machine"));
        ev.client = Client {
            ip: raw_ip.filter(|_| !local).map(|s| s.trim().to_string()),
            port: None,
            host: row.text("host_name"),
            application: row.text("application_name"),
        };
        ev.session.id = row.int("session_id").map(|s| s.to_string());

        let x = &mut ev.extra;
        if let Some(a) = &action_id {
            x.insert("action_id".into(), a.clone().into());
        }
        if let Some(i) = info {
            x.insert("action_name".into(), i.name.into());
        }
        if let Some(c) = &class_type {
            x.insert("class_type".into(), c.clone().into());
        }
        if let Some(c) = class {
            x.insert("class_desc".into(), c.desc.into());
        }
        if local {
            x.insert("client_local".into(), true.into());
        }
        for (k, v) in [
            ("server_principal_name", &server_principal),
            ("database_principal_name", &database_principal),
            ("session_server_principal_name", &session_principal),
        ] {
            if let Some(v) = v {
                x.insert(k.into(), v.clone().into());
            }
        }
        if let (Some(s), Some(p)) = (&session_principal, &server_principal)
            && s != p
        {
            // The session's original login switched context (EXECUTE AS, ...).
            x.insert("impersonation".into(), true.into());
        }
        if let Some(a) = additional_information {
            x.insert("additional_information".into(), a.into());
        }
        if let Some(s) = row.int("sequence_number") {
            x.insert("sequence_number".into(), s.into());
        }
        if parts > 1 {
            x.insert("sequence_rows".into(), (parts as u64).into());
        }
        if let Some(o) = offset {
            x.insert("audit_file_offset".into(), o.into());
        }
        for (name, cell) in &row.cells {
            let lower = name.to_ascii_lowercase();
            if MAPPED.contains(&lower.as_str()) || x.contains_key(&lower) {
                continue;
            }
            if let Some(v) = typed_json(&lower, cell) {
                x.insert(lower, v);
            }
        }
        ev
    }
}

/// Integer columns (exports carry them as text).
const INT_COLS: &[&str] = &[
    "server_principal_id",
    "database_principal_id",
    "target_server_principal_id",
    "target_database_principal_id",
    "object_id",
    "user_defined_event_id",
    "audit_schema_version",
    "transaction_id",
    "duration_milliseconds",
    "response_rows",
    "client_tls_version",
    "database_transaction_id",
    "ledger_start_sequence_number",
];
/// Bit columns.
const BIT_COLS: &[&str] = &["is_column_permission", "is_local_secondary_replica"];
/// varbinary columns: hex, lower case, without `0x` (as the event log shows them).
const BIN_COLS: &[&str] = &[
    "permission_bitmask",
    "server_principal_sid",
    "target_server_principal_sid",
    "sequence_group_id",
];

/// A column's value for `extra`, typed by the column's SQL type whatever
/// carried it (TDS, CSV text, JSON, event-log text).
fn typed_json(name: &str, c: &Cell) -> Option<Value> {
    if INT_COLS.contains(&name)
        && let Cell::Text(s) = c
        && let Ok(i) = s.trim().parse::<i64>()
    {
        return Some(i.into());
    }
    if BIT_COLS.contains(&name) {
        let r = Row {
            cells: vec![(name.to_string(), c.clone())],
        };
        if let Some(b) = r.bool(name) {
            return Some(b.into());
        }
    }
    if BIN_COLS.contains(&name)
        && let Cell::Text(s) = c
    {
        let t = s.trim();
        let h = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(h.to_ascii_lowercase().into());
        }
    }
    cell_json(c)
}

/// A cell as JSON for `extra`; NULL and empty text are left out.
fn cell_json(c: &Cell) -> Option<Value> {
    Some(match c {
        Cell::Null => return None,
        Cell::Text(s) if s.is_empty() => return None,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Int(i) => Value::from(*i),
        Cell::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Time(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        Cell::Bytes(b) => Value::String(hex(b)),
    })
}

/// Category of a batch/RPC statement (`BATCH_COMPLETED_GROUP`, 2022+) from its
/// leading keyword.
pub fn classify_statement(stmt: &str) -> Option<Category> {
    let mut s = stmt.trim_start();
    // Skip leading comments.
    loop {
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let word: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    Some(match word.as_str() {
        "SELECT" | "READTEXT" => Category::Read,
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" | "BULK" | "WRITETEXT"
        | "UPDATETEXT" => Category::Dml,
        "CREATE" | "ALTER" | "DROP" => {
            let rest = s[word.len()..].trim_start().to_ascii_uppercase();
            if ["LOGIN", "USER", "ROLE", "SERVER ROLE", "APPLICATION ROLE"]
                .iter()
                .any(|p| rest.starts_with(p))
            {
                Category::Dcl
            } else if rest.starts_with("SERVER AUDIT") || rest.starts_with("DATABASE AUDIT") {
                Category::AuditConfig
            } else {
                Category::Ddl
            }
        }
        "GRANT" | "REVOKE" | "DENY" => Category::Dcl,
        "EXEC" | "EXECUTE" => Category::Function,
        "SET" | "USE" | "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVE" => Category::Session,
        "BACKUP" | "RESTORE" | "DBCC" | "CHECKPOINT" | "KILL" | "SHUTDOWN" | "RECONFIGURE" => {
            Category::Admin
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Cell)]) -> Row {
        let mut r = Row::new();
        for (k, v) in pairs {
            r.push(*k, v.clone());
        }
        r
    }

    fn t(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    #[test]
    fn a_record_split_across_buffers_is_joined_once() {
        let part = |offset: i64, seq: i64, text: &str| {
            row(&[
                ("file_name", t("f.sqlaudit")),
                ("audit_file_offset", Cell::Int(offset)),
                ("event_time", t("2024-05-01 10:00:00")),
                ("sequence_number", Cell::Int(seq)),
                ("action_id", t("SL  ")),
                ("succeeded", t("1")),
                ("session_id", Cell::Int(60)),
                ("sequence_group_id", t("0x01")),
                ("statement", t(text)),
            ])
        };
        let a = "a".repeat(PART_CHARS);
        let buf1 = vec![part(4096, 1, "SELECT 1"), part(4096, 1, &a)];
        let buf2 = vec![
            part(8192, 2, &a),
            part(8192, 3, "tail"),
            part(8192, 1, "SELECT 2"),
        ];
        assert!(may_continue(&buf1[1]) && !may_continue(&buf2[1]));
        assert!(continues_into(&buf1[1], &buf2[0]));
        let m = Mapper::new("mssql-audit", "i");
        let mut joined = Vec::new();
        m.map_groups(&[(&buf1, &[]), (&buf2, &[])], &mut joined);
        assert_eq!(joined.len(), 3);
        assert_eq!(
            joined[1].statement.as_ref().unwrap().len(),
            2 * PART_CHARS + 4
        );
        // Ids are those of each record mapped with its own buffer.
        let mut alone = Vec::new();
        m.map_group(&buf1, &[], &mut alone);
        m.map_group(&buf2, &[], &mut alone);
        assert_eq!(
            alone.len(),
            4,
            "mapped buffer by buffer, the record is in parts"
        );
        assert_eq!(joined[0].id, alone[0].id);
        assert_eq!(joined[1].id, alone[1].id);
        assert_eq!(joined[2].id, alone[3].id);
    }

    #[test]
    fn split_statement_is_joined_and_ids_are_stable() {
        let base = |seq: i64, part: &str| {
            row(&[
                ("event_time", t("2024-05-01 10:00:00.1234567")),
                ("sequence_number", Cell::Int(seq)),
                ("action_id", t("SL  ")),
                ("succeeded", Cell::Bool(true)),
                ("session_id", Cell::Int(60)),
                ("class_type", t("U ")),
                ("statement", t(part)),
                ("file_name", t("/a/x.sqlaudit")),
                ("audit_file_offset", Cell::Int(4096)),
                ("server_instance_name", t("SRV1")),
            ])
        };
        let a = "a".repeat(4000);
        let rows = vec![
            base(1, &a),
            base(2, &a),
            base(3, "tail"),
            base(1, "SELECT 1"),
        ];
        let m = Mapper::new("mssql-audit", "src");
        let mut out = Vec::new();
        m.map_group(&rows, &[], &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].statement.as_ref().unwrap().len(), 8004);
        assert_eq!(out[0].extra["sequence_rows"], 3);
        assert_eq!(out[0].category, Category::Read);
        assert_eq!(out[0].action, "SELECT");
        assert_eq!(
            out[0].id,
            onetrail_event::event_id("mssql:SRV1:/a/x.sqlaudit", 4096, 0)
        );
        assert_eq!(
            out[1].id,
            onetrail_event::event_id("mssql:SRV1:/a/x.sqlaudit", 4096, 3)
        );
    }

    #[test]
    fn audit_changes_alert_and_principals_are_dcl() {
        let m = Mapper::new("mssql-audit", "src");
        let mut out = Vec::new();
        let rows = vec![
            row(&[("action_id", t("AUSC")), ("succeeded", t("1"))]),
            row(&[("action_id", t("AL  ")), ("class_type", t("SA"))]),
            row(&[("action_id", t("CR  ")), ("class_type", t("SL"))]),
            row(&[
                ("action_id", t("LGIF")),
                ("succeeded", t("0")),
                ("client_ip", t("local machine")),
            ]),
        ];
        m.map_group(&rows, &[], &mut out);
        assert!(out[0].alert && out[0].category == Category::AuditConfig);
        assert!(out[1].alert && out[1].action == "ALTER SERVER AUDIT SPECIFICATION");
        assert_eq!(out[2].category, Category::Dcl);
        assert_eq!(out[3].action, "LOGIN FAILED");
        assert_eq!(out[3].outcome, Outcome::Failure);
        assert_eq!(out[3].client.ip, None);
        assert_eq!(out[3].extra["client_local"], true);
    }
}
