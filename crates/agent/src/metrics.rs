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
    pub sent_events: AtomicU64,
    pub sent_batches: AtomicU64,
    pub retries: AtomicU64,
    pub rejected: AtomicU64,
    pub dead_lettered: AtomicU64,
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
}
