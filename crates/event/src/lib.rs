//! onetrail's normalized audit event, version 1.
//!
//! Every parser turns an engine's native audit record into [`Event`]s; enrichment
//! fills in identity and context; sinks encode them. The JSON shape produced by
//! `serde_json::to_string(&event)` is the public contract documented in
//! `docs/schema.md`: every top-level key is always present (null or empty when
//! unknown), so downstream tools never have to guess whether a key was dropped.
//!
//! This crate also holds the [`RecordFormat`] trait, the boundary between the
//! runtime (which owns files, sockets and time) and the pure parsers (which only
//! see bytes).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

mod format;
pub mod json;
pub use format::{
    DEFAULT_MAX_RECORD_BYTES, Flush, Framer, MIN_MAX_RECORD, RecordFormat, RecordPos,
    decide_on_line, parse_complete, parse_complete_limited, starts_with_date_time,
};

/// Version of the event schema, emitted nowhere per event (it is implied by the
/// keys) but exposed for encoders and documentation.
pub const SCHEMA_VERSION: u32 = 1;

/// Every top-level key of a serialized event, always present (the v1
/// contract documented in `docs/schema.md`).
pub const KEYS: &[&str] = &[
    "id",
    "time",
    "engine",
    "instance",
    "category",
    "action",
    "outcome",
    "error",
    "db_user",
    "actor",
    "database",
    "objects",
    "statement",
    "rows",
    "client",
    "session",
    "context",
    "source",
    "extra",
    "raw",
    "parse_error",
    "redacted",
    "redacted_count",
    "alert",
    "sensitivity",
    "compliance",
];

/// The database engine a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgresql,
    Mysql,
    Mariadb,
    Sqlserver,
    Oracle,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
            Engine::Mariadb => "mariadb",
            Engine::Sqlserver => "sqlserver",
            Engine::Oracle => "oracle",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of activity an event records. See `docs/schema.md` for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Logins, failed logins, logouts.
    Auth,
    /// Schema changes: CREATE/ALTER/DROP of tables, views, functions, ...
    Ddl,
    /// Data changes: INSERT/UPDATE/DELETE/TRUNCATE/COPY FROM/MERGE.
    Dml,
    /// Data reads: SELECT, COPY TO.
    Read,
    /// Privileges, roles, users, passwords.
    Dcl,
    /// Function / procedure calls, DO blocks.
    Function,
    /// Session settings and other session-level commands (SET, DISCARD, ...).
    Session,
    /// Anything that changes what is audited.
    AuditConfig,
    /// Server administration (CHECKPOINT, VACUUM, ALTER SYSTEM of non-audit settings, ...).
    Admin,
    /// Events onetrail itself emits: START, STOP, GAP.
    Agent,
    /// Recognised records that fit no other category (e.g. forwarded server lines).
    Other,
    /// A record onetrail could not parse; `raw` and `parse_error` say why.
    Unparsed,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Auth => "auth",
            Category::Ddl => "ddl",
            Category::Dml => "dml",
            Category::Read => "read",
            Category::Dcl => "dcl",
            Category::Function => "function",
            Category::Session => "session",
            Category::AuditConfig => "audit_config",
            Category::Admin => "admin",
            Category::Agent => "agent",
            Category::Other => "other",
            Category::Unparsed => "unparsed",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    #[default]
    Unknown,
}

/// The error an action failed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorInfo {
    /// Engine error code: SQLSTATE for PostgreSQL, errno for MySQL, ...
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The human behind a database user, when onetrail could learn it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    /// How the name was learnt: `static_map`, `application_name`, `sqlcommenter`, `session`, ...
    pub via: String,
}

/// A database object touched by the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DbObject {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub schema: Option<String>,
    pub name: Option<String>,
}

/// Where the session came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub host: Option<String>,
    pub application: Option<String>,
}

impl Client {
    /// An address as the engine wrote it: an IP literal goes to `ip`,
    /// anything else (a host name, `localhost`) to `host`. The one place
    /// that rule is written; parsers call it.
    pub fn set_address(&mut self, addr: &str) {
        if addr.parse::<std::net::IpAddr>().is_ok() {
            self.ip = Some(addr.to_string());
        } else {
            self.host = Some(addr.to_string());
        }
    }
}

