//! End to end: `onetrail run` with a `type: mssql` source polls the TDS test
//! double (`onetrail_testkit::tds`, a server playing `sys.fn_get_audit_file`
//! over real TDS, driven by tiberius exactly as against SQL Server) into a
//! file sink. Checks:
//!
//! - every documented column set (2016, 2017, 2019, 2022/Azure SQL fixtures)
//!   yields exactly the events of its golden file (`fixtures/sqlserver`), long
//!   statements rejoined, with `batch_rows` small enough to cut buffers;
//! - exact resume (each event once, resume call names the last buffer) after
//!   an agent restart, after a server restart, and after rollover;
//! - files rolled away before they were read → one `agent` `GAP` alert;
//! - an unreachable server is retried with backoff, then polled normally.
//!
//! Agent runs are serialized (2-core machines).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use onetrail_testkit::tds::{AuditRow, AuditStore, TdsDouble};
use serde_json::{Value, json};

mod common;
use common::{Agent, run_command};

const USER: &str = "onetrail_reader";
const PASSWORD: &str = "s3cr3t!Pw";
const PATTERN: &str = "/var/opt/mssql/audit/*.sqlaudit";
const WAIT: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/sqlserver").join(name)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start_agent(dir: &Path, port: u16, batch_rows: u32) -> Agent {
    let cfg = dir.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {data}
sources:
  sql1:
    type: mssql
    host: 127.0.0.1
    port: {port}
    username: {USER}
    password: "${{TEST_MSSQL_PASSWORD}}"
    file_pattern: {PATTERN}
    encryption: not_supported
    batch_rows: {batch_rows}
    poll_interval_ms: 100
sinks:
  out: {{ type: file, path: {sink} }}
