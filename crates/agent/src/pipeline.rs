//! The acknowledged pipeline: source → enrichment → every sink → acknowledgement → checkpoint.
//!
//! Delivery is **at-least-once, end to end**. A source sends each [`Batch`] to
//! every sink; a sink acknowledges a batch only once it is durably accepted
//! (written and synced for the file sink, acknowledged by the receiver for HTTP
//! sinks). A batch counts as delivered when the *last* sink acknowledged it, and
//! a source's checkpoint moves only over a contiguous prefix of delivered
//! batches. The log file itself is the buffer: no second copy of the data is
//! kept, and memory is bounded by the channel capacity (see [`SINK_QUEUE`]).
//!
//! After a crash, everything after the last checkpoint is read again; events
//! carry deterministic ids, so a receiver recognises the duplicates. The
//! number of duplicates per crash is bounded by what was in flight: at most
//! `SINK_QUEUE + 1` source batches per sink (each ≤ `max_chunk_events` events).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onetrail_event::{Engine, Event};
use tokio::sync::mpsc;

use crate::tail::{Chunk, FileTailer, SourceProblem};
use onetrail_core::checkpoint::{CheckpointStore, SourceCheckpoint};
use onetrail_core::metrics::{UnparsedAlarm, UnparsedWindow};
use onetrail_enrich::Enricher;

pub use onetrail_core::batch::{Batch, SINK_QUEUE, Shutdown, agent_event};

/// Runs one file source on the current thread until shutdown.
pub struct FileSourceRunner {
    pub name: Arc<str>,
    pub engine: Engine,
    pub tailer: FileTailer,
    pub sinks: Vec<mpsc::Sender<Arc<Batch>>>,
    pub store: Arc<Mutex<CheckpointStore>>,
    pub enricher: Enricher,
    pub poll_interval: Duration,
    pub shutdown: Shutdown,
    pub metrics: Arc<onetrail_core::metrics::SourceMetrics>,
    /// Unparsed records per window (see [`onetrail_core::metrics::UnparsedWindow`]).
    pub unparsed_window: UnparsedWindow,
    pub unparsed_problem: Option<SourceProblem>,
    /// Found at start: the configured `log_line_prefix` does not fit the file.
    pub prefix_problem: Option<SourceProblem>,
}

impl FileSourceRunner {
    pub fn run(mut self) {
        // Each chunk commits (file id, end offset), in order.
        let mut acks: Acks<(u64, u64)> = Acks::new();
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut last_save = Instant::now();
        // Batches sent, kept until every sink has let go of them so that their
        // events are freed here, on the thread that allocated them: a
        // cross-thread free costs the allocator several times a local one
        // (BENCHMARKS.md). Bounded by the batches in flight.
        let mut retire: Vec<Arc<Batch>> = Vec::new();

        let start = agent_event(&self.name, self.engine, "START", "source started");
        chunks.push(Chunk {
            file_id: 0,
            end_offset: 0,
            events: vec![start],
        });
        let checkpoints = self.store.lock().expect("poisoned").health();
        loop {
            let stopping = self.shutdown.reading_stopped();
            let mut progressed = false;
            // Read nothing new while checkpoints cannot be written: what is
            // delivered could not be recorded.
            if !stopping && !checkpoints.is_failing() {
                progressed = self.tailer.poll(Instant::now(), &mut chunks);
                for w in self.tailer.warnings.drain(..) {
                    tracing::warn!(source = %self.name, "{w}");
                }
                self.publish_problems();
            }
            for chunk in chunks.drain(..) {
                let seq = acks.begin((chunk.file_id, chunk.end_offset));
                let mut events = chunk.events;
                // Enrich (session state is tagged with the chunk), then filter:
                // a chunk whose events were all filtered out still advances.
                self.enricher.begin_chunk(seq);
                let dropped = self.enricher.process(&mut events);
                self.metrics.count_filtered(dropped);
                if events.is_empty() {
                    acks.skip(seq);
                    continue;
                }
                self.metrics.count_events(&events);
                self.watch_unparsed(&events);
                let batch =
                    Arc::new(acks.batch(&self.name, seq, events, self.sinks.len(), &self.metrics));
                for sink in &self.sinks {
                    if !send_blocking(sink, batch.clone(), &self.shutdown) {
                        break;
                    }
                }
                retire.push(batch);
            }
            retire.retain(|b| Arc::strong_count(b) > 1);
            // Apply acknowledgements; wait on them instead of sleeping when idle.
            let wait = if progressed {
                Duration::ZERO
            } else {
                self.poll_interval
            };
            acks.receive(wait);
            while let Some((first, (file_id, end))) = acks.commit_next(&self.metrics) {
                self.enricher.commit_chunk(first);
                if file_id != 0 {
                    self.tailer.ack(file_id, end);
                }
            }
            if last_save.elapsed() >= Duration::from_millis(50) || acks.is_empty() {
                self.save();
                last_save = Instant::now();
            }
            if stopping && (acks.is_empty() || self.shutdown.aborted()) {
                break;
            }
        }
        // Say we stopped; best effort, the sinks may already be gone.
        let stop = agent_event(&self.name, self.engine, "STOP", "source stopped");
        let mut stop = stop;
        self.enricher.apply(&mut stop);
        let batch = Arc::new(Batch::unacked(&self.name, vec![stop]));
        if !self.shutdown.aborted() {
            for sink in &self.sinks {
                let _ = sink.try_send(batch.clone());
            }
        }
        self.save();
    }

