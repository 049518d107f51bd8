//! What an operator sees from a shell next to a running agent: `onetrail
//! status` works with only `metrics.listen` (the sinks' secrets live in the
//! service's environment, not the shell's), its advice is true, and log lines
//! carry no terminal colour codes when stderr is a file, a pipe or the
//! journal, and no timestamp of their own under journald.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Agent, free_port, http_get, run_command, wait_for};
use onetrail_testkit::receivers::HecReceiver;

const TOKEN: &str = "00000000-0000-4000-8000-operator0001";

/// A config with a HEC sink whose token is `${OPERATOR_TEST_HEC_TOKEN}`.
fn write_config(dir: &Path, port: u16, hec_url: &str) -> std::path::PathBuf {
    let logs = dir.join("log");
    fs::create_dir_all(&logs).unwrap();
    fs::write(
        logs.join("postgresql.log"),
        "2026-12-03 10:00:00.000 UTC [7] alice@db LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>\n",
    )
    .unwrap();
    let cfg = dir.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {state}
metrics:
  listen: "127.0.0.1:{port}"
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/postgresql.log"]
    log_format: stderr
    log_line_prefix: "%m [%p] %q%u@%d "
    quiet_flush_ms: 100
sinks:
  splunk:
    type: splunk_hec
    endpoint: {hec_url}
    token: ${{OPERATOR_TEST_HEC_TOKEN}}
    batch_timeout_ms: 100
"#,
            state = dir.join("state").display(),
            logs = logs.display(),
        ),
    )
    .unwrap();
    cfg
}

fn status(cfg: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["status", "--config"])
        .arg(cfg)
        .env_remove("OPERATOR_TEST_HEC_TOKEN")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_needs_only_metrics_listen_and_logs_have_no_colour_in_a_file() {
    let rx = HecReceiver::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, &rx.url);
    let log = dir.path().join("agent.log");
    let mut agent = Agent::spawn(
        run_command(&cfg)
            .env("OPERATOR_TEST_HEC_TOKEN", TOKEN)
            .env_remove("NO_COLOR")
            .env_remove("JOURNAL_STREAM"),
        &log,
    )
    .unwrap();
    wait_for(
        "the record at the receiver",
        Duration::from_secs(30),
        || !rx.events().is_empty(),
    );
    wait_for("/status", Duration::from_secs(10), || {
        http_get(port, "/status").is_some_and(|(c, _)| c == 200)
    });

    // The shell has no token: status still answers, from /status.
    let out = status(&cfg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("source pg"), "{stdout}");
    assert!(!stderr.contains("OPERATOR_TEST_HEC_TOKEN"), "{stderr}");

    agent.check_alive().unwrap();
    agent.terminate_within(Duration::from_secs(15)).unwrap();
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO"), "the agent logged nothing: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a log written to a file:\n{text}"
    );
}

#[test]
fn status_advice_without_metrics_is_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("onetrail.yaml");
    fs::write(
        &cfg,
        "sources:\n  pg:\n    type: pgaudit\n    paths: [\"/nonexistent/*.log\"]\n\
         sinks:\n  hec:\n    type: splunk_hec\n    endpoint: https://127.0.0.1:1\n    token: ${OPERATOR_TEST_HEC_TOKEN}\n",
    )
    .unwrap();
    let out = status(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`metrics.listen` is not set"), "{stderr}");
    assert!(stderr.contains("restart"), "{stderr}");
    assert!(!stderr.contains("and reload"), "{stderr}");
    // The secret's absence is not what it complains about.
    assert!(!stderr.contains("OPERATOR_TEST_HEC_TOKEN"), "{stderr}");
}

/// Under systemd, stderr is a socket to journald and `JOURNAL_STREAM` names
/// it: no colour and no timestamp (journald adds its own).
#[test]
fn under_journald_lines_have_no_timestamp_and_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), free_port(), "https://127.0.0.1:1");
    let (journal, child_end) = UnixStream::pair().unwrap();
    let meta = fs::metadata(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&child_end)
    ))
    .unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let mut agent = Agent::spawn_to(
        run_command(&cfg)
            .env("OPERATOR_TEST_HEC_TOKEN", TOKEN)
            .env("JOURNAL_STREAM", &stream)
            .env_remove("NO_COLOR"),
        Stdio::from(std::os::fd::OwnedFd::from(child_end)),
        None,
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    agent.terminate_within(Duration::from_secs(15)).unwrap();
    drop(agent);
    journal
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut &journal, &mut text);
    let first = text.lines().next().unwrap_or_else(|| panic!("no log line"));
    assert!(!text.contains('\u{1b}'), "colour under journald:\n{text}");
    // Without a timestamp a line starts with its level.
    assert!(
        ["INFO", "WARN", "ERROR", "DEBUG"]
            .iter()
            .any(|l| first.trim_start().starts_with(l)),
        "a journald line should start with its level, not a time: {first:?}"
    );
    assert!(!first.starts_with("20"), "{first}");
}
