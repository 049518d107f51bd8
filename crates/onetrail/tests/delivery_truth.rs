//! "Delivered" means the receiver said so, end to end with `onetrail run`:
//!
//! - a Splunk HEC endpoint behind a proxy answering `200 <html>Login
//!   required</html>`: nothing counts as delivered, the checkpoint does not
//!   move, the sink is down (`/health` 503, `onetrail status` exit 3) and the
//!   log quotes the answer; once the receiver answers properly, everything
//!   arrives and the checkpoint moves;
//! - a receiver that rejects every event (dead letters): the sink is down and
//!   each dead-lettered batch raises an `agent` `DEAD_LETTER` event with
//!   `alert: true`, which reaches the other sink.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use onetrail_testkit::receivers::{Fault, HecReceiver};
use serde_json::Value;

mod common;
use common::{Agent, PREFIX, append, free_port, http_get, record, run_command, wait_for};

const TOKEN: &str = "5c1b1c3e-0000-4000-8000-00000000d311";

fn config(d: &Path, hec: &str, port: u16) -> String {
    format!(
        r#"data_dir: {state}
metrics:
  listen: "127.0.0.1:{port}"
sources:
  pg:
    type: pgaudit
    paths: ["{logs}/postgresql.log"]
    log_line_prefix: "{PREFIX}"
    poll_interval_ms: 20
    quiet_flush_ms: 100
sinks:
  archive: {{ type: file, path: {out} }}
  splunk:
    type: splunk_hec
    endpoint: {hec}
    token: {TOKEN}
    batch_timeout_ms: 50
    retry_initial_backoff_ms: 20
    retry_max_backoff_ms: 200
    pause_retry_ms: 200
"#,
        state = d.join("state").display(),
        logs = d.join("log").display(),
        out = d.join("state/events.jsonl").display(),
    )
}

fn status_json(port: u16) -> Value {
    http_get(port, "/status")
        .and_then(|(_, b)| serde_json::from_str(&b).ok())
        .unwrap_or_default()
}

/// Bytes of `postgresql.log` delivered to every sink (the checkpoint).
fn delivered_bytes(port: u16) -> u64 {
    status_json(port)["sources"]["pg"]["files"]
        .as_array()
        .and_then(|f| f.first())
        .and_then(|f| f["delivered"].as_u64())
        .unwrap_or(0)
}

fn onetrail_status(cfg: &Path) -> Option<i32> {
    Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["status", "--config"])
        .arg(cfg)
        .output()
        .unwrap()
        .status
        .code()
}

fn setup(n: u64) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("log")).unwrap();
    let text: String = (1..=n).map(record).collect();
    append(&dir.path().join("log/postgresql.log"), &text);
    (dir, text.len() as u64)
}

