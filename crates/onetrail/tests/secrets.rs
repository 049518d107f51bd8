//! Secrets are never echoed. Three secrets are planted — a HEC token
//! through `${VAR}` (made of every character that used to break or cut the
//! YAML), a token through `token_file`, and a password in an endpoint's
//! `user:password@` — then the real binary is driven through everything
//! that prints or writes: config errors on the `${VAR}` line (unknown key,
//! wrong type, a value our validation quotes), `check`, `run` against a
//! receiver that rejects events (dead letters), refuses a token (paused
//! sink) and one that cannot be reached, a SIGHUP with a broken file, and
//! `/status` and `/metrics`. Nothing it printed or wrote may contain any of
//! the secrets, nor a piece of them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use onetrail_testkit::receivers::HecReceiver;
use serde_json::Value;

mod common;
use common::{Agent, PREFIX, append, free_port, http_get, record, run_command, wait_for};

/// `: `, ` #`, a leading `@`, quotes, brackets: each broke or truncated the
/// YAML when `${VAR}` was expanded in the text before parsing.
const ENV_SECRET: &str = "@envS3cret: tok #not-a-comment *{[\"x'|-?";
const FILE_SECRET: &str = "fileS3cret-4d1c9e0b";
const URL_SECRET: &str = "urlS3cret-77ab";
/// In every secret: any piece of one that leaks is caught too.
const MARK: &str = "S3cret";
const ENV_NAME: &str = "ONETRAIL_TEST_PLANTED_TOKEN";

fn reject_all(_: &Value) -> bool {
    true
}

/// The configuration: `extra` is appended to the `dead` sink (to break it).
fn config(d: &Path, hec: &str, port: u16, closed: u16, extra: &str) -> String {
    format!(
        r#"data_dir: {state}
metrics:
  listen: "127.0.0.1:{port}"
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/postgresql*.log"]
    log_line_prefix: "{PREFIX}"
    poll_interval_ms: 20
    quiet_flush_ms: 100
sinks:
  archive: {{ type: file, path: {out} }}
  dead:
    type: splunk_hec
    endpoint: {hec}
    token: ${{{ENV_NAME}}}
    batch_timeout_ms: 50
    retry_initial_backoff_ms: 20
    retry_max_backoff_ms: 200
{extra}
  refused:
    type: splunk_hec
    endpoint: {hec}
    token_file: {token_file}
    batch_timeout_ms: 50
    pause_retry_ms: 200
  unreachable:
    type: splunk_hec
    endpoint: http://onetrail:{URL_SECRET}@127.0.0.1:{closed}/
    token: not-secret
    batch_timeout_ms: 50
    request_timeout_secs: 2
    retry_initial_backoff_ms: 20
    retry_max_backoff_ms: 200
"#,
        state = d.join("state").display(),
        logs = d.join("log").display(),
        out = d.join("state/events.jsonl").display(),
        token_file = d.join("hec.token").display(),
    )
}

