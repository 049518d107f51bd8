//! Every encoding against expectations that do not come from the encoder:
//!
//! - golden files: the engines' reviewed native events (`fixtures/<engine>/
//!   *.expected.jsonl`, one per engine) encoded with each encoding must equal
//!   `fixtures/encodings/<encoding>.expected.jsonl` line for line. A change
//!   of mapping shows up as a reviewed diff; regenerate with
//!   `UPDATE_GOLDEN=1 cargo test -p onetrail-agent --test encodings_golden`.
//! - the mapping tables of `docs/encodings.md`, written out here by hand for
//!   a failed login and a read, so the encoder and the page cannot drift.
//!
//! (OCSF is also checked by the OCSF project's own validator in
//! `sink_encodings.rs`.)

use std::path::{Path, PathBuf};

use onetrail_agent::config::Encoding;
use onetrail_agent::encode;
use onetrail_event::Event;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// One reviewed native golden file per engine.
const INPUTS: [&str; 5] = [
    "postgresql/csvlog-pg15.expected.jsonl",
    "mysql/mariadb-server-audit.basic.expected.jsonl",
    "sqlserver/rows-2019.json.golden.jsonl",
    "oracle/oracle-aud.classic.expected.jsonl",
    "oracle/oracle-audit-xml.basic.expected.jsonl",
];

const ENCODINGS: [&str; 4] = ["native", "ocsf", "splunk_cim", "datadog"];

fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for rel in INPUTS {
        let text =
            std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let before = out.len();
        for (i, line) in text.lines().enumerate() {
            out.push(
                serde_json::from_str::<Event>(line)
                    .unwrap_or_else(|e| panic!("{rel}:{}: {e}", i + 1)),
            );
        }
        assert!(out.len() > before, "{rel} holds no event");
    }
    out
}

fn encoding(name: &str) -> Encoding {
    serde_json::from_value(Value::from(name)).unwrap()
}

/// OCSF's `metadata.processed_time` is the time of encoding.
fn stable(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut)
        && m.contains_key("processed_time")
    {
        m.insert("processed_time".into(), json!("<encoding time>"));
    }
    v
}

