//! Checkpoints that cannot be written: the agent stops reading, says so on
//! `/health` (503), retries with backoff instead of an ERROR line four times
//! a second, and exits 1 after `checkpoint_failure_exit_secs`.
//!
//! Tests run as root, for whom `chmod` changes nothing: the write is made to
//! fail by a directory where the checkpoint temp file must be created
//! (`EISDIR` for everyone).

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Agent, PREFIX, append, free_port, http_get, record, run_command, wait_for};

fn delivered(out: &std::path::Path) -> Vec<u64> {
    fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["session"]["statement_id"].as_u64())
        .collect()
}

#[test]
fn unwritable_checkpoints_stop_reading_turn_unhealthy_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state");
    let log = d.join("postgresql.log");
    let out = d.join("events.jsonl");
    let port = free_port();
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\ncheckpoint_failure_exit_secs: 4\nmetrics:\n  listen: \"127.0.0.1:{port}\"\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{log}\"]\n    log_line_prefix: \"{PREFIX}\"\n    poll_interval_ms: 20\n    quiet_flush_ms: 50\nsinks:\n  out: {{ type: file, path: {out} }}\n",
            state = state.display(),
            log = log.display(),
            out = out.display()
        ),
    )
    .unwrap();
    append(&log, &(1..=10).map(record).collect::<String>());
    let mut agent = Agent::spawn(&mut run_command(&cfg), &d.join("agent.log")).unwrap();
    wait_for("the first events", Duration::from_secs(20), || {
        delivered(&out).len() >= 10
    });
    wait_for("healthy", Duration::from_secs(10), || {
        http_get(port, "/health").is_some_and(|(c, _)| c == 200)
    });

    // data_dir stops accepting the checkpoint file.
    fs::create_dir(state.join("checkpoints.json.tmp")).unwrap();
    let broken = Instant::now();
    append(&log, &record(11));
    wait_for("/health 503", Duration::from_secs(5), || {
        http_get(port, "/health").is_some_and(|(c, b)| c == 503 && b.contains("checkpoint"))
    });
    // Records written while checkpoints fail are not read.
    append(&log, &(12..=20).map(record).collect::<String>());
    std::thread::sleep(Duration::from_millis(1000));
    let got = delivered(&out);
    assert!(
        !got.iter().any(|&n| n >= 12),
        "read and delivered while checkpoints could not be written: {got:?}"
    );

    let status = agent
        .wait_timeout(Duration::from_secs(15))
        .unwrap()
        .unwrap_or_else(|| {
            panic!(
                "still running 15 s after checkpoints broke\n{}",
                agent.log()
            )
        });
    let took = broken.elapsed();
    let log_text = agent.log();
    assert_eq!(status.code(), Some(1), "{log_text}");
    assert!(took >= Duration::from_secs(4), "exited after {took:?}");
    assert!(
        log_text.contains("checkpoint_failure_exit_secs"),
        "{log_text}"
    );
    // Backoff, not a line per save: a handful of attempts in ~4 s.
    let errors = log_text
        .lines()
        .filter(|l| l.contains("cannot write checkpoints"))
        .count();
    assert!(
        (1..=15).contains(&errors),
        "{errors} error lines in {took:?}\n{log_text}"
    );
}
