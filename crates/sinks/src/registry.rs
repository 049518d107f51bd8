//! The configured sinks: [`Sink`] (one variant per sink type, built from its
//! config) and the runner every sink shares, which groups batches, delivers
//! them and acknowledges them to their sources.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::common::*;
use crate::config::{SinkConfig, SinkType};
use crate::{datadog, file, kafka, splunk_hec, stdout, syslog};
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;

/// The configured sinks.
pub enum Sink {
    File(file::FileSink),
    Stdout(stdout::StdoutSink),
    SplunkHec(Box<splunk_hec::SplunkHecSink>),
    Datadog(Box<datadog::DatadogSink>),
    Syslog(Box<syslog::SyslogSink>),
    Kafka(Box<kafka::KafkaSink>),
}

impl Sink {
    /// Build a sink from its config (opens files, reads secrets). HTTP sinks
    /// touch nothing on disk and the network not at all here: their channel
    /// file, dead-letter file and health check come with the first delivery.
    /// `data_dir` is the agent's `data_dir` (HEC channel, default dead-letter path).
    pub fn build(name: &str, cfg: &SinkConfig, data_dir: &Path) -> Result<Sink, String> {
        match cfg.kind {
            SinkType::File => {
                let path = cfg.path.as_ref().ok_or("`path` is required")?;
                let mut sink = file::FileSink::open(path, cfg.encoding)?;
                if cfg.chain {
                    sink.enable_chain(&chain_state_path(data_dir, name))?;
                }
                Ok(Sink::File(sink))
            }
            SinkType::Stdout => Ok(Sink::Stdout(stdout::StdoutSink::new(cfg.encoding))),
            SinkType::SplunkHec => Ok(Sink::SplunkHec(Box::new(splunk_hec::SplunkHecSink::new(
                name, cfg, data_dir,
            )?))),
            SinkType::Datadog => Ok(Sink::Datadog(Box::new(datadog::DatadogSink::new(
                name, cfg, data_dir,
            )?))),
            SinkType::Syslog => Ok(Sink::Syslog(Box::new(syslog::SyslogSink::new(name, cfg)?))),
            SinkType::Kafka => Ok(Sink::Kafka(Box::new(kafka::KafkaSink::new(
                name, cfg, data_dir,
            )?))),
        }
    }

    /// The events dead-lettered since the last call, and the dead-letter
    /// file (which names its sink and path).
    pub fn take_dead_lettered(&mut self) -> (Vec<DeadLettered>, Option<&DeadLetter>) {
        let dead = match self {
            Sink::SplunkHec(s) => s.dead_letter_mut(),
            Sink::Datadog(s) => s.dead_letter_mut(),
            Sink::Kafka(s) => s.dead_letter_mut(),
            Sink::File(_) | Sink::Stdout(_) | Sink::Syslog(_) => return (Vec::new(), None),
        };
        (std::mem::take(&mut dead.written), Some(&*dead))
    }

