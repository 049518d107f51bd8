//! One `UNIFIED_AUDIT_TRAIL` row → one event.
//!
//! Every Oracle source in this crate ends here: the poller hands over rows it
//! fetched, the CSV export is a row per line, and the syslog, `.aud` and XML
//! formats translate their own field names into view column names first.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use onetrail_event::{Client, DbObject, Engine, Event, RecordPos, Session};
use serde_json::{Map, Value};

use crate::classify::{self, ClassifyInput, action_name_of_code, normalize_action, outcome_of};
use crate::util::{parse_client_address, parse_time};

/// A column value as the database (or a file) gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum ColValue {
    Text(String),
    Int(i64),
    /// A zone-less timestamp; for `EVENT_TIMESTAMP_UTC` it is UTC.
    Time(NaiveDateTime),
}

impl ColValue {
    fn as_text(&self) -> String {
        match self {
            ColValue::Text(s) => s.clone(),
            ColValue::Int(i) => i.to_string(),
            ColValue::Time(t) => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        }
    }
}

/// A row of `UNIFIED_AUDIT_TRAIL`: columns by (upper-case) name; a missing
/// column and a NULL are the same thing. Empty texts count as NULL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnifiedAuditRow {
    cols: BTreeMap<String, ColValue>,
}

impl UnifiedAuditRow {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a column (names are upper-cased). Empty text is stored as NULL.
    pub fn set(&mut self, name: &str, v: ColValue) -> &mut Self {
        let key = name.trim().to_ascii_uppercase();
        match &v {
            ColValue::Text(s) if s.is_empty() => {
                self.cols.remove(&key);
            }
            _ => {
                self.cols.insert(key, v);
            }
        }
        self
    }

    pub fn set_text(&mut self, name: &str, v: impl Into<String>) -> &mut Self {
        self.set(name, ColValue::Text(v.into()))
    }

    pub fn set_opt_text(&mut self, name: &str, v: Option<impl Into<String>>) -> &mut Self {
        match v {
            Some(v) => self.set_text(name, v),
            None => self,
        }
    }

    pub fn set_int(&mut self, name: &str, v: i64) -> &mut Self {
        self.set(name, ColValue::Int(v))
    }

    pub fn set_time(&mut self, name: &str, v: NaiveDateTime) -> &mut Self {
        self.set(name, ColValue::Time(v))
    }

    pub fn get(&self, name: &str) -> Option<&ColValue> {
        self.cols.get(name)
    }

    /// The column as text (numbers and times rendered), `None` when NULL.
    pub fn text(&self, name: &str) -> Option<String> {
        self.cols.get(name).map(ColValue::as_text)
    }

    /// The column as an integer (text holding an integer is accepted).
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.cols.get(name)? {
            ColValue::Int(i) => Some(*i),
            ColValue::Text(s) => s.trim().parse().ok(),
            ColValue::Time(_) => None,
        }
    }

    /// The column as a UTC time (texts in the spellings of [`parse_time`]).
    pub fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        match self.cols.get(name)? {
            ColValue::Time(t) => Some(Utc.from_utc_datetime(t)),
            ColValue::Text(s) => parse_time(s).map(|p| p.time),
            ColValue::Int(_) => None,
        }
    }

    pub fn columns(&self) -> impl Iterator<Item = (&str, &ColValue)> {
        self.cols.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The event time: `EVENT_TIMESTAMP_UTC`.
    pub fn event_time(&self) -> Option<DateTime<Utc>> {
        self.time("EVENT_TIMESTAMP_UTC")
    }

    /// The action name: `ACTION_NAME`, or the numeric `ACTION` code translated.
    pub fn action_name(&self) -> Option<String> {
        if let Some(a) = self.text("ACTION_NAME") {
            let n = normalize_action(&a);
            if !n.is_empty() {
                return Some(n);
            }
        }
        let code = self.int("ACTION")?;
        Some(action_name_of_code(code).map_or_else(|| format!("ACTION {code}"), str::to_string))
    }

    /// The de-duplication key of the row (see [`DedupKey`]).
    pub fn dedup_key(&self) -> DedupKey {
        DedupKey {
            dbid: self.int("DBID"),
            con_id: self.int("CON_ID"),
            instance_id: self.int("INSTANCE_ID"),
            session_id: self.int("SESSIONID"),
            entry_id: self.int("ENTRY_ID"),
            statement_id: self.int("STATEMENT_ID"),
            time_micros: self.event_time().map(|t| t.timestamp_micros()),
            action: self.action_name().unwrap_or_default(),
        }
    }
}

