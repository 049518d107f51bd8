//! Captures real PostgreSQL 15 + pgaudit logs of the testkit workload into
//! `fixtures/postgresql/real/<capture>/` (see the README there).
//!
//! Usage (as root or any user that can run PostgreSQL; root runs it as `postgres`):
//!
//! ```text
//! cargo run -j2 -p onetrail-testkit --example pg_capture -- [OUT_DIR] [CAPTURE...]
//! ```
//!
//! OUT_DIR defaults to `fixtures/postgresql/real` (relative to the current dir);
//! CAPTURE names default to all of them. `--dump` only runs the jsonlog capture
//! and prints the AUDIT records it found (to write workload expectations).

use std::fs;
use std::path::{Path, PathBuf};

use onetrail_testkit::pg_workload::{self, WorkloadReport};
use onetrail_testkit::postgres::{
    DEFAULT_LOG_LINE_PREFIX, PgInstance, PgLogFormat, PgOptions, RDS_LOG_LINE_PREFIX,
};

struct Capture {
    name: &'static str,
    format: PgLogFormat,
    prefix: &'static str,
    timezone: &'static str,
}

const CAPTURES: [Capture; 5] = [
    Capture {
        name: "stderr",
        format: PgLogFormat::Stderr,
        prefix: DEFAULT_LOG_LINE_PREFIX,
        timezone: "UTC",
    },
    Capture {
        name: "csvlog",
        format: PgLogFormat::Csvlog,
        prefix: DEFAULT_LOG_LINE_PREFIX,
        timezone: "UTC",
    },
    Capture {
        name: "jsonlog",
        format: PgLogFormat::Jsonlog,
        prefix: DEFAULT_LOG_LINE_PREFIX,
        timezone: "UTC",
    },
    Capture {
        name: "pgauditlogtofile",
        format: PgLogFormat::PgAuditLogToFile,
        prefix: DEFAULT_LOG_LINE_PREFIX,
        timezone: "UTC",
    },
    Capture {
        name: "stderr-rds-berlin",
        format: PgLogFormat::Stderr,
        prefix: RDS_LOG_LINE_PREFIX,
        timezone: "Europe/Berlin",
    },
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(args).await {
        eprintln!("pg_capture: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    if args.iter().any(|a| a == "--dump") {
        return dump().await;
    }
    let mut out = PathBuf::from("fixtures/postgresql/real");
    let mut wanted: Vec<String> = Vec::new();
    for a in args {
        if CAPTURES.iter().any(|c| c.name == a) {
            wanted.push(a);
        } else {
            out = PathBuf::from(a);
        }
    }
    for c in CAPTURES.iter() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == c.name) {
            continue;
        }
        eprintln!("pg_capture: {} -> {}", c.name, out.join(c.name).display());
        capture(c, &out.join(c.name)).await?;
    }
    Ok(())
}

async fn capture(c: &Capture, dest: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut pg = PgInstance::start(
        PgOptions::new(c.format)
            .log_line_prefix(c.prefix)
            .log_timezone(c.timezone),
    )?;
    let report = pg_workload::run_workload(&pg).await?;
    // A session of its own after the workload (not in workload.json).
    let versions = pg.versions().await?;
    pg.stop()?;

    let files = pg.log_files();
    if c.format == PgLogFormat::Jsonlog {
        let text = read_all(&files, "json")?;
        pg_workload::check_report_against_jsonlog(&report, &text)
            .map_err(|e| format!("the workload report does not match the server log:\n{e}"))?;
    }

    if dest.exists() {
        fs::remove_dir_all(dest)?;
    }
    fs::create_dir_all(dest)?;
    let mut copied = Vec::new();
    for f in &files {
        let name = stable_name(f, pg.audit_dir());
        fs::copy(f, dest.join(&name))?;
        copied.push(name);
    }
    copied.sort();
    let config = config_txt(c, &pg, &versions, &report, &copied);
    fs::write(dest.join("config.txt"), config)?;
    fs::write(dest.join("workload.json"), report_json(&report))?;
    Ok(())
}

/// `postgresql-2026-…_123456.log` → `postgresql.log`; pgauditlogtofile → `audit.log`.
fn stable_name(f: &Path, audit_dir: &Path) -> String {
    let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("log");
    if f.parent() == Some(audit_dir) {
        format!("audit.{ext}")
    } else {
        format!("postgresql.{ext}")
    }
}

fn read_all(files: &[PathBuf], ext: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut s = String::new();
    for f in files
        .iter()
        .filter(|f| f.extension().and_then(|e| e.to_str()) == Some(ext))
    {
        s.push_str(&fs::read_to_string(f)?);
    }
    Ok(s)
}

