//! What travels from a source to its sinks: a [`Batch`] of events with the
//! means to say it arrived, the [`Shutdown`] signal every task watches, and
//! the agent's own events ([`agent_event`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use chrono::Utc;
use onetrail_event::{Category, Engine, Event, Outcome, RecordPos};

/// Batches queued per sink before a source stops reading (backpressure).
pub const SINK_QUEUE: usize = 8;

/// Events on their way to the sinks, with the means to say they arrived.
pub struct Batch {
    pub source: Arc<str>,
    pub events: Vec<Event>,
    ack: Option<AckToken>,
}

struct AckToken {
    remaining: AtomicUsize,
    seq: u64,
    tx: std_mpsc::Sender<u64>,
}

impl Batch {
    /// A batch whose delivery nobody waits for (tests, agent notices).
    pub fn unacked(source: &str, events: Vec<Event>) -> Batch {
        Batch {
            source: source.into(),
            events,
            ack: None,
        }
    }

    /// A batch that sends `seq` on `tx` once each of `sinks` sinks acknowledged
    /// it (`onetrail import` waits on these).
    pub fn tracked(
        source: Arc<str>,
        events: Vec<Event>,
        sinks: usize,
        seq: u64,
        tx: std_mpsc::Sender<u64>,
    ) -> Batch {
        Batch {
            source,
            events,
            ack: Some(AckToken {
                remaining: AtomicUsize::new(sinks),
                seq,
                tx,
            }),
        }
    }

    /// Called by each sink once the batch is durably accepted.
    pub fn ack(&self) {
        if let Some(a) = &self.ack
            && a.remaining.fetch_sub(1, Ordering::AcqRel) == 1
        {
            let _ = a.tx.send(a.seq);
        }
    }
}

/// Shared stop signals. `stop_reading` is raised first (SIGTERM); `abort`
/// when the shutdown deadline has passed.
#[derive(Clone, Default)]
pub struct Shutdown {
    pub stop_reading: Arc<AtomicBool>,
    pub abort: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn reading_stopped(&self) -> bool {
        self.stop_reading.load(Ordering::Acquire)
    }
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }
    /// Resolves once the shutdown deadline has passed (checked every 20 ms):
    /// raced against a delivery, it cancels a request still in flight then.
    pub async fn until_aborted(&self) {
        while !self.aborted() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An `agent` event of a source: START, STOP.
pub fn agent_event(source: &str, engine: Engine, action: &str, detail: &str) -> Event {
    let now = Utc::now();
    let key = format!("agent:{source}:{}", now.timestamp_nanos_opt().unwrap_or(0));
    let pos = RecordPos {
        source_key: &key,
        path: None,
        offset: 0,
        format: "onetrail",
    };
    let mut ev = Event::new(engine, now, &pos, 0);
    ev.category = Category::Agent;
    ev.action = action.to_string();
    ev.outcome = Outcome::Success;
    ev.extra.insert("source_name".into(), source.into());
    ev.extra.insert("detail".into(), detail.into());
    ev.extra
        .insert("agent_version".into(), env!("CARGO_PKG_VERSION").into());
    ev
}
