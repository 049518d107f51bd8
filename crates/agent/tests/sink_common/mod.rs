//! Helpers shared by the sink tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use onetrail_agent::config::Config;
use onetrail_agent::metrics::SinkMetrics;
use onetrail_agent::pipeline::{Batch, Shutdown};
use onetrail_agent::sinks::Sink;
use onetrail_event::{Category, Engine, Event, Outcome, RecordPos};

/// A whole config (one dummy source) with `sink_yaml` as sink `out`.
pub fn config(dir: &Path, sink_yaml: &str) -> Config {
    let text = format!(
        "data_dir: {}\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{}/*.log\"]\nsinks:\n  out:\n{}\n",
        dir.join("data").display(),
        dir.display(),
        sink_yaml
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Config::from_str_at(&text, &dir.join("onetrail.yaml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Build sink `out` of `cfg`.
pub fn build(cfg: &Config) -> Sink {
    Sink::build("out", &cfg.sinks["out"].value, &cfg.data_dir).expect("sink builds")
}

pub fn event_at(i: u32, time: DateTime<Utc>) -> Event {
    let pos = RecordPos {
        source_key: "test-source",
        path: Some("/var/log/postgresql/postgresql.log"),
        offset: i as u64 * 100,
        format: "pgaudit-stderr",
    };
    let mut e = Event::new(Engine::Postgresql, time, &pos, 0);
    e.category = Category::Read;
    e.action = "SELECT".into();
    e.outcome = Outcome::Success;
    e.db_user = Some("app_rw".into());
    e.database = Some("orders".into());
    e.instance = Some("pg-test".into());
    e.statement = Some(format!("SELECT * FROM cards WHERE id = {i}"));
    e.client.ip = Some("10.0.3.17".into());
    e.client.port = Some(51422);
    e.session.id = Some("66f1a2b3.1f2e".into());
    e.session.statement_id = Some(i as i64);
    e.rows = Some(1);
    e
}

/// `n` read events, time now, distinct ids and statements.
pub fn events(n: u32) -> Vec<Event> {
    let now = Utc::now();
    (0..n).map(|i| event_at(i, now)).collect()
}

pub fn batches(events: Vec<Event>, per: usize) -> Vec<Arc<Batch>> {
    events
        .chunks(per)
        .map(|c| Arc::new(Batch::unacked("pg", c.to_vec())))
        .collect()
}

/// Deliver with a deadline; panics if the sink gave up or took too long.
pub async fn deliver(sink: &mut Sink, b: &[Arc<Batch>], m: &SinkMetrics, within: Duration) {
    let sd = Shutdown::default();
    match tokio::time::timeout(within, sink.deliver(b, &sd, m)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("deliver aborted"),
        Err(_) => panic!(
            "deliver did not finish within {within:?}; last error {:?}",
            m.last_error()
        ),
    }
}

/// Fast retry settings for tests.
pub const FAST: &str = "retry_initial_backoff_ms: 10\nretry_max_backoff_ms: 100\npause_retry_ms: 100\nrequest_timeout_secs: 2\n";
