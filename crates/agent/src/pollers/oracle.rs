//! Oracle Unified Auditing, polled from `UNIFIED_AUDIT_TRAIL`.
//!
//! **Reading.** Rows are read in `EVENT_TIMESTAMP_UTC` order. Oracle has no
//! unique key and no commit-ordered sequence for the view: rows of concurrent
//! sessions, RAC instances and spill-over files appear late with older
//! timestamps. So every poll re-reads a *look-back window*
//! (`lookback_secs`, default 300) below the high-water mark and skips rows
//! whose de-duplication key ([`DedupKey`]: DBID, CON_ID, INSTANCE_ID,
//! SESSIONID, ENTRY_ID, STATEMENT_ID, EVENT_TIMESTAMP_UTC, ACTION_NAME) was
//! already emitted.
//!
//! **Late rows below the window** (a spill-over file loaded hours later, a RAC
//! instance that was cut off): the *late sweep*. The poller counts the rows it
//! emitted per minute of `EVENT_TIMESTAMP_UTC` over `late_window_secs`
//! (default 86 400) below the high-water mark, and at most every
//! `late_sweep_secs` (default 60), once caught up, asks Oracle for the same
//! counts (`COUNT(*) … GROUP BY TRUNC(EVENT_TIMESTAMP_UTC, 'MI')`, one cheap
//! query). Only a minute whose count grew is read again, and only its rows
//! not emitted before are emitted (64-bit digests of their de-dup keys, kept
//! in memory, at most [`MAX_LATE_DIGESTS`]). The counts travel in the
//! checkpoint (`late`), so rows that arrive while the agent is down are found
//! too; digests do not: a minute that grows after a restart (or whose digests
//! were dropped for memory) is emitted whole again, with the same event ids
//! and `extra.late_reread: true`, so receivers can de-duplicate. Rows later
//! than `late_window_secs` are missed. `late_window_secs: 0` turns the sweep off.
//!
//! **Pages.** One query: `EVENT_TIMESTAMP_UTC >= lo ORDER BY
//! EVENT_TIMESTAMP_UTC FETCH FIRST n ROWS WITH TIES`, `n` = the keys already
//! known in the window + `batch_rows`. `WITH TIES` ends every page on a whole
//! timestamp, so the high-water mark is exact: every row at or before it was
//! in the answer.
//!
//! **Bounded memory.** The keys of the window are kept in memory, at most
//! `dedup_max_keys` (default 100 000, about 100 bytes each → ~10 MB). When the
//! window holds more, its oldest timestamps are forgotten and the window's
//! floor moves up past them (warned, rate-limited). A page holds at most
//! `dedup_max_keys + batch_rows` rows (plus rows tied on the last timestamp).
//!
//! **Checkpoint.** `Page.position` is `{v, timestamp, floor, window_start,
//! keys}`: the high-water mark, the lowest timestamp whose keys are all
//! listed, the look-back start, and the keys at or after `floor` (at most
//! [`CHECKPOINT_MAX_KEYS`]; beyond that `floor` is raised, never above the
//! high-water mark + 1 µs, which is always safe). A restart re-reads from
//! `floor` and skips the listed keys: no duplicates, and late rows down to
//! `floor` are still found.
//!
//! **Archive timestamp.** With `set_archive_timestamp: true`, once a position
//! is *delivered* (the runner calls [`Poller::delivered`]), the next poll calls
//! `DBMS_AUDIT_MGMT.SET_LAST_ARCHIVE_TIMESTAMP` with that position's
//! `window_start`, so a purge job (`use_last_arch_timestamp => TRUE`) never
//! deletes a row the poller could still have to read.
//!
//! Database access sits behind [`AuditTrailReader`]: [`OracleCrateReader`]
//! (the `oracle` crate, ODPI-C; blocking calls in `spawn_blocking`) and
//! an in-memory trail in the tests (`tests/oracle_fake`). Event ids derive from the de-dup key
//! ([`DedupKey::event_id`]), so a row read twice has one id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use onetrail_event::{Event, RecordPos};
use onetrail_oracle_audit::{DedupKey, TRAIL_COLUMNS, UnifiedAuditRow, map_row};
use serde_json::{Value, json};

use crate::pipeline::{Page, Poller};
use crate::settings::{ReadFrom, SourceConfig};
use onetrail_core::secrets::{Secret, read_secret_file};