/// Oracle documents no unique key for `UNIFIED_AUDIT_TRAIL`; rows are told
/// apart by `(DBID, CON_ID, INSTANCE_ID, SESSIONID, ENTRY_ID, STATEMENT_ID,
/// EVENT_TIMESTAMP_UTC, ACTION_NAME)`. `ENTRY_ID` numbers the entries of one
/// audit session, so within a database instance and container the tuple is unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey {
    pub dbid: Option<i64>,
    pub con_id: Option<i64>,
    pub instance_id: Option<i64>,
    pub session_id: Option<i64>,
    pub entry_id: Option<i64>,
    pub statement_id: Option<i64>,
    pub time_micros: Option<i64>,
    pub action: String,
}

impl DedupKey {
    /// A compact, stable text form (`dbid:con:inst:sess:entry:stmt:micros:action`),
    /// used in checkpoints and to derive event ids.
    pub fn to_key_string(&self) -> String {
        let f = |v: Option<i64>| v.map_or_else(String::new, |v| v.to_string());
        format!(
            "{}:{}:{}:{}:{}:{}:{}:{}",
            f(self.dbid),
            f(self.con_id),
            f(self.instance_id),
            f(self.session_id),
            f(self.entry_id),
            f(self.statement_id),
            f(self.time_micros),
            self.action
        )
    }

    /// The deterministic event id of the row: the same row read twice (after a
    /// restart, by a second agent) gets the same id.
    pub fn event_id(&self) -> String {
        onetrail_event::event_id(&format!("oracle-uat:{}", self.to_key_string()), 0, 0)
    }
}

/// The end user a client application declared with
/// `DBMS_SESSION.SET_IDENTIFIER` (`CLIENT_IDENTIFIER`), as kept in
/// `extra.client_identifier`. Identity mapping uses it to fill `actor`.
pub fn client_identifier(ev: &Event) -> Option<&str> {
    ev.extra.get(CLIENT_IDENTIFIER_KEY).and_then(Value::as_str)
}

/// The `extra` key holding `CLIENT_IDENTIFIER`.
pub const CLIENT_IDENTIFIER_KEY: &str = "client_identifier";

/// Columns copied verbatim into `extra` (column → key) when not NULL.
const EXTRA_TEXT: &[(&str, &str)] = &[
    ("AUDIT_TYPE", "audit_type"),
    ("OS_USERNAME", "os_user"),
    ("TERMINAL", "terminal"),
    ("CLIENT_IDENTIFIER", CLIENT_IDENTIFIER_KEY),
    ("CURRENT_USER", "current_user"),
    ("DBPROXY_USERNAME", "proxy_user"),
    ("EXTERNAL_USERID", "external_userid"),
    ("GLOBAL_USERID", "global_userid"),
    ("AUTHENTICATION_TYPE", "authentication_type"),
    ("DBLINK_INFO", "dblink_info"),
    ("OS_PROCESS", "os_process"),
    ("TRANSACTION_ID", "transaction_id"),
    ("EXECUTION_ID", "execution_id"),
    ("SQL_BINDS", "sql_binds"),
    ("SYSTEM_PRIVILEGE_USED", "system_privilege_used"),
    ("SYSTEM_PRIVILEGE", "system_privilege"),
    ("OBJECT_PRIVILEGES", "object_privileges"),
    ("ROLE", "role"),
    ("TARGET_USER", "target_user"),
    ("AUDIT_OPTION", "audit_option"),
    ("NEW_SCHEMA", "new_schema"),
    ("NEW_NAME", "new_name"),
    ("OBJECT_EDITION", "object_edition"),
    ("APPLICATION_CONTEXTS", "application_contexts"),
    ("ADDITIONAL_INFO", "additional_info"),
    ("FGA_POLICY_NAME", "fga_policy_name"),
    ("CON_NAME", "container"),
    ("PDB_GUID", "container_guid"),
    ("DB_UNIQUE_NAME", "db_unique_name"),
    ("XS_USER_NAME", "xs_user"),
    ("DV_ACTION_NAME", "dv_action_name"),
    ("DP_TEXT_PARAMETERS1", "datapump_text_parameters"),
    ("RMAN_OPERATION", "rman_operation"),
];

