//! `onetrail check` reads the server's real lines: a real PostgreSQL 15 +
//! pgaudit (crates/testkit) writes its log with one `log_line_prefix`, the
//! configuration names another, and `check` must fail (exit 3) and print the
//! prefix that matches. Also `onetrail detect` and `log_line_prefix: auto`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use onetrail_testkit::postgres::{PgInstance, PgLogFormat, PgOptions};

/// Start a server writing with `prefix`, have a client session audited, and
/// return it once its log holds an AUDIT line.
fn server_with_audit(prefix: &str) -> PgInstance {
    let pg = PgInstance::start(PgOptions::new(PgLogFormat::Stderr).log_line_prefix(prefix))
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL 15 + pgaudit: {e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = pg.connect_superuser("postgres").await.unwrap();
        c.batch_execute("CREATE TABLE check_lines(id int); INSERT INTO check_lines VALUES (1); SELECT * FROM check_lines")
            .await
            .unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pg.read_server_logs().contains("AUDIT: SESSION") {
        assert!(Instant::now() < deadline, "no AUDIT line in the server log");
        std::thread::sleep(Duration::from_millis(100));
    }
    pg
}

fn config(dir: &Path, pg: &PgInstance, prefix: &str) -> std::path::PathBuf {
    let cfg = dir.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {}\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{}\"]\n    log_format: stderr\n    log_line_prefix: \"{prefix}\"\nsinks:\n  out:\n    type: file\n    path: {}\n",
            dir.join("state").display(),
            pg.server_log_glob(),
            dir.join("events.jsonl").display()
        ),
    )
    .unwrap();
    cfg
}

fn onetrail(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn check(cfg: &Path) -> (i32, String) {
    onetrail(&["check", "--config", cfg.to_str().unwrap()])
}

/// The README's server prefix against the packaged config's shorter one:
/// every line "matches", with `%d` swallowing `[local] app session-id`.
#[test]
fn check_fails_and_proposes_the_servers_prefix() {
    let server_prefix = "%m [%p] %q%u@%d %r %a %c ";
    let pg = server_with_audit(server_prefix);
    let dir = tempfile::tempdir().unwrap();

    let (code, text) = check(&config(dir.path(), &pg, "%m [%p] %q%u@%d "));
    assert_eq!(code, 3, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL source pg") && l.contains("does not explain the lines")),
        "{text}"
    );
    assert!(
        text.contains(&format!("log_line_prefix: \"{server_prefix}\"")),
        "check must print the prefix that matches:\n{text}"
    );

    let (code, text) = check(&config(dir.path(), &pg, server_prefix));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("explains the lines"), "{text}");
    assert!(text.contains("0 unparsed"), "{text}");

    let (code, text) = check(&config(dir.path(), &pg, "auto"));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("auto: the agent will use \"{server_prefix}\"")),
        "{text}"
    );

    let newest = pg
        .log_files()
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    let (code, text) = onetrail(&["detect", newest.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("format: pgaudit-stderr"), "{text}");
    assert!(
        text.contains(&format!("log_line_prefix: \"{server_prefix}\"")),
        "{text}"
    );
}

/// A server left at PostgreSQL's default prefix: the packaged config's
/// `%q%u@%d` matches its lines only through `%q`, which no client session's
/// AUDIT line would.
#[test]
fn check_fails_on_postgresql_default_prefix() {
    let pg = server_with_audit("%m [%p] ");
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = check(&config(dir.path(), &pg, "%m [%p] %q%u@%d "));
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("log_line_prefix: \"%m [%p] \""),
        "check must print the prefix that matches:\n{text}"
    );
    // And a prefix that matches nothing at all.
    let (code, text) = check(&config(dir.path(), &pg, "%t <%u> "));
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("log_line_prefix: \"%m [%p] \""), "{text}");
}
