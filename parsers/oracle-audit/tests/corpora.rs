//! Real `.aud` records from the peer corpora (read at run time, never copied):
//! every record parses, and where the peer ships an expected parse
//! (elastic/beats `*-expected.json`) the normalized fields agree on user,
//! action, object, return code and time.

mod common;

use std::path::Path;

use common::{run, run_chunked, unparsed};
use onetrail_event::{Category, Event, Outcome};
use serde_json::Value;

const BEATS: &str =
    "elastic-beats-oracle-database-audit/x-pack/filebeat/module/oracle/database_audit/test";
const INTEGRATIONS: &str = "elastic-integrations-oracle-database-audit/packages/oracle/data_stream/database_audit/_dev/test/pipeline/test-oracle-database-audit.log";

fn aud_files(root: &Path) -> Vec<std::path::PathBuf> {
    let dir = root.join(BEATS);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".aud") || n.ends_with(".aud.log")
        })
        .collect();
    v.sort();
    v.push(root.join(INTEGRATIONS));
    v
}

fn records_in(data: &[u8]) -> usize {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|l| onetrail_oracle_audit::util::parse_aud_header(l).is_some())
        .count()
}

#[test]
fn every_corpus_record_parses() {
    let Some(root) = onetrail_corpora::dir() else {
        return;
    };
    let files = aud_files(&root);
    assert_eq!(files.len(), 6, "{files:?}");
    let mut total = 0;
    for p in &files {
        let data = std::fs::read(p).unwrap();
        let evs = run("oracle-aud", &data);
        let bad = unparsed(&evs);
        assert!(
            bad.is_empty(),
            "{}: {:?}",
            p.display(),
            bad.first().map(|e| &e.parse_error)
        );
        assert_eq!(evs.len(), records_in(&data), "{}", p.display());
        for e in &evs {
            assert!(e.time.timestamp() > 1_500_000_000, "{}: {e:?}", p.display());
            assert!(e.db_user.is_some(), "{}: {e:?}", p.display());
            assert_ne!(e.category, Category::Other, "{}: {}", p.display(), e.action);
        }
        // chunked feeding frames the same records
        assert_eq!(
            evs,
            run_chunked("oracle-aud", &data, "test", 7),
            "{}",
            p.display()
        );
        total += evs.len();
    }
    assert_eq!(total, 1 + 4 + 3 + 3 + 1 + 27);
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn collapse(t: &str) -> String {
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn extra(e: &Event, k: &str) -> Option<String> {
    e.extra.get(k).and_then(s)
}

/// Compare one event with Elastic's expected document.
fn agree(path: &Path, e: &Event, x: &serde_json::Map<String, Value>) {
    let ctx = format!("{} @ {:?}", path.display(), x.get("log.offset"));
    let get = |k: &str| x.get(k).and_then(s);
    // time
    let want = chrono::DateTime::parse_from_rfc3339(&get("@timestamp").unwrap()).unwrap();
    assert_eq!(e.time, want, "{ctx}");
    // byte offset of the record
    assert_eq!(
        e.source.offset,
        x.get("log.offset").and_then(Value::as_u64),
        "{ctx}"
    );
    // user: classic `DATABASE USER` (server.user.name), extended USERID
    let user = get("server.user.name").or(get("oracle.database_audit.userid"));
    assert_eq!(e.db_user, user, "{ctx}");
    if let Some(os) = get("client.user.name").or(get("oracle.database_audit.os_userid")) {
        assert_eq!(extra(e, "os_user"), Some(os), "{ctx}");
    }
    // action: classic text or number; extended number
    if let Some(num) = get("oracle.database_audit.action_number") {
        assert_eq!(extra(e, "action_code"), Some(num), "{ctx}");
        let text = get("oracle.database_audit.action").unwrap();
        assert_eq!(
            extra(e, "action_text").map(|t| collapse(&t)),
            Some(text),
            "{ctx}"
        );
    } else if let Some(num) = get("oracle.database_audit.action") {
        assert_eq!(extra(e, "action_code"), Some(num.clone()), "{ctx}");
        match num.as_str() {
            "100" => assert!(e.action.starts_with("LOGIN"), "{ctx}"),
            "101" => assert_eq!(e.action, "LOGOUT", "{ctx}"),
            _ => {}
        }
    }
    // return code
    let rc = get("oracle.database_audit.status").or(get("oracle.database_audit.returncode"));
    assert_eq!(extra(e, "return_code"), rc, "{ctx}");
    match get("event.outcome").as_deref() {
        Some("success") => assert_eq!(e.outcome, Outcome::Success, "{ctx}"),
        Some("failure") => {
            assert_eq!(e.outcome, Outcome::Failure, "{ctx}");
            assert_eq!(e.action, "LOGIN FAILED", "{ctx}");
        }
        _ => {}
    }
    // session, database id, terminal, host, privilege, object
    assert_eq!(
        e.session.id,
        get("oracle.database_audit.session_id"),
        "{ctx}"
    );
    assert_eq!(
        extra(e, "dbid"),
        get("oracle.database_audit.database.id"),
        "{ctx}"
    );
    if let Some(t) =
        get("oracle.database_audit.client.terminal").or(get("oracle.database_audit.terminal"))
    {
        assert_eq!(extra(e, "terminal"), Some(t), "{ctx}");
    }
    if let Some(h) = get("server.address") {
        assert_eq!(e.client.host.as_deref(), Some(h.as_str()), "{ctx}");
    }
    if let Some(r) = get("user.roles") {
        assert_eq!(extra(e, "privilege"), Some(r), "{ctx}");
    }
    if let Some(o) = get("oracle.database_audit.obj_name") {
        assert_eq!(
            e.objects.first().and_then(|o| o.name.clone()),
            Some(o),
            "{ctx}"
        );
    }
    if let Some(e_id) = get("oracle.database_audit.entryid") {
        assert_eq!(extra(e, "entry_id"), Some(e_id), "{ctx}");
    }
}

#[test]
fn beats_expected_parses_agree() {
    let Some(root) = onetrail_corpora::dir() else {
        return;
    };
    let dir = root.join(BEATS);
    let mut compared = 0;
    for p in aud_files(&root) {
        let exp = p.with_file_name(format!(
            "{}-expected.json",
            p.file_name().unwrap().to_string_lossy()
        ));
        if !exp.exists() {
            continue;
        }
        assert!(exp.starts_with(&dir));
        let want: Vec<Value> = serde_json::from_slice(&std::fs::read(&exp).unwrap()).unwrap();
        let evs = run("oracle-aud", &std::fs::read(&p).unwrap());
        assert_eq!(evs.len(), want.len(), "{}", p.display());
        for (e, x) in evs.iter().zip(&want) {
            agree(&p, e, x.as_object().unwrap());
            compared += 1;
        }
    }
    assert_eq!(compared, 11);
}

#[test]
fn integrations_records_are_mapped() {
    let Some(data) = onetrail_corpora::read(INTEGRATIONS) else {
        return;
    };
    let evs = run("oracle-aud", &data);
    assert_eq!(evs.len(), 27);
    // The multi-line SQL keeps its inner quotes and newlines; the sanitized
    // [len] prefixes are tolerated and flagged.
    let first = &evs[0];
    assert_eq!(first.action, "SELECT");
    assert_eq!(first.category, Category::Read);
    let st = first.statement.as_deref().unwrap();
    assert!(
        st.starts_with("select /*+ opt_param('parallel_execution_enabled',\n"),
        "{st}"
    );
    assert!(st.ends_with("where 1=0"), "{st}");
    assert_eq!(evs[1].client.ip.as_deref(), Some("192.168.2.2"));
    let plsql = evs.iter().find(|e| e.action == "PL/SQL EXECUTE").unwrap();
    assert!(
        plsql
            .statement
            .as_deref()
            .unwrap()
            .ends_with("END LOOP;\nEND;")
    );
    assert_eq!(plsql.extra["length_mismatch"], true);
    assert_eq!(plsql.time.to_rfc3339(), "2021-01-28T23:27:48+00:00");
    let session_rec = &evs[25];
    assert_eq!(session_rec.db_user.as_deref(), Some("TEST_USER"));
    assert_eq!(session_rec.objects[0].name.as_deref(), Some("ATTRIBUTES"));
    assert_eq!(session_rec.objects[0].schema.as_deref(), Some("TEST_OBJ"));
    assert_eq!(session_rec.extra["current_user"], "TEST_USR");
    let logon = &evs[26];
    assert_eq!(logon.action, "LOGIN");
    assert_eq!(logon.outcome, Outcome::Success);
}