/// Session and statement identifiers as the engine reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Session {
    pub id: Option<String>,
    pub statement_id: Option<i64>,
    pub substatement_id: Option<i64>,
}

/// Where in the source the record was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceRef {
    /// The parser format name, e.g. `pgaudit-stderr`.
    pub format: String,
    /// File path (tail sources) or a poller-specific locator.
    pub path: Option<String>,
    /// Byte offset of the record's first byte (files) or a poller position.
    pub offset: Option<u64>,
}

/// The normalized audit event, v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(with = "rfc3339_micros")]
    pub time: DateTime<Utc>,
    pub engine: Engine,
    pub instance: Option<String>,
    pub category: Category,
    pub action: String,
    pub outcome: Outcome,
    pub error: Option<ErrorInfo>,
    pub db_user: Option<String>,
    pub actor: Option<Actor>,
    pub database: Option<String>,
    pub objects: Vec<DbObject>,
    pub statement: Option<String>,
    pub rows: Option<i64>,
    pub client: Client,
    pub session: Session,
    pub context: Map<String, Value>,
    pub source: SourceRef,
    pub extra: Map<String, Value>,
    pub raw: Option<String>,
    pub parse_error: Option<String>,
    /// True when onetrail replaced credentials in any text field.
    #[serde(default)]
    pub redacted: bool,
    /// How many secrets were replaced.
    #[serde(default)]
    pub redacted_count: u32,
    /// The event deserves attention on its own: auditing was changed or
    /// switched off, records are missing (`agent` `GAP`).
    #[serde(default)]
    pub alert: bool,
    /// Data classifications of the objects touched (`pci`, `phi`, ...), from config.
    #[serde(default)]
    pub sensitivity: Vec<String>,
    /// Compliance requirements the event is evidence for (`pci-dss:10.2.1.2`, ...).
    #[serde(default)]
    /// Static tags, so tagging allocates nothing.
    pub compliance: Vec<std::borrow::Cow<'static, str>>,
}

impl Event {
    /// A blank event with the mandatory fields set; parsers fill in the rest.
    pub fn new(engine: Engine, time: DateTime<Utc>, pos: &RecordPos<'_>, index: u32) -> Event {
        Event {
            id: event_id(pos.source_key, pos.offset, index),
            time,
            engine,
            instance: None,
            category: Category::Other,
            action: String::new(),
            outcome: Outcome::Unknown,
            error: None,
            db_user: None,
            actor: None,
            database: None,
            objects: Vec::new(),
            statement: None,
            rows: None,
            client: Client::default(),
            session: Session::default(),
            context: Map::new(),
            source: SourceRef {
                format: pos.format.to_string(),
                path: pos.path.map(str::to_string),
                offset: Some(pos.offset),
            },
            extra: Map::new(),
            raw: None,
            parse_error: None,
            redacted: false,
            redacted_count: 0,
            alert: false,
            sensitivity: Vec::new(),
            compliance: Vec::new(),
        }
    }

    /// An event for a record that could not be parsed. The raw bytes are kept
    /// (lossily converted to UTF-8) so nothing is dropped silently.
    pub fn unparsed(
        engine: Engine,
        time: DateTime<Utc>,
        pos: &RecordPos<'_>,
        raw: &[u8],
        error: impl Into<String>,
    ) -> Event {
        let mut ev = Event::new(engine, time, pos, 0);
        ev.category = Category::Unparsed;
        ev.action = "UNPARSED".to_string();
        ev.raw = Some(String::from_utf8_lossy(trim_newline(raw)).into_owned());
        ev.parse_error = Some(error.into());
        ev
    }
}

