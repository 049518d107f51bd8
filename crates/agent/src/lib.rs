//! The onetrail runtime: configuration, file tailing, the acknowledged
//! pipeline, enrichment and sinks. The `onetrail` binary is thin glue over
//! [`run`], [`parse_file`] and [`check`].
//!
//! One record's walk: [`tail`] reads bytes → the source's parser frames and
//! normalizes them → [`enrich`] → [`pipeline::Batch`] to every sink →
//! acknowledgement → [`checkpoint`].

pub mod checkpoint;
pub mod config;
pub mod encode;
pub mod enrich;
pub mod formats;
pub mod metrics;
pub mod pipeline;
pub mod pollers;
pub mod sinks;
pub mod tail;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onetrail_event::{Flush, RecordPos};
use tokio::sync::mpsc;

use crate::checkpoint::CheckpointStore;
use crate::config::{Config, SinkType};
use crate::enrich::Enricher;
use crate::pipeline::{FileSourceRunner, SINK_QUEUE, Shutdown};
use crate::sinks::{Grouping, Sink};
use crate::tail::{FileTailer, TailOptions};

/// Run the agent until SIGTERM/SIGINT. Returns an error message for fatal
/// start-up problems (the binary prints it and exits non-zero).
pub async fn run(cfg: Config) -> Result<(), String> {
    let store = Arc::new(Mutex::new(CheckpointStore::open(&cfg.data_dir)?));
    let shutdown = Shutdown::default();

    // Sinks first: a source must never read what nobody can receive.
    let mut sink_txs = Vec::new();
    let mut sink_tasks = Vec::new();
    for (name, sc) in &cfg.sinks {
        let sc = &sc.value;
        let sink = Sink::build(name, sc, &cfg.data_dir).map_err(|e| format!("sink `{name}`: {e}"))?;
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let grouping = Grouping {
            max_events: sc.batch_max_events,
            timeout: match sc.kind {
                SinkType::File | SinkType::Stdout => Duration::ZERO,
                _ => Duration::from_millis(sc.batch_timeout_ms),
            },
        };
        let metrics = Arc::new(metrics::SinkMetrics::default());
        sink_tasks.push(tokio::spawn(sinks::run_sink(
            sink,
            rx,
            grouping,
            shutdown.clone(),
            metrics,
        )));
        sink_txs.push(tx);
        tracing::info!(sink = %name, kind = ?sc.kind, "sink ready");
    }

    let mut threads = Vec::new();
    let mut poll_tasks = Vec::new();
    for (name, sc) in &cfg.sources {
        let s = &sc.value;
        if s.kind.is_poller() {
            let (poller, engine) = pollers::build(&cfg, name)?;
            let runner = pipeline::PollerRunner {
                name: name.as_str().into(),
                engine,
                poller,
                sinks: sink_txs.clone(),
                store: store.clone(),
                enricher: Enricher::new(
                    s.instance.clone(),
                    s.context.clone(),
                    cfg.redaction.mask_literals,
                ),
                interval: Duration::from_millis(s.poll_interval_ms.max(100)),
                shutdown: shutdown.clone(),
                metrics: Arc::new(metrics::SourceMetrics::default()),
            };
            tracing::info!(source = %name, kind = ?s.kind, "polling source started");
            poll_tasks.push(tokio::spawn(runner.run()));
            continue;
        }
        let (fmt_name, fopts) = formats::source_format(&cfg, name)?;
        let (_, engine) = formats::by_name(fmt_name, &fopts)?;
        let mut topts = TailOptions::new(s.paths.clone(), engine, fmt_name);
        topts.exclude.clone_from(&s.exclude);
        topts.read_from = s.read_from;
        topts.quiet_flush = Duration::from_millis(s.quiet_flush_ms);
        let saved = store.lock().expect("poisoned").source(name).files;
        let fo = fopts.clone();
        let factory: tail::FormatFactory = Box::new(move || {
            formats::by_name(fmt_name, &fo)
                .expect("format validated at start")
                .0
        });
        let runner = FileSourceRunner {
            name: name.as_str().into(),
            engine,
            tailer: FileTailer::new(topts, saved, factory),
            sinks: sink_txs.clone(),
            store: store.clone(),
            enricher: Enricher::new(
                s.instance.clone(),
                s.context.clone(),
                cfg.redaction.mask_literals,
            ),
            poll_interval: Duration::from_millis(s.poll_interval_ms.max(10)),
            shutdown: shutdown.clone(),
            metrics: Arc::new(metrics::SourceMetrics::default()),
        };
        tracing::info!(source = %name, format = fmt_name, paths = ?s.paths, "source started");
        threads.push(
            std::thread::Builder::new()
                .name(format!("src-{name}"))
                .spawn(move || runner.run())
                .map_err(|e| format!("cannot start source thread: {e}"))?,
        );
    }
    drop(sink_txs);

    wait_for_signal().await;
    tracing::info!(
        "stopping: no more reading; delivering in-flight events (up to {} s)",
        cfg.shutdown_timeout_secs
    );
    shutdown.stop_reading.store(true, Ordering::Release);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cfg.shutdown_timeout_secs);
    let abort = shutdown.abort.clone();
    let watchdog = tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        abort.store(true, Ordering::Release);
    });
    let joined = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    });
    let _ = joined.await;
    for t in poll_tasks {
        let _ = t.await;
    }
    for t in sink_tasks {
        let _ = t.await;
    }
    watchdog.abort();
    if shutdown.aborted() {
        tracing::warn!(
            "shutdown deadline reached with events in flight; they will be re-read at the next start"
        );
    }
    store
        .lock()
        .expect("poisoned")
        .persist()
        .map_err(|e| format!("cannot write checkpoints: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Options of `onetrail parse`.
pub struct ParseOptions {
    pub format: String,
    pub log_line_prefix: Option<String>,
    pub instance: Option<String>,
    pub forward_other: bool,
    pub mask_literals: bool,
}

/// Counts of what `parse_file` emitted.
#[derive(Debug, Default, Clone)]
pub struct ParseStats {
    pub events: u64,
    pub unparsed: u64,
    pub bytes: u64,
}

/// Parse one whole file offline and write one JSON event per line to `out`.
/// Ids are the same as `run` gives for the same file (same fingerprint).
pub fn parse_file(path: &Path, opts: &ParseOptions, out: &mut dyn Write) -> Result<ParseStats, String> {
    let fopts = formats::FormatOptions {
        log_line_prefix: opts.log_line_prefix.clone(),
        forward_other: opts.forward_other,
    };
    let (mut format, _engine) = formats::by_name(&opts.format, &fopts)?;
    let fmt_name = formats::static_name(&opts.format).unwrap_or("unknown");
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = tail::source_key_of(&file).map_err(|e| format!("{}: {e}", path.display()))?;
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let path_str = path.to_string_lossy();
    let enricher = Enricher::new(opts.instance.clone(), Default::default(), opts.mask_literals);
    let mut stats = ParseStats {
        bytes: data.len() as u64,
        ..Default::default()
    };
    let mut events = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut emit = |events: &mut Vec<onetrail_event::Event>, stats: &mut ParseStats| -> Result<(), String> {
        for mut ev in events.drain(..) {
            enricher.apply(&mut ev);
            stats.events += 1;
            if ev.category == onetrail_event::Category::Unparsed {
                stats.unparsed += 1;
            }
            line.clear();
            serde_json::to_writer(&mut line, &ev).expect("events serialize");
            line.push(b'\n');
            out.write_all(&line).map_err(|e| format!("writing output: {e}"))?;
        }
        Ok(())
    };
    let mut off = 0usize;
    while off < data.len() {
        let n = match format.frame(&data[off..], Flush::Final) {
            Some(n) if n > 0 => n,
            _ => data.len() - off,
        };
        let pos = RecordPos {
            source_key: &key,
            path: Some(&path_str),
            offset: off as u64,
            format: fmt_name,
        };
        format.parse(&data[off..off + n], &pos, &mut events);
        off += n;
        if events.len() >= 256 {
            emit(&mut events, &mut stats)?;
        }
    }
    format.release_held(&mut events);
    emit(&mut events, &mut stats)?;
    Ok(stats)
}

/// One finding of `onetrail check`.
#[derive(Debug, Clone)]
pub struct Finding {
    pub ok: bool,
    pub subject: String,
    pub message: String,
}

/// Validate what can be validated without running: files matched and
/// readable, sinks buildable, data_dir writable.
pub fn check(cfg: &Config) -> Vec<Finding> {
    let mut f = Vec::new();
    let mut push = |ok: bool, subject: String, message: String| {
        f.push(Finding {
            ok,
            subject,
            message,
        })
    };
    match std::fs::create_dir_all(&cfg.data_dir).and_then(|()| {
        let probe = cfg.data_dir.join(".onetrail-check");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(probe)
    }) {
        Ok(()) => push(true, "data_dir".into(), format!("{} is writable", cfg.data_dir.display())),
        Err(e) => push(
            false,
            "data_dir".into(),
            format!("{} is not writable: {e} (the agent keeps its checkpoints there)", cfg.data_dir.display()),
        ),
    }
    for (name, sc) in &cfg.sources {
        let s = &sc.value;
        let subject = format!("source {name}");
        let mut matched = BTreeMap::new();
        for pat in &s.paths {
            match glob::glob(pat) {
                Ok(it) => {
                    for p in it.flatten() {
                        let readable = std::fs::File::open(&p).map(|_| ()).map_err(|e| e.to_string());
                        matched.insert(p, readable);
                    }
                }
                Err(e) => push(false, subject.clone(), format!("bad glob {pat:?}: {e}")),
            }
        }
        if matched.is_empty() {
            push(
                false,
                subject.clone(),
                format!(
                    "no file matches {:?} yet (the agent waits for them; check the path and the server's log settings)",
                    s.paths
                ),
            );
        }
        for (p, r) in matched {
            match r {
                Ok(()) => push(true, subject.clone(), format!("{} is readable", p.display())),
                Err(e) => push(
                    false,
                    subject.clone(),
                    format!(
                        "{} is not readable: {e} (add the agent's user to the log files' group, e.g. `adm`, `postgres` or `mysql`)",
                        p.display()
                    ),
                ),
            }
        }
        match formats::build(cfg, name) {
            Ok((f, _)) => push(true, subject, format!("format {} ready", f.name())),
            Err(e) => push(false, subject, e),
        }
    }
    for (name, sc) in &cfg.sinks {
        let subject = format!("sink {name}");
        match Sink::build(name, &sc.value, &cfg.data_dir) {
            Ok(sink) => {
                let (ok, msg) = probe_sink(sink);
                push(ok, subject, msg);
            }
            Err(e) => push(false, subject, e),
        }
    }
    f
}

/// `check`'s reachability probe of a sink: Splunk HEC's health endpoint,
/// Datadog's API-key validation (or a plain request to an explicit
/// `endpoint:`). Sends no event and writes nothing.
fn probe_sink(sink: Sink) -> (bool, String) {
    let run = move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return (false, format!("cannot start a runtime for the probe: {e}")),
        };
        rt.block_on(async move {
            match sink {
                Sink::SplunkHec(s) => match s.health().await {
                    Ok(m) => (true, format!("Splunk HEC {m}")),
                    Err(m) => (false, format!("Splunk HEC: {m}")),
                },
                Sink::Datadog(d) => match d.probe().await {
                    Ok(m) => (true, format!("Datadog: {m}")),
                    Err(m) => (false, format!("Datadog: {m}")),
                },
                Sink::File(_) | Sink::Stdout(_) => (true, "ready".to_string()),
            }
        })
    };
    // Its own thread: `check` may be called from inside a runtime.
    std::thread::spawn(run)
        .join()
        .unwrap_or_else(|_| (false, "the probe panicked".into()))
}