"#,
            data = dir.join("data").display(),
            sink = dir.join("events.jsonl").display(),
        ),
    )
    .unwrap();
    let stderr = dir.join(format!(
        "agent-{}.stderr",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut cmd = run_command(&cfg);
    cmd.env("TEST_MSSQL_PASSWORD", PASSWORD)
        .env("RUST_LOG", "info");
    Agent::spawn(&mut cmd, &stderr).expect("start onetrail")
}

/// SIGTERM and wait for a clean exit; the agent's stderr.
fn stop_agent(mut agent: Agent) -> String {
    agent.sigterm();
    let st = agent.wait_timeout(Duration::from_secs(20)).unwrap();
    assert!(st.is_some(), "agent did not stop\n{}", agent.log());
    let st = st.unwrap();
    assert!(st.success(), "agent exited with {st}\n{}", agent.log());
    agent.log()
}

/// Every event the sink holds, in order.
fn sink_events(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Audit events (not the agent's START/STOP/GAP).
fn audit_events(dir: &Path) -> Vec<Value> {
    sink_events(dir)
        .into_iter()
        .filter(|e| e["category"] != "agent")
        .collect()
}

/// Wait until the sink has `n` audit events (and fail on more).
async fn wait_audit(dir: &Path, n: usize, agent: &Agent) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let ev = audit_events(dir);
        if ev.len() >= n {
            // Give a straggler the chance to show up as a duplicate.
            tokio::time::sleep(Duration::from_millis(600)).await;
            return audit_events(dir);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} events after {WAIT:?}\n--- agent ---\n{}",
            ev.len(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_each_once(events: &[Value]) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in events {
        *seen.entry(e["id"].as_str().unwrap()).or_default() += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
}

fn golden(name: &str) -> Vec<Value> {
    fs::read_to_string(fixture(&format!("{name}.golden.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A new audit row like the fixtures' (2019 column set).
fn row(action: &str, stmt: &str, secs: u32) -> AuditRow {
    let v = json!({
        "event_time": format!("2024-05-02 08:00:{secs:02}.0000000"),
        "sequence_number": 1, "action_id": action, "succeeded": true,
        "permission_bitmask": "0x01", "is_column_permission": false, "session_id": 70,
        "server_principal_id": 259, "database_principal_id": 1, "target_server_principal_id": 0,
        "target_database_principal_id": 0, "object_id": 0, "class_type": "U ",
        "session_server_principal_name": "app_user", "server_principal_name": "app_user",
        "server_principal_sid": "0x01", "database_principal_name": "dbo",
        "target_server_principal_name": "", "target_server_principal_sid": null,
        "target_database_principal_name": "", "server_instance_name": "SQL2019",
        "database_name": "Sales", "schema_name": "dbo", "object_name": "t", "statement": stmt,
        "additional_information": "", "user_defined_event_id": 0, "user_defined_information": "",
        "audit_schema_version": 1, "sequence_group_id": "0x01", "transaction_id": 1,
        "client_ip": "10.0.0.5", "application_name": "app", "duration_milliseconds": 0,
        "response_rows": 0, "affected_rows": 0,
        "connection_id": "FBB762BA-B0C5-4D09-9349-4A408C909199",
        "data_sensitivity_information": "", "host_name": "H"
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn rows(n: usize, tag: &str) -> Vec<AuditRow> {
    (0..n)
        .map(|i| row("SL  ", &format!("SELECT {i} /* {tag} */"), i as u32))
        .collect()
}

fn statements(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["statement"].as_str().map(str::to_string))
        .collect()
}

/// Fields that must equal the offline golden output (enrichment and
/// `source.format` differ by design).
const COMPARED: &[&str] = &[
    "id", "time", "engine", "category", "action", "outcome", "error", "db_user", "database",
    "objects", "rows", "client", "session", "alert",
];

#[test]
fn every_column_set_polls_to_its_golden_events() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    rt.block_on(async {
        for name in [
            "rows-2016.json",
            "rows-2017.json",
            "rows-2019.json",
            "rows-2022-azure.json",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = AuditStore::from_fixture(&fixture(name)).unwrap();
            let double = TdsDouble::start(store, USER, PASSWORD).await.unwrap();
            // 3 rows per poll: buffers are cut, and the 4-row buffer holding
            // the split statement needs a larger limit.
            let agent = start_agent(dir.path(), double.port(), 3);
            let want = golden(name);
            let got = wait_audit(dir.path(), want.len(), &agent).await;
            stop_agent(agent);
            assert_each_once(&got);
            assert_eq!(got.len(), want.len(), "{name}");
            let by_id: BTreeMap<&str, &Value> =
                got.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
            for w in &want {
                let g = by_id
                    .get(w["id"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("{name}: missing {w}"));
                for k in COMPARED {
                    assert_eq!(g[k], w[k], "{name}: field {k} of {}", w["id"]);
                }
                assert_eq!(g["source"]["format"], "mssql-audit");
                assert_eq!(g["source"]["path"], w["source"]["path"]);
                assert_eq!(g["source"]["offset"], w["source"]["offset"]);
                if g["redacted"] == false {
                    assert_eq!(g["statement"], w["statement"], "{name}: statement");
                }
                let (ge, we) = (
                    g["extra"].as_object().unwrap(),
                    w["extra"].as_object().unwrap(),
                );
                for (k, v) in we {
                    assert_eq!(ge.get(k), Some(v), "{name}: extra.{k}");
                }
            }
            // The long INSERT arrived as one event.
            assert!(got.iter().any(|e| e["extra"]["sequence_rows"] == 3
                && e["statement"].as_str().is_some_and(|s| s.len() == 9008)));
            // Every call named the right pattern; some had to grow the limit.
            let calls = double.calls();
            assert!(calls.iter().all(|c| c.pattern.as_deref() == Some(PATTERN)));
            assert!(calls.iter().any(|c| c.top == Some(6)), "{calls:?}");
        }
    });
}

#[test]
fn exact_resume_after_agent_restart_and_server_restart() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = AuditStore::from_fixture(&fixture("rows-2019.json")).unwrap();
        let base = golden("rows-2019.json").len();
        let (last_file, last_off) = {
            let f = store.files.last().unwrap();
            (f.name.clone(), f.buffers.last().unwrap().offset)
        };
        let mut double = TdsDouble::start(store, USER, PASSWORD).await.unwrap();

        // 1. Deliver the fixture, stop the agent.
        let agent = start_agent(dir.path(), double.port(), 4);
        wait_audit(dir.path(), base, &agent).await;
        stop_agent(agent);
        let cp = fs::read_to_string(dir.path().join("data/checkpoints.json")).unwrap_or_default();

        // 2. New buffers while the agent is down, in the last file and a new one.
        let new_file = "/var/opt/mssql/audit/SecAudit_6F9619FF-8B86-D011-B42D-00C04FC964FF_0_133590299999999999.sqlaudit";
        {
            let mut s = double.store();
            s.append_buffer(&last_file, rows(3, "a"));
            s.append_buffer(&last_file, rows(2, "b"));
            s.append_buffer(new_file, rows(4, "c"));
        }
        let calls_before = double.calls().len();
        let agent = start_agent(dir.path(), double.port(), 4);
        let got = wait_audit(dir.path(), base + 9, &agent).await;
        assert_each_once(&got);
        assert_eq!(got.len(), base + 9);
        // The first poll resumed exactly after the last delivered buffer.
        let first = &double.calls()[calls_before];
        assert_eq!(
            (first.initial_file_name.as_deref(), first.audit_record_offset),
            (Some(last_file.as_str()), Some(last_off)),
            "checkpoint was {cp}"
        );

        // 3. The server goes away (connections dropped, port closed) and
        //    comes back with more rows; the agent reconnects by itself.
        let logins = double.logins();
        double.stop().await;
        double.store().append_buffer(new_file, rows(5, "d"));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        double.restart().await.unwrap();
        let got = wait_audit(dir.path(), base + 14, &agent).await;
        assert_each_once(&got);
        assert_eq!(got.len(), base + 14);
        assert!(double.logins() > logins, "the agent did not log in again");
        let log = stop_agent(agent);
        assert!(log.contains("poll failed"), "{log}");
        let tags: Vec<String> = statements(&got)
            .into_iter()
            .filter(|s| s.contains("/* "))
            .collect();
        assert_eq!(tags.len(), 14);
    });
}

#[test]
fn rollover_resumes_without_duplicates_and_reports_lost_files() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let f = |n: u64| {
            format!("/var/opt/mssql/audit/Roll_6F9619FF-8B86-D011-B42D-00C04FC964FF_0_{n}.sqlaudit")
        };
        let mut store = AuditStore::default();
        store.append_buffer(&f(1000), rows(3, "f1"));
        store.append_buffer(&f(2000), rows(3, "f2"));
        let double = TdsDouble::start(store, USER, PASSWORD).await.unwrap();
        let agent = start_agent(dir.path(), double.port(), 50);
        wait_audit(dir.path(), 6, &agent).await;
        stop_agent(agent);

        // Rollover deletes the oldest file, not the one we resume in: no gap.
        {
            let mut s = double.store();
            s.drop_oldest(1);
            s.append_buffer(&f(2000), rows(2, "f2b"));
            s.append_buffer(&f(3000), rows(2, "f3"));
        }
        let agent = start_agent(dir.path(), double.port(), 50);
        let got = wait_audit(dir.path(), 10, &agent).await;
        stop_agent(agent);
        assert_each_once(&got);
        assert_eq!(got.len(), 10);
        assert!(!sink_events(dir.path()).iter().any(|e| e["action"] == "GAP"));

        // While the agent is down, records are written and rolled away unread:
        // f3 gets a buffer, then f3 (the resume file) and f4 are deleted.
        {
            let mut s = double.store();
            s.append_buffer(&f(3000), rows(2, "lost3"));
            s.append_buffer(&f(4000), rows(2, "lost4"));
            s.append_buffer(&f(5000), rows(3, "f5"));
            let dropped = s.drop_oldest(3);
            assert_eq!(dropped, vec![f(2000), f(3000), f(4000)]);
        }
        let agent = start_agent(dir.path(), double.port(), 50);
        let got = wait_audit(dir.path(), 13, &agent).await;
        let all = sink_events(dir.path());
        stop_agent(agent);
        assert_each_once(&got);
        assert_eq!(got.len(), 13);
        let gaps: Vec<&Value> = all.iter().filter(|e| e["action"] == "GAP").collect();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        let gap = gaps[0];
        assert_eq!(
            (gap["category"].as_str(), gap["alert"].as_bool()),
            (Some("agent"), Some(true))
        );
        assert_eq!(gap["extra"]["resume_file"], f(3000));
        assert_eq!(gap["extra"]["first_available_file"], f(5000));
        assert!(statements(&got).iter().all(|s| !s.contains("lost")));

        // A resume file deleted by hand while older files remain: read from the
        // oldest, skip what was delivered, report the gap.
        {
            let mut s = double.store();
            s.append_buffer(&f(6000), rows(1, "f6"));
        }
        let agent = start_agent(dir.path(), double.port(), 50);
        let got = wait_audit(dir.path(), 14, &agent).await;
        stop_agent(agent);
        {
            let mut s = double.store();
            s.append_buffer(&f(6000), rows(1, "lost6"));
            s.append_buffer(&f(7000), rows(2, "f7"));
            s.files.retain(|x| x.name != f(6000));
        }
        let _ = got;
        let calls_before = double.calls().len();
        let agent = start_agent(dir.path(), double.port(), 50);
        let got = wait_audit(dir.path(), 16, &agent).await;
        let all = sink_events(dir.path());
        stop_agent(agent);
        assert_each_once(&got);
        assert_eq!(got.len(), 16);
        let gaps: Vec<&Value> = all.iter().filter(|e| e["action"] == "GAP").collect();
        assert_eq!(gaps.len(), 2);
        assert_eq!(gaps[1]["extra"]["resume_file"], f(6000));
        // The resume call failed, then the oldest file was read (and skipped).
        let calls = &double.calls()[calls_before..];
        assert_eq!(
            calls[0].initial_file_name.as_deref(),
            Some(f(6000).as_str())
        );
        assert_eq!(calls[0].rows, None);
        assert_eq!(
            (calls[1].initial_file_name.as_deref(), calls[1].rows),
            (None, Some(5)),
            "{calls:?}"
        );
    });
}

/// An `AUSC` (audit session changed) record as SQL Server writes it when the
/// audit `SecAudit` is started (`enabled`) or stopped (`disabled`).
fn ausc(what: &str, secs: u32) -> AuditRow {
    let mut r = row("AUSC", "", secs);
    r.insert("class_type".into(), "A ".into());
    r.insert(
        "additional_information".into(),
        format!(
            "<action_info xmlns=\"http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data\"><session><![CDATA[SecAudit$A]]></session><action>event {what}</action><startup_type>manual</startup_type><object><![CDATA[audit_event]]></object></action_info>"
        )
        .into(),
    );
    r
}

#[test]
fn an_audit_stopped_and_started_is_one_gap() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let f = |n: u64| {
            format!(
                "/var/opt/mssql/audit/SecAudit_6F9619FF-8B86-D011-B42D-00C04FC964FF_0_{n}.sqlaudit"
            )
        };
        let mut store = AuditStore::default();
        store.append_buffer(
            &f(1000),
            vec![ausc("enabled", 1), row("SL  ", "SELECT 1", 2)],
        );
        // ALTER SERVER AUDIT SecAudit WITH (STATE = OFF): the last record of
        // the file; STATE = ON starts a new file with a start record.
        store.append_buffer(&f(1000), vec![ausc("disabled", 3)]);
        store.append_buffer(
            &f(2000),
            vec![ausc("enabled", 9), row("SL  ", "SELECT 2", 10)],
        );
        let double = TdsDouble::start(store, USER, PASSWORD).await.unwrap();
        let agent = start_agent(dir.path(), double.port(), 50);
        let got = wait_audit(dir.path(), 5, &agent).await;
        assert_each_once(&got);
        assert_eq!(got.len(), 5);
        stop_agent(agent);
        let all = sink_events(dir.path());
        let gaps: Vec<&Value> = all.iter().filter(|e| e["action"] == "GAP").collect();
        assert_eq!(gaps.len(), 1, "{gaps:#?}");
        let g = gaps[0];
        assert_eq!(
            (g["category"].as_str(), g["alert"].as_bool()),
            (Some("agent"), Some(true))
        );
        assert_eq!(g["extra"]["scope"], "server audit SecAudit");
        assert_eq!(g["extra"]["off_since"], "2024-05-02T08:00:03.000000Z");
        assert_eq!(g["extra"]["off_until"], "2024-05-02T08:00:09.000000Z");
        assert_eq!(g["instance"], got[4]["instance"]);
    });
}

/// Part `seq` of a record split by SQL Server (same time, action, session
/// and `sequence_group_id` as its other parts).
fn part(seq: i64, text: &str) -> AuditRow {
    let mut r = row("SL  ", text, 30);
    r.insert("sequence_number".into(), seq.into());
    r.insert("sequence_group_id".into(), "0x5A".into());
    r
}

#[test]
fn a_statement_split_across_buffers_is_one_event() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let file =
            "/var/opt/mssql/audit/Split_6F9619FF-8B86-D011-B42D-00C04FC964FF_0_1000.sqlaudit";
        let mut store = AuditStore::default();
        store.append_buffer(file, rows(2, "start"));
        let double = TdsDouble::start(store, USER, PASSWORD).await.unwrap();
        let (x, y) = ("x".repeat(4000), "y".repeat(4000));

        // 1. While the agent runs, a buffer ends inside a statement; the rest
        //    is written a while later (many polls, each seeing a stable
        //    buffer). `batch_rows: 2` also cuts results inside the record.
        let agent = start_agent(dir.path(), double.port(), 2);
        wait_audit(dir.path(), 2, &agent).await;
        double
            .store()
            .append_buffer(file, vec![row("SL  ", "SELECT 'one'", 20), part(1, &x)]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        double.store().append_buffer(
            file,
            vec![part(2, &y), part(3, "z"), row("SL  ", "SELECT 'two'", 40)],
        );
        let got = wait_audit(dir.path(), 5, &agent).await;

        // 2. The agent stops while the first part is the end of the trail;
        //    the rest arrives while it is down.
        double
            .store()
            .append_buffer(file, vec![part(1, &y), part(2, &x)]);
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop_agent(agent);
        double
            .store()
            .append_buffer(file, vec![part(3, "w"), row("SL  ", "SELECT 'three'", 50)]);
        let agent = start_agent(dir.path(), double.port(), 2);
        let got2 = wait_audit(dir.path(), 7, &agent).await;
        stop_agent(agent);

        assert_each_once(&got2);
        let stmts = statements(&got2);
        assert_eq!(
            got2.len(),
            7,
            "{:?}",
            stmts
                .iter()
                .map(|s| &s[..s.len().min(12)])
                .collect::<Vec<_>>()
        );
        let first = format!("{x}{y}z");
        let second = format!("{y}{x}w");
        for whole in [&first, &second] {
            let e: Vec<&Value> = got2
                .iter()
                .filter(|e| e["statement"].as_str() == Some(whole.as_str()))
                .collect();
            assert_eq!(e.len(), 1, "the split statement as one event");
            assert_eq!(e[0]["extra"]["sequence_rows"], 3);
        }
        assert!(
            stmts.iter().all(|s| s.len() > 8000 || s.len() < 100),
            "no statement in parts"
        );
        assert_eq!(got.len(), 5);
    });
}

#[test]
fn unreachable_server_is_retried_with_backoff() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AuditStore::default();
        store.append_buffer(
            "/var/opt/mssql/audit/B_6F9619FF-8B86-D011-B42D-00C04FC964FF_0_1.sqlaudit",
            rows(3, "late"),
        );
        let double = TdsDouble::start(store, USER, PASSWORD).await.unwrap();
        double.set_refusing(true);
        let agent = start_agent(dir.path(), double.port(), 50);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let attempts = double.connections();
        // poll_interval_ms is 100: without backoff that would be ~50 attempts.
        assert!(
            (2..=12).contains(&attempts),
            "{attempts} connection attempts in 5 s"
        );
        assert!(audit_events(dir.path()).is_empty());
        double.set_refusing(false);
        let got = wait_audit(dir.path(), 3, &agent).await;
        let log = stop_agent(agent);
        assert_each_once(&got);
        assert!(log.contains("poll failed"), "{log}");
        // The password never reaches the log.
        assert!(!log.contains(PASSWORD));
    });
}
