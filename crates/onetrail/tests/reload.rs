//! SIGHUP reloads the configuration of the running binary: a source's new
//! `context` applies to the events after the reload, no record is lost or
//! delivered twice across it, and an invalid file is refused (logged with
//! file and line) while the running configuration keeps delivering.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod common;
use common::{Agent, PREFIX, http_get, record, run_command, wait_for};

fn get(port: u16, path: &str) -> Option<String> {
    http_get(port, path).map(|(_, body)| body)
}

fn status(port: u16) -> serde_json::Value {
    get(port, "/status")
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default()
}

fn config(dir: &Path, port: u16, environment: &str) -> String {
    format!(
        "data_dir: {state}\nmetrics:\n  listen: \"127.0.0.1:{port}\"\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{logs}/postgresql*.log\"]\n    log_line_prefix: \"{PREFIX}\"\n    poll_interval_ms: 20\n    quiet_flush_ms: 100\n    context: {{ environment: {environment} }}\nsinks:\n  out: {{ type: file, path: {out} }}\n",
        state = dir.join("state").display(),
        logs = dir.join("log").display(),
        out = dir.join("events.jsonl").display(),
    )
}

/// statement_id → the environments it was delivered with.
type ById = BTreeMap<u64, Vec<String>>;

/// Delivered audit records: by statement_id, and (statement_id, environment) in delivery order.
fn delivered(out: &Path) -> (ById, Vec<(u64, String)>) {
    let mut by_id: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    for line in fs::read_to_string(out).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["category"] == "agent" {
            continue;
        }
        let n = v["session"]["statement_id"].as_u64().expect("statement_id");
        let env = v["context"]["environment"]
            .as_str()
            .unwrap_or("")
            .to_string();
        by_id.entry(n).or_default().push(env.clone());
        order.push((n, env));
    }
    (by_id, order)
}

#[test]
fn sighup_applies_new_context_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    fs::create_dir_all(d.join("log")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = d.join("onetrail.yaml");
    fs::write(&cfg, config(&d, port, "blue")).unwrap();
    let agent_log = d.join("agent.log");
    let mut agent = Agent::spawn(run_command(&cfg).env("RUST_LOG", "info"), &agent_log).unwrap();
    let pid = agent.id() as i32;
    wait_for("the agent to be ready", Duration::from_secs(20), || {
        status(port)["ready"] == true
    });

    // A writer appends records steadily through every reload.
    let live = d.join("log/postgresql.log");
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, written, live) = (stop.clone(), written.clone(), live.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&live)
                    .unwrap();
                let burst: String = (n + 1..=n + 25).map(record).collect();
                f.write_all(burst.as_bytes()).unwrap();
                n += 25;
                written.store(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let delivered_count = || {
        status(port)["sources"]["pg"]["events_delivered"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_for("events to flow", Duration::from_secs(20), || {
        delivered_count() > 500
    });

    // 1. An invalid file is refused; the agent keeps delivering with "blue".
    fs::write(
        &cfg,
        config(&d, port, "blue")
            .replace("    poll_interval_ms: 20\n", "    poll_intervall_ms: 20\n"),
    )
    .unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_for("the refused reload", Duration::from_secs(20), || {
        status(port)["reload_failures"] == 1
    });
    let before = delivered_count();
    wait_for(
        "delivery to go on after a refused reload",
        Duration::from_secs(20),
        || delivered_count() > before + 200,
    );
    assert_eq!(status(port)["reloads"], 0);
    let log_text = fs::read_to_string(&agent_log).unwrap();
    assert!(
        log_text.contains("reload refused")
            && log_text.contains(&format!("{}", cfg.display()))
            && log_text.contains("poll_intervall_ms"),
        "the refusal names file and key:\n{log_text}"
    );
    assert!(
        log_text.contains(&format!("{}:9: ", cfg.display())),
        "the refusal names the line:\n{log_text}"
    );

    // 2. A valid file with a new context is applied.
    fs::write(&cfg, config(&d, port, "green")).unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_for("the reload", Duration::from_secs(30), || {
        status(port)["reloads"] == 1 && status(port)["ready"] == true
    });
    let at_reload = written.load(Ordering::Relaxed);
    let before = delivered_count();
    wait_for("delivery after the reload", Duration::from_secs(20), || {
        delivered_count() > before + 200
    });

    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = written.load(Ordering::Relaxed);
    wait_for("every record delivered", Duration::from_secs(30), || {
        delivered(&d.join("events.jsonl")).0.len() as u64 == total
    });
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(agent.wait().unwrap().success());

    let (by_id, order) = delivered(&d.join("events.jsonl"));
    let missing: Vec<u64> = (1..=total).filter(|n| !by_id.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} records lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let dups: Vec<(&u64, &Vec<String>)> = by_id.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        dups.is_empty(),
        "{} records delivered twice, e.g. {:?}",
        dups.len(),
        &dups[..dups.len().min(5)]
    );
    // One switch from blue to green, never back; everything written after
    // the reload completed is green.
    let first_green = order
        .iter()
        .position(|(_, e)| e == "green")
        .expect("green events");
    assert!(first_green > 0, "blue events before the reload");
    assert!(order[..first_green].iter().all(|(_, e)| e == "blue"));
    assert!(
        order[first_green..].iter().all(|(_, e)| e == "green"),
        "context went back to blue"
    );
    assert!(by_id.range(at_reload + 1..).all(|(_, v)| v[0] == "green"));
    let log_text = fs::read_to_string(&agent_log).unwrap();
    assert!(log_text.contains("configuration reloaded"), "{log_text}");
}

/// `Type=notify` as systemd sees it: READY=1 once delivering, RELOADING=1 then
/// READY=1 around a SIGHUP, WATCHDOG=1 at half `WATCHDOG_USEC`, STOPPING=1.
#[test]
fn speaks_sd_notify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    fs::create_dir_all(d.join("log")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = d.join("onetrail.yaml");
    fs::write(&cfg, config(&d, port, "blue")).unwrap();
    let sock_path = d.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut agent = Agent::spawn_quiet(
        run_command(&cfg)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000"),
    )
    .unwrap();
    let pid = agent.id() as i32;
    let mut seen: Vec<String> = Vec::new();
    let next_until = |want: &str, seen: &mut Vec<String>| {
        let mut buf = [0u8; 256];
        loop {
            let n = sock
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("waiting for {want}: {e}; got {seen:?}"));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(msg.clone());
            if msg.lines().any(|l| l == want) {
                return;
            }
        }
    };
    next_until("READY=1", &mut seen);
    next_until("WATCHDOG=1", &mut seen);
    next_until("WATCHDOG=1", &mut seen);
    unsafe { libc::kill(pid, libc::SIGHUP) };
    next_until("RELOADING=1", &mut seen);
    next_until("READY=1", &mut seen);
    unsafe { libc::kill(pid, libc::SIGTERM) };
    next_until("STOPPING=1", &mut seen);
    assert!(agent.wait().unwrap().success());
}
