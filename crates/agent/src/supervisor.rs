//! The supervisor: `onetrail run` starts every source and sink of the
//! configuration, handles SIGTERM/SIGINT (stop) and SIGHUP (reload), and
//! stops when checkpoints cannot be written for too long.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onetrail_core::checkpoint::CheckpointStore;
use onetrail_core::{metrics, notify};
use onetrail_enrich::Enricher;
use onetrail_sinks::{self as sinks, Grouping, Sink};
use tokio::sync::mpsc;

use crate::config::{Config, SinkType};
use crate::pipeline::{self, FileSourceRunner, SINK_QUEUE, Shutdown};
use crate::tail::{self, FileTailer, TailOptions};
use crate::{formats, http, pollers, sample};

/// Run the agent until SIGTERM/SIGINT, without reloading (SIGHUP is logged
/// and ignored). Returns an error message for fatal start-up problems.
pub async fn run(cfg: Config) -> Result<(), String> {
    run_with(cfg, RunOptions::default()).await
}

/// What [`run_with`] needs besides the configuration.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// The file the configuration came from: SIGHUP re-reads it.
    pub config_path: Option<PathBuf>,
}

/// Run the agent until SIGTERM/SIGINT; SIGHUP reloads the configuration.
///
/// A reload re-reads and validates the file first; an invalid file is logged
/// (with file and line) and the running configuration stays. A valid one
/// stops every source and sink as SIGTERM would (in-flight events delivered,
/// checkpoints saved), then starts them again from the new configuration:
/// positions come from the checkpoint store, so nothing is lost and nothing
/// is read twice beyond what the shutdown deadline cut off. `data_dir` and
/// `metrics.listen` only change at a restart.
pub async fn run_with(mut cfg: Config, opts: RunOptions) -> Result<(), String> {
    // Handlers first: until they exist, SIGHUP would kill the process.
    let mut signals = Signals::new();
    let store = Arc::new(Mutex::new(CheckpointStore::open(&cfg.data_dir)?));
    let registry = Arc::new(metrics::Registry::default());
    store
        .lock()
        .expect("poisoned")
        .set_health(registry.checkpoints.clone());
    let _http = match &cfg.metrics {
        Some(m) => {
            let info = http::AgentInfo {
                config_path: opts.config_path.clone(),
                started: chrono::Utc::now(),
            };
            Some(http::start(m.value.addr(), registry.clone(), info).await?)
        }
        None => None,
    };
    let _watchdog = notify::spawn_watchdog();

    let mut agent = Generation::start(&cfg, &store, &registry).await?;
    registry.ready.store(true, Ordering::Relaxed);
    notify::notify("READY=1\nSTATUS=delivering");
    let mut fatal = None;
    loop {
        let signal = tokio::select! {
            s = signals.next() => s,
            e = checkpoints_failed_for(&registry, cfg.checkpoint_failure_exit_secs, &cfg.data_dir) => {
                fatal = Some(e);
                break;
            }
        };
        match signal {
            AgentSignal::Stop => break,
            AgentSignal::Reload => {
                let Some(path) = &opts.config_path else {
                    tracing::warn!("SIGHUP ignored: no configuration file to reload");
                    continue;
                };
                let new_cfg = match load_for_reload(path, &cfg) {
                    Ok(c) => c,
                    Err(e) => {
                        registry.reload_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!("reload refused, the running configuration stays: {e}");
                        continue;
                    }
                };
                tracing::info!("reloading {}", path.display());
                notify::notify("RELOADING=1\nSTATUS=reloading");
                registry.ready.store(false, Ordering::Relaxed);
                agent.stop(cfg.shutdown_timeout_secs).await;
                agent = match Generation::start(&new_cfg, &store, &registry).await {
                    Ok(g) => {
                        cfg = new_cfg;
                        registry.reloads.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("configuration reloaded");
                        g
                    }
                    Err(e) => {
                        registry.reload_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(
                            "cannot start the new configuration ({e}); going back to the previous one"
                        );
                        Generation::start(&cfg, &store, &registry).await?
                    }
                };
                registry.ready.store(true, Ordering::Relaxed);
                notify::notify("READY=1\nSTATUS=delivering");
            }
        }
    }
    registry.ready.store(false, Ordering::Relaxed);
    notify::notify("STOPPING=1\nSTATUS=stopping");
    agent.stop(cfg.shutdown_timeout_secs).await;
    if let Some(e) = fatal {
        return Err(e);
    }
    store
        .lock()
        .expect("poisoned")
        .persist()
        .map_err(|e| format!("cannot write checkpoints: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once checkpoint writes have failed for `limit_secs`, with the
/// error the agent exits with.
async fn checkpoints_failed_for(
    registry: &metrics::Registry,
    limit_secs: u64,
    data_dir: &Path,
) -> String {
    let limit = Duration::from_secs(limit_secs);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if registry
            .checkpoints
            .failing_for()
            .is_some_and(|d| d >= limit)
            && let Some((_, error)) = registry.checkpoints.failing()
        {
            return format!(
                "cannot write checkpoints in {} for {limit_secs} s (checkpoint_failure_exit_secs): {error}; stopping",
                data_dir.display()
            );
        }
    }
}

/// Read the configuration again for a reload; keeps what only a restart changes.
fn load_for_reload(path: &Path, running: &Config) -> Result<Config, String> {
    let mut new = Config::load(path).map_err(|e| e.to_string())?;
    if new.data_dir != running.data_dir {
        tracing::warn!(
            "data_dir changed to {}: that takes a restart; keeping {}",
            new.data_dir.display(),
            running.data_dir.display()
        );
        new.data_dir.clone_from(&running.data_dir);
    }
    let listen = |c: &Config| c.metrics.as_ref().map(|m| m.value.listen.clone());
    if listen(&new) != listen(running) {
        tracing::warn!(
            "metrics.listen changed: that takes a restart; the endpoint stays where it is"
        );
    }
    Ok(new)
}

/// The sources and sinks of one configuration, running.
#[derive(Default)]
struct Generation {
    shutdown: Shutdown,
    sink_txs: Vec<mpsc::Sender<Arc<pipeline::Batch>>>,
    sink_tasks: Vec<tokio::task::JoinHandle<()>>,
    poll_tasks: Vec<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Generation {
    /// Start every sink, then every source. If one cannot start, what did is
    /// stopped again before the error is returned.
    async fn start(
        cfg: &Config,
        store: &Arc<Mutex<CheckpointStore>>,
        registry: &metrics::Registry,
    ) -> Result<Generation, String> {
        let mut g = Generation::default();
        let started = g.spawn(cfg, store, registry);
        // Sources hold the senders now; sinks end once every source has.
        g.sink_txs.clear();
        match started {
            Ok(()) => {
                let sources: Vec<&str> = cfg.sources.keys().map(String::as_str).collect();
                let sinks: Vec<&str> = cfg.sinks.keys().map(String::as_str).collect();
                registry.retain(&sources, &sinks);
                Ok(g)
            }
            Err(e) => {
                g.stop(cfg.shutdown_timeout_secs).await;
                Err(e)
            }
        }
    }

    fn spawn(
        &mut self,
        cfg: &Config,
        store: &Arc<Mutex<CheckpointStore>>,
        registry: &metrics::Registry,
    ) -> Result<(), String> {
        let shutdown = &self.shutdown;
        // Each sink sends its dead-letter alerts to the others.
        let peers = sinks::Peers::default();
        // Sinks first: a source must never read what nobody can receive.
        for (name, sc) in &cfg.sinks {
            let sc = &sc.value;
            let sink =
                Sink::build(name, sc, &cfg.data_dir).map_err(|e| format!("sink `{name}`: {e}"))?;
            let (tx, rx) = mpsc::channel(SINK_QUEUE);
            let grouping = Grouping {
                max_events: sc.batch_max_events,
                timeout: match sc.kind {
                    SinkType::File | SinkType::Stdout => Duration::ZERO,
                    _ => Duration::from_millis(sc.batch_timeout_ms),
                },
            };
            let metrics = registry.sink(name, &snake_case(&format!("{:?}", sc.kind)));
            // Up until an attempt fails.
            metrics.set_ok();
            self.sink_tasks
                .push(tokio::spawn(sinks::run_sink_with_peers(
                    name.clone(),
                    sink,
                    rx,
                    grouping,
                    shutdown.clone(),
                    metrics,
                    peers.clone(),
                )));
            peers.add(name, &tx);
            self.sink_txs.push(tx);
            tracing::info!(sink = %name, kind = ?sc.kind, "sink ready");
        }

        for (name, sc) in &cfg.sources {
            let s = &sc.value;
            let metrics = registry.source(name, &snake_case(&format!("{:?}", s.kind)));
            if s.kind.is_poller() {
                let (poller, engine) = pollers::build(cfg, name)?;
                let runner = pipeline::PollerRunner {
                    name: name.as_str().into(),
                    engine,
                    poller,
                    sinks: self.sink_txs.clone(),
                    store: store.clone(),
                    enricher: source_enricher(cfg, store, name)?,
                    interval: Duration::from_millis(s.poll_interval_ms.max(100)),
                    shutdown: shutdown.clone(),
                    metrics,
                    max_record_bytes: s.max_record_bytes.max(onetrail_event::MIN_MAX_RECORD),
                };
                tracing::info!(source = %name, kind = ?s.kind, "polling source started");
                self.poll_tasks.push(tokio::spawn(runner.run()));
                continue;
            }
            let (fmt_name, fopts) = formats::source_format(cfg, name)?;
            let (_, engine) = formats::by_name(fmt_name, &fopts)?;
            // A wrong prefix parses quietly into wrong fields: say so at start.
            let prefix_problem = match (&fopts.log_line_prefix, fmt_name) {
                (Some(p), "pgaudit-stderr") => sample::prefix_mismatch(p, &s.paths),
                (None, "pgaudit-stderr") => {
                    sample::prefix_mismatch(sample::PG_DEFAULT_PREFIX, &s.paths)
                }
                _ => None,
            }
            .map(|detail| {
                tracing::warn!(source = %name, "{detail}");
                tail::SourceProblem {
                    kind: "prefix",
                    detail,
                }
            });
            if s.log_line_prefix
                .as_ref()
                .is_some_and(|p| p.value == "auto")
            {
                match sample::auto_prefix(&s.paths) {
                    Ok((p, from)) => {
                        tracing::info!(source = %name, "log_line_prefix: auto: using {p:?}, {from}")
                    }
                    Err(e) => tracing::warn!(
                        source = %name,
                        "log_line_prefix: auto: {e}; using PostgreSQL's default {:?} until the next reload or restart",
                        sample::PG_DEFAULT_PREFIX
                    ),
                }
            }
            let mut topts = TailOptions::new(s.paths.clone(), engine, fmt_name);
            topts.exclude.clone_from(&s.exclude);
            topts.read_from = s.read_from;
            topts.quiet_flush = Duration::from_millis(s.quiet_flush_ms);
            topts.max_record_bytes = s.max_record_bytes;
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
                sinks: self.sink_txs.clone(),
                store: store.clone(),
                enricher: source_enricher(cfg, store, name)?,
                poll_interval: Duration::from_millis(s.poll_interval_ms.max(10)),
                shutdown: shutdown.clone(),
                metrics,
                unparsed_window: Default::default(),
                unparsed_problem: None,
                prefix_problem,
            };
            tracing::info!(source = %name, format = fmt_name, paths = ?s.paths, "source started");
            self.threads.push(
                std::thread::Builder::new()
                    .name(format!("src-{name}"))
                    .spawn(move || runner.run())
                    .map_err(|e| format!("cannot start source thread: {e}"))?,
            );
        }
        Ok(())
    }

    /// Stop reading, deliver what is in flight (up to `timeout_secs`), let
    /// every source save its checkpoint, and wait for every task.
    async fn stop(self, timeout_secs: u64) {
        tracing::info!(
            "stopping: no more reading; delivering in-flight events (up to {timeout_secs} s)"
        );
        let shutdown = self.shutdown;
        shutdown.stop_reading.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
        let abort = shutdown.abort.clone();
        let deadline_task = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            abort.store(true, Ordering::Release);
        });
        drop(self.sink_txs);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        for t in self.poll_tasks.into_iter().chain(self.sink_tasks) {
            let _ = t.await;
        }
        deadline_task.abort();
        if shutdown.aborted() {
            tracing::warn!(
                "shutdown deadline reached with events in flight; they will be re-read at the next start"
            );
        }
    }
}

/// `MysqlAudit` → `mysql_audit` (type names in metrics, as in the config).
fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A source's enricher, with the session state saved in its checkpoint.
fn source_enricher(
    cfg: &Config,
    store: &Mutex<CheckpointStore>,
    name: &str,
) -> Result<Enricher, String> {
    let s = &cfg.sources[name].value;
    let mut e = Enricher::build(s.enrich_config(name, cfg.redaction.mask_literals))
        .map_err(|e| format!("sources.{name}: {e}"))?;
    let saved = store.lock().expect("poisoned").source(name).sessions;
    e.restore_sessions(saved.as_ref());
    Ok(e)
}

/// What a signal asks of the agent.
enum AgentSignal {
    /// SIGTERM, SIGINT: deliver in-flight events, save positions, exit.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            hup: signal(SignalKind::hangup()).expect("SIGHUP handler"),
        }
    }

    async fn next(&mut self) -> AgentSignal {
        tokio::select! {
            _ = self.term.recv() => AgentSignal::Stop,
            _ = self.int.recv() => AgentSignal::Stop,
            _ = self.hup.recv() => AgentSignal::Reload,
        }
    }
}