/// Numeric columns copied into `extra` (column → key).
const EXTRA_INT: &[(&str, &str)] = &[
    ("DBID", "dbid"),
    ("CON_ID", "con_id"),
    ("INSTANCE_ID", "instance_id"),
    ("ENTRY_ID", "entry_id"),
    ("PROXY_SESSIONID", "proxy_session_id"),
    ("SCN", "scn"),
    ("RETURN_CODE", "return_code"),
    ("ACTION", "action_code"),
];

/// Map a row to an event. `pos`/`index` make the id for file formats; the
/// poller replaces it with [`DedupKey::event_id`]. A row without a usable
/// `EVENT_TIMESTAMP_UTC` gets the Unix epoch and `extra.time_missing`.
pub fn map_row(row: &UnifiedAuditRow, pos: &RecordPos<'_>, index: u32) -> Event {
    let time = row.event_time();
    let mut ev = Event::new(
        Engine::Oracle,
        time.unwrap_or(DateTime::UNIX_EPOCH),
        pos,
        index,
    );
    if time.is_none() {
        ev.extra.insert("time_missing".into(), true.into());
    }
    let action_name = row.action_name().unwrap_or_else(|| "UNKNOWN".to_string());
    let return_code = row.int("RETURN_CODE");
    let sql_text = row.text("SQL_TEXT");
    let schema = row.text("OBJECT_SCHEMA");
    let name = row.text("OBJECT_NAME");
    let c = classify::classify(ClassifyInput {
        action: &action_name,
        return_code,
        object_schema: schema.as_deref(),
        object_name: name.as_deref(),
        sql_text: sql_text.as_deref(),
    });
    ev.category = c.category;
    ev.action = c.action;
    ev.alert = c.alert;
    let (outcome, error) = outcome_of(return_code);
    ev.outcome = outcome;
    ev.error = error;
    if return_code == Some(28002) {
        ev.extra.insert(
            "warning".into(),
            "ORA-28002: the password will expire soon".into(),
        );
    }
    ev.db_user = row.text("DBUSERNAME");
    ev.database = row.text("CON_NAME");
    ev.statement = sql_text;
    if schema.is_some() || name.is_some() {
        ev.objects.push(DbObject {
            kind: row
                .text("OBJECT_TYPE")
                .or_else(|| object_kind(&action_name)),
            schema,
            name,
        });
    }
    let mut client = Client {
        host: row.text("USERHOST"),
        application: row.text("CLIENT_PROGRAM_NAME"),
        ..Client::default()
    };
    for col in ["AUTHENTICATION_TYPE", "CLIENT_ADDRESS", "COMMENT_TEXT"] {
        if let Some(a) = row.text(col).as_deref().and_then(parse_client_address) {
            client.ip = client.ip.or(a.ip);
            client.port = client.port.or(a.port);
            if client.host.is_none() {
                client.host = a.host;
            }
            break;
        }
    }
    ev.client = client;
    ev.session = Session {
        id: row.text("SESSIONID"),
        statement_id: row.int("STATEMENT_ID"),
        substatement_id: None,
    };
    let extra = &mut ev.extra;
    extra.insert("action_name".into(), action_name.into());
    for (col, key) in EXTRA_TEXT {
        if let Some(v) = row.text(col) {
            extra.insert((*key).into(), v.into());
        }
    }
    for (col, key) in EXTRA_INT {
        if let Some(v) = row.int(col) {
            extra.insert((*key).into(), v.into());
        } else if let Some(v) = row.text(col) {
            extra.insert((*key).into(), v.into());
        }
    }
    if let Some(p) = row.text("UNIFIED_AUDIT_POLICIES") {
        let list: Vec<Value> = p
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::from(s.to_string()))
            .collect();
        extra.insert("unified_audit_policies".into(), Value::Array(list));
    }
    if let Some(t) = row.text("COMMENT_TEXT") {
        extra.insert("comment_text".into(), t.into());
    }
    ev
}

