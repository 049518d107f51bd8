//! Checks the PostgreSQL harness and the workload's expectations against a
//! real server. Needs PostgreSQL 15 + pgaudit (see `fixtures/postgresql/real/README.md`);
//! fails, never skips, when they are missing.

use std::time::Duration;

use onetrail_testkit::pg_workload::{self, WorkloadReport};
use onetrail_testkit::postgres::{PgInstance, PgLogFormat, PgOptions};

fn start(opts: PgOptions) -> PgInstance {
    PgInstance::start(opts).unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"))
}

fn read_ext(pg: &PgInstance, ext: &str) -> String {
    pg.log_files()
        .iter()
        .filter(|f| f.extension().and_then(|e| e.to_str()) == Some(ext))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_report_matches_the_real_server_log() {
    let mut pg = start(PgOptions::new(PgLogFormat::Jsonlog));
    let report: WorkloadReport = pg_workload::run_workload(&pg).await.unwrap();
    pg.stop().unwrap();
    let json = read_ext(&pg, "json");
    if let Err(e) = pg_workload::check_report_against_jsonlog(&report, &json) {
        panic!("workload expectations are wrong:\n{e}");
    }

    // Failed logins and failed statements are in the log with their SQLSTATE.
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for f in &report.failed_logins {
        assert!(
            records.iter().any(|r| r["error_severity"] == "FATAL"
                && r["state_code"] == f.code
                && r["message"] == f.message.as_str()
                && r["user"] == f.user),
            "no FATAL {} for {} ({})",
            f.code,
            f.user,
            f.reason
        );
    }
    for e in &report.errors {
        assert!(
            records.iter().any(|r| r["error_severity"] == "ERROR"
                && r["state_code"] == e.code
                && r["statement"] == e.statement.as_str()),
            "no ERROR {} for {:?}",
            e.code,
            e.statement
        );
    }
    assert!(
        report.errors.iter().any(|e| e.audit_statement_id.is_some()),
        "the workload must have a failing statement that was audited"
    );
    for text in &report.unaudited {
        assert!(
            !records.iter().any(|r| r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("AUDIT: ") && m.contains(text))),
            "{text:?} must not be audited"
        );
    }
    assert_eq!(report.sessions.len(), 3);
    assert!(report.audits.len() > 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgauditlogtofile_writes_audit_records_to_its_own_file() {
    let mut pg = start(PgOptions::new(PgLogFormat::PgAuditLogToFile));
    let c = pg.connect_superuser("postgres").await.unwrap();
    c.batch_execute("SELECT 'to the audit file' AS marker")
        .await
        .unwrap();
    drop(c);
    pg.stop().unwrap();
    let audit: String = std::fs::read_dir(pg.audit_dir())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        audit.contains("SESSION,1,1,READ,SELECT,,,SELECT 'to the audit file' AS marker,<none>,1"),
        "{audit}"
    );
    let server = read_ext(&pg, "log");
    assert!(server.contains("database system is ready"), "{server}");
    assert!(!server.contains("AUDIT"), "{server}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_uses_the_configured_prefix_and_time_zone() {
    let mut pg = start(
        PgOptions::new(PgLogFormat::Stderr)
            .log_line_prefix("%t:%r:%u@%d:[%p]:")
            .log_timezone("Europe/Berlin"),
    );
    let c = pg.connect_superuser("postgres").await.unwrap();
    c.batch_execute("SELECT 42 AS answer").await.unwrap();
    drop(c);
    pg.stop().unwrap();
    let log = read_ext(&pg, "log");
    let line = log
        .lines()
        .find(|l| l.contains("SELECT 42 AS answer"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(":127.0.0.1(") && line.contains("):postgres@postgres:["),
        "{line}"
    );
    assert!(
        line.contains(" CET:") || line.contains(" CEST:"),
        "Europe/Berlin time zone: {line}"
    );
}

#[test]
fn drop_stops_the_server() {
    let pg = start(PgOptions::default());
    let port = pg.port();
    let pidfile = pg.data_dir().join("postmaster.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(pg);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // The postmaster removes its pid file just before it exits.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(), "postmaster {pid} still running");
}

#[test]
fn missing_pgaudit_is_reported_with_the_package_name() {
    let empty = tempfile::tempdir().unwrap();
    let opts = PgOptions {
        libdir: Some(empty.path().to_path_buf()),
        ..PgOptions::default()
    };
    let e = PgInstance::start(opts).unwrap_err().to_string();
    assert!(
        e.contains("apt-get install -y postgresql-15-pgaudit"),
        "{e}"
    );

    let mut opts = PgOptions::new(PgLogFormat::PgAuditLogToFile);
    let libdir = tempfile::tempdir().unwrap();
    std::fs::write(libdir.path().join("pgaudit.so"), b"").unwrap();
    opts.libdir = Some(libdir.path().to_path_buf());
    let e = PgInstance::start(opts).unwrap_err().to_string();
    assert!(e.contains("postgresql-15-pgauditlogtofile"), "{e}");
}
