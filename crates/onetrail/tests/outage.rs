//! Outage test: the SIEM (a Splunk HEC double) refuses everything for a while,
//! during which the PostgreSQL log rotates twice. After the receiver recovers,
//! every record arrives: zero loss, and the rotated files were held open and
//! read to their end while the sink was down.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onetrail_testkit::receivers::{Fault, HecReceiver};
use serde_json::json;

const TOKEN: &str = "00000000-0000-0000-0000-00000000abcd";

fn append_records(path: &Path, from: u64, to: u64) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for n in from..=to {
        writeln!(
            f,
            "2026-11-26 07:00:00.{:03} UTC [777] app@appdb LOG:  AUDIT: SESSION,{n},1,WRITE,UPDATE,TABLE,public.accounts,UPDATE accounts SET balance = balance - 1 WHERE id = {n},<none>",
            n % 1000
        )
        .unwrap();
    }
}

fn statement_ids(rx: &HecReceiver) -> BTreeSet<i64> {
    rx.events()
        .iter()
        .filter(|e| e["category"] != "agent")
        .filter_map(|e| e["session"]["statement_id"].as_i64())
        .collect()
}

/// Kills the agent if the test fails half-way (no orphan processes).
struct Guard(std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_outage_with_two_rotations_loses_nothing() {
    let rx = HecReceiver::start(TOKEN).await;
    // The receiver is "down": every request gets 503 until the faults are cleared.
    {
        let mut st = rx.state();
        for _ in 0..100_000 {
            st.faults.push_back(Fault::Status(
                503,
                json!({"text": "Server is busy", "code": 9}),
                None,
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("log");
    fs::create_dir_all(&logs).unwrap();
    let live = logs.join("postgresql.log");
    let cfg = dir.path().join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {state}
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/postgresql.log*"]
    log_format: stderr
    log_line_prefix: "%m [%p] %q%u@%d "
    poll_interval_ms: 20
    quiet_flush_ms: 100
sinks:
  splunk:
    type: splunk_hec
    endpoint: {url}
    token: ${{ONETRAIL_TEST_HEC_TOKEN}}
    batch_timeout_ms: 100
    retry_initial_backoff_ms: 20
    retry_max_backoff_ms: 200
"#,
            state = dir.path().join("state").display(),
            logs = logs.display(),
            url = rx.url,
        ),
    )
    .unwrap();
    let agent = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("ONETRAIL_TEST_HEC_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start onetrail");
    let mut agent = Guard(agent);

    // Records, then two rename rotations, all while the sink refuses.
    append_records(&live, 1, 300);
    tokio::time::sleep(Duration::from_millis(300)).await;
    fs::rename(&live, logs.join("postgresql.log.1")).unwrap();
    append_records(&live, 301, 600);
    tokio::time::sleep(Duration::from_millis(300)).await;
    fs::rename(&live, logs.join("postgresql.log.2")).unwrap();
    append_records(&live, 601, 900);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    {
        let st = rx.state();
        assert!(
            st.accepted.is_empty(),
            "receiver was down but accepted events"
        );
        assert!(
            st.event_statuses.iter().filter(|s| **s == 503).count() >= 3,
            "the agent should have kept retrying during the outage: {:?}",
            st.event_statuses
        );
    }
    // Recovery.
    rx.state().faults.clear();
    let deadline = Instant::now() + Duration::from_secs(30);
    while statement_ids(&rx).len() < 900 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unsafe {
        libc::kill(agent.0.id() as i32, libc::SIGTERM);
    }
    let status = agent.0.wait().unwrap();
    let got = statement_ids(&rx);
    let missing: Vec<i64> = (1..=900).filter(|i| !got.contains(i)).collect();
    assert!(missing.is_empty(), "lost after the outage: {missing:?}");
    assert!(status.success(), "agent exit status {status}");
    let violations = rx.state().violations.clone();
    assert!(
        violations.is_empty(),
        "HEC contract violations: {violations:?}"
    );
}