    /// The tailer's problems and the unparsed alarm, for `/metrics` and `/health`.
    fn publish_problems(&mut self) {
        let mut now: Vec<SourceProblem> = self.tailer.problems().to_vec();
        now.extend(self.unparsed_problem.clone());
        now.extend(self.prefix_problem.clone());
        *self.metrics.problems.lock().expect("poisoned") = now;
    }

    /// Say so when most records of a window are unparsed: the likely cause
    /// is a wrong `log_line_prefix` or format.
    fn watch_unparsed(&mut self, events: &[onetrail_event::Event]) {
        let (ratio, change) = self.unparsed_window.observe(events, Instant::now());
        if let Some(r) = ratio {
            self.metrics
                .unparsed_ratio_bits
                .store(r.to_bits(), std::sync::atomic::Ordering::Relaxed);
        }
        match change {
            Some(UnparsedAlarm::Raised { unparsed, records }) => {
                let detail = format!(
                    "{unparsed} of the last {records} records could not be parsed (forwarded as `unparsed`): the likely cause is a wrong `log_line_prefix` or format; run `onetrail check` or `onetrail detect FILE` to find the right one"
                );
                tracing::warn!(source = %self.name, "{detail}");
                self.unparsed_problem = Some(SourceProblem {
                    kind: "unparsed",
                    detail,
                });
            }
            Some(UnparsedAlarm::Cleared { unparsed, records }) => {
                tracing::info!(
                    source = %self.name,
                    "records parse again: {unparsed} of the last {records} unparsed"
                );
                self.unparsed_problem = None;
            }
            None => return,
        }
        self.publish_problems();
    }

    fn save(&mut self) {
        let cp = SourceCheckpoint {
            files: self.tailer.checkpoints(),
            position: None,
            sessions: self.enricher.saved_sessions(),
        };
        let mut store = self.store.lock().expect("checkpoint store poisoned");
        persist(&mut store, &self.name, cp, &self.metrics);
        drop(store);
        *self.metrics.files.lock().expect("poisoned") = self.tailer.file_lags();
    }
}

/// Set `name`'s checkpoint to `cp` and write the store; a failure is logged
/// and makes the sources stop reading (the next save after the backoff tries again).
fn persist(
    store: &mut CheckpointStore,
    name: &str,
    cp: SourceCheckpoint,
    metrics: &onetrail_core::metrics::SourceMetrics,
) {
    store.set_source(name, cp);
    // A failure is logged (once per retry) and reported by the store.
    if store.persist().is_ok() {
        metrics
            .checkpoint_saved_ms
            .store(onetrail_core::metrics::unix_ms(), Ordering::Relaxed);
    }
}

/// The acknowledgement bookkeeping of a source runner. Each chunk read gets a
/// sequence number and the position `P` it commits (a file offset, a poll
/// position); sinks acknowledge batches out of order, and positions are
/// committed only over the contiguous prefix of delivered chunks.
struct Acks<P> {
    tx: std_mpsc::Sender<u64>,
    rx: std_mpsc::Receiver<u64>,
    /// seq → position; committed in order.
    pending: BTreeMap<u64, P>,
    /// Delivered, not yet committed (a chunk before them is still in flight).
    delivered: std::collections::BTreeSet<u64>,
    in_flight: InFlight,
    seq: u64,
}

impl<P> Acks<P> {
    fn new() -> Self {
        let (tx, rx) = std_mpsc::channel::<u64>();
        Acks {
            tx,
            rx,
            pending: BTreeMap::new(),
            delivered: Default::default(),
            in_flight: InFlight::default(),
            seq: 0,
        }
    }

    /// Number the next chunk, which commits `pos` once delivered.
    fn begin(&mut self, pos: P) -> u64 {
        self.seq += 1;
        self.pending.insert(self.seq, pos);
        self.seq
    }

    /// Chunk `seq` has nothing to send (all filtered out): delivered already.
    fn skip(&mut self, seq: u64) {
        self.delivered.insert(seq);
    }

