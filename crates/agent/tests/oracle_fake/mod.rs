//! An in-process `UNIFIED_AUDIT_TRAIL` for the poller's tests: the same
//! [`AuditTrailReader`] trait as the `oracle`-crate reader, with its exact
//! query semantics. Test code only: it does not ship in the agent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use onetrail_agent::pollers::oracle::{AuditTrailReader, ReaderFuture};
use onetrail_oracle_audit::UnifiedAuditRow;

/// One minute in microseconds.
const MINUTE: i64 = 60_000_000;

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(m: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(m)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn minute_of(t: i64) -> i64 {
    t.div_euclid(MINUTE)
}

/// What a [`FakeTrail`] holds and records; shared with the test through `Arc`.
#[derive(Debug, Default)]
pub struct FakeTrailState {
    /// The rows of the view, in insertion order.
    pub rows: Vec<UnifiedAuditRow>,
    /// When set, `connect` fails with this message.
    pub connect_error: Option<String>,
    /// When set, the next `query_rows` fails with this message (once).
    pub query_error_once: Option<String>,
    pub connects: usize,
    pub flushes: usize,
    /// Every `(from, limit)` queried.
    pub queries: Vec<(Option<DateTime<Utc>>, usize)>,
    pub archive_timestamps: Vec<DateTime<Utc>>,
    /// `count_per_minute` calls (late sweeps).
    pub count_queries: usize,
    /// Every `query_range(from, to)` (minutes re-read by the late sweep).
    pub range_queries: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// An in-memory `UNIFIED_AUDIT_TRAIL` with the reader's exact query semantics.
#[derive(Clone, Default)]
pub struct FakeTrail {
    pub state: Arc<Mutex<FakeTrailState>>,
    connected: bool,
}

impl FakeTrail {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, row: UnifiedAuditRow) {
        self.state.lock().expect("poisoned").rows.push(row);
    }
}

impl AuditTrailReader for FakeTrail {
    fn connect(&mut self) -> ReaderFuture<'_, ()> {
        Box::pin(async move {
            let mut s = self.state.lock().expect("poisoned");
            s.connects += 1;
            if let Some(e) = &s.connect_error {
                return Err(e.clone());
            }
            drop(s);
            self.connected = true;
            Ok(())
        })
    }

    fn is_connected(&self) -> bool {
        self.connected
    }

    fn disconnect(&mut self) {
        self.connected = false;
    }

    fn query_rows(
        &mut self,
        from: Option<DateTime<Utc>>,
        limit: usize,
    ) -> ReaderFuture<'_, Vec<UnifiedAuditRow>> {
        Box::pin(async move {
            let mut s = self.state.lock().expect("poisoned");
            s.queries.push((from, limit));
            if let Some(e) = s.query_error_once.take() {
                return Err(e);
            }
            let mut rows: Vec<(DateTime<Utc>, &UnifiedAuditRow)> = s
                .rows
                .iter()
                .filter_map(|r| r.event_time().map(|t| (t, r)))
                .filter(|(t, _)| from.is_none_or(|f| *t >= f))
                .collect();
            rows.sort_by_key(|(t, _)| *t);
            let mut out: Vec<UnifiedAuditRow> = Vec::new();
            let mut last = None;
            for (t, r) in rows {
                if out.len() >= limit && last != Some(t) {
                    break;
                }
                last = Some(t);
                out.push(r.clone());
            }
            Ok(out)
        })
    }

    fn max_timestamp(&mut self) -> ReaderFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            let s = self.state.lock().expect("poisoned");
            Ok(s.rows.iter().filter_map(UnifiedAuditRow::event_time).max())
        })
    }

    fn flush(&mut self) -> ReaderFuture<'_, ()> {
        Box::pin(async move {
            self.state.lock().expect("poisoned").flushes += 1;
            Ok(())
        })
    }

    fn set_archive_timestamp(&mut self, t: DateTime<Utc>) -> ReaderFuture<'_, ()> {
        Box::pin(async move {
            self.state
                .lock()
                .expect("poisoned")
                .archive_timestamps
                .push(t);
            Ok(())
        })
    }

    fn count_per_minute(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ReaderFuture<'_, Vec<(DateTime<Utc>, u64)>> {
        Box::pin(async move {
            let mut s = self.state.lock().expect("poisoned");
            s.count_queries += 1;
            let mut per: BTreeMap<i64, u64> = BTreeMap::new();
            for t in s.rows.iter().filter_map(UnifiedAuditRow::event_time) {
                if t >= from && t < to {
                    *per.entry(minute_of(micros(t))).or_default() += 1;
                }
            }
            Ok(per
                .into_iter()
                .map(|(m, n)| (from_micros(m * MINUTE), n))
                .collect())
        })
    }

    fn query_range(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ReaderFuture<'_, Vec<UnifiedAuditRow>> {
        Box::pin(async move {
            let mut s = self.state.lock().expect("poisoned");
            s.range_queries.push((from, to));
            let mut rows: Vec<(DateTime<Utc>, UnifiedAuditRow)> = s
                .rows
                .iter()
                .filter_map(|r| r.event_time().map(|t| (t, r.clone())))
                .filter(|(t, _)| *t >= from && *t < to)
                .collect();
            rows.sort_by_key(|(t, _)| *t);
            Ok(rows.into_iter().map(|(_, r)| r).collect())
        })
    }
}
