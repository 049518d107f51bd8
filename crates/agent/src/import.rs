//! `onetrail import`: ship historic files through a configured source's
//! parser and enrichment to every configured sink, with the same
//! acknowledgement as the agent, then exit.
//!
//! Import never opens the checkpoint store: it neither reads nor moves the
//! running agent's positions. Its sinks keep their own state under
//! `<data_dir>/import/` (Splunk HEC channel, default dead-letter files), so an
//! import can run next to the agent. The exception is a `chain: true` file
//! sink: the file holds one chain whoever writes, so import shares the
//! agent's chain state (`<data_dir>/chain/<sink>.json`) and appends under the
//! file's lock (see `onetrail_sinks::file`). Event ids are the agent's (file
//! fingerprint + offset), so a file both imported and tailed yields
//! duplicates a receiver recognises by `id`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use onetrail_event::Category;
use tokio::sync::mpsc;

use crate::config::{Config, SinkType};
use crate::pipeline::{Batch, SINK_QUEUE, Shutdown};
use crate::reader::FileReader;
use onetrail_core::metrics::SinkMetrics;
use onetrail_enrich::Enricher;
use onetrail_sinks::{Grouping, Sink};

/// Events per batch handed to the sinks (the tailer's chunk size).
const BATCH_EVENTS: usize = 500;

/// Where an import stands (passed to the progress callback).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The file being read (1-based) and how many there are.
    pub file: usize,
    pub files: usize,
    pub path: String,
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub events_read: u64,
    pub events_delivered: u64,
    /// Every file is read; waiting for the sinks' acknowledgements.
    pub draining: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub events: u64,
    pub unparsed: u64,
    pub delivered: u64,
    pub bytes: u64,
    pub sinks: usize,
    /// Stopped by SIGINT/SIGTERM before everything was delivered.
    pub interrupted: bool,
}

/// Import `files` as source `source` of `cfg`. Returns once every event is
/// acknowledged by every sink, or when interrupted (`report.interrupted`).
pub async fn import(
    cfg: &Config,
    source: &str,
    files: &[PathBuf],
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, String> {
    let sc = &cfg
        .sources
        .get(source)
        .ok_or_else(|| {
            let names: Vec<&str> = cfg.sources.keys().map(String::as_str).collect();
            format!(
                "no source `{source}` in the configuration (configured: {})",
                names.join(", ")
            )
        })?
        .value;
    if sc.kind.is_poller() {
        return Err(format!(
            "source `{source}` polls a database; import reads files of a file source"
        ));
    }
    let (fmt_name, fopts) = crate::formats::source_format(cfg, source)?;
    let mut enricher = Enricher::build(sc.enrich_config(source, cfg.redaction.mask_literals))
        .map_err(|e| format!("sources.{source}: {e}"))?;

    // Every file must be there before anything is sent.
    let mut total = 0u64;
    for f in files {
        let m = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?;
        if !m.is_file() {
            return Err(format!("{}: not a regular file", f.display()));
        }
        if let Some(ext) = f.extension().and_then(|e| e.to_str())
            && ["gz", "zst", "lz4", "xz", "bz2", "zip"].contains(&ext)
        {
            return Err(format!(
                "{}: compressed; decompress it first (e.g. `zcat {} > file`)",
                f.display(),
                f.display()
            ));
        }
        total += m.len();
    }

    // The sinks, with their own state directory.
    let state_dir = cfg.data_dir.join("import");
    let shutdown = Shutdown::default();
    let mut txs = Vec::new();
    let mut tasks = Vec::new();
    let mut sink_metrics: Vec<(String, Arc<SinkMetrics>, Option<String>)> = Vec::new();
    for (name, sc) in &cfg.sinks {
        let sc = &sc.value;
        let mut sink =
            Sink::build(name, sc, &state_dir).map_err(|e| format!("sink `{name}`: {e}"))?;
        if let Sink::File(file) = &mut sink
            && sc.chain
        {
            file.enable_chain(&onetrail_sinks::chain_state_path(&cfg.data_dir, name))
                .map_err(|e| format!("sink `{name}`: {e}"))?;
        }
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let grouping = Grouping {
            max_events: sc.batch_max_events,
            timeout: match sc.kind {
                SinkType::File | SinkType::Stdout => Duration::ZERO,
                _ => Duration::from_millis(sc.batch_timeout_ms),
            },
        };
        let m = Arc::new(SinkMetrics::default());
        sink_metrics.push((name.clone(), m.clone(), None));
        tasks.push(tokio::spawn(onetrail_sinks::run_sink(
            sink,
            rx,
            grouping,
            shutdown.clone(),
            m,
        )));
        txs.push(tx);
    }

    let mut sig = Interrupt::new();
    let (ack_tx, ack_rx) = std_mpsc::channel::<u64>();
    let mut acks = Acks::default();
    let mut report = Report {
        sinks: txs.len(),
        ..Default::default()
    };
    let mut p = Progress {
        files: files.len(),
        bytes_total: total,
        ..Default::default()
    };
    let name: Arc<str> = source.into();
    let mut done_before = 0u64;

    'files: for (i, path) in files.iter().enumerate() {
        p.file = i + 1;
        p.path = path.display().to_string();
        let (format, _) = crate::formats::by_name(fmt_name, &fopts)?;
        let mut reader = FileReader::open(path, format, fmt_name, sc.max_record_bytes)?;
        loop {
            let (events, eof) = reader.next_events(BATCH_EVENTS)?;
            p.bytes_read = done_before + reader.read;
            if !events.is_empty() {
                let mut events = events;
                report.events += events.len() as u64;
                report.unparsed += events
                    .iter()
                    .filter(|e| e.category == Category::Unparsed)
                    .count() as u64;
                enricher.process(&mut events);
                if !events.is_empty() {
                    let seq = acks.sent(events.len());
                    let batch = Arc::new(Batch::tracked(
                        name.clone(),
                        events,
                        txs.len(),
                        seq,
                        ack_tx.clone(),
                    ));
                    for tx in &txs {
                        tokio::select! {
                            r = tx.send(batch.clone()) => {
                                if r.is_err() {
                                    return Err("a sink stopped unexpectedly".into());
                                }
                            }
                            _ = sig.wait() => {
                                report.interrupted = true;
                                break 'files;
                            }
                        }
                    }
                }
            }
            acks.collect(&ack_rx);
            p.events_read = report.events;
            p.events_delivered = acks.delivered;
            progress(&p);
            if eof {
                break;
            }
        }
        done_before += reader.read;
    }
    report.bytes = done_before;

    // Everything is read: wait for the acknowledgements.
    p.draining = true;
    while !report.interrupted && !acks.all_done() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = sig.wait() => report.interrupted = true,
        }
        acks.collect(&ack_rx);
        p.events_delivered = acks.delivered;
        progress(&p);
        for (n, m, logged) in &mut sink_metrics {
            let e = m.last_error();
            if !m.is_up() && e != *logged {
                tracing::warn!(sink = %n, "retrying: {}", e.as_deref().unwrap_or("down"));
                *logged = e;
            }
        }
    }
    if report.interrupted {
        shutdown.abort.store(true, Ordering::Release);
    }
    drop(txs);
    for t in tasks {
        let _ = t.await;
    }
    acks.collect(&ack_rx);
    report.delivered = acks.delivered;
    p.events_delivered = acks.delivered;
    progress(&p);
    Ok(report)
}