/// What one command printed, stdout and stderr.
fn printed(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn onetrail(args: &[&str], cfg: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env(ENV_NAME, ENV_SECRET)
        .output()
        .unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_appear_in_output_files_or_endpoints() {
    let rx = HecReceiver::start(ENV_SECRET).await;
    rx.state().reject = Some(reject_all);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("log")).unwrap();
    append(
        &d.join("log/postgresql.log"),
        &(1..=5).map(record).collect::<String>(),
    );
    fs::write(d.join("hec.token"), format!("{FILE_SECRET}\n")).unwrap();
    let port = free_port();
    let closed = free_port();
    let cfg = d.join("onetrail.yaml");
    let good = config(d, &rx.url, port, closed, "");
    // (what is seen, what it printed)
    let mut seen: Vec<(String, String)> = Vec::new();

    // Config errors in and next to the `${VAR}` line, in `check` and `run`.
    let broken = [
        (
            "unknown key holding the ${VAR}",
            format!("    tokn: ${{{ENV_NAME}}}"),
        ),
        (
            "wrong type from the ${VAR}",
            format!("    batch_max_events: ${{{ENV_NAME}}}"),
        ),
        (
            "wrong type (bool) from the ${VAR}",
            format!("    compression: ${{{ENV_NAME}}}"),
        ),
        ("unknown key next to it", "    tokken: x".to_string()),
    ];
    for (what, extra) in &broken {
        let bad = d.join("bad.yaml");
        fs::write(&bad, config(d, &rx.url, port, closed, extra)).unwrap();
        for cmd in ["check", "run"] {
            let o = onetrail(&[cmd], &bad);
            let text = printed(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd} with {what}: {text}");
            assert!(text.contains("bad.yaml"), "{cmd} with {what}: {text}");
            seen.push((format!("`{cmd}` with {what}"), text));
        }
    }
    // A value our own validation quotes, from the `${VAR}`.
    let bad = d.join("bad.yaml");
    fs::write(
        &bad,
        good.replace(
            &format!("listen: \"127.0.0.1:{port}\""),
            &format!("listen: \"${{{ENV_NAME}}}\""),
        ),
    )
    .unwrap();
    let o = onetrail(&["check"], &bad);
    assert_eq!(o.status.code(), Some(2), "{}", printed(&o));
    seen.push(("`check` with a bad metrics.listen".into(), printed(&o)));
    // An endpoint with credentials that no sink accepts.
    fs::write(
        &bad,
        good.replace(
            &format!("http://onetrail:{URL_SECRET}@"),
            &format!("ftp://onetrail:{URL_SECRET}@"),
        ),
    )
    .unwrap();
    let o = onetrail(&["check"], &bad);
    assert_eq!(o.status.code(), Some(3), "{}", printed(&o));
    seen.push(("`check` with an ftp:// endpoint".into(), printed(&o)));

    // `check` of the good file probes every sink.
    fs::write(&cfg, &good).unwrap();
    let o = onetrail(&["check"], &cfg);
    let text = printed(&o);
    assert!(
        text.contains("sink unreachable") && text.contains("sink refused"),
        "{text}"
    );
    seen.push(("`check`".into(), text));

    // `run`: dead letters, a paused sink, an unreachable one; debug logging.
    let log = d.join("agent.log");
    let mut agent = Agent::spawn(
        run_command(&cfg)
            .env(ENV_NAME, ENV_SECRET)
            .env("RUST_LOG", "debug"),
        &log,
    )
    .unwrap();
    let status = || -> Value {
        http_get(port, "/status")
            .and_then(|(_, b)| serde_json::from_str(&b).ok())
            .unwrap_or_default()
    };
    wait_for(
        "dead letters, and both failing sinks down",
        Duration::from_secs(30),
        || {
            let s = status();
            let dead =
                fs::read_to_string(d.join("state/dead-letter/dead.jsonl")).unwrap_or_default();
            dead.lines().count() >= 5
                && s["sinks"]["refused"]["last_error"].is_string()
                && s["sinks"]["unreachable"]["last_error"].is_string()
        },
    );
    // The whole token reached the receiver: its events were judged (and
    // rejected), not refused for a cut token.
    assert!(rx.state().event_statuses.contains(&400));

    // A reload with the `${VAR}` line broken is refused, and logged.
    fs::write(&cfg, config(d, &rx.url, port, closed, &broken[1].1)).unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(agent.id() as libc::pid_t, libc::SIGHUP) };
    wait_for("the reload to be refused", Duration::from_secs(20), || {
        agent.log().contains("reload refused")
    });
    for path in ["/status", "/metrics", "/health"] {
        let (code, body) = http_get(port, path).expect(path);
        // `/health` is 503 here: two sinks are down.
        assert_eq!(code, if path == "/health" { 503 } else { 200 }, "{path}");
        seen.push((format!("GET {path}"), body));
    }
    agent.check_alive().unwrap();
    let exit = agent.terminate_within(Duration::from_secs(20)).unwrap();
    assert!(exit.success(), "{exit}\n{}", agent.log());
    let agent_log = agent.log();
    assert!(agent_log.contains("refuses the requests"), "{agent_log}");
    seen.push(("`run` stderr".into(), agent_log));

    // Everything the agent wrote.
    let mut written = Vec::new();
    files_under(&d.join("state"), &mut written);
    assert!(
        written
            .iter()
            .any(|p| p.ends_with("dead-letter/dead.jsonl"))
            && written.iter().any(|p| p.ends_with("checkpoints.json")),
        "{written:?}"
    );
    for p in written {
        let bytes = fs::read(&p).unwrap();
        seen.push((
            p.display().to_string(),
            String::from_utf8_lossy(&bytes).into(),
        ));
    }

    let mut leaks = Vec::new();
    for (what, text) in &seen {
        for secret in [ENV_SECRET, FILE_SECRET, URL_SECRET, MARK] {
            if text.contains(secret) {
                leaks.push(format!(
                    "--- {what} shows {secret:?}:\n{}",
                    common::tail(text, 3000)
                ));
                break;
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // The errors still say where and what.
    let all: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("tokn") && all.contains("tokken"), "{all}");
    assert!(all.contains(&format!("${{{ENV_NAME}}}")), "{all}");
    assert!(
        all.contains("onetrail:****@"),
        "URL credentials masked, not dropped"
    );
}