/// Most de-dup keys written into one checkpoint position.
pub const CHECKPOINT_MAX_KEYS: usize = 10_000;
/// Default of `dedup_max_keys`.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// Default of `late_window_secs`.
pub const DEFAULT_LATE_WINDOW: Duration = Duration::from_secs(86_400);
/// Default of `late_sweep_secs`.
pub const DEFAULT_LATE_SWEEP: Duration = Duration::from_secs(60);
/// Most key digests remembered for the late sweep (8 bytes each, ~16 MB).
pub const MAX_LATE_DIGESTS: usize = 1_000_000;
const MINUTE: i64 = 60_000_000;
/// The `source.format` of polled events.
pub const FORMAT: &str = "oracle-unified-trail";

/// A future returned by an [`AuditTrailReader`].
pub type ReaderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Access to `UNIFIED_AUDIT_TRAIL`. Errors are messages for the operator.
pub trait AuditTrailReader: Send {
    /// Open a session (called when not connected).
    fn connect(&mut self) -> ReaderFuture<'_, ()>;
    fn is_connected(&self) -> bool;
    /// Forget the session after an error; the next poll reconnects.
    fn disconnect(&mut self);
    /// Rows with `EVENT_TIMESTAMP_UTC >= from` (all rows without `from`), in
    /// timestamp order, the first `limit` plus every row tied with the last.
    fn query_rows(
        &mut self,
        from: Option<DateTime<Utc>>,
        limit: usize,
    ) -> ReaderFuture<'_, Vec<UnifiedAuditRow>>;
    /// `MAX(EVENT_TIMESTAMP_UTC)` (for `read_from: end`).
    fn max_timestamp(&mut self) -> ReaderFuture<'_, Option<DateTime<Utc>>>;
    /// `DBMS_AUDIT_MGMT.FLUSH_UNIFIED_AUDIT_TRAIL`.
    fn flush(&mut self) -> ReaderFuture<'_, ()>;
    /// `DBMS_AUDIT_MGMT.SET_LAST_ARCHIVE_TIMESTAMP` for the unified trail.
    fn set_archive_timestamp(&mut self, t: DateTime<Utc>) -> ReaderFuture<'_, ()>;
    /// Rows per minute (`TRUNC(EVENT_TIMESTAMP_UTC, 'MI')`) with
    /// `from <= EVENT_TIMESTAMP_UTC < to`: `(minute, count)`.
    fn count_per_minute(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ReaderFuture<'_, Vec<(DateTime<Utc>, u64)>>;
    /// Every row with `from <= EVENT_TIMESTAMP_UTC < to`, in timestamp order.
    fn query_range(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ReaderFuture<'_, Vec<UnifiedAuditRow>>;
}

/// How the poller reads.
#[derive(Debug, Clone)]
pub struct PollSettings {
    pub lookback: Duration,
    pub batch_rows: usize,
    pub max_keys: usize,
    pub flush_before_poll: bool,
    pub set_archive_timestamp: bool,
    pub read_from: ReadFrom,
    /// How far below the high-water mark the late sweep looks (zero: off).
    pub late_window: Duration,
    /// Least time between two late sweeps (zero: every poll).
    pub late_sweep: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            lookback: Duration::from_secs(300),
            batch_rows: 5000,
            max_keys: DEFAULT_MAX_KEYS,
            flush_before_poll: false,
            set_archive_timestamp: false,
            read_from: ReadFrom::Beginning,
            late_window: DEFAULT_LATE_WINDOW,
            late_sweep: DEFAULT_LATE_SWEEP,
        }
    }
}