    /// The batch of chunk `seq`, acknowledged here once each of `sinks` sinks
    /// accepted it; counted in flight.
    fn batch(
        &mut self,
        source: &Arc<str>,
        seq: u64,
        events: Vec<Event>,
        sinks: usize,
        metrics: &onetrail_core::metrics::SourceMetrics,
    ) -> Batch {
        self.in_flight.sent(seq, events.len(), metrics);
        Batch::tracked(source.clone(), events, sinks, seq, self.tx.clone())
    }

    /// Take in the acknowledgements that arrived, waiting up to `wait` for
    /// one (`Duration::ZERO`: none).
    fn receive(&mut self, wait: Duration) {
        if let Ok(s) = self.rx.recv_timeout(wait) {
            self.delivered.insert(s);
        }
        while let Ok(s) = self.rx.try_recv() {
            self.delivered.insert(s);
        }
    }

    /// The oldest chunk, with its position, if it is delivered (then it is
    /// committed: forgotten here and counted delivered).
    fn commit_next(&mut self, metrics: &onetrail_core::metrics::SourceMetrics) -> Option<(u64, P)> {
        let (&first, _) = self.pending.first_key_value()?;
        if !self.delivered.remove(&first) {
            return None;
        }
        let pos = self.pending.pop_first().map(|(_, p)| p)?;
        self.in_flight.delivered(first, metrics);
        Some((first, pos))
    }

    /// No chunk waits for delivery.
    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Event counts and read times of the batches a source has in flight, for
/// the `delivered` and `oldest_undelivered` metrics.
#[derive(Default)]
struct InFlight(BTreeMap<u64, (u64, u64)>);

impl InFlight {
    fn sent(&mut self, seq: u64, events: usize, m: &onetrail_core::metrics::SourceMetrics) {
        let now = onetrail_core::metrics::unix_ms();
        self.0.insert(seq, (events as u64, now));
        m.oldest_undelivered_ms.store(
            self.0.first_key_value().map_or(0, |(_, v)| v.1),
            Ordering::Relaxed,
        );
    }