/// `CREATE TABLE` → `TABLE`, `DROP PUBLIC SYNONYM` → `PUBLIC SYNONYM`.
fn object_kind(action: &str) -> Option<String> {
    for p in ["CREATE ", "ALTER ", "DROP ", "TRUNCATE "] {
        if let Some(k) = action.strip_prefix(p)
            && !k.is_empty()
            && !k.contains("AUDIT POLICY")
        {
            return Some(k.to_string());
        }
    }
    match action {
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" => None,
        "EXECUTE" | "PL/SQL EXECUTE" | "EXECUTE PROCEDURE" => Some("PROCEDURE".to_string()),
        _ => None,
    }
}

/// Insert all `(name, value)` pairs of a native record into `extra[key]` as an object.
pub(crate) fn native_fields(ev: &mut Event, key: &str, fields: &[(String, String)]) {
    let mut m = Map::new();
    for (k, v) in fields {
        m.insert(k.clone(), Value::from(v.clone()));
    }
    ev.extra.insert(key.into(), Value::Object(m));
}

#[cfg(test)]
mod tests {
    use super::*;
    use onetrail_event::{Category, Outcome};

    fn pos() -> RecordPos<'static> {
        RecordPos {
            source_key: "t",
            path: None,
            offset: 0,
            format: "oracle-unified-trail",
        }
    }

    #[test]
    fn failed_logon_row() {
        let mut r = UnifiedAuditRow::new();
        r.set_text("EVENT_TIMESTAMP_UTC", "2024-05-01 10:00:00.000001")
            .set_text("ACTION_NAME", "LOGON")
            .set_int("RETURN_CODE", 1017)
            .set_text("DBUSERNAME", "SCOTT")
            .set_text(
                "AUTHENTICATION_TYPE",
                "(TYPE=(DATABASE));(CLIENT ADDRESS=((ADDRESS=(PROTOCOL=tcp)(HOST=10.0.0.5)(PORT=51234))));",
            )
            .set_text("CLIENT_IDENTIFIER", "alice@corp")
            .set_text("UNIFIED_AUDIT_POLICIES", "ORA_LOGON_FAILURES, ORA_SECURECONFIG");
        let ev = map_row(&r, &pos(), 0);
        assert_eq!(ev.category, Category::Auth);
        assert_eq!(ev.action, "LOGIN FAILED");
        assert_eq!(ev.outcome, Outcome::Failure);
        assert_eq!(ev.client.ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(ev.client.port, Some(51234));
        assert_eq!(client_identifier(&ev), Some("alice@corp"));
        assert_eq!(ev.extra["unified_audit_policies"][1], "ORA_SECURECONFIG");
    }

    #[test]
    fn dedup_keys_are_stable() {
        let mut r = UnifiedAuditRow::new();
        r.set_int("DBID", 1)
            .set_int("SESSIONID", 2)
            .set_text("EVENT_TIMESTAMP_UTC", "2024-05-01 10:00:00.5")
            .set_text("ACTION_NAME", "SELECT");
        let k = r.dedup_key();
        assert_eq!(k.to_key_string(), "1:::2:::1714557600500000:SELECT");
        assert_eq!(k.event_id(), r.clone().dedup_key().event_id());
    }
}
