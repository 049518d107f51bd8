//! The agent with a pgaudit file source and an Oracle source on a host
//! without Oracle Instant Client: the file source's events arrive, the Oracle
//! source reports one actionable error (logged once, retries at debug level),
//! and the agent keeps running until SIGTERM.
//!
//! Alone in its test binary: it installs a global log subscriber and sends
//! SIGTERM to its own process (caught by the agent's handler).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

struct Line(String);
impl Visit for Line {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", f.name(), v);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::DEBUG && m.target().starts_with("onetrail")
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut l = Line(String::new());
        e.record(&mut l);
        self.0.lock().unwrap().push((*e.metadata().level(), l.0));
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[test]
fn file_source_runs_while_the_oracle_source_reports_its_missing_client() {
    let cap = Capture::default();
    tracing::subscriber::set_global_default(cap.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = dir.path().join("pg");
    std::fs::create_dir_all(&pg).unwrap();
    std::fs::write(
        pg.join("postgresql.log"),
        "2024-05-01 12:00:00.000 UTC [123] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>\n\
         2024-05-01 12:00:01.000 UTC [123] LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,select 2,<not logged>\n\
         2024-05-01 12:00:02.000 UTC [124] LOG:  connection received: host=10.0.0.1 port=5000\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let yaml = format!(
        r#"
data_dir: {data}
shutdown_timeout_secs: 2
sources:
  pg:
    type: pgaudit
    paths: ["{pg}/*.log"]
  ora:
    type: oracle
    connect_string: "127.0.0.1:1/FREEPDB1"
    username: audit_reader
    password: secret
    poll_interval_ms: 200
sinks:
  out: {{ type: file, path: {out} }}
"#,
        data = dir.path().join("data").display(),
        pg = pg.display(),
        out = out.display()
    );
    let cfg_path = dir.path().join("onetrail.yaml");
    std::fs::write(&cfg_path, &yaml).unwrap();
    let cfg = onetrail_agent::config::Config::load(&cfg_path).expect("config");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let agent = rt.spawn(onetrail_agent::run(cfg));

    // The file source delivers while the Oracle source fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pg_events = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| {
                l.contains("\"engine\":\"postgresql\"") && l.contains("\"category\":\"read\"")
            })
            .count();
        let oracle_attempts = cap
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m.contains("oracle source `ora`"))
            .count();
        if n >= 2 && oracle_attempts >= 2 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {n} pg events, {oracle_attempts} oracle attempts\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(pg_events, 2);

    let logs = cap.0.lock().unwrap().clone();
    let oracle: Vec<_> = logs
        .iter()
        .filter(|(_, m)| m.contains("oracle source `ora`"))
        .collect();
    let errors: Vec<_> = oracle
        .iter()
        .filter(|(l, _)| *l == tracing::Level::ERROR)
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "logged once per distinct error: {oracle:#?}"
    );
    let msg = &errors[0].1;
    if msg.contains("DPI-1047") {
        assert!(
            msg.contains("Instant Client") && msg.contains("LD_LIBRARY_PATH"),
            "{msg}"
        );
    } else {
        println!("an Oracle client is installed here; the error was: {msg}");
    }
    assert!(
        oracle.iter().any(|(l, _)| *l == tracing::Level::DEBUG),
        "retries logged at debug"
    );

    // SIGTERM: the agent stops cleanly.
    let pid = std::process::id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let r = rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), agent).await });
    let r = r.expect("agent stops after SIGTERM").expect("agent task");
    assert!(r.is_ok(), "{r:?}");
}