impl PollSettings {
    pub fn from_config(s: &SourceConfig) -> PollSettings {
        let d = PollSettings::default();
        PollSettings {
            lookback: s.lookback_secs.map_or(d.lookback, Duration::from_secs),
            batch_rows: s.batch_rows.map_or(d.batch_rows, |n| n.max(1) as usize),
            max_keys: s.dedup_max_keys.unwrap_or(d.max_keys).max(1),
            flush_before_poll: s.flush_before_poll.unwrap_or(false),
            set_archive_timestamp: s.set_archive_timestamp.unwrap_or(false),
            read_from: s.read_from,
            late_window: s
                .late_window_secs
                .map_or(d.late_window, Duration::from_secs),
            late_sweep: s.late_sweep_secs.map_or(d.late_sweep, Duration::from_secs),
        }
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(m: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(m)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn fmt_micros(m: i64) -> String {
    from_micros(m).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_micros(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_micros())
}

/// Timestamp (micros) of a key string (`dbid:con:inst:sess:entry:stmt:micros:action`).
fn key_micros(k: &str) -> Option<i64> {
    k.split(':').nth(6)?.parse().ok()
}

/// The look-back window: keys seen at or after `floor`, and the high-water mark.
#[derive(Debug, Default, Clone)]
struct Window {
    /// Largest `EVENT_TIMESTAMP_UTC` fetched (micros).
    hwm: Option<i64>,
    /// Every row fetched with a timestamp ≥ `floor` has its key in `seen`;
    /// rows before `floor` are never read again. `None`: from the beginning.
    floor: Option<i64>,
    seen: BTreeMap<i64, HashSet<String>>,
    len: usize,
}

impl Window {
    fn contains(&self, t: i64, k: &str) -> bool {
        self.seen.get(&t).is_some_and(|s| s.contains(k))
    }

    fn insert(&mut self, t: i64, k: String) {
        if self.seen.entry(t).or_default().insert(k) {
            self.len += 1;
        }
    }

    fn keys_from(&self, lo: Option<i64>) -> usize {
        match lo {
            None => self.len,
            Some(lo) => self.seen.range(lo..).map(|(_, s)| s.len()).sum(),
        }
    }

    /// Drop keys below `lo` and move the floor up to it.
    fn drop_below(&mut self, lo: i64) {
        let keep = self.seen.split_off(&lo);
        let dropped: usize = self.seen.values().map(HashSet::len).sum();
        self.seen = keep;
        self.len -= dropped;
        self.floor = Some(self.floor.map_or(lo, |f| f.max(lo)));
    }

    /// Evict the oldest timestamps until at most `max` keys remain. Returns
    /// how many keys were forgotten.
    fn bound(&mut self, max: usize) -> usize {
        let mut forgotten = 0;
        while self.len > max {
            let Some((t, s)) = self.seen.pop_first() else {
                break;
            };
            self.len -= s.len();
            forgotten += s.len();
            self.floor = Some(self.floor.map_or(t + 1, |f| f.max(t + 1)));
        }
        forgotten
    }

    /// The lowest timestamp the next query must read.
    fn query_from(&self, lookback: Duration) -> Option<i64> {
        let lb = self.hwm.map(|h| h - lookback.as_micros() as i64);
        match (self.floor, lb) {
            (Some(f), Some(l)) => Some(f.max(l)),
            (f, None) => f,
            (None, l) => l,
        }
    }

    fn position(&self, lookback: Duration) -> Value {
        let mut floor = self.floor;
        // Keep the checkpoint small: raise the floor over the oldest timestamps.
        let mut total = self.len;
        let mut iter = self.seen.iter();
        while total > CHECKPOINT_MAX_KEYS {
            match iter.next() {
                Some((t, s)) => {
                    total -= s.len();
                    floor = Some(floor.map_or(t + 1, |f| f.max(t + 1)));
                }
                None => break,
            }
        }
        let mut keys: Vec<&String> = match floor {
            Some(f) => self.seen.range(f..).flat_map(|(_, s)| s.iter()).collect(),
            None => self.seen.values().flat_map(|s| s.iter()).collect(),
        };
        keys.sort();
        json!({
            "v": 1,
            "timestamp": self.hwm.map(fmt_micros),
            "floor": floor.map(fmt_micros),
            "window_start": self.query_from(lookback).map(fmt_micros),
            "keys": keys,
        })
    }

    fn from_position(v: &Value) -> Result<Window, String> {
        if v.get("v").and_then(Value::as_u64) != Some(1) {
            return Err(format!("unknown oracle checkpoint position {v}"));
        }
        let mut w = Window {
            hwm: v.get("timestamp").and_then(parse_micros),
            floor: v.get("floor").and_then(parse_micros),
            ..Window::default()
        };
        for k in v
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = k.as_str()
                && let Some(t) = key_micros(k)
            {
                w.insert(t, k.to_string());
            }
        }
        Ok(w)
    }
}

/// What the late sweep knows: rows emitted per minute, and (in memory only)
/// digests of their keys.
#[derive(Debug, Default, Clone)]
struct Late {
    /// No minute before this one (minute index) is swept: rows before it were
    /// never meant to be read (`read_from: end`, a position written before
    /// the sweep existed).
    since: Option<i64>,
    counts: BTreeMap<i64, u64>,
    digests: BTreeMap<i64, HashSet<u64>>,
    digest_len: usize,
    last_sweep: Option<Instant>,
}

/// A configured duration in micros (saturating: `late_window_secs` may be huge).
fn span_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn minute_of(t: i64) -> i64 {
    t.div_euclid(MINUTE)
}

fn digest(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl Late {
    fn emitted(&mut self, t: i64, key: &str) {
        let m = minute_of(t);
        *self.counts.entry(m).or_default() += 1;
        if self.digests.entry(m).or_default().insert(digest(key)) {
            self.digest_len += 1;
        }
        while self.digest_len > MAX_LATE_DIGESTS {
            let Some((_, d)) = self.digests.pop_first() else {
                break;
            };
            self.digest_len -= d.len();
        }
    }

    /// Forget minutes before `m`.
    fn prune(&mut self, m: i64) {
        self.counts = self.counts.split_off(&m);
        let keep = self.digests.split_off(&m);
        let dropped: usize = self.digests.values().map(HashSet::len).sum();
        self.digests = keep;
        self.digest_len -= dropped;
    }

    fn position(&self) -> Value {
        let counts: Vec<[i64; 2]> = self
            .counts
            .iter()
            .map(|(m, n)| [*m, i64::try_from(*n).unwrap_or(i64::MAX)])
            .collect();
        json!({"since": self.since, "counts": counts})
    }

    /// From a checkpoint position; one written without `late` starts the
    /// sweep at the minute after its high-water mark.
    fn from_position(v: &Value, hwm: Option<i64>) -> Late {
        let Some(l) = v.get("late") else {
            return Late {
                since: hwm.map(|h| minute_of(h) + 1),
                ..Late::default()
            };
        };
        let mut late = Late {
            since: l.get("since").and_then(Value::as_i64),
            ..Late::default()
        };
        for c in l
            .get("counts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(m), Some(n)) = (
                c.get(0).and_then(Value::as_i64),
                c.get(1).and_then(Value::as_u64),
            ) {
                late.counts.insert(m, n);
            }
        }
        late
    }
}

/// The Oracle poller: a [`Window`] over an [`AuditTrailReader`].
pub struct OraclePoller {
    name: String,
    reader: Box<dyn AuditTrailReader>,
    settings: PollSettings,
    window: Option<Window>,
    late: Late,
    /// `window_start` of the last delivered position (for the archive timestamp).
    delivered_start: Option<i64>,
    archived: Option<i64>,
    warned: HashMap<String, Instant>,
}

impl OraclePoller {
    pub fn new(name: &str, reader: Box<dyn AuditTrailReader>, settings: PollSettings) -> Self {
        OraclePoller {
            name: name.to_string(),
            reader,
            settings,
            window: None,
            late: Late::default(),
            delivered_start: None,
            archived: None,
            warned: HashMap::new(),
        }
    }

    /// Warn once per distinct message every 10 minutes.
    fn warn(&mut self, msg: String) {
        let now = Instant::now();
        let due = self
            .warned
            .get(&msg)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(600));
        if due {
            tracing::warn!(source = %self.name, "{msg}");
            if self.warned.len() > 64 {
                self.warned.clear();
            }
            self.warned.insert(msg, now);
        }
    }

    async fn fetch_page(&mut self, after: Option<&Value>) -> Result<Page, String> {
        if !self.reader.is_connected() {
            self.reader.connect().await?;
        }
        if self.window.is_none() {
            let w = match after {
                Some(v) => {
                    let w = Window::from_position(v)?;
                    self.late = Late::from_position(v, w.hwm);
                    w
                }
                None if self.settings.read_from == ReadFrom::End => {
                    let max = self.reader.max_timestamp().await.inspect_err(|_| {
                        self.reader.disconnect();
                    })?;
                    let m = max.map(micros);
                    self.late = Late {
                        since: m.map(|m| minute_of(m) + 1),
                        ..Late::default()
                    };
                    Window {
                        hwm: m,
                        floor: m.map(|m| m + 1),
                        ..Window::default()
                    }
                }
                None => Window::default(),
            };
            self.window = Some(w);
        }
        if self.settings.set_archive_timestamp
            && let Some(t) = self.delivered_start
            && self.archived.is_none_or(|a| a < t)
        {
            match self.reader.set_archive_timestamp(from_micros(t)).await {
                Ok(()) => self.archived = Some(t),
                Err(e) => self.warn(format!(
                    "DBMS_AUDIT_MGMT.SET_LAST_ARCHIVE_TIMESTAMP failed (needs the AUDIT_ADMIN role; polling continues): {e}"
                )),
            }
        }
        if self.settings.flush_before_poll
            && let Err(e) = self.reader.flush().await
        {
            self.warn(format!(
                "DBMS_AUDIT_MGMT.FLUSH_UNIFIED_AUDIT_TRAIL failed (polling continues): {e}"
            ));
        }
        let w = self.window.as_ref().expect("window set above");
        let lo = w.query_from(self.settings.lookback);
        let limit = w.keys_from(lo) + self.settings.batch_rows;
        let rows = match self.reader.query_rows(lo.map(from_micros), limit).await {
            Ok(r) => r,
            Err(e) => {
                self.reader.disconnect();
                return Err(e);
            }
        };
        let got = rows.len();
        let w = self.window.as_mut().expect("window set above");
        let old_hwm = w.hwm;
        let mut events = Vec::new();
        for row in &rows {
            let key = row.dedup_key();
            let ks = key.to_key_string();
            let Some(t) = key.time_micros else {
                // No timestamp: cannot be windowed; emit once per fetch of it.
                events.push(row_event(row, &key));
                continue;
            };
            if w.floor.is_some_and(|f| t < f) || w.contains(t, &ks) {
                continue;
            }
            self.late.emitted(t, &ks);
            w.insert(t, ks);
            w.hwm = Some(w.hwm.map_or(t, |h| h.max(t)));
            events.push(row_event(row, &key));
        }
        let more = got >= limit && (!events.is_empty() || w.hwm != old_hwm);
        if !more {
            self.sweep_late(lo, &mut events).await?;
        }
        let w = self.window.as_mut().expect("window set above");
        let lookback = self.settings.lookback;
        if let Some(lo) = w.query_from(lookback) {
            w.drop_below(lo);
        }
        let forgotten = w.bound(self.settings.max_keys);
        let mut position = w.position(lookback);
        if let Some(h) = w.hwm
            && !self.settings.late_window.is_zero()
        {
            self.late.prune(minute_of(
                h.saturating_sub(span_micros(self.settings.late_window)),
            ));
        }
        position["late"] = self.late.position();
        let floor = w.floor;
        if forgotten > 0 {
            self.warn(format!(
                "de-duplication window full ({} keys): forgot the oldest, rows older than {} that arrive late will not be read; raise dedup_max_keys or lower lookback_secs",
                self.settings.max_keys,
                floor.map(fmt_micros).unwrap_or_default()
            ));
        }
        Ok(Page {
            events,
            position,
            more,
        })
    }

    /// The late sweep (see the module doc): rows below `lo` (the window's
    /// start) in minutes whose row count in Oracle exceeds what was emitted.
    async fn sweep_late(&mut self, lo: Option<i64>, events: &mut Vec<Event>) -> Result<(), String> {
        let late_window = self.settings.late_window;
        let w = self.window.as_ref().expect("window set");
        let (Some(hwm), Some(lo)) = (w.hwm, lo) else {
            return Ok(());
        };
        if late_window.is_zero()
            || self
                .late
                .last_sweep
                .is_some_and(|t| t.elapsed() < self.settings.late_sweep)
        {
            return Ok(());
        }
        self.late.last_sweep = Some(Instant::now());
        let from_min = minute_of(hwm.saturating_sub(span_micros(late_window)))
            .max(self.late.since.unwrap_or(i64::MIN));
        // Up to the end of the minute holding `lo`: rows of that minute at or
        // after `lo` are counted as emitted too (digests de-duplicate them).
        let to_min = minute_of(lo) + 1;
        if from_min >= to_min {
            return Ok(());
        }
        let counts = match self
            .reader
            .count_per_minute(from_micros(from_min * MINUTE), from_micros(to_min * MINUTE))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                self.reader.disconnect();
                return Err(e);
            }
        };
        for (minute, n) in counts {
            let m = minute_of(micros(minute));
            if m < from_min || m >= to_min || n <= self.late.counts.get(&m).copied().unwrap_or(0) {
                continue;
            }
            let rows = match self
                .reader
                .query_range(from_micros(m * MINUTE), from_micros((m + 1) * MINUTE))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    self.reader.disconnect();
                    return Err(e);
                }
            };
            // Without digests for a minute that had rows, what was emitted
            // before cannot be told apart: those rows come again, flagged.
            let known = self.late.digests.contains_key(&m)
                || self.late.counts.get(&m).copied().unwrap_or(0) == 0;
            let w = self.window.as_mut().expect("window set");
            let mut found = 0u64;
            for row in &rows {
                let key = row.dedup_key();
                let ks = key.to_key_string();
                let Some(t) = key.time_micros else { continue };
                if minute_of(t) != m {
                    continue;
                }
                found += 1;
                let seen = self
                    .late
                    .digests
                    .get(&m)
                    .is_some_and(|d| d.contains(&digest(&ks)))
                    || w.contains(t, &ks);
                if seen {
                    continue;
                }
                let mut ev = row_event(row, &key);
                if !known {
                    ev.extra.insert("late_reread".into(), true.into());
                }
                ev.extra.insert("late_row".into(), true.into());
                let d = self.late.digests.entry(m).or_default();
                if d.insert(digest(&ks)) {
                    self.late.digest_len += 1;
                }
                if w.floor.is_none_or(|f| t >= f) {
                    w.insert(t, ks);
                }
                events.push(ev);
            }
            // What Oracle holds now for that minute has been emitted.
            self.late.counts.insert(m, found.max(n));
        }
        Ok(())
    }
}

