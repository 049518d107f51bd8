//! The shutdown deadline holds against a receiver that takes a minute to
//! answer: after SIGTERM the agent exits within `shutdown_timeout_secs` (plus
//! a small margin) by dropping the request in flight, and its checkpoint does
//! not move past the events that were never acknowledged.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Agent, PREFIX, append, record, run_command, wait_for};
use onetrail_testkit::receivers::{Fault, HecReceiver};

const TOKEN: &str = "00000000-0000-0000-0000-00000000beef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_aborts_a_slow_request_at_the_deadline() {
    let rx = HecReceiver::start(TOKEN).await;
    for _ in 0..100 {
        rx.state()
            .faults
            .push_back(Fault::Delay(Duration::from_secs(60)));
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state");
    let log = d.join("postgresql.log");
    append(&log, &(1..=50).map(record).collect::<String>());
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nshutdown_timeout_secs: 2\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{log}\"]\n    log_line_prefix: \"{PREFIX}\"\n    poll_interval_ms: 20\n    quiet_flush_ms: 50\nsinks:\n  hec:\n    type: splunk_hec\n    endpoint: {url}\n    token: ${{ONETRAIL_TEST_HEC_TOKEN}}\n    batch_timeout_ms: 10\n",
            state = state.display(),
            log = log.display(),
            url = rx.url,
        ),
    )
    .unwrap();
    let mut cmd = run_command(&cfg);
    cmd.env("ONETRAIL_TEST_HEC_TOKEN", TOKEN);
    let mut agent = Agent::spawn(&mut cmd, &d.join("agent.log")).unwrap();
    // A request is in flight once the receiver has taken a fault.
    wait_for("a request at the receiver", Duration::from_secs(20), || {
        rx.state().faults.len() < 100
    });
    std::thread::sleep(Duration::from_millis(300));
    agent.check_alive().unwrap();

    let t0 = Instant::now();
    let status = agent
        .terminate_within(Duration::from_secs(2) + Duration::from_millis(1500))
        .unwrap_or_else(|e| panic!("{e}\n--- agent ---\n{}", agent.log()));
    let took = t0.elapsed();
    assert!(status.success(), "{status}\n{}", agent.log());
    assert!(
        took >= Duration::from_secs(2),
        "stopped before the deadline: {took:?}"
    );
    let log_text = agent.log();
    assert!(log_text.contains("shutdown deadline reached"), "{log_text}");

    // Nothing was acknowledged: no position past the start of the log.
    let ckpt: serde_json::Value =
        serde_json::from_slice(&fs::read(state.join("checkpoints.json")).unwrap()).unwrap();
    let offsets: Vec<u64> = ckpt["sources"]["pg"]["files"]
        .as_array()
        .map(|a| a.iter().map(|f| f["offset"].as_u64().unwrap()).collect())
        .unwrap_or_default();
    assert!(
        offsets.iter().all(|&o| o == 0),
        "checkpoint moved past undelivered events: {offsets:?}"
    );
}
