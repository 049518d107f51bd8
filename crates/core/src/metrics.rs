//! Counters the agent keeps about itself (exported by `/metrics`, `onetrail status`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use onetrail_event::{Category, Event};

/// Why a source's paths give it nothing: a pattern matching no file, a
/// directory, a file or directory the agent may not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// `no_file`, `directory` or `permission` (the tailer's); `unparsed`
    /// and `prefix` (the source's).
    pub kind: &'static str,
    pub detail: String,
}

/// Per-source counters.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    pub events: AtomicU64,
    pub unparsed: AtomicU64,
    pub gaps: AtomicU64,
    /// Events dropped on purpose by the source's `filter` (never sent).
    pub filtered: AtomicU64,
    /// Events every sink acknowledged (counted when the source's position moves over them).
    pub delivered: AtomicU64,
    /// Unix time (ms) at which the oldest event not yet acknowledged by every
    /// sink was read; 0 while nothing is in flight.
    pub oldest_undelivered_ms: AtomicU64,
    /// Unix time (ms) of the last successful checkpoint write; 0 before the first.
    pub checkpoint_saved_ms: AtomicU64,
    /// File sources: the files open right now and how far behind they are.
    pub files: Mutex<Vec<FileLag>>,
    /// Why the source collects nothing or nonsense right now (paths matching
    /// no file, a directory, permissions, mostly unparsed records).
    pub problems: Mutex<Vec<SourceProblem>>,
    /// Share of unparsed records in the last completed window, as `f64` bits.
    pub unparsed_ratio_bits: AtomicU64,
}

/// Over this share of unparsed records in a window, a source is said to read
/// with the wrong `log_line_prefix` or format.
pub const UNPARSED_ALARM_RATIO: f64 = 0.5;
/// A window closes after this many records, or this long with at least
/// [`UNPARSED_MIN_RECORDS`].
pub const UNPARSED_WINDOW_RECORDS: u64 = 200;
pub const UNPARSED_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
pub const UNPARSED_MIN_RECORDS: u64 = 20;

/// Counts a source's records and unparsed ones window by window, and says
/// when the unparsed share crosses [`UNPARSED_ALARM_RATIO`] (either way).
#[derive(Debug, Default)]
pub struct UnparsedWindow {
    records: u64,
    unparsed: u64,
    since: Option<std::time::Instant>,
    alarmed: bool,
}

/// A change of a source's unparsed alarm.
#[derive(Debug, Clone, PartialEq)]
pub enum UnparsedAlarm {
    /// `unparsed` of `records` in the window.
    Raised {
        unparsed: u64,
        records: u64,
    },
    Cleared {
        unparsed: u64,
        records: u64,
    },
}

impl UnparsedWindow {
    /// Count `events` (agent events are not records); `Some` when the alarm
    /// changes as a window closes. Also returns the closed window's ratio.
    pub fn observe(
        &mut self,
        events: &[Event],
        now: std::time::Instant,
    ) -> (Option<f64>, Option<UnparsedAlarm>) {
        let since = *self.since.get_or_insert(now);
        for e in events {
            match e.category {
                Category::Agent => {}
                Category::Unparsed => {
                    self.records += 1;
                    self.unparsed += 1;
                }
                _ => self.records += 1,
            }
        }
        let full = self.records >= UNPARSED_WINDOW_RECORDS
            || (self.records >= UNPARSED_MIN_RECORDS
                && now.duration_since(since) >= UNPARSED_WINDOW);
        if !full {
            return (None, None);
        }
        let (records, unparsed) = (self.records, self.unparsed);
        let ratio = unparsed as f64 / records as f64;
        *self = UnparsedWindow {
            alarmed: self.alarmed,
            ..UnparsedWindow::default()
        };
        let high = ratio > UNPARSED_ALARM_RATIO;
        let change = match (self.alarmed, high) {
            (false, true) => Some(UnparsedAlarm::Raised { unparsed, records }),
            (true, false) => Some(UnparsedAlarm::Cleared { unparsed, records }),
            _ => None,
        };
        self.alarmed = high;
        (Some(ratio), change)
    }
}

