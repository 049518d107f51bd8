//! The running agent says when a source collects nothing or nonsense: paths
//! matching no file, a directory as a path, a directory or file it may not
//! read (with the user and the mode), and a window of mostly unparsed
//! records (wrong prefix or format). Each shows in the log, in `/metrics`
//! and in `/health`; `check` names the permission problem too.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::{Agent, PREFIX, append, free_port, http_get, record, run_command, wait_for};

/// Records written with PostgreSQL's default prefix `%m [%p] `.
fn default_prefix_lines(n: u64) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "2026-11-26 06:15:00.{:03} UTC [4242] LOG:  AUDIT: SESSION,{i},1,READ,SELECT,,,select {i},<none>\n",
                i % 1000
            )
        })
        .collect()
}

fn problems(port: u16) -> Vec<(String, String, String)> {
    let Some((_, body)) = http_get(port, "/health") else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["source_problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["source"].as_str().unwrap_or("").to_string(),
                p["problem"].as_str().unwrap_or("").to_string(),
                p["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn run_warns_about_sources_that_collect_nothing_or_nonsense() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("logdir")).unwrap();
    // 250 records under the default prefix, read with a prefix that is not it.
    append(&d.join("wrong.log"), &default_prefix_lines(250));
    append(
        &d.join("good.log"),
        &(1..=3).map(record).collect::<String>(),
    );
    // The README's server prefix read with the shorter packaged one: every
    // line "matches", `%d` swallowing the rest.
    append(
        &d.join("short.log"),
        "2026-11-26 06:15:01.000 UTC [4242] app@appdb [local] psql 6b1120f4.6a4d LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\n",
    );
    let port = free_port();
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {d}/state
metrics:
  listen: "127.0.0.1:{port}"
sources:
  nofile:
    type: pgaudit
    paths: ["{d}/missing/*.log"]
  dir:
    type: pgaudit
    paths: ["{d}/logdir"]
  wrong:
    type: pgaudit
    paths: ["{d}/wrong.log"]
    log_line_prefix: "%t <%u> "
  short:
    type: pgaudit
    paths: ["{d}/short.log"]
    log_line_prefix: "{PREFIX}"
  good:
    type: pgaudit
    paths: ["{d}/good.log"]
    log_line_prefix: "{PREFIX}"
sinks:
  out:
    type: file
    path: {d}/events.jsonl
"#,
            d = d.display()
        ),
    )
    .unwrap();
    // `check` fails on each of them first.
    let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}");
    for (src, needle) in [
        ("nofile", "no file matches"),
        ("dir", "is a directory"),
        ("wrong", "does not explain the lines"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("FAIL source {src}:")) && l.contains(needle)),
            "check: {src}: {needle}\n{text}"
        );
    }
    assert!(text.contains("log_line_prefix: \"%m [%p] \""), "{text}");
    assert!(!text.contains("FAIL source good"), "{text}");

    let mut agent = Agent::spawn(&mut run_command(&cfg), &d.join("agent.stderr")).unwrap();
    wait_for(
        "five source problems in /health",
        Duration::from_secs(30),
        || problems(port).len() >= 5,
    );
    agent.check_alive().unwrap();
    let p = problems(port);
    let has = |src: &str, kind: &str, needle: &str| {
        p.iter()
            .any(|(s, k, dt)| s == src && k == kind && dt.contains(needle))
    };
    assert!(has("nofile", "no_file", "matches no file"), "{p:?}");
    assert!(has("dir", "directory", "/logdir/*.log"), "{p:?}");
    assert!(has("wrong", "unparsed", "log_line_prefix"), "{p:?}");
    assert!(
        // Only session lines in the file: `%q` cannot be seen, and is not needed.
        has("short", "prefix", "@%d %r %a %c \""),
        "{p:?}"
    );
    assert!(!p.iter().any(|(s, ..)| s == "good"), "{p:?}");
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    for kind in ["no_file", "directory", "unparsed", "prefix"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("onetrail_source_problem{")
                    && l.contains(&format!("problem=\"{kind}\""))
                    && l.ends_with(" 1")),
            "{kind}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("onetrail_source_unparsed_ratio{source=\"wrong\",type=\"pgaudit\"} 1"),
        "{metrics}"
    );
    let status = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    for kind in ["no_file", "directory", "unparsed", "prefix"] {
        assert!(
            status.contains(&format!("PROBLEM ({kind}): ")),
            "{kind}:\n{status}"
        );
    }
    let exit = agent.terminate_within(Duration::from_secs(20)).unwrap();
    let log = agent.log();
    assert!(exit.success(), "{exit}\n{log}");
    for (src, needle) in [
        ("nofile", "matches no file"),
        ("dir", "is a directory"),
        ("wrong", "could not be parsed"),
        ("short", "the prefix that matches them"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains(src) && l.contains(needle)),
            "`run` should warn: {src}: {needle}\n{log}"
        );
    }
}

