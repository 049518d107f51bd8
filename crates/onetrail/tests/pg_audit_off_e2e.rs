//! pgaudit switched off and back on, end to end against a real PostgreSQL 15
//! + pgaudit (csvlog) tailed by `onetrail run`:
//!
//! 1. one session: `SET pgaudit.log = 'none'`, an unaudited statement,
//!    `SET pgaudit.log = 'all'`, an audited one;
//! 2. the server: `ALTER SYSTEM SET pgaudit.log = 'none'` + `pg_reload_conf()`
//!    (the postmaster logs `parameter "pgaudit.log" changed to "none"`), an
//!    unaudited statement on a new connection, then back to `'all'` + reload.
//!
//! The sink must hold exactly two `agent` `GAP` alerts: one for the session
//! (pgaudit does not log `SET pgaudit.log = 'none'`; the window runs from the
//! session's last audit record before it to the logged `SET … 'all'`, and
//! the session's virtual transaction ids name the unlogged transactions) and
//! one for the server (from the "changed to none" line to the "changed to
//! all" line), and none of the unaudited statements.
//!
//! Needs the Debian packages `postgresql-15` and `postgresql-15-pgaudit`;
//! without them the test fails naming them.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use onetrail_testkit::postgres::{PgInstance, PgLogFormat, PgOptions};
use serde_json::Value;

mod common;
use common::{Agent, run_command, tail};

const INSTANCE: &str = "pg-off";
const TIMEOUT: Duration = Duration::from_secs(30);

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn read_sink(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn find<'a>(events: &'a [Value], stmt: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["statement"].as_str() == Some(stmt))
        .unwrap_or_else(|| panic!("no event for {stmt:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgaudit_off_by_session_and_by_reload_gives_one_gap_each() {
    let pg = PgInstance::start(PgOptions::new(PgLogFormat::Csvlog)).unwrap_or_else(|e| {
        panic!("cannot start PostgreSQL 15 + pgaudit (postgresql-15, postgresql-15-pgaudit): {e}")
    });
    let work = tempfile::tempdir().unwrap();
    let sink = work.path().join("events.jsonl");
    let cfg = work.path().join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nsources:\n  pg:\n    type: pgaudit\n    paths: [{glob}]\n    \
             log_format: csvlog\n    instance: {INSTANCE}\n\
             sinks:\n  out: {{ type: file, path: {sink} }}\n",
            state = yaml_str(&work.path().join("state").to_string_lossy()),
            glob = yaml_str(&pg.audit_glob()),
            sink = yaml_str(&sink.to_string_lossy()),
        ),
    )
    .unwrap();
    let log = work.path().join("agent.stderr");
    let mut agent = Agent::spawn(&mut run_command(&cfg), &log).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 1. One session.
    let a = pg.connect_superuser("postgres").await.unwrap();
    a.batch_execute("SELECT 'before'").await.unwrap();
    a.batch_execute("SET pgaudit.log = 'none'").await.unwrap();
    a.batch_execute("SELECT 'unaudited in session'")
        .await
        .unwrap();
    a.batch_execute("SET pgaudit.log = 'all'").await.unwrap();
    a.batch_execute("SELECT 'session back'").await.unwrap();

    // 2. The whole server, by reload.
    a.batch_execute("ALTER SYSTEM SET pgaudit.log = 'none'")
        .await
        .unwrap();
    a.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let b = pg.connect_superuser("postgres").await.unwrap();
    b.batch_execute("SELECT 'unaudited after reload'")
        .await
        .unwrap();
    b.batch_execute("ALTER SYSTEM SET pgaudit.log = 'all'")
        .await
        .unwrap();
    b.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    b.batch_execute("SELECT 'server back'").await.unwrap();

    let deadline = Instant::now() + TIMEOUT;
    while !read_sink(&sink)
        .iter()
        .any(|e| e["statement"] == "SELECT 'server back'")
    {
        agent.check_alive().unwrap();
        assert!(
            Instant::now() < deadline,
            "not delivered\n--- server log ---\n{}\n--- agent ---\n{}",
            tail(&pg.read_server_logs(), 4000),
            tail(&agent.log(), 3000)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.terminate_within(Duration::from_secs(15)).unwrap();

    let events = read_sink(&sink);
    let text = fs::read_to_string(&sink).unwrap();
    assert!(
        !text.contains("unaudited"),
        "unaudited statements in the sink"
    );
    let gaps: Vec<&Value> = events.iter().filter(|e| e["action"] == "GAP").collect();
    let brief: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {}",
                e["time"], e["category"], e["action"], e["statement"], e["extra"]["value"]
            )
        })
        .collect();
    assert_eq!(
        gaps.len(),
        2,
        "{}\n--- events ---\n{}",
        serde_json::to_string_pretty(&gaps).unwrap(),
        brief.join("\n")
    );
    for g in &gaps {
        assert_eq!(g["category"], "agent");
        assert_eq!(g["alert"], true);
        assert_eq!(g["instance"], INSTANCE);
        assert_eq!(g["extra"]["gap_kind"], "audit_off");
    }

    // pgaudit logs a SET after it took effect: `SET pgaudit.log = 'none'`
    // is not in the trail, `SET pgaudit.log = 'all'` is, and the session's
    // virtual transaction ids jump over the unlogged ones.
    assert!(
        !events
            .iter()
            .any(|e| e["statement"] == "SET pgaudit.log = 'none'")
    );
    let before = find(&events, "SELECT 'before'");
    let set_all = find(&events, "SET pgaudit.log = 'all'");
    let session = before["session"]["id"].as_str().unwrap();
    let g = gaps
        .iter()
        .find(|g| g["extra"]["scope"] == format!("pgaudit.log of session {session}"))
        .expect("the session's GAP");
    assert_eq!(g["extra"]["off_since"], before["time"]);
    assert_eq!(g["extra"]["off_until"], set_all["time"]);
    assert_eq!(g["session"]["id"], session);
    // `SET pgaudit.log = 'none'` and the unaudited SELECT: two transactions.
    assert_eq!(g["extra"]["skipped_transactions"], 2, "{g}");
    let vx = |e: &Value| {
        let v = e["extra"]["vxid"].as_str().unwrap();
        v.rsplit_once('/').unwrap().1.parse::<i64>().unwrap()
    };
    assert_eq!(
        g["extra"]["from_vxid"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap()
            .1,
        (vx(before) + 1).to_string()
    );
    assert_eq!(
        g["extra"]["to_vxid"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap()
            .1,
        (vx(set_all) - 1).to_string()
    );

    let changed = |v: &str| {
        events
            .iter()
            .find(|e| e["extra"]["parameter"] == "pgaudit.log" && e["extra"]["value"] == v)
            .unwrap_or_else(|| panic!("no `parameter \"pgaudit.log\" changed to \"{v}\"` event"))
    };
    let g = gaps
        .iter()
        .find(|g| g["extra"]["scope"] == "pgaudit.log")
        .expect("the server's GAP");
    assert_eq!(g["extra"]["off_since"], changed("none")["time"]);
    assert_eq!(g["extra"]["off_until"], changed("all")["time"]);
    let pos = |id: &Value| events.iter().position(|e| e["id"] == *id).unwrap();
    assert!(pos(&g["id"]) < pos(&changed("all")["id"]));
}