/// Where a source stands in one of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLag {
    pub path: String,
    /// Largest size seen.
    pub size: u64,
    /// Bytes read (framed or buffered).
    pub read: u64,
    /// Every byte before this offset was delivered to every sink (the checkpoint).
    pub delivered: u64,
}

impl FileLag {
    /// Bytes of the file not yet delivered to every sink.
    pub fn behind(&self) -> u64 {
        self.size.saturating_sub(self.delivered)
    }
}

pub use crate::clock::unix_ms;

impl SourceMetrics {
    pub fn count_events(&self, events: &[Event]) {
        self.events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
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

    /// `n` events were dropped by the filter. Added, not set: the counters
    /// outlive a reload, which builds a new enricher.
    pub fn count_filtered(&self, n: u64) {
        self.filtered.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` events reached every sink.
    pub fn count_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    /// Seconds since the oldest event in flight was read (0 when none is).
    pub fn oldest_undelivered_secs(&self) -> f64 {
        age_secs(self.oldest_undelivered_ms.load(Ordering::Relaxed))
    }

    /// Share of unparsed records in the last completed window (0 before the first).
    pub fn unparsed_ratio(&self) -> f64 {
        f64::from_bits(self.unparsed_ratio_bits.load(Ordering::Relaxed))
    }

    /// The current problems of the source.
    pub fn problems(&self) -> Vec<SourceProblem> {
        self.problems.lock().expect("poisoned").clone()
    }

    /// Seconds since the checkpoint was last written (None before the first write).
    pub fn checkpoint_age_secs(&self) -> Option<f64> {
        let t = self.checkpoint_saved_ms.load(Ordering::Relaxed);
        (t != 0).then(|| age_secs(t))
    }
}

fn age_secs(since_ms: u64) -> f64 {
    if since_ms == 0 {
        return 0.0;
    }
    unix_ms().saturating_sub(since_ms) as f64 / 1000.0
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
    /// Events written to the dead-letter file (the receiver rejected them).
    pub dead_lettered: AtomicU64,
    /// HTTP sinks: requests sent (including retries), and their bytes on the wire.
    pub requests: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// datadog: events sent late (past the intake window: `timestamp` now,
    /// their own time in `original_time`).
    pub late_events: AtomicU64,
    /// HTTP sinks: requests re-sent because their indexer acknowledgement timed out.
    pub ack_timeouts: AtomicU64,
    /// False after an error until the next success; false while paused.
    pub up: std::sync::atomic::AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl SinkMetrics {
    /// Record the last error (shown by `/status`; URL credentials masked).
    pub fn set_error(&self, e: impl Into<String>) {
        let e = crate::secrets::mask_url_credentials(&e.into()).into_owned();
        *self.last_error.lock().expect("poisoned") = Some(e);
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

/// Every source's and sink's counters, by name, for `/metrics` and `/status`.
/// Counters survive a configuration reload for names that stay configured.
#[derive(Debug, Default)]
pub struct Registry {
    sources: Mutex<BTreeMap<String, (String, Arc<SourceMetrics>)>>,
    sinks: Mutex<BTreeMap<String, (String, Arc<SinkMetrics>)>>,
    /// Successful reloads (SIGHUP) and refused ones (invalid configuration).
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// The agent started delivering (READY); false while starting or stopping.
    pub ready: std::sync::atomic::AtomicBool,
    /// Whether checkpoints can be written (shared with the checkpoint store).
    pub checkpoints: Arc<crate::checkpoint::WriteHealth>,
}

impl Registry {
    /// The counters of source `name` (of type `kind`), kept if it existed.
    pub fn source(&self, name: &str, kind: &str) -> Arc<SourceMetrics> {
        let mut m = self.sources.lock().expect("poisoned");
        let e = m
            .entry(name.to_string())
            .or_insert_with(|| (kind.to_string(), Arc::default()));
        e.0 = kind.to_string();
        e.1.clone()
    }

    /// The counters of sink `name` (of type `kind`), kept if it existed.
    pub fn sink(&self, name: &str, kind: &str) -> Arc<SinkMetrics> {
        let mut m = self.sinks.lock().expect("poisoned");
        let e = m
            .entry(name.to_string())
            .or_insert_with(|| (kind.to_string(), Arc::default()));
        e.0 = kind.to_string();
        e.1.clone()
    }

    /// Forget sources and sinks that are no longer configured.
    pub fn retain(&self, sources: &[&str], sinks: &[&str]) {
        self.sources
            .lock()
            .expect("poisoned")
            .retain(|k, _| sources.contains(&k.as_str()));
        self.sinks
            .lock()
            .expect("poisoned")
            .retain(|k, _| sinks.contains(&k.as_str()));
    }

    /// `(name, type, counters)` of every source, by name.
    pub fn sources(&self) -> Vec<(String, String, Arc<SourceMetrics>)> {
        let m = self.sources.lock().expect("poisoned");
        m.iter()
            .map(|(k, (t, v))| (k.clone(), t.clone(), v.clone()))
            .collect()
    }

    /// `(name, type, counters)` of every sink, by name.
    pub fn sinks(&self) -> Vec<(String, String, Arc<SinkMetrics>)> {
        let m = self.sinks.lock().expect("poisoned");
        m.iter()
            .map(|(k, (t, v))| (k.clone(), t.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onetrail_event::{Engine, RecordPos};
    use std::time::{Duration, Instant};

    fn events(n: usize, unparsed: bool) -> Vec<Event> {
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "pgaudit-stderr",
        };
        (0..n)
            .map(|_| {
                if unparsed {
                    Event::unparsed(
                        Engine::Postgresql,
                        chrono::DateTime::UNIX_EPOCH,
                        &pos,
                        b"x",
                        "no match",
                    )
                } else {
                    Event::new(Engine::Postgresql, chrono::Utc::now(), &pos, 0)
                }
            })
            .collect()
    }

    #[test]
    fn unparsed_alarm_is_raised_and_cleared_per_window() {
        let mut w = UnparsedWindow::default();
        let t = Instant::now();
        // Few records: no verdict, however long.
        assert_eq!(w.observe(&events(5, true), t), (None, None));
        assert_eq!(w.observe(&[], t + Duration::from_secs(120)), (None, None));
        // Closed by time once it has 20 records: 155 of 155 unparsed.
        let (r, a) = w.observe(&events(150, true), t + Duration::from_secs(121));
        assert_eq!(r, Some(1.0));
        assert_eq!(
            a,
            Some(UnparsedAlarm::Raised {
                unparsed: 155,
                records: 155
            })
        );
        // Closed by size: 200 records, 110 unparsed, still over the ratio.
        let (r, a) = w.observe(&events(110, true), t + Duration::from_secs(122));
        assert_eq!((r, a), (None, None));
        let (r, a) = w.observe(&events(90, false), t + Duration::from_secs(122));
        assert!((r.unwrap() - 0.55).abs() < 1e-9);
        assert_eq!(a, None);
        // Still bad: no new alarm.
        assert_eq!(w.observe(&events(200, true), t).1, None);
        // Good again.
        assert_eq!(
            w.observe(&events(200, false), t).1,
            Some(UnparsedAlarm::Cleared {
                unparsed: 0,
                records: 200
            })
        );
        // A time-closed window with 20 records.
        assert_eq!(w.observe(&events(20, true), t).0, None);
        let (r, a) = w.observe(&[], t + UNPARSED_WINDOW);
        assert_eq!(r, Some(1.0));
        assert!(matches!(a, Some(UnparsedAlarm::Raised { .. })));
    }
}