/// `cmd` as an unprivileged user when we are root (root reads everything);
/// `None` (and why) when that is impossible here.
fn unprivileged(cmd: &str) -> Result<Command, String> {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(Command::new(cmd));
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("running as root and `setpriv` is not installed (util-linux)")?;
    let mut c = Command::new(setpriv);
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--",
        cmd,
    ]);
    Ok(c)
}

#[test]
fn a_directory_the_agent_may_not_list_is_a_permission_problem() {
    let bin = env!("CARGO_BIN_EXE_onetrail");
    let mut cmd = match unprivileged(bin) {
        Ok(c) => c,
        Err(why) => return onetrail_corpora::skip(&format!("the permission test: {why}")),
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The unprivileged user must reach the config, state and binary.
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    let logs = d.join("log");
    fs::create_dir(&logs).unwrap();
    append(&logs.join("postgresql.log"), &record(1));
    // Mode 000: nobody may list it, not even its owner (when not root).
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o000)).unwrap();
    let state = d.join("state");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
    let port = free_port();
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            r#"data_dir: {state}
metrics:
  listen: "127.0.0.1:{port}"
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/*.log"]
    log_line_prefix: "{PREFIX}"
sinks:
  out:
    type: stdout
"#,
            state = state.display(),
            logs = logs.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();

    let out = cmd
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("permission denied"))
        .unwrap_or_else(|| panic!("no permission finding:\n{text}"));
    assert!(line.contains(&logs.display().to_string()), "{line}");
    assert!(line.contains("mode 0000"), "{line}");
    assert!(line.contains("the agent runs as"), "{line}");

    let mut run = unprivileged(bin).unwrap();
    run.args(["run", "--config", cfg.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut agent = Agent::spawn(&mut run, &d.join("agent.stderr")).unwrap();
    wait_for(
        "a permission problem in /health",
        Duration::from_secs(30),
        || problems(port).iter().any(|(_, k, _)| k == "permission"),
    );
    let _ = agent.terminate_within(Duration::from_secs(20));
    let log = agent.log();
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("permission denied")
            && l.contains("mode 0000")
            && l.contains("the agent runs as")),
        "{log}"
    );
}

/// `log_line_prefix: auto`: inferred from the file at start, logged, used.
#[test]
fn auto_prefix_is_inferred_logged_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // README-style lines: a background process and client sessions.
    let mut text =
        String::from("2026-11-26 06:15:00.000 UTC [4000] LOG:  checkpoint starting: time\n");
    for i in 1..=5 {
        text += &format!(
            "2026-11-26 06:15:0{i}.000 UTC [4242] app@appdb 10.0.0.7(5{i}312) psql 6b1120f4.6a4d LOG:  AUDIT: SESSION,{i},1,WRITE,INSERT,TABLE,public.t,INSERT INTO public.t VALUES ({i}),<none>\n"
        );
    }
    text += "2026-11-26 06:15:09.000 UTC [4000] LOG:  checkpoint complete\n";
    append(&d.join("pg.log"), &text);
    let out = d.join("events.jsonl");
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {d}/state\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{d}/*.log\"]\n    log_line_prefix: auto\nsinks:\n  out:\n    type: file\n    path: {out}\n",
            d = d.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let mut agent = Agent::spawn(&mut run_command(&cfg), &d.join("agent.stderr")).unwrap();
    let audits = || -> Vec<Value> {
        fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["category"] != "agent" && e["category"] != "other")
            .collect()
    };
    wait_for("5 audit events", Duration::from_secs(30), || {
        audits().len() >= 5
    });
    agent.terminate_within(Duration::from_secs(20)).unwrap();
    let log = agent.log();
    assert!(
        log.contains("log_line_prefix: auto: using \"%m [%p] %q%u@%d %r %a %c \""),
        "{log}"
    );
    for e in audits() {
        assert_eq!(e["database"], "appdb", "{e}");
        assert_eq!(e["db_user"], "app", "{e}");
        assert_ne!(e["category"], "unparsed", "{e}");
    }
}
