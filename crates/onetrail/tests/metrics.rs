//! The agent's `/metrics`, `/health` and `/status` endpoint, scraped while the
//! real binary tails a file: the counters move as events flow, and a sink
//! that cannot deliver shows as down, with bytes behind and retries.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;
use common::{Agent, PREFIX, append, free_port, http_get, record, run_command, wait_for};

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get(port, path)
}

/// The value of one sample (`name{labels}`) in a Prometheus text page.
fn sample(page: &str, name_and_labels: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)?
            .strip_prefix(' ')?
            .parse()
            .ok()
    })
}

/// Wait until `/metrics` shows `name_and_labels` at `want`.
fn wait_for_metric(port: u16, name_and_labels: &str, want: f64, timeout: Duration) {
    wait_for(&format!("{name_and_labels} = {want}"), timeout, || {
        let page = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
        sample(&page, name_and_labels) == Some(want)
    });
}

/// `onetrail status --config CFG`.
fn onetrail_status(cfg: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["status", "--config"])
        .arg(cfg)
        .output()
        .unwrap()
}

fn start_agent(cfg: &Path, log: &Path) -> Agent {
    Agent::spawn(run_command(cfg).env("RUST_LOG", "info"), log).unwrap()
}

/// A temp dir with `postgresql.log` holding records `1..=n`, and a config
/// tailing it into `events.jsonl` with the metrics endpoint on a free port.
/// `source_extra` is appended to the source's YAML (indented by 4).
struct Setup {
    dir: tempfile::TempDir,
    log: std::path::PathBuf,
    out: std::path::PathBuf,
    cfg: std::path::PathBuf,
    port: u16,
}

fn setup(n: u64, source_extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    let out = dir.path().join("events.jsonl");
    let cfg = dir.path().join("onetrail.yaml");
    let port = free_port();
    let text: String = (1..=n).map(record).collect();
    append(&log, &text);
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nmetrics:\n  listen: \"127.0.0.1:{port}\"\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{log}\"]\n    log_line_prefix: \"{PREFIX}\"\n    poll_interval_ms: 20\n    quiet_flush_ms: 100\n{source_extra}sinks:\n  out: {{ type: file, path: {out} }}\n",
            state = dir.path().join("state").display(),
            log = log.display(),
            out = out.display(),
        ),
    )
    .unwrap();
    Setup {
        dir,
        log,
        out,
        cfg,
        port,
    }
}

#[test]
fn counters_move_as_events_flow() {
    let Setup {
        dir,
        log,
        cfg,
        port,
        ..
    } = setup(100, "");
    let agent = start_agent(&cfg, &dir.path().join("agent.log"));
    let src = "{source=\"pg\",type=\"pgaudit\"}";
    let snk = "{sink=\"out\",type=\"file\"}";
    let file = format!("{{source=\"pg\",path=\"{}\"}}", log.display());
    let scrape = || get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();

    // 100 records + the START agent event.
    wait_for_metric(
        port,
        &format!("onetrail_source_events_delivered_total{src}"),
        101.0,
        Duration::from_secs(20),
    );
    let page = scrape();
    assert_eq!(
        sample(&page, &format!("onetrail_source_events_read_total{src}")),
        Some(101.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &format!("onetrail_source_events_parsed_total{src}")),
        Some(101.0)
    );
    assert_eq!(
        sample(
            &page,
            &format!("onetrail_source_events_unparsed_total{src}")
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&page, &format!("onetrail_sink_events_delivered_total{snk}")),
        Some(101.0)
    );
    assert_eq!(sample(&page, &format!("onetrail_sink_up{snk}")), Some(1.0));
    assert_eq!(
        sample(&page, &format!("onetrail_sink_retries_total{snk}")),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &page,
            &format!("onetrail_sink_events_dead_lettered_total{snk}")
        ),
        Some(0.0)
    );
    assert_eq!(sample(&page, "onetrail_ready"), Some(1.0));

    // 50 more, and one AUDIT record too broken to parse.
    let more: String = (101..=150).map(record).collect();
    append(&log, &more);
    append(
        &log,
        "2026-11-26 06:16:00.000 UTC [4242] app@appdb LOG:  AUDIT: SESSION,\"unterminated\n",
    );
    append(&log, &record(151));
    wait_for_metric(
        port,
        &format!("onetrail_source_events_delivered_total{src}"),
        153.0,
        Duration::from_secs(20),
    );
    let page = scrape();
    let unparsed = sample(
        &page,
        &format!("onetrail_source_events_unparsed_total{src}"),
    )
    .unwrap();
    assert!(
        unparsed >= 1.0,
        "the broken record is counted as unparsed:\n{page}"
    );
    assert_eq!(
        sample(&page, &format!("onetrail_source_events_parsed_total{src}")).unwrap() + unparsed,
        sample(&page, &format!("onetrail_source_events_read_total{src}")).unwrap()
    );
    assert_eq!(
        sample(&page, &format!("onetrail_sink_events_delivered_total{snk}")),
        Some(153.0)
    );
    // Everything delivered: nothing behind, nothing in flight, checkpoint fresh.
    wait_for("bytes behind to reach 0", Duration::from_secs(10), || {
        sample(&scrape(), &format!("onetrail_file_bytes_behind{file}")) == Some(0.0)
    });
    let page = scrape();
    assert_eq!(
        sample(
            &page,
            &format!("onetrail_source_oldest_undelivered_seconds{src}")
        ),
        Some(0.0)
    );
    let age = sample(
        &page,
        &format!("onetrail_source_checkpoint_age_seconds{src}"),
    )
    .unwrap();
    assert!((0.0..5.0).contains(&age), "checkpoint age {age}");
    assert!(page.contains("# TYPE onetrail_source_events_delivered_total counter"));

    let (code, health) = get(port, "/health").unwrap();
    assert_eq!(code, 200, "{health}");
    let (code, status) = get(port, "/status").unwrap();
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["sources"]["pg"]["events_delivered"], 153);
    assert_eq!(v["sinks"]["out"]["up"], true);
    assert_eq!(v["sources"]["pg"]["files"][0]["bytes_behind"], 0);

    // `onetrail status` finds the agent through the same config.
    let st = onetrail_status(&cfg);
    let text = String::from_utf8_lossy(&st.stdout);
    assert_eq!(
        st.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(text.contains("source pg (pgaudit): 153 read"), "{text}");
    assert!(
        text.contains("sink out (file): up; 153 delivered"),
        "{text}"
    );

    assert!(agent.terminate().success());
}