fn non_agent_ids(rx: &HecReceiver) -> usize {
    rx.events()
        .iter()
        .filter(|e| e["category"] != "agent")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_is_not_a_delivery_and_the_checkpoint_stays() {
    let rx = HecReceiver::start(TOKEN).await;
    rx.state().always = Some(Fault::Body(
        200,
        "text/html",
        "<html><body>Login required</body></html>".into(),
    ));
    let (dir, size) = setup(20);
    let d = dir.path();
    let port = free_port();
    let cfg = d.join("onetrail.yaml");
    fs::write(&cfg, config(d, &rx.url, port)).unwrap();
    let log = d.join("agent.log");
    let mut agent = Agent::spawn(run_command(&cfg).env("RUST_LOG", "info"), &log).unwrap();

    wait_for(
        "the HEC sink to be down after several login pages",
        Duration::from_secs(30),
        || {
            rx.state().event_statuses.len() >= 3
                && status_json(port)["sinks"]["splunk"]["up"] == false
        },
    );
    // The file sink has every record; the checkpoint has not moved.
    wait_for("the archive", Duration::from_secs(10), || {
        fs::read_to_string(d.join("state/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"INSERT\""))
            .count()
            == 20
    });
    assert_eq!(delivered_bytes(port), 0, "the checkpoint moved");
    let st = status_json(port);
    assert_eq!(st["sources"]["pg"]["events_delivered"], 0, "{st}");
    assert_eq!(st["sinks"]["splunk"]["events_delivered"], 0, "{st}");
    let err = st["sinks"]["splunk"]["last_error"].as_str().unwrap_or("");
    assert!(err.contains("Login required"), "{err}");
    let (code, body) = http_get(port, "/health").unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(onetrail_status(&cfg), Some(3));
    assert!(agent.log().contains("Login required"), "{}", agent.log());
    assert!(!agent.log().contains(TOKEN));

    // The proxy is fixed: everything arrives, the checkpoint moves to the end.
    rx.state().always = None;
    wait_for("every record at HEC", Duration::from_secs(30), || {
        non_agent_ids(&rx) >= 20
    });
    wait_for("the checkpoint at the end", Duration::from_secs(20), || {
        delivered_bytes(port) == size
    });
    wait_for("the sink up", Duration::from_secs(10), || {
        http_get(port, "/health").is_some_and(|(c, _)| c == 200)
    });
    assert_eq!(onetrail_status(&cfg), Some(0));
    let exit = agent.terminate_within(Duration::from_secs(20)).unwrap();
    assert!(exit.success(), "{exit}");
}

fn reject_all(_: &Value) -> bool {
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_rejects_everything_is_down_and_raises_alerts() {
    let rx = HecReceiver::start(TOKEN).await;
    rx.state().reject = Some(reject_all);
    let (dir, _) = setup(10);
    let d = dir.path();
    let port = free_port();
    let cfg = d.join("onetrail.yaml");
    fs::write(&cfg, config(d, &rx.url, port)).unwrap();
    let log = d.join("agent.log");
    let mut agent = Agent::spawn(run_command(&cfg).env("RUST_LOG", "info"), &log).unwrap();
    let dead = d.join("state/dead-letter/splunk.jsonl");
    wait_for(
        "every record dead-lettered",
        Duration::from_secs(30),
        || {
            fs::read_to_string(&dead)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\"INSERT\""))
                .count()
                == 10
        },
    );
    let alerts = || -> Vec<Value> {
        fs::read_to_string(d.join("state/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["category"] == "agent" && e["action"] == "DEAD_LETTER")
            .collect()
    };
    wait_for(
        "DEAD_LETTER alerts in the other sink",
        Duration::from_secs(20),
        || {
            alerts()
                .iter()
                .map(|a| a["extra"]["count"].as_u64().unwrap_or(0))
                .sum::<u64>()
                >= 10
        },
    );
    for a in alerts() {
        assert_eq!(a["alert"], true, "{a}");
        assert_eq!(a["extra"]["sink"], "splunk", "{a}");
        assert_eq!(a["extra"]["source_name"], "pg", "{a}");
        assert!(
            a["extra"]["dead_letter_path"]
                .as_str()
                .is_some_and(|p| p.ends_with("dead-letter/splunk.jsonl")),
            "{a}"
        );
    }
    let st = status_json(port);
    assert_eq!(st["sinks"]["splunk"]["up"], false, "{st}");
    assert!(
        st["sinks"]["splunk"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("rejected every event")),
        "{st}"
    );
    let (code, body) = http_get(port, "/health").unwrap();
    assert_eq!(code, 503, "{body}");
    let metrics = http_get(port, "/metrics").unwrap().1;
    assert!(
        metrics.contains("onetrail_sink_up{sink=\"splunk\",type=\"splunk_hec\"} 0"),
        "{metrics}"
    );
    assert_eq!(onetrail_status(&cfg), Some(3));
    let exit = agent.terminate_within(Duration::from_secs(20)).unwrap();
    assert!(exit.success(), "{exit}");
}

/// `onetrail check` proves the HEC token: a wrong one fails (exit 3) with a
/// message that names the problem and not the token; the right one passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_a_wrong_hec_token_without_printing_it() {
    let rx = HecReceiver::start("the-right-token-7f3a").await;
    let (dir, _) = setup(1);
    let d = dir.path();
    let cfg = d.join("onetrail.yaml");
    fs::write(&cfg, config(d, &rx.url, free_port())).unwrap();
    let check = || {
        let o = Command::new(env!("CARGO_BIN_EXE_onetrail"))
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    };
    let (code, text) = check();
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("refuses the token"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    rx.state().token = TOKEN.into();
    let (code, text) = check();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("token accepted"), "{text}");
}
