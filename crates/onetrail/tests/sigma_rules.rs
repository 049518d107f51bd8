//! The Sigma rules in `deploy/sigma/rules` are valid for pySigma, convert to Splunk SPL, and,
//! run through pySigma's SQLite backend over the events `onetrail parse` makes of the real
//! captures in `fixtures/` (plus the crafted events of `deploy/sigma/evaluate.py`), each fires
//! on exactly the events it should and on nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Pinned: the rules and the expected hits were checked with these versions.
const PACKAGES: &[&str] = &[
    "pySigma==1.5.1",
    "pySigma-backend-splunk==2.1.0",
    "pySigma-backend-sqlite==2.0.0",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, or why it could not be made (no network for pip, no python3).
fn sigma_python() -> Result<PathBuf, String> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(install).clone()
}

fn install() -> Result<PathBuf, String> {
    onetrail_testkit::python::venv(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("sigma-venv"),
        PACKAGES,
        "sigma.backends.splunk, sigma.backends.sqlite, sigma.validators.core",
    )
}

/// `onetrail parse` over one real capture, written to `<dir>/<workload>.jsonl`.
fn parse(dir: &Path, workload: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .arg("parse")
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "onetrail parse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "no events from {workload}");
    std::fs::write(dir.join(format!("{workload}.jsonl")), &out.stdout).unwrap();
}

#[test]
fn sigma_rules_validate_convert_and_fire_where_they_should() {
    let python = match sigma_python() {
        Ok(p) => p,
        Err(why) => return onetrail_corpora::skip(&why),
    };
    let events = tempfile::tempdir().unwrap();
    let dir = events.path();
    let pg = "fixtures/postgresql/real";
    let prefix = "%m [%p] %q%u@%d %r %a %c "; // the captures' config.txt
    parse(
        dir,
        "pg-stderr",
        &[
            "-f",
            "pgaudit-stderr",
            "--log-line-prefix",
            prefix,
            &format!("{pg}/stderr/postgresql.log"),
        ],
    );
    parse(
        dir,
        "pg-csvlog",
        &[
            "-f",
            "pgaudit-csvlog",
            &format!("{pg}/csvlog/postgresql.csv"),
        ],
    );
    parse(
        dir,
        "pg-jsonlog",
        &[
            "-f",
            "pgaudit-jsonlog",
            &format!("{pg}/jsonlog/postgresql.json"),
        ],
    );
    parse(
        dir,
        "pg-pgauditlogtofile",
        &[
            "-f",
            "pgauditlogtofile",
            &format!("{pg}/pgauditlogtofile/audit.log"),
        ],
    );
    parse(
        dir,
        "pg-stderr-rds-berlin",
        &[
            "-f",
            "pgaudit-stderr",
            "--log-line-prefix",
            "%t:%r:%u@%d:[%p]:",
            &format!("{pg}/stderr-rds-berlin/postgresql.log"),
        ],
    );
    parse(
        dir,
        "mariadb-10.11",
        &[
            "-f",
            "mariadb-server-audit",
            "fixtures/mysql/real-mariadb-10.11/server_audit.log",
        ],
    );
    let out = Command::new(python)
        .arg(repo().join("deploy/sigma/evaluate.py"))
        .arg(repo().join("deploy/sigma/rules"))
        .arg(dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Sigma rule evaluation failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("9 rules, 7 workloads"),
        "unexpected report:\n{report}"
    );
}