#[test]
fn filtered_events_are_counted_not_lost_from_view() {
    let Setup {
        dir,
        out,
        cfg,
        port,
        ..
    } = setup(
        10,
        "    filter:\n      rules:\n        - exclude: { action: [INSERT] }\n",
    );
    let agent = start_agent(&cfg, &dir.path().join("agent.log"));
    let src = "{source=\"pg\",type=\"pgaudit\"}";
    let scrape = || get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
    let metric = |name: &str| format!("{name}{src}");
    wait_for_metric(
        port,
        &metric("onetrail_source_events_filtered_total"),
        10.0,
        Duration::from_secs(20),
    );
    // Only the agent's START event is read and delivered.
    wait_for_metric(
        port,
        &metric("onetrail_source_events_delivered_total"),
        1.0,
        Duration::from_secs(10),
    );
    assert_eq!(
        sample(&scrape(), &metric("onetrail_source_events_read_total")),
        Some(1.0)
    );
    let st = onetrail_status(&cfg);
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(text.contains("10 filtered out"), "{text}");
    assert!(agent.terminate().success());
    // Only START and STOP reached the sink.
    let delivered = fs::read_to_string(&out).unwrap();
    let actions: Vec<String> = delivered
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(actions, ["\"START\"", "\"STOP\""], "{delivered}");
}

#[test]
fn a_sink_that_cannot_deliver_shows_down_and_behind() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    let cfg = dir.path().join("onetrail.yaml");
    let port = free_port();
    let nobody = free_port(); // nothing listens there
    let text: String = (1..=20).map(record).collect();
    append(&log, &text);
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nshutdown_timeout_secs: 1\nmetrics:\n  listen: \"127.0.0.1:{port}\"\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{log}\"]\n    log_line_prefix: \"{PREFIX}\"\n    poll_interval_ms: 20\n    quiet_flush_ms: 100\nsinks:\n  hec:\n    type: splunk_hec\n    endpoint: http://127.0.0.1:{nobody}\n    token: t0k3n\n    batch_timeout_ms: 10\n    retry_initial_backoff_ms: 20\n    retry_max_backoff_ms: 100\n",
            state = dir.path().join("state").display(),
            log = log.display(),
        ),
    )
    .unwrap();
    let agent = start_agent(&cfg, &dir.path().join("agent.log"));
    let src = "{source=\"pg\",type=\"pgaudit\"}";
    let snk = "{sink=\"hec\",type=\"splunk_hec\"}";
    let file = format!("{{source=\"pg\",path=\"{}\"}}", log.display());
    let scrape = || get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
    wait_for(
        "retries against the dead receiver",
        Duration::from_secs(20),
        || sample(&scrape(), &format!("onetrail_sink_retries_total{snk}")).unwrap_or(0.0) >= 3.0,
    );
    std::thread::sleep(Duration::from_millis(1200));
    let page = scrape();
    assert_eq!(
        sample(&page, &format!("onetrail_sink_up{snk}")),
        Some(0.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &format!("onetrail_source_events_read_total{src}")),
        Some(21.0)
    );
    assert_eq!(
        sample(
            &page,
            &format!("onetrail_source_events_delivered_total{src}")
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&page, &format!("onetrail_sink_events_delivered_total{snk}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&page, &format!("onetrail_file_bytes_behind{file}")),
        Some(text.len() as f64),
        "nothing delivered: the whole file is behind"
    );
    let oldest = sample(
        &page,
        &format!("onetrail_source_oldest_undelivered_seconds{src}"),
    )
    .unwrap();
    assert!(oldest >= 1.0, "oldest undelivered {oldest}");

    let (code, health) = get(port, "/health").unwrap();
    assert_eq!(code, 503, "{health}");
    assert!(health.contains("\"sink\":\"hec\""), "{health}");
    let st = onetrail_status(&cfg);
    let text = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(3), "{text}");
    assert!(text.contains("sink hec (splunk_hec): DOWN ("), "{text}");
    assert!(agent.terminate().success());
}

#[test]
fn status_without_a_metrics_endpoint_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("onetrail.yaml");
    fs::write(
        &cfg,
        "sources:\n  pg:\n    type: pgaudit\n    paths: [\"/nonexistent/*.log\"]\nsinks:\n  c: { type: stdout }\n",
    )
    .unwrap();
    let st = onetrail_status(&cfg);
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("metrics.listen"));
}
