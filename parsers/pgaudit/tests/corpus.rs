//! Real pgaudit output (third-party corpora, read at test time, never copied
//! into the repository): every AUDIT record must become exactly one event,
//! with no `unparsed` events.

mod common;

use std::collections::HashMap;

use onetrail_event::{Category, Event, Outcome};
use onetrail_pgaudit::{PgOptions, format_by_name};

/// The end of a pgaudit payload starting at `text[0]`: the first newline
/// outside double quotes (pgaudit quotes whole fields and doubles inner
/// quotes, so quote parity is exact).
fn payload_end(text: &str) -> usize {
    let mut in_quotes = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\n' if !in_quotes => return i,
            _ => {}
        }
    }
    text.len()
}

struct Expected {
    class: String,
    command: String,
    statement_id: i64,
    substatement_id: i64,
    followed_by_error: bool,
}

/// Rewrite a pg_regress expected file into a server log: every
/// `NOTICE:  AUDIT: …` / `WARNING:  AUDIT: …` record (and every `ERROR:`
/// line) becomes a prefixed log line whose continuation lines start with a
/// TAB, as PostgreSQL writes them. Everything else is dropped.
fn to_server_log(out_file: &str) -> (String, Vec<(usize, Expected)>) {
    let mut log = String::new();
    let mut expected = Vec::new();
    let mut rest = out_file;
    let mut n = 0u32;
    let mut since_error = 0;
    while !rest.is_empty() {
        let line_end = rest.find('\n').map_or(rest.len(), |p| p + 1);
        let line = &rest[..line_end];
        let sev = ["NOTICE", "WARNING"]
            .into_iter()
            .find(|s| line.starts_with(&format!("{s}:  AUDIT: ")));
        n += 1;
        let prefix = format!("2024-05-01 12:00:{:02}.{:03} UTC [4242] ", n % 60, n % 1000);
        if let Some(sev) = sev {
            let payload_at = sev.len() + ":  AUDIT: ".len();
            let len = payload_end(&rest[payload_at..]);
            let payload = &rest[payload_at..payload_at + len];
            // Independent oracle: the first five fields never need quoting.
            let f: Vec<&str> = payload.splitn(6, ',').collect();
            expected.push((
                log.len(),
                Expected {
                    class: f[3].to_string(),
                    command: f[4].to_string(),
                    statement_id: f[1].parse().unwrap(),
                    substatement_id: f[2].parse().unwrap(),
                    followed_by_error: false,
                },
            ));
            log.push_str(&prefix);
            log.push_str(sev);
            log.push_str(":  AUDIT: ");
            log.push_str(&payload.replace('\n', "\n\t"));
            log.push('\n');
            rest = &rest[(payload_at + len + 1).min(rest.len())..];
            continue;
        }
        if let Some(msg) = line.strip_prefix("ERROR:  ") {
            // The held statement of the backend (the trailing AUDIT records
            // since the last ERROR that share the last statement id) failed.
            if let Some(last_id) = expected[since_error..].last().map(|e| e.1.statement_id) {
                for e in expected[since_error..].iter_mut().rev() {
                    if e.1.statement_id != last_id {
                        break;
                    }
                    e.1.followed_by_error = true;
                }
            }
            since_error = expected.len();
            log.push_str(&prefix);
            log.push_str("ERROR:  ");
            log.push_str(msg);
        }
        rest = &rest[line_end..];
    }
    (log, expected)
}

fn by_offset(events: &[Event]) -> HashMap<u64, &Event> {
    let mut m = HashMap::new();
    for e in events {
        let prev = m.insert(e.source.offset.unwrap(), e);
        assert!(
            prev.is_none(),
            "two events for the record at {:?}",
            e.source.offset
        );
    }
    m
}