impl Event {
    /// Bound an event that did not come through a [`Framer`] (a polled
    /// database row): `statement`, `raw` and the text values of `extra`
    /// longer than `max` bytes are cut at a character boundary, and the event
    /// is flagged `extra.truncated: true` with `extra.original_bytes`, the
    /// longest field's size. Returns whether anything was cut.
    pub fn cap_text(&mut self, max: usize) -> bool {
        let mut longest = 0usize;
        let mut cut = |s: &mut String| {
            if s.len() > max {
                longest = longest.max(s.len());
                let mut n = max;
                while !s.is_char_boundary(n) {
                    n -= 1;
                }
                s.truncate(n);
            }
        };
        if let Some(s) = self.statement.as_mut() {
            cut(s);
        }
        if let Some(s) = self.raw.as_mut() {
            cut(s);
        }
        for v in self.extra.values_mut() {
            if let Value::String(s) = v {
                cut(s);
            }
        }
        if longest == 0 {
            return false;
        }
        self.extra.insert("truncated".into(), Value::Bool(true));
        self.extra
            .insert("original_bytes".into(), (longest as u64).into());
        true
    }
}

fn trim_newline(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

/// Deterministic event id: the first 128 bits of SHA-256 over the source
/// identity, the record's position and the event's index within the record,
/// as 32 lowercase hex digits. Re-reading the same record of the same file
/// (same fingerprint) yields the same id, so receivers can de-duplicate.
pub fn event_id(source_key: &str, offset: u64, index: u32) -> String {
    let mut h = Sha256::new();
    h.update(source_key.as_bytes());
    h.update([0u8]);
    h.update(offset.to_be_bytes());
    h.update(index.to_be_bytes());
    let digest = h.finalize();
    hex_lower(&digest[..16])
}

/// Lower-case hex of `bytes` (hot path: one allocation, no formatting machinery).
pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0x0f) as usize]);
    }
    String::from_utf8(out).expect("hex is ASCII")
}

/// `time` is always written as RFC 3339 in UTC with microseconds
/// (`2024-05-01T12:00:00.123456Z`), whatever precision the engine had.
pub mod rfc3339_micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    /// Append the serialized form (a JSON string, quotes included) without
    /// chrono's formatting machinery; same bytes as [`serialize`].
    pub fn write(out: &mut Vec<u8>, t: &DateTime<Utc>) {
        use chrono::{Datelike, Timelike};
        let (y, ns) = (t.year(), t.nanosecond());
        if !(0..=9999).contains(&y) || ns >= 1_000_000_000 {
            out.push(b'"');
            out.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
            out.push(b'"');
            return;
        }
        let mut b = *b"\"0000-00-00T00:00:00.000000Z\"";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(1, 4, y as u32);
        put(6, 2, t.month());
        put(9, 2, t.day());
        put(12, 2, t.hour());
        put(15, 2, t.minute());
        put(18, 2, t.second());
        put(21, 6, ns / 1000);
        out.extend_from_slice(&b);
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pos() -> RecordPos<'static> {
        RecordPos {
            source_key: "fp:abc",
            path: Some("/var/log/x.log"),
            offset: 42,
            format: "pgaudit-stderr",
        }
    }

    #[test]
    fn ids_are_deterministic_and_position_sensitive() {
        assert_eq!(event_id("a", 1, 0), event_id("a", 1, 0));
        assert_ne!(event_id("a", 1, 0), event_id("a", 2, 0));
        assert_ne!(event_id("a", 1, 0), event_id("a", 1, 1));
        assert_ne!(event_id("a", 1, 0), event_id("b", 1, 0));
        assert_eq!(event_id("a", 1, 0).len(), 32);
        assert_eq!(hex_lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn every_contract_key_is_serialized() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let ev = Event::new(Engine::Postgresql, t, &pos(), 0);
        let v = serde_json::to_value(&ev).unwrap();
        let obj = v.as_object().unwrap();
        for key in KEYS {
            assert!(obj.contains_key(*key), "missing {key}");
        }
        assert_eq!(obj.len(), KEYS.len(), "keys not in KEYS: {:?}", obj.keys());
        assert_eq!(obj["time"], "2024-05-01T12:00:00.000000Z");
        assert_eq!(obj["engine"], "postgresql");
        assert_eq!(obj["category"], "other");
        assert_eq!(obj["source"]["offset"], 42);
    }

    #[test]
    fn round_trips_through_json() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let mut ev = Event::unparsed(Engine::Mariadb, t, &pos(), b"garbage\n", "bad");
        ev.category = Category::AuditConfig;
        let s = serde_json::to_string(&ev).unwrap();
        let back: Event = serde_json::from_str(&s).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.raw.as_deref(), Some("garbage"));
    }
}