fn row_event(row: &UnifiedAuditRow, key: &DedupKey) -> Event {
    let pos = RecordPos {
        source_key: "oracle-uat",
        path: None,
        offset: 0,
        format: FORMAT,
    };
    let mut ev = map_row(row, &pos, 0);
    ev.id = key.event_id();
    ev.source.path = Some("UNIFIED_AUDIT_TRAIL".to_string());
    ev.source.offset = None;
    ev
}

impl Poller for OraclePoller {
    fn fetch<'a>(
        &'a mut self,
        after: Option<&'a Value>,
    ) -> Pin<Box<dyn Future<Output = Result<Page, String>> + Send + 'a>> {
        Box::pin(async move {
            self.fetch_page(after)
                .await
                .map_err(|e| format!("oracle source `{}`: {e}", self.name))
        })
    }

    fn delivered(&mut self, position: &Value) {
        if let Some(t) = position.get("window_start").and_then(parse_micros) {
            self.delivered_start = Some(self.delivered_start.map_or(t, |d| d.max(t)));
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration

pub fn validate(s: &SourceConfig) -> Result<(), String> {
    if s.connect_string.as_deref().is_none_or(str::is_empty) {
        return Err("`connect_string` is required for `type: oracle` (Easy Connect `dbhost:1521/ORCLPDB1` or a TNS alias)".into());
    }
    if s.username.as_deref().is_none_or(str::is_empty) {
        return Err(
            "`username` is required for `type: oracle` (a user with the AUDIT_VIEWER role)".into(),
        );
    }
    if s.password.is_none() && s.password_file.is_none() {
        return Err(
            "set `password: ${ORACLE_PASSWORD}` or `password_file:` for `type: oracle`".into(),
        );
    }
    if s.batch_rows == Some(0) {
        return Err("`batch_rows` must be > 0".into());
    }
    Ok(())
}

pub fn build(s: &SourceConfig, name: &str) -> Result<Box<dyn Poller>, String> {
    validate(s)?;
    let password = match (&s.password, &s.password_file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => read_secret_file(f)?,
        (None, None) => unreachable!("validated"),
    };
    let reader = OracleCrateReader::new(
        s.username.clone().unwrap_or_default(),
        password,
        s.connect_string.clone().unwrap_or_default(),
    );
    Ok(Box::new(OraclePoller::new(
        name,
        Box::new(reader),
        PollSettings::from_config(s),
    )))
}

// ---------------------------------------------------------------------------
// The `oracle` crate implementation

/// Turn an Oracle/ODPI-C error into an actionable message.
pub fn explain_error(e: &str, user: &str, connect_string: &str) -> String {
    if e.contains("DPI-1047") {
        return format!(
            "Oracle client library not found, so this source cannot connect. Install Oracle Instant Client \
             (64-bit, \"Basic\" or \"Basic Light\" package) on this host and make libclntsh.so findable by the \
             onetrail process: set LD_LIBRARY_PATH to the Instant Client directory (systemd: \
             `Environment=LD_LIBRARY_PATH=/opt/oracle/instantclient_23_5`) or register it with ldconfig \
             (`echo /opt/oracle/instantclient_23_5 > /etc/ld.so.conf.d/oracle.conf && ldconfig`); with a full \
             Oracle client installation set ORACLE_HOME and put $ORACLE_HOME/lib on LD_LIBRARY_PATH. \
             Other sources are not affected; this one retries. ({e})"
        );
    }
    if e.contains("ORA-01017") {
        return format!("login refused for `{user}`: check username and password ({e})");
    }
    if e.contains("ORA-28000") {
        return format!("account `{user}` is locked: `ALTER USER {user} ACCOUNT UNLOCK` ({e})");
    }
    if e.contains("ORA-00942") || e.contains("ORA-01031") || e.contains("ORA-01045") {
        return format!(
            "`{user}` may not read UNIFIED_AUDIT_TRAIL: `GRANT CREATE SESSION, AUDIT_VIEWER TO {user}` \
             (or `GRANT SELECT ON AUDSYS.UNIFIED_AUDIT_TRAIL`) ({e})"
        );
    }
    if [
        "ORA-12541",
        "ORA-12514",
        "ORA-12154",
        "ORA-12170",
        "ORA-12543",
        "ORA-12545",
        "DPY-6005",
    ]
    .iter()
    .any(|c| e.contains(c))
    {
        return format!(
            "cannot reach the database at `{connect_string}`: check host, port and service name ({e})"
        );
    }
    e.to_string()
}

/// Reads `UNIFIED_AUDIT_TRAIL` through the `oracle` crate (ODPI-C, which loads
/// libclntsh from Instant Client at run time). Every call runs in
/// `spawn_blocking`.
pub struct OracleCrateReader {
    user: String,
    password: Secret,
    connect_string: String,
    conn: Option<Arc<oracle::Connection>>,
}

const TS_FORMAT: &str = "YYYY-MM-DD HH24:MI:SS.FF6";

impl OracleCrateReader {
    pub fn new(user: String, password: Secret, connect_string: String) -> Self {
        OracleCrateReader {
            user,
            password,
            connect_string,
            conn: None,
        }
    }

    fn explain(&self, e: impl std::fmt::Display) -> String {
        explain_error(&e.to_string(), &self.user, &self.connect_string)
    }

    /// The select list: [`TRAIL_COLUMNS`] plus the container of the session.
    pub fn select_list() -> String {
        let mut cols: Vec<String> = TRAIL_COLUMNS
            .iter()
            .map(|c| match *c {
                "EVENT_TIMESTAMP_UTC" => {
                    format!("TO_CHAR(EVENT_TIMESTAMP_UTC, '{TS_FORMAT}') AS EVENT_TIMESTAMP_UTC")
                }
                "TRANSACTION_ID" => "RAWTOHEX(TRANSACTION_ID) AS TRANSACTION_ID".to_string(),
                c => c.to_string(),
            })
            .collect();
        cols.push("SYS_CONTEXT('USERENV', 'CON_ID') AS CON_ID".into());
        cols.push("SYS_CONTEXT('USERENV', 'CON_NAME') AS CON_NAME".into());
        cols.join(", ")
    }

    /// The page query; `:1` the lower bound (when `bounded`), then the row limit.
    pub fn query_sql(bounded: bool) -> String {
        let (filter, limit) = if bounded {
            (
                format!("WHERE EVENT_TIMESTAMP_UTC >= TO_TIMESTAMP(:1, '{TS_FORMAT}') "),
                ":2",
            )
        } else {
            (String::new(), ":1")
        };
        format!(
            "SELECT {} FROM UNIFIED_AUDIT_TRAIL {filter}ORDER BY EVENT_TIMESTAMP_UTC FETCH FIRST {limit} ROWS WITH TIES",
            Self::select_list()
        )
    }

    /// The late sweep's count query: `:1`, `:2` the bounds.
    pub fn count_sql() -> String {
        format!(
            "SELECT TO_CHAR(TRUNC(EVENT_TIMESTAMP_UTC, 'MI'), 'YYYY-MM-DD HH24:MI:SS'), COUNT(*) \
             FROM UNIFIED_AUDIT_TRAIL WHERE EVENT_TIMESTAMP_UTC >= TO_TIMESTAMP(:1, '{TS_FORMAT}') \
             AND EVENT_TIMESTAMP_UTC < TO_TIMESTAMP(:2, '{TS_FORMAT}') \
             GROUP BY TRUNC(EVENT_TIMESTAMP_UTC, 'MI')"
        )
    }

    /// The late sweep's re-read of one minute: `:1`, `:2` the bounds.
    pub fn range_sql() -> String {
        format!(
            "SELECT {} FROM UNIFIED_AUDIT_TRAIL WHERE EVENT_TIMESTAMP_UTC >= TO_TIMESTAMP(:1, '{TS_FORMAT}') \
             AND EVENT_TIMESTAMP_UTC < TO_TIMESTAMP(:2, '{TS_FORMAT}') ORDER BY EVENT_TIMESTAMP_UTC",
            Self::select_list()
        )
    }

    fn conn(&self) -> Result<Arc<oracle::Connection>, String> {
        self.conn.clone().ok_or_else(|| "not connected".to_string())
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, oracle::Error> + Send + 'static,
    ) -> Result<Result<T, oracle::Error>, String> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| format!("Oracle call panicked or was cancelled: {e}"))
    }

    fn exec(&mut self, sql: String, ts: Option<String>) -> ReaderFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn()?;
            let r = Self::blocking(move || {
                match &ts {
                    Some(t) => conn.execute(&sql, &[t])?,
                    None => conn.execute(&sql, &[])?,
                };
                conn.commit()
            })
            .await?;
            r.map_err(|e| self.explain(e))
        })
    }
}

