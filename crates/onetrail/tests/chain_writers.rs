//! One chain per file, whoever writes: `onetrail import` appending to the
//! same `chain: true` file sink as the running agent extends the agent's
//! chain (`onetrail verify` finds it intact), and `verify` on a file that was
//! never chained says NOT CHAINED (exit 4), not ALTERED.

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::{Agent, PREFIX, append, record, run_command, wait_for};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn import_and_agent_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state");
    let live = d.join("postgresql.log");
    let out = d.join("events.jsonl");
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{live}\"]\n    log_line_prefix: \"{PREFIX}\"\n    poll_interval_ms: 5\n    quiet_flush_ms: 50\nsinks:\n  out: {{ type: file, path: {out}, chain: true }}\n",
            state = state.display(),
            live = live.display(),
            out = out.display()
        ),
    )
    .unwrap();
    // Historic files for the import: statement ids 100001.. (the agent's are 1..).
    let old = d.join("postgresql.log.1");
    let text: String = (100_001..=120_000).map(record).collect();
    fs::write(&old, text).unwrap();

    append(&live, &record(1));
    let mut agent = Agent::spawn(&mut run_command(&cfg), &d.join("agent.log")).unwrap();
    wait_for("the agent's first event", Duration::from_secs(20), || {
        !lines(&out).is_empty()
    });

    // The agent keeps writing while the import runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (live, stop) = (live.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 2;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 4000 {
                append(&live, &(n..n + 20).map(record).collect::<String>());
                n += 20;
                std::thread::sleep(Duration::from_millis(10));
            }
            n - 1
        })
    };
    let import = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["import", "--config"])
        .arg(&cfg)
        .args(["--source", "pg"])
        .arg(&old)
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = writer.join().unwrap();
    assert_eq!(
        import.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    wait_for("every agent event", Duration::from_secs(90), || {
        lines(&out)
            .iter()
            .filter(|v| v["session"]["statement_id"].as_u64() <= Some(last))
            .count() as u64
            >= last
    });
    agent.check_alive().unwrap();
    let status = agent.terminate_within(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}\n{}", agent.log());

    // Both writers really interleaved (else this test proves nothing).
    let all = lines(&out);
    let is_import = |v: &serde_json::Value| v["session"]["statement_id"].as_u64() > Some(100_000);
    let first_import = all.iter().position(is_import).unwrap();
    let last_import = all.iter().rposition(is_import).unwrap();
    assert!(
        all[first_import..last_import].iter().any(|v| !is_import(v)),
        "the agent wrote nothing while the import ran: no interleaving to check"
    );
    assert_eq!(all.iter().filter(|v| is_import(v)).count(), 20_000);

    let verify = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .arg("verify")
        .arg("--state")
        .arg(state.join("chain").join("out.json"))
        .arg(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{said}");
    assert!(said.contains("chain intact"), "{said}");
    let seqs: Vec<u64> = all
        .iter()
        .map(|v| v["chain"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
}

#[test]
fn verify_tells_a_file_never_chained_from_an_altered_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = d.join("plain.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args([
            "parse",
            "--format",
            "pgaudit-stderr",
            "--log-line-prefix",
            PREFIX,
        ])
        .arg({
            let log = d.join("pg.log");
            fs::write(&log, (1..=3).map(record).collect::<String>()).unwrap();
            log
        })
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    fs::write(&plain, &out.stdout).unwrap();
    let verify = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .arg("verify")
        .arg(&plain)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(4), "{said}");
    assert!(said.contains("NOT CHAINED"), "{said}");
    assert!(!said.contains("ALTERED"), "{said}");
}
