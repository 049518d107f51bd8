//! The packaged systemd unit: `systemd-analyze verify` accepts it and
//! `systemd-analyze security` rates its exposure at most 2.0. Both run
//! offline (no running systemd needed). Without `systemd-analyze` (or one
//! too old for `--offline`) the test prints a visible SKIPPED line; under
//! `CI=true` that is a failure (scripts/test.sh installs `systemd`).

use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_EXPOSURE: f64 = 2.0;

fn unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/onetrail.service")
}

fn analyze_available() -> bool {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        onetrail_corpora::skip(
            "systemd-analyze is not installed (apt-get install systemd); the unit was not checked",
        );
    }
    ok
}

#[test]
fn exposure_is_at_most_2() {
    if !analyze_available() {
        return;
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Unknown option") || err.contains("unrecognized option") {
        onetrail_corpora::skip(&format!(
            "this systemd-analyze has no --offline (systemd < 250): {err}"
        ));
        return;
    }
    let level = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for onetrail.service:")
                .nth(1)
        })
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}{err}"));
    eprintln!("systemd-analyze security: exposure {level}");
    assert!(
        level <= MAX_EXPOSURE,
        "exposure {level} > {MAX_EXPOSURE}:\n{text}"
    );
}

#[test]
fn the_unit_verifies_and_matches_the_agent() {
    let text = std::fs::read_to_string(unit()).unwrap();
    // What the agent implements and the docs promise.
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=onetrail",
        "ReadWritePaths=/var/lib/onetrail",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}`");
    }
    // TimeoutStopSec leaves room for shutdown_timeout_secs (the agent's
    // default and the packaged configuration's value): the agent aborts
    // in-flight requests at that deadline (tests/shutdown_deadline.rs), then
    // needs a moment to save its checkpoints.
    let stop: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec in seconds");
    let dir = tempfile::tempdir().unwrap();
    let minimal = dir.path().join("minimal.yaml");
    std::fs::write(
        &minimal,
        format!(
            "data_dir: {}\nsources:\n  pg: {{ type: pgaudit, paths: [\"/nonexistent.log\"] }}\nsinks:\n  out: {{ type: stdout }}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let default = onetrail_agent::config::Config::load(&minimal)
        .unwrap()
        .shutdown_timeout_secs;
    let packaged: u64 = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/debian/onetrail.yaml"),
    )
    .unwrap()
    .lines()
    .find_map(|l| l.strip_prefix("shutdown_timeout_secs:"))
    .and_then(|v| v.trim().parse().ok())
    .expect("shutdown_timeout_secs in deploy/debian/onetrail.yaml");
    for (what, secs) in [("default", default), ("packaged", packaged)] {
        assert!(
            stop >= secs + 3,
            "TimeoutStopSec={stop} must exceed the {what} shutdown_timeout_secs ({secs}) by at least 3 s"
        );
    }

    if !analyze_available() {
        return;
    }
    // As installed, but with ExecStart pointing at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("onetrail.service");
    std::fs::write(
        &copy,
        text.replace("/usr/bin/onetrail", env!("CARGO_BIN_EXE_onetrail")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
