//! Real PostgreSQL 15 captures (`fixtures/postgresql/real/`, written by the
//! capture tooling with its own `workload.json` of what the workload did):
//! every AUDIT record the workload produced must come out as exactly one
//! event with the right identifiers, outcome and object, and every failed
//! login as a `LOGIN FAILED` event.

mod common;

use std::path::{Path, PathBuf};

use onetrail_event::{Category, Event, Outcome};
use onetrail_pgaudit::{PgOptions, format_by_name};
use serde_json::Value;

fn real_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/postgresql/real")
}

fn config_value(config: &str, key: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(": ")?;
        Some(v.trim_matches('\'').to_string())
    })
}

/// Parse every file of a capture the way its README says.
fn capture_events(dir: &Path) -> (Vec<Event>, String) {
    let config = std::fs::read_to_string(dir.join("config.txt")).unwrap();
    let log_format = config_value(&config, "log_format").unwrap();
    let opts = PgOptions {
        log_line_prefix: config_value(&config, "log_line_prefix").unwrap(),
        ..PgOptions::default()
    };
    let mut events = Vec::new();
    for file in config_value(&config, "files").unwrap().split(", ") {
        let format = match file {
            f if f.ends_with(".csv") => "pgaudit-csvlog",
            f if f.ends_with(".json") => "pgaudit-jsonlog",
            f if log_format == "pgauditlogtofile" && f.starts_with("audit") => "pgauditlogtofile",
            _ => "pgaudit-stderr",
        };
        let mut fmt = format_by_name(format, &opts).unwrap();
        let data = std::fs::read(dir.join(file)).unwrap();
        let (evs, _) = common::run(fmt.as_mut(), &data, file);
        events.extend(evs);
    }
    (events, log_format)
}

fn object_of(ev: &Event) -> Option<String> {
    let o = ev.objects.first()?;
    let name = o.name.clone()?;
    Some(match &o.schema {
        Some(s) => format!("{s}.{name}"),
        None => name,
    })
}

#[test]
fn workload_records_match() {
    // The captures are committed fixtures: their absence is a failure.
    let entries = std::fs::read_dir(real_dir())
        .unwrap_or_else(|e| panic!("no real captures at {}: {e}", real_dir().display()));
    let mut checked = 0;
    for entry in entries {
        let dir = entry.unwrap().path();
        if !dir.join("workload.json").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let workload: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("workload.json")).unwrap())
                .unwrap();
        let (events, log_format) = capture_events(&dir);
        assert!(
            events.iter().all(|e| e.category != Category::Unparsed),
            "{name}: unparsed {:#?}",
            events
                .iter()
                .filter(|e| e.category == Category::Unparsed)
                .collect::<Vec<_>>()
        );
        let sessions = workload["sessions"].as_array().unwrap();
        let pid_of = |label: &str| {
            sessions.iter().find(|s| s["label"] == label).unwrap()["backend_pid"]
                .as_u64()
                .unwrap()
        };
        let session_pids: Vec<u64> = sessions
            .iter()
            .map(|s| s["backend_pid"].as_u64().unwrap())
            .collect();
        let audit_events: Vec<&Event> = events
            .iter()
            .filter(|e| {
                e.extra.contains_key("pgaudit")
                    && e.extra["pid"]
                        .as_u64()
                        .is_some_and(|p| session_pids.contains(&p))
            })
            .collect();
        let audits = workload["audits"].as_array().unwrap();
        assert_eq!(
            audit_events.len(),
            audits.len(),
            "{name}: one event per AUDIT record"
        );
        let mut used = vec![false; audit_events.len()];
        for a in audits {
            let pid = pid_of(a["session"].as_str().unwrap());
            let found = audit_events.iter().enumerate().position(|(i, e)| {
                !used[i]
                    && e.extra["pid"] == pid
                    && e.session.statement_id == a["statement_id"].as_i64()
                    && e.session.substatement_id == a["substatement_id"].as_i64()
                    && e.action == a["command"].as_str().unwrap()
                    && e.extra["pgaudit"]["class"] == a["class"]
                    && e.extra["pgaudit"]["audit_type"] == a["audit_type"]
                    && e.rows == a["rows"].as_i64()
                    && object_of(e).as_deref() == a["object_name"].as_str()
                    && e.statement.as_deref() == a["statement"].as_str()
            });
            let Some(i) = found else {
                panic!("{name}: no event for {a}");
            };
            used[i] = true;
            let ev = audit_events[i];
            assert_eq!(
                ev.db_user.as_deref(),
                sessions
                    .iter()
                    .find(|s| s["label"] == a["session"])
                    .unwrap()["db_user"]
                    .as_str(),
                "{name}: {a}"
            );
            // pgauditlogtofile files never contain the errors: no outcome.
            if log_format == "pgauditlogtofile" {
                assert_eq!(ev.outcome, Outcome::Unknown, "{name}: {a}");
            } else if let Some(code) = a["error_code"].as_str() {
                assert_eq!(ev.outcome, Outcome::Failure, "{name}: {a}");
                let got = ev.error.as_ref().unwrap().code.as_deref();
                // stderr without %e has no SQLSTATE for ordinary errors.
                assert!(
                    got.is_none() || got == Some(code),
                    "{name}: {a} got {got:?}"
                );
            } else {
                assert_eq!(ev.outcome, Outcome::Success, "{name}: {a}");
            }
        }
        for f in workload["failed_logins"].as_array().unwrap() {
            let hit = events.iter().any(|e| {
                e.action == "LOGIN FAILED"
                    && e.category == Category::Auth
                    && e.outcome == Outcome::Failure
                    && e.db_user.as_deref() == f["user"].as_str()
                    && e.database.as_deref() == f["database"].as_str()
                    && e.error.as_ref().and_then(|x| x.code.as_deref()) == f["code"].as_str()
            });
            assert!(hit, "{name}: no LOGIN FAILED event for {f}");
        }
        for s in workload["unaudited"].as_array().unwrap() {
            assert!(
                !audit_events
                    .iter()
                    .any(|e| e.statement.as_deref() == s.as_str()),
                "{name}: {s} was not audited"
            );
        }
        checked += 1;
    }
    // Every committed capture with a workload.json (csvlog, jsonlog,
    // pgauditlogtofile, stderr, stderr-rds-berlin).
    assert!(
        checked >= 5,
        "checked {checked} captures in {}, expected all 5 with a workload.json",
        real_dir().display()
    );
}
