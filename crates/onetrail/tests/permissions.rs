//! Special files and permissions, with the real binary:
//! - everything `run` creates (data_dir and its subdirectories, checkpoints,
//!   chain state, dead letters, the HEC channel, file sink output) is 0640 /
//!   0750 even under `umask 000`;
//! - a FIFO, a directory and a symlink to `/dev/zero` among the tailed paths
//!   are reported by `check` (which does not hang on the FIFO) and logged by
//!   `run` (which keeps delivering the regular file);
//! - `check` warns about a config file and a `token_file` readable by others,
//!   `tls.verify: false` and cleartext `http://` to another host.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onetrail_testkit::receivers::HecReceiver;
use serde_json::Value;

mod common;
use common::{Agent, PREFIX, append, record, wait_for};

const TOKEN: &str = "perm-test-token";

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path in our temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A FIFO, a directory and a symlink to /dev/zero, all matching `*.log`.
fn plant_special_files(logs: &Path) {
    mkfifo(&logs.join("fifo.log"));
    fs::create_dir_all(logs.join("dir.log")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", logs.join("zero.log")).unwrap();
}

fn reject_all(_: &Value) -> bool {
    true
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() {
            walk(&p, out);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_under_umask_000_creates_private_files_and_skips_special_ones() {
    let rx = HecReceiver::start(TOKEN).await;
    rx.state().reject = Some(reject_all);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = d.join("log");
    fs::create_dir_all(&logs).unwrap();
    append(
        &logs.join("postgresql.log"),
        &(1..=3).map(record).collect::<String>(),
    );
    plant_special_files(&logs);
    let state = d.join("state");
    let out = d.join("out/events.jsonl");
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {state}
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/*.log"]
    log_line_prefix: "{PREFIX}"
    poll_interval_ms: 20
    quiet_flush_ms: 100
sinks:
  archive: {{ type: file, path: {out}, chain: true }}
  hec:
    type: splunk_hec
    endpoint: {url}
    token: {TOKEN}
    batch_timeout_ms: 50
"#,
            state = state.display(),
            logs = logs.display(),
            out = out.display(),
            url = rx.url,
        ),
    )
    .unwrap();
    let log = d.join("agent.log");
    // `exec`: the pid is the agent's, for SIGTERM.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000; exec \"$0\" run --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_onetrail"))
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut agent = Agent::spawn(&mut cmd, &log).unwrap();
    let dead = state.join("dead-letter/hec.jsonl");
    wait_for(
        "delivery to the file and dead letters",
        Duration::from_secs(30),
        || {
            let n = |p: &Path| {
                fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("statement_id"))
                    .count()
            };
            n(&out) >= 3 && n(&dead) >= 3
        },
    );
    agent.check_alive().unwrap();
    let exit = agent.terminate_within(Duration::from_secs(20)).unwrap();
    let text = agent.log();
    assert!(exit.success(), "{exit}\n{text}");
    for (name, kind) in [
        ("fifo.log", "FIFO"),
        ("dir.log", "directory"),
        ("zero.log", "character device"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains("WARN") && l.contains(name) && l.contains(kind)),
            "`run` should warn that {name} is a {kind}:\n{text}"
        );
    }

    let mut created = vec![state.clone(), d.join("out")];
    walk(&state, &mut created);
    walk(&d.join("out"), &mut created);
    for must in [
        state.join("checkpoints.json"),
        state.join("chain/archive.json"),
        state.join("splunk-hec/hec.channel"),
        dead.clone(),
        out.clone(),
    ] {
        assert!(
            created.contains(&must),
            "{} missing: {created:?}",
            must.display()
        );
    }
    let wrong: Vec<String> = created
        .iter()
        .filter_map(|p| {
            let want = if p.is_dir() { 0o750 } else { 0o640 };
            let got = mode(p);
            (got != want).then(|| format!("{} is {got:o}, want {want:o}", p.display()))
        })
        .collect();
    assert!(wrong.is_empty(), "under umask 000:\n{}", wrong.join("\n"));
}

/// `onetrail check`, killed (and the test failed) if it hangs.
fn check(cfg: &Path) -> (Option<i32>, String) {
    let out_path = cfg.with_extension("check.out");
    let outf = fs::File::create(&out_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["check", "--config"])
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(outf.try_clone().unwrap())
        .stderr(outf)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`onetrail check` hangs (a FIFO among the paths?):\n{}",
                fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), fs::read_to_string(&out_path).unwrap())
}

#[test]
fn check_reports_special_files_exposed_secrets_and_unprotected_transport() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = d.join("log");
    fs::create_dir_all(&logs).unwrap();
    append(&logs.join("postgresql.log"), &record(1));
    plant_special_files(&logs);
    let token = d.join("hec.token");
    fs::write(&token, "t0ken\n").unwrap();
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {state}
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/*.log"]
    log_line_prefix: "{PREFIX}"
sinks:
  noverify:
    type: splunk_hec
    endpoint: https://127.0.0.1:9/
    token_file: {token}
    request_timeout_secs: 1
    tls: {{ verify: false }}
  cleartext:
    type: splunk_hec
    endpoint: http://10.255.255.1:9/
    token: t
    request_timeout_secs: 1
  local:
    type: splunk_hec
    endpoint: http://localhost:9/
    token: t
    request_timeout_secs: 1
"#,
            state = d.join("state").display(),
            logs = logs.display(),
            token = token.display(),
        ),
    )
    .unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&token, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, text) = check(&cfg);
    let warned = |needle: &[&str]| {
        text.lines()
            .any(|l| l.starts_with("WARN") && needle.iter().all(|n| l.contains(n)))
    };
    for (name, kind) in [
        ("fifo.log", "FIFO"),
        ("dir.log", "directory"),
        ("zero.log", "symbolic link to a character device"),
    ] {
        assert!(warned(&[name, kind]), "no warning for {name}:\n{text}");
        assert!(!text.contains(&format!("{name} is readable")), "{text}");
    }
    assert!(text.contains("postgresql.log is readable"), "{text}");
    assert!(
        warned(&["config", "onetrail.yaml", "readable by every user"]),
        "{text}"
    );
    assert!(
        warned(&["sink noverify", "hec.token", "readable by every user"]),
        "{text}"
    );
    assert!(warned(&["sink noverify", "tls.verify is false"]), "{text}");
    assert!(
        warned(&["sink cleartext", "http://", "10.255.255.1"]),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.contains("sink local") && l.starts_with("WARN")),
        "{text}"
    );

    // Private files: those warnings go.
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).unwrap();
    let (_, text) = check(&cfg);
    assert!(!text.contains("readable by every user"), "{text}");
}