/// Batches sent and acknowledged.
#[derive(Default)]
struct Acks {
    next_seq: u64,
    outstanding: std::collections::HashMap<u64, u64>,
    delivered: u64,
}

impl Acks {
    fn sent(&mut self, events: usize) -> u64 {
        self.next_seq += 1;
        self.outstanding.insert(self.next_seq, events as u64);
        self.next_seq
    }
    fn collect(&mut self, rx: &std_mpsc::Receiver<u64>) {
        while let Ok(seq) = rx.try_recv() {
            if let Some(n) = self.outstanding.remove(&seq) {
                self.delivered += n;
            }
        }
    }
    fn all_done(&self) -> bool {
        self.outstanding.is_empty()
    }
}

/// SIGINT/SIGTERM during an import.
struct Interrupt {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn new() -> Interrupt {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupt {
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
        }
    }
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The import reader yields exactly what `parse_file` does (same ids).
    #[test]
    fn reader_matches_parse_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pg.log");
        let mut text = String::new();
        for n in 0..1500 {
            text.push_str(&format!(
                "2026-11-26 06:15:54.{:03} UTC [42] LOG:  AUDIT: SESSION,{n},1,WRITE,INSERT,TABLE,public.t,\"INSERT INTO t\n\tVALUES ({n})\",<none>\n",
                n % 1000
            ));
        }
        std::fs::write(&p, &text).unwrap();
        let fopts = crate::formats::FormatOptions {
            log_line_prefix: None,
            forward_other: true,
        };
        let (format, _) = crate::formats::by_name("pgaudit-stderr", &fopts).unwrap();
        let mut r = FileReader::open(
            &p,
            format,
            "pgaudit-stderr",
            onetrail_event::DEFAULT_MAX_RECORD_BYTES,
        )
        .unwrap();
        let mut ids = Vec::new();
        loop {
            let (evs, eof) = r.next_events(BATCH_EVENTS).unwrap();
            assert!(evs.len() <= BATCH_EVENTS + 1);
            ids.extend(evs.into_iter().map(|e| e.id));
            if eof {
                break;
            }
        }
        assert_eq!(r.read, text.len() as u64);
        let mut out = Vec::new();
        let opts = crate::ParseOptions {
            format: "pgaudit-stderr".into(),
            log_line_prefix: None,
            instance: None,
            forward_other: true,
            mask_literals: false,
            max_record_bytes: onetrail_event::DEFAULT_MAX_RECORD_BYTES,
        };
        crate::parse_file(&p, &opts, &mut out).unwrap();
        let want: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1500);
        assert_eq!(ids, want);
    }
}