    fn delivered(&mut self, seq: u64, m: &onetrail_core::metrics::SourceMetrics) {
        if let Some((n, _)) = self.0.remove(&seq) {
            m.count_delivered(n);
        }
        m.oldest_undelivered_ms.store(
            self.0.first_key_value().map_or(0, |(_, v)| v.1),
            Ordering::Relaxed,
        );
    }
}

/// Send with backpressure from a plain thread; gives up only on abort.
fn send_blocking(tx: &mpsc::Sender<Arc<Batch>>, batch: Arc<Batch>, sd: &Shutdown) -> bool {
    let mut b = batch;
    loop {
        match tx.try_send(b) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(back)) => {
                if sd.aborted() {
                    return false;
                }
                b = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// One page fetched by a [`Poller`].
pub struct Page {
    pub events: Vec<Event>,
    /// Where the next fetch resumes once these events are delivered. Stored in
    /// the checkpoint (`SourceCheckpoint::position`) only after every sink
    /// acknowledged this page and every page before it.
    pub position: serde_json::Value,
    /// More rows are ready now (fetch again at once instead of waiting).
    pub more: bool,
}

/// A source that fetches audit rows from a database (SQL Server
/// `sys.fn_get_audit_file`, Oracle `UNIFIED_AUDIT_TRAIL`).
///
/// `fetch` gets the position after the last *fetched* page (not the last
/// delivered one: pages in flight are not fetched twice), or the checkpointed
/// position at start, or `None` the very first time. Errors are retried by the
/// runner with capped backoff; the poller reconnects by itself.
pub trait Poller: Send {
    fn fetch<'a>(
        &'a mut self,
        after: Option<&'a serde_json::Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Page, String>> + Send + 'a>>;

    /// Called when `position` is committed: every sink acknowledged its page
    /// and every page before it. Unlike `fetch`'s `after`, this is a
    /// *delivered* position (Oracle uses it for `SET_LAST_ARCHIVE_TIMESTAMP`).
    fn delivered(&mut self, position: &serde_json::Value) {
        let _ = position;
    }
}

/// Runs one poller on the async runtime until shutdown, with the same
/// acknowledgement and checkpoint contract as file sources.
pub struct PollerRunner {
    pub name: Arc<str>,
    pub engine: Engine,
    pub poller: Box<dyn Poller>,
    pub sinks: Vec<mpsc::Sender<Arc<Batch>>>,
    pub store: Arc<Mutex<CheckpointStore>>,
    pub enricher: Enricher,
    pub interval: Duration,
    pub shutdown: Shutdown,
    pub metrics: Arc<onetrail_core::metrics::SourceMetrics>,
    /// Text fields of a row longer than this are cut ([`Event::cap_text`]).
    pub max_record_bytes: usize,
}

impl PollerRunner {
    pub async fn run(mut self) {
        let mut committed = self
            .store
            .lock()
            .expect("poisoned")
            .source(&self.name)
            .position;
        let mut fetched = committed.clone();
        let mut acks: Acks<serde_json::Value> = Acks::new();
        let mut failures = 0u32;
        let mut last_error: Option<(String, Instant)> = None;
        let mut start = agent_event(&self.name, self.engine, "START", "source started");
        self.enricher.apply(&mut start);
        send_all(
            &self.sinks,
            Arc::new(Batch::unacked(&self.name, vec![start])),
            &self.shutdown,
        )
        .await;
        let checkpoints = self.store.lock().expect("poisoned").health();
        loop {
            let stopping = self.shutdown.reading_stopped();
            let mut more = false;
            if checkpoints.is_failing() {
                // Fetch nothing new until checkpoints can be written again.
                let _ = self.store.lock().expect("poisoned").persist();
            } else if !stopping {
                match self.poller.fetch(fetched.as_ref()).await {
                    Ok(page) => {
                        if failures > 0 && last_error.take().is_some() {
                            tracing::info!(source = %self.name, "polling works again");
                        }
                        failures = 0;
                        more = page.more;
                        let seq = acks.begin(page.position.clone());
                        fetched = Some(page.position);
                        let mut events = page.events;
                        for ev in &mut events {
                            ev.cap_text(self.max_record_bytes);
                        }
                        self.enricher.begin_chunk(seq);
                        let dropped = self.enricher.process(&mut events);
                        self.metrics.count_filtered(dropped);
                        if events.is_empty() {
                            acks.skip(seq);
                        } else {
                            self.metrics.count_events(&events);
                            let batch = Arc::new(acks.batch(
                                &self.name,
                                seq,
                                events,
                                self.sinks.len(),
                                &self.metrics,
                            ));
                            send_all(&self.sinks, batch, &self.shutdown).await;
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        // Once per distinct error (again every 10 minutes), not every retry.
                        let repeat =
                            last_error
                                .as_ref()
                                .is_some_and(|(m, at): &(String, Instant)| {
                                    *m == e && at.elapsed() < Duration::from_secs(600)
                                });
                        if repeat {
                            tracing::debug!(source = %self.name, attempt = failures, "poll failed (will retry): {e}");
                        } else {
                            tracing::error!(source = %self.name, attempt = failures, "poll failed (will retry): {e}");
                            last_error = Some((e, Instant::now()));
                        }
                        let wait = onetrail_sinks::backoff(
                            failures,
                            Duration::from_millis(500),
                            Duration::from_secs(60),
                        )
                        .max(Duration::from_millis(200));
                        onetrail_sinks::sleep_unless_aborted(wait, &self.shutdown).await;
                    }
                }
            }
            acks.receive(Duration::ZERO);
            let before = committed.clone();
            while let Some((first, p)) = acks.commit_next(&self.metrics) {
                committed = Some(p);
                self.enricher.commit_chunk(first);
            }
            if committed != before {
                if let Some(p) = &committed {
                    self.poller.delivered(p);
                }
                let mut store = self.store.lock().expect("poisoned");
                let mut cp = store.source(&self.name);
                cp.position.clone_from(&committed);
                cp.sessions = self.enricher.saved_sessions();
                persist(&mut store, &self.name, cp, &self.metrics);
            } else if acks.is_empty() && !self.store.lock().expect("poisoned").is_dirty() {
                // Nothing in flight, nothing unsaved: the checkpoint on disk is current.
                self.metrics
                    .checkpoint_saved_ms
                    .store(onetrail_core::metrics::unix_ms(), Ordering::Relaxed);
            }
            if stopping && (acks.is_empty() || self.shutdown.aborted()) {
                break;
            }
            if !more || stopping {
                let wait = if stopping {
                    Duration::from_millis(50)
                } else {
                    self.interval
                };
                onetrail_sinks::sleep_unless_aborted(wait, &self.shutdown).await;
            }
        }
        let mut stop = agent_event(&self.name, self.engine, "STOP", "source stopped");
        self.enricher.apply(&mut stop);
        if !self.shutdown.aborted() {
            let b = Arc::new(Batch::unacked(&self.name, vec![stop]));
            for s in &self.sinks {
                let _ = s.try_send(b.clone());
            }
        }
    }
}

async fn send_all(sinks: &[mpsc::Sender<Arc<Batch>>], batch: Arc<Batch>, sd: &Shutdown) {
    for s in sinks {
        tokio::select! {
            r = s.send(batch.clone()) => { let _ = r; }
            _ = wait_abort(sd) => return,
        }
    }
}

async fn wait_abort(sd: &Shutdown) {
    while !sd.aborted() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