    /// Deliver a group of batches; `Ok` means every event is durably accepted
    /// (or, for events the receiver rejects as invalid, durably dead-lettered).
    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        match self {
            Sink::File(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::Stdout(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::SplunkHec(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::Datadog(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::Kafka(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::Syslog(s) => s.deliver(batches, shutdown, metrics).await,
        }
    }
}

/// Grouping limits of a sink.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    pub max_events: usize,
    pub timeout: Duration,
}

/// The other sinks of the agent, to which a sink sends its `DEAD_LETTER`
/// alerts. Weak: the sinks still end once every source has hung up.
#[derive(Clone, Default)]
#[allow(clippy::type_complexity)]
pub struct Peers(Arc<std::sync::Mutex<Vec<(String, mpsc::WeakSender<Arc<Batch>>)>>>);

impl Peers {
    /// Add sink `name`'s queue.
    pub fn add(&self, name: &str, tx: &mpsc::Sender<Arc<Batch>>) {
        self.0
            .lock()
            .expect("poisoned")
            .push((name.to_string(), tx.downgrade()));
    }
}

/// Receive batches, group them, deliver, acknowledge. Returns when every
/// source has hung up (all senders dropped) or on abort.
pub async fn run_sink(
    sink: Sink,
    rx: mpsc::Receiver<Arc<Batch>>,
    grouping: Grouping,
    shutdown: Shutdown,
    metrics: Arc<SinkMetrics>,
) {
    run_sink_with_peers(
        "sink".into(),
        sink,
        rx,
        grouping,
        shutdown,
        metrics,
        Peers::default(),
    )
    .await
}

/// [`run_sink`], also sending every `DEAD_LETTER` alert to `peers` (the
/// other sinks; the sink's own receiver gets it too). A group whose events
/// were all dead-lettered leaves the sink down (`up = false`): a receiver
/// that rejects everything is not a working sink.
pub async fn run_sink_with_peers(
    name: String,
    mut sink: Sink,
    mut rx: mpsc::Receiver<Arc<Batch>>,
    grouping: Grouping,
    shutdown: Shutdown,
    metrics: Arc<SinkMetrics>,
    peers: Peers,
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
        let dead_before = metrics
            .dead_lettered
            .load(std::sync::atomic::Ordering::Relaxed);
        // At the shutdown deadline an in-flight request is dropped (its
        // connection closed) however long the receiver takes: the group stays
        // unacknowledged and is read again after the restart.
        let delivered = tokio::select! {
            r = sink.deliver(&group, &shutdown, &metrics) => r,
            _ = shutdown.until_aborted() => Err(Aborted),
        };
        match delivered {
            Ok(()) => {
                // Dead-lettered events were handled, not sent.
                let dead = metrics
                    .dead_lettered
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .saturating_sub(dead_before);
                metrics.sent_events.fetch_add(
                    (count as u64).saturating_sub(dead),
                    std::sync::atomic::Ordering::Relaxed,
                );
                metrics
                    .sent_batches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for b in &group {
                    b.ack();
                }
                let (written, file) = sink.take_dead_lettered();
                if let (false, Some(file)) = (written.is_empty(), file) {
                    if dead >= count as u64 {
                        let msg = format!(
                            "the receiver rejected every event of the last delivery ({count}); they are in the dead-letter file {}: {}",
                            file.path.display(),
                            written[0].reason
                        );
                        tracing::error!(sink = %name, "{msg}");
                        metrics.set_error(msg);
                    }
                    let alerts =
                        dead_letter_alerts(file.sink(), &group, &written, Some(&file.path));
                    if !alerts.is_empty() {
                        send_alerts(&name, &mut sink, alerts, &peers, &shutdown, &metrics).await;
                    }
                }
            }
            Err(Aborted) => return,
        }
    }
}

/// One `agent` `DEAD_LETTER` event, `alert: true`, per source whose events
/// were dead-lettered. A dead-lettered alert raises none (no loop).
pub fn dead_letter_alerts(
    sink: &str,
    group: &[Arc<Batch>],
    written: &[DeadLettered],
    path: Option<&Path>,
) -> Vec<onetrail_event::Event> {
    use std::collections::{BTreeMap, HashMap};
    let source_of: HashMap<&str, &str> = group
        .iter()
        .flat_map(|b| b.events.iter().map(|e| (e.id.as_str(), &*b.source)))
        .collect();
    let mut by_source: BTreeMap<&str, Vec<&DeadLettered>> = BTreeMap::new();
    for d in written.iter().filter(|d| !d.is_alert) {
        let src = source_of.get(d.id.as_str()).copied().unwrap_or("");
        by_source.entry(src).or_default().push(d);
    }
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    by_source
        .into_iter()
        .map(|(source, ds)| {
            let mut ev = onetrail_core::batch::agent_event(
                source,
                ds[0].engine,
                DEAD_LETTER_ACTION,
                "events the receiver rejected were written to the dead-letter file instead of being delivered",
            );
            ev.outcome = onetrail_event::Outcome::Failure;
            ev.alert = true;
            ev.instance.clone_from(&ds[0].instance);
            let first = ds.iter().map(|d| d.time).min().expect("non-empty");
            let last = ds.iter().map(|d| d.time).max().expect("non-empty");
            let ids: Vec<&str> = ds.iter().take(20).map(|d| d.id.as_str()).collect();
            ev.extra.insert("sink".into(), sink.into());
            ev.extra.insert("count".into(), ds.len().into());
            ev.extra.insert("reason".into(), ds[0].reason.clone().into());
            ev.extra.insert("first_time".into(), fmt(first).into());
            ev.extra.insert("last_time".into(), fmt(last).into());
            ev.extra.insert("event_ids".into(), ids.into());
            if let Some(p) = path {
                ev.extra
                    .insert("dead_letter_path".into(), p.display().to_string().into());
            }
            ev
        })
        .collect()
}

/// Deliver `alerts` to this sink's own receiver (now) and queue them for
/// every peer (best effort, like `START`/`STOP`: they are not from a file).
async fn send_alerts(
    name: &str,
    sink: &mut Sink,
    alerts: Vec<onetrail_event::Event>,
    peers: &Peers,
    shutdown: &Shutdown,
    metrics: &SinkMetrics,
) {
    let batch = Arc::new(Batch::unacked("onetrail", alerts));
    let peers: Vec<_> = peers
        .0
        .lock()
        .expect("poisoned")
        .iter()
        .filter(|(n, _)| n != name)
        .filter_map(|(_, tx)| tx.upgrade())
        .collect();
    for tx in peers {
        let b = batch.clone();
        let sd = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tx.send(b) => {}
                _ = async { while !sd.aborted() { tokio::time::sleep(Duration::from_millis(100)).await } } => {}
            }
        });
    }
    // Its own counters: the alert's fate must not flip the sink's up/down
    // state, which its data decided; the counts are added after.
    let scratch = SinkMetrics::default();
    if sink
        .deliver(std::slice::from_ref(&batch), shutdown, &scratch)
        .await
        .is_ok()
    {
        let _ = sink.take_dead_lettered();
    }
    use std::sync::atomic::Ordering::Relaxed;
    for (to, from) in [
        (&metrics.requests, &scratch.requests),
        (&metrics.bytes_sent, &scratch.bytes_sent),
        (&metrics.retries, &scratch.retries),
        (&metrics.rejected, &scratch.rejected),
        (&metrics.dead_lettered, &scratch.dead_lettered),
        (&metrics.ack_timeouts, &scratch.ack_timeouts),
    ] {
        to.fetch_add(from.load(Relaxed), Relaxed);
    }
    tracing::debug!(sink = %name, "DEAD_LETTER alert sent");
}
