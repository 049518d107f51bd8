//! Sinks: where events go. Every sink has the same shape: a config (in
//! `config::SinkConfig`), an encoder, a `deliver` that returns only once a group
//! of batches is durably accepted (retrying as long as it takes), and the
//! shared runner below that groups batches and acknowledges them.

pub mod file;
pub mod stdout;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{Encoding, SinkConfig, SinkType};
use crate::metrics::SinkMetrics;
use crate::pipeline::{Batch, Shutdown};

/// Why `deliver` gave up: only shutdown makes a sink give up; the batches stay
/// unacknowledged and are read again after the restart.
#[derive(Debug)]
pub struct Aborted;

/// The configured sinks.
pub enum Sink {
    File(file::FileSink),
    Stdout(stdout::StdoutSink),
}

impl Sink {
    /// Build a sink from its config (opens files, reads secrets).
    pub fn build(name: &str, cfg: &SinkConfig) -> Result<Sink, String> {
        match cfg.kind {
            SinkType::File => {
                let path = cfg.path.as_ref().ok_or("`path` is required")?;
                Ok(Sink::File(file::FileSink::open(path, cfg.encoding)?))
            }
            SinkType::Stdout => Ok(Sink::Stdout(stdout::StdoutSink::new(cfg.encoding))),
            SinkType::SplunkHec | SinkType::Datadog => Err(format!(
                "sink `{name}`: type {:?} is not available in this build yet",
                cfg.kind
            )),
        }
    }

    /// Deliver a group of batches; `Ok` means every event is durably accepted.
    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        match self {
            Sink::File(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::Stdout(s) => s.deliver(batches, shutdown, metrics).await,
        }
    }
}

/// Encode events as one JSON document per line.
pub fn encode_lines(batches: &[Arc<Batch>], encoding: Encoding, out: &mut Vec<u8>) {
    for b in batches {
        for ev in &b.events {
            match encoding {
                // Other encodings are provided by the HTTP sinks' encoders.
                _ => {
                    serde_json::to_writer(&mut *out, ev).expect("events always serialize");
                }
            }
            out.push(b'\n');
        }
    }
}

/// Grouping limits of a sink.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    pub max_events: usize,
    pub timeout: Duration,
}

/// Receive batches, group them, deliver, acknowledge. Returns when every
/// source has hung up (all senders dropped) or on abort.
pub async fn run_sink(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Arc<Batch>>,
    grouping: Grouping,
    shutdown: Shutdown,
    metrics: Arc<SinkMetrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        let mut count = group[0].events.len();
        let deadline = tokio::time::Instant::now() + grouping.timeout;
        while count < grouping.max_events {
            let next = if grouping.timeout.is_zero() {
                rx.try_recv().ok()
            } else {
                tokio::select! {
                    b = rx.recv() => b,
                    _ = tokio::time::sleep_until(deadline) => None,
                }
            };
            match next {
                Some(b) => {
                    count += b.events.len();
                    group.push(b);
                }
                None => break,
            }
        }
        match sink.deliver(&group, &shutdown, &metrics).await {
            Ok(()) => {
                metrics
                    .sent_events
                    .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
                metrics
                    .sent_batches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for b in &group {
                    b.ack();
                }
            }
            Err(Aborted) => return,
        }
    }
}

/// Exponential backoff with full jitter, capped: the wait before retry `attempt` (1-based).
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let ceiling = exp.min(cap);
    // Full jitter: uniform in [0, ceiling]. A cheap PRNG is enough here.
    let r = jitter_fraction();
    ceiling.mul_f64(r)
}

fn jitter_fraction() -> f64 {
    use std::cell::Cell;
    thread_local! { static STATE: Cell<u64> = Cell::new(0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64); }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Sleep in small steps so an abort is noticed; false if aborted.
pub async fn sleep_unless_aborted(d: Duration, shutdown: &Shutdown) -> bool {
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        if shutdown.aborted() {
            return false;
        }
        let step = (end - tokio::time::Instant::now()).min(Duration::from_millis(100));
        tokio::time::sleep(step).await;
    }
    !shutdown.aborted()
}