#[test]
fn every_encoding_matches_its_golden_file() {
    let evs = events();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = fixtures().join("encodings");
    let mut failures = Vec::new();
    for name in ENCODINGS {
        let mut got = String::new();
        for e in &evs {
            got.push_str(
                &serde_json::to_string(&stable(encode::to_value(e, encoding(name)))).unwrap(),
            );
            got.push('\n');
        }
        let path = dir.join(format!("{name}.expected.jsonl"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(
            want.lines().count(),
            evs.len(),
            "{}: one line per input event",
            path.display()
        );
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            let (g, w): (Value, Value) = (
                serde_json::from_str(g).unwrap(),
                serde_json::from_str(w).unwrap(),
            );
            if g != w {
                failures.push(format!("{name} line {}:\n got  {g}\n want {w}", i + 1));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn login_failed() -> Event {
    serde_json::from_value(json!({
        "id": "0123456789abcdef0123456789abcdef",
        "time": "2026-12-03T10:00:00.250Z",
        "engine": "postgresql",
        "instance": "pg-prod-1",
        "category": "auth",
        "action": "LOGIN FAILED",
        "outcome": "failure",
        "error": {"code": "28P01", "message": "password authentication failed for user \"bob\""},
        "db_user": "bob",
        "actor": null,
        "database": "payroll",
        "objects": [],
        "statement": null,
        "rows": null,
        "client": {"ip": "10.1.2.3", "port": 51000, "host": null, "application": "psql"},
        "session": {"id": "6b1120f3.6a48", "statement_id": null, "substatement_id": null},
        "context": {},
        "source": {"format": "pgaudit-stderr", "path": "/var/log/postgresql/postgresql.log", "offset": 0},
        "extra": {},
        "raw": "2026-12-03 10:00:00.250 UTC [27208] bob@payroll FATAL:  password authentication failed for user \"bob\"",
        "parse_error": null
    }))
    .unwrap()
}

fn read() -> Event {
    let mut e = login_failed();
    e.category = onetrail_event::Category::Read;
    e.action = "SELECT".into();
    e.outcome = onetrail_event::Outcome::Success;
    e.error = None;
    e.statement = Some("select * from staff".into());
    e.rows = Some(3);
    e.session.statement_id = Some(7);
    e
}

/// docs/encodings.md, "Datadog", row by row.
#[test]
fn datadog_follows_the_documented_table() {
    let v = encode::to_value(&login_failed(), encoding("datadog"));
    assert_eq!(v["timestamp"], json!(1_796_292_000_250_i64), "{v:#}");
    assert_eq!(v["status"], "error", "failed auth is `error`");
    assert_eq!(v["db"]["system"], "postgresql");
    assert_eq!(v["db"]["instance"], "payroll");
    assert_eq!(v["db"]["operation"], "LOGIN FAILED");
    assert_eq!(v["db"]["user"], "bob");
    assert_eq!(v["usr"]["name"], "bob");
    assert_eq!(v["network"]["client"]["ip"], "10.1.2.3");
    assert_eq!(v["network"]["client"]["port"], 51000);
    assert_eq!(v["evt"]["name"], "authentication");
    assert_eq!(v["evt"]["category"], "auth");
    assert_eq!(v["evt"]["outcome"], "failure");
    assert_eq!(v["error"]["kind"], "28P01");
    assert_eq!(v["onetrail"]["id"], "0123456789abcdef0123456789abcdef");
    assert_eq!(v["onetrail"]["instance"], "pg-prod-1");
    // No statement: the raw record is the message.
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("password authentication failed")
    );

    let v = encode::to_value(&read(), encoding("datadog"));
    assert_eq!(v["status"], "info");
    assert_eq!(v["message"], "select * from staff");
    assert_eq!(v["db"]["statement"], "select * from staff");
    assert_eq!(v["db"]["row_count"], 3);
    assert_eq!(v["evt"]["name"], "database.query");
    assert_eq!(v["evt"]["outcome"], "success");
}

/// docs/encodings.md, "Splunk CIM", row by row.
#[test]
fn splunk_cim_follows_the_documented_table() {
    let v = encode::to_value(&login_failed(), encoding("splunk_cim"));
    assert_eq!(v["app"], "postgresql", "{v:#}");
    assert_eq!(v["dest"], "pg-prod-1");
    assert_eq!(v["src"], "10.1.2.3");
    assert_eq!(v["src_port"], 51000);
    assert_eq!(v["user"], "bob");
    assert_eq!(v["session_id"], "6b1120f3.6a48");
    assert_eq!(v["signature_id"], "28P01");
    assert_eq!(
        v["reason"],
        "password authentication failed for user \"bob\""
    );
    assert_eq!(v["onetrail_action"], "LOGIN FAILED");
    assert_eq!(v["action"], "failure");
    assert_eq!(v["signature"], "LOGIN FAILED");
    assert!(v["vendor_product"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        v["authentication_service"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    // Every native key is kept.
    assert_eq!(v["db_user"], "bob");
    assert_eq!(v["category"], "auth");

    let v = encode::to_value(&read(), encoding("splunk_cim"));
    assert_eq!(v["object"], "payroll", "no object: the database");
    assert_eq!(v["query"], "select * from staff");
    assert_eq!(v["query_id"], "7");
    assert_eq!(v["records_affected"], 3);
    assert_eq!(v["action"], "SELECT");
    let t = chrono::DateTime::parse_from_rfc3339(v["query_time"].as_str().unwrap()).unwrap();
    assert_eq!(
        t.timestamp_millis(),
        1_796_292_000_250,
        "RFC 3339, the query's start"
    );
}