fn ts_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

impl AuditTrailReader for OracleCrateReader {
    fn connect(&mut self) -> ReaderFuture<'_, ()> {
        Box::pin(async move {
            let (u, p, c) = (
                self.user.clone(),
                self.password.expose().to_string(),
                self.connect_string.clone(),
            );
            let r = Self::blocking(move || oracle::Connection::connect(u, p, c)).await?;
            let conn = r.map_err(|e| self.explain(e))?;
            self.conn = Some(Arc::new(conn));
            Ok(())
        })
    }

    fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    fn disconnect(&mut self) {
        self.conn = None;
    }

    fn query_rows(
        &mut self,
        from: Option<DateTime<Utc>>,
        limit: usize,
    ) -> ReaderFuture<'_, Vec<UnifiedAuditRow>> {
        Box::pin(async move {
            let conn = self.conn()?;
            let sql = Self::query_sql(from.is_some());
            let from = from.map(ts_text);
            let limit = limit as i64;
            let r = Self::blocking(move || {
                let mut stmt = conn.statement(&sql).fetch_array_size(500).build()?;
                let rs = match &from {
                    Some(f) => stmt.query(&[f, &limit])?,
                    None => stmt.query(&[&limit])?,
                };
                read_rows(rs)
            })
            .await?;
            r.map_err(|e| self.explain(e))
        })
    }

    fn max_timestamp(&mut self) -> ReaderFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            let conn = self.conn()?;
            let sql = format!(
                "SELECT TO_CHAR(MAX(EVENT_TIMESTAMP_UTC), '{TS_FORMAT}') FROM UNIFIED_AUDIT_TRAIL"
            );
            let r = Self::blocking(move || conn.query_row_as::<Option<String>>(&sql, &[])).await?;
            let s = r.map_err(|e| self.explain(e))?;
            Ok(s.and_then(|s| onetrail_oracle_audit::util::parse_time(&s))
                .map(|p| p.time))
        })
    }

    fn flush(&mut self) -> ReaderFuture<'_, ()> {
        self.exec(
            "BEGIN DBMS_AUDIT_MGMT.FLUSH_UNIFIED_AUDIT_TRAIL; END;".into(),
            None,
        )
    }

    fn set_archive_timestamp(&mut self, t: DateTime<Utc>) -> ReaderFuture<'_, ()> {
        let sql = format!(
            "BEGIN DBMS_AUDIT_MGMT.SET_LAST_ARCHIVE_TIMESTAMP(\
             audit_trail_type => DBMS_AUDIT_MGMT.AUDIT_TRAIL_UNIFIED, \
             last_archive_time => TO_TIMESTAMP(:1, '{TS_FORMAT}')); END;"
        );
        self.exec(sql, Some(ts_text(t)))
    }

    fn count_per_minute(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ReaderFuture<'_, Vec<(DateTime<Utc>, u64)>> {
        Box::pin(async move {
            let conn = self.conn()?;
            let sql = Self::count_sql();
            let (from, to) = (ts_text(from), ts_text(to));
            let r = Self::blocking(move || {
                let rows = conn.query_as::<(String, i64)>(&sql, &[&from, &to])?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
            let rows = r.map_err(|e| self.explain(e))?;
            Ok(rows
                .into_iter()
                .filter_map(|(m, n)| {
                    let t = onetrail_oracle_audit::util::parse_time(&m)?.time;
                    Some((t, u64::try_from(n).unwrap_or(0)))
                })
                .collect())
        })
    }

    fn query_range(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ReaderFuture<'_, Vec<UnifiedAuditRow>> {
        Box::pin(async move {
            let conn = self.conn()?;
            let sql = Self::range_sql();
            let (from, to) = (ts_text(from), ts_text(to));
            let r = Self::blocking(move || {
                let mut stmt = conn.statement(&sql).fetch_array_size(500).build()?;
                let rs = stmt.query(&[&from, &to])?;
                read_rows(rs)
            })
            .await?;
            r.map_err(|e| self.explain(e))
        })
    }
}

fn read_rows(
    rs: oracle::ResultSet<'_, oracle::Row>,
) -> Result<Vec<UnifiedAuditRow>, oracle::Error> {
    let names: Vec<String> = rs
        .column_info()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut out = Vec::new();
    for r in rs {
        let r = r?;
        let mut row = UnifiedAuditRow::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(v) = r.get::<usize, Option<String>>(i)? {
                row.set_text(n, v);
            }
        }
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpi_1047_is_explained() {
        let m = explain_error(
            "DPI Error: DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so: cannot open shared object file: No such file or directory\"",
            "u",
            "h/s",
        );
        assert!(
            m.contains("Instant Client")
                && m.contains("LD_LIBRARY_PATH")
                && m.contains("ORACLE_HOME")
        );
        assert!(m.contains("DPI-1047"));
    }

    #[test]
    fn query_shape() {
        let q = OracleCrateReader::query_sql(true);
        assert!(q.contains("WHERE EVENT_TIMESTAMP_UTC >= TO_TIMESTAMP(:1"));
        assert!(q.ends_with("ORDER BY EVENT_TIMESTAMP_UTC FETCH FIRST :2 ROWS WITH TIES"));
        assert!(OracleCrateReader::query_sql(false).contains("FETCH FIRST :1 ROWS"));
    }
}
