//! Counters the agent keeps about itself (exported by `/metrics`, `onetrail status`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use onetrail_event::{Category, Event};

/// Per-source counters.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    pub events: AtomicU64,
    pub unparsed: AtomicU64,
    pub gaps: AtomicU64,
}

impl SourceMetrics {
    pub fn count_events(&self, events: &[Event]) {
        self.events.fetch_add(events.len() as u64, Ordering::Relaxed);
        for e in events {
            match e.category {
                Category::Unparsed => {
                    self.unparsed.fetch_add(1, Ordering::Relaxed);
                }
                Category::Agent if e.action == "GAP" => {
                    self.gaps.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
}

/// Per-sink counters.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Events the receiver accepted (dead-lettered ones are not counted).
    pub sent_events: AtomicU64,
    /// Groups of batches delivered (acknowledged to the sources).
    pub sent_batches: AtomicU64,
    /// Attempts that failed and were retried (request or ack poll).
    pub retries: AtomicU64,
    /// Events the receiver refused as invalid (each then dead-lettered).
    pub rejected: AtomicU64,
    /// Events written to the dead-letter file (rejected, or too old for the receiver).
    pub dead_lettered: AtomicU64,
    /// HTTP sinks: requests sent (including retries), and their bytes on the wire.
    pub requests: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// datadog: `GAP` agent events sent in place of events outside the intake window.
    pub gap_events: AtomicU64,
    /// HTTP sinks: requests re-sent because their indexer acknowledgement timed out.
    pub ack_timeouts: AtomicU64,
    /// False after an error until the next success; false while paused.
    pub up: std::sync::atomic::AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl SinkMetrics {
    pub fn set_error(&self, e: impl Into<String>) {
        *self.last_error.lock().expect("poisoned") = Some(e.into());
        self.up.store(false, Ordering::Relaxed);
    }
    pub fn set_ok(&self) {
        self.up.store(true, Ordering::Relaxed);
    }
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("poisoned").clone()
    }
}