#[test]
fn every_pgaudit_regression_record_parses() {
    let Some(root) = onetrail_corpora::dir() else {
        return;
    };
    let root = root.join("pgaudit");
    let mut files = 0;
    let mut records = 0;
    let mut failures = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path().join("expected/pgaudit.out");
        if !path.is_file() {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let (log, expected) = to_server_log(&text);
        assert!(
            !expected.is_empty(),
            "{}: no AUDIT records found",
            path.display()
        );
        let mut fmt = format_by_name("pgaudit-stderr", &PgOptions::default()).unwrap();
        let (events, _) = common::run(fmt.as_mut(), log.as_bytes(), "corpus");
        let unparsed: Vec<_> = events
            .iter()
            .filter(|e| e.category == Category::Unparsed)
            .collect();
        assert!(
            unparsed.is_empty(),
            "{}: unparsed events: {unparsed:#?}",
            path.display()
        );
        let audit_events = events
            .iter()
            .filter(|e| e.extra.contains_key("pgaudit"))
            .count();
        assert_eq!(
            audit_events,
            expected.len(),
            "{}: one event per AUDIT record",
            path.display()
        );
        let by_off = by_offset(&events);
        for (off, exp) in &expected {
            let ev = by_off
                .get(&(*off as u64))
                .unwrap_or_else(|| panic!("{}: no event for record at {off}", path.display()));
            let pg = &ev.extra["pgaudit"];
            assert_eq!(pg["class"], exp.class.as_str(), "{}@{off}", path.display());
            assert_eq!(ev.action, exp.command, "{}@{off}", path.display());
            assert_eq!(ev.session.statement_id, Some(exp.statement_id));
            assert_eq!(ev.session.substatement_id, Some(exp.substatement_id));
            assert_ne!(ev.category, Category::Other, "{}@{off}", path.display());
            if exp.followed_by_error {
                failures += 1;
                assert_eq!(ev.outcome, Outcome::Failure, "{}@{off}", path.display());
                assert!(
                    ev.error
                        .as_ref()
                        .unwrap()
                        .message
                        .as_deref()
                        .unwrap()
                        .contains("does not exist")
                );
            } else {
                assert_ne!(ev.outcome, Outcome::Failure, "{}@{off}", path.display());
            }
        }
        records += expected.len();
    }
    assert!(
        files >= 7,
        "expected the 7 pgaudit.out files, found {files}"
    );
    assert!(records > 2000, "only {records} AUDIT records found");
    assert!(failures > 0, "no AUDIT record was followed by an ERROR");
}

#[test]
fn real_csvlog_23_columns() {
    let Some(root) = onetrail_corpora::dir() else {
        return;
    };
    let dir = root.join("pgaudit/pr3-analyze-csvlog");
    let mut n_files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        n_files += 1;
        let data = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&data);
        let audit_rows = text.matches(",\"AUDIT: ").count();
        assert!(audit_rows > 100);
        let mut fmt = format_by_name("pgaudit-csvlog", &PgOptions::default()).unwrap();
        let (events, offsets) = common::run(fmt.as_mut(), &data, "csv");
        assert!(
            events.iter().all(|e| e.category != Category::Unparsed),
            "unparsed: {:#?}",
            events
                .iter()
                .filter(|e| e.category == Category::Unparsed)
                .collect::<Vec<_>>()
        );
        let audit: Vec<&Event> = events
            .iter()
            .filter(|e| e.extra.contains_key("pgaudit"))
            .collect();
        assert_eq!(audit.len(), audit_rows);
        // Each AUDIT event's class and command as in the row's text.
        for ev in &audit {
            let off = ev.source.offset.unwrap() as usize;
            let row = &text[off..];
            let p = row.find(",\"AUDIT: ").unwrap() + ",\"AUDIT: ".len();
            let f: Vec<&str> = row[p..].splitn(6, ',').collect();
            assert_eq!(ev.extra["pgaudit"]["class"], f[3]);
            assert_eq!(ev.action, f[4]);
            assert_eq!(ev.session.statement_id, Some(f[1].parse().unwrap()));
            assert_eq!(
                ev.db_user
                    .as_deref()
                    .map(|u| row.contains(&format!(",\"{u}\","))),
                Some(true)
            );
            assert_eq!(ev.client.host.as_deref(), Some("[local]"));
            assert_eq!(
                ev.session.id.as_deref().map(|s| row.contains(s)),
                Some(true)
            );
        }
        // Non-audit rows: logins become auth events, the rest `other`.
        let logins = text.matches(",\"connection authorized: ").count();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.category == Category::Auth && e.action == "LOGIN")
                .count(),
            logins
        );
        assert!(offsets.len() > audit_rows + logins);
        assert!(events.iter().any(|e| e.category == Category::Other));
    }
    assert_eq!(n_files, 1);
}