fn config_txt(
    c: &Capture,
    pg: &PgInstance,
    v: &onetrail_testkit::postgres::PgVersions,
    report: &WorkloadReport,
    files: &[String],
) -> String {
    let mut s = String::new();
    s.push_str(&format!("capture: {}\n", c.name));
    s.push_str(&format!("log_format: {}\n", c.format));
    s.push_str(&format!(
        "log_destination: {}\n",
        match c.format {
            PgLogFormat::Csvlog => "csvlog",
            PgLogFormat::Jsonlog => "jsonlog",
            _ => "stderr",
        }
    ));
    s.push_str(&format!("log_line_prefix: '{}'\n", c.prefix));
    s.push_str(&format!("log_timezone: {}\n", c.timezone));
    s.push_str(&format!("server_version: {}\n", v.server));
    s.push_str(&format!(
        "pgaudit: {} (package {})\n",
        v.pgaudit,
        v.pgaudit_package.as_deref().unwrap_or("?")
    ));
    if c.format == PgLogFormat::PgAuditLogToFile {
        s.push_str(&format!(
            "pgauditlogtofile: {} (package {})\n",
            v.pgauditlogtofile.as_deref().unwrap_or("?"),
            v.pgauditlogtofile_package.as_deref().unwrap_or("?")
        ));
        s.push_str(
            "pgauditlogtofile settings: pgaudit.log_filename='audit-%Y%m%d_%H%M.log' \
             pgaudit.log_connections=on pgaudit.log_disconnections=on\n",
        );
    }
    s.push_str(
        "settings: logging_collector=on log_connections=on log_disconnections=on \
         log_min_error_statement=error lc_messages=C pgaudit.log='all' pgaudit.log_catalog=off \
         pgaudit.log_relation=on pgaudit.log_parameter=on pgaudit.log_rows=on pgaudit.role='auditor'\n",
    );
    s.push_str("pg_hba: host all blocked_user 127.0.0.1/32 reject; host all all 127.0.0.1/32 scram-sha-256; local trust\n");
    s.push_str(&format!("files: {}\n", files.join(", ")));
    s.push_str("sessions (label user@database backend_pid client 127.0.0.1:port):\n");
    for ses in &report.sessions {
        s.push_str(&format!(
            "  {} {}@{} {} 127.0.0.1:{}\n",
            ses.label, ses.db_user, ses.database, ses.backend_pid, ses.client_port
        ));
    }
    s.push_str(
        "note: after the workload one more superuser session reads the versions \
         (SELECT version(), pg_available_extensions); it is not in workload.json\n",
    );
    s.push_str(&format!("original log dir: {}\n", pg.log_dir().display()));
    s
}

fn report_json(r: &WorkloadReport) -> String {
    use serde_json::json;
    let v = json!({
        "sessions": r.sessions.iter().map(|s| json!({
            "label": s.label, "db_user": s.db_user, "database": s.database,
            "backend_pid": s.backend_pid, "client_ip": "127.0.0.1", "client_port": s.client_port,
        })).collect::<Vec<_>>(),
        "audits": r.audits.iter().map(|a| json!({
            "session": a.session, "audit_type": a.audit_type,
            "statement_id": a.statement_id, "substatement_id": a.substatement_id,
            "class": a.class, "command": a.command,
            "object_type": a.object_type, "object_name": a.object_name,
            "statement": a.statement, "parameter": a.parameter, "rows": a.rows,
            "error_code": a.error_code,
        })).collect::<Vec<_>>(),
        "failed_logins": r.failed_logins.iter().map(|f| json!({
            "user": f.user, "database": f.database, "code": f.code,
            "reason": f.reason, "message": f.message,
        })).collect::<Vec<_>>(),
        "unaudited": r.unaudited,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

async fn dump() -> Result<(), Box<dyn std::error::Error>> {
    let mut pg = PgInstance::start(PgOptions::new(PgLogFormat::Jsonlog))?;
    let report = pg_workload::run_workload(&pg).await?;
    pg.stop()?;
    let text = read_all(&pg.log_files(), "json")?;
    for l in pg_workload::audits_from_jsonlog(&text)? {
        let label = report
            .sessions
            .iter()
            .find(|s| s.backend_pid as i64 == l.pid)
            .map_or("?", |s| s.label);
        println!(
            "{label} {} {} {} {} {:?} {:?} {:?} rows={} param={:?}\n    {:?}",
            l.audit_type,
            l.statement_id,
            l.substatement_id,
            l.class,
            l.command,
            l.object_type,
            l.object_name,
            l.rows,
            l.parameter,
            l.statement
        );
    }
    if let Err(e) = pg_workload::check_report_against_jsonlog(&report, &text) {
        println!("MISMATCH:\n{e}");
    }
    Ok(())
}
