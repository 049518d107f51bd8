//! The onetrail runtime: configuration, file tailing, the acknowledged
//! pipeline, enrichment and sinks. The `onetrail` binary is thin glue over
//! [`run`], [`parse_file`] and [`check`].
//!
//! One record's walk: [`tail`] reads bytes → the source's parser frames and
//! normalizes them → [`enrich`] → [`pipeline::Batch`] to every sink →
//! acknowledgement → [`checkpoint`].

pub use onetrail_event::DEFAULT_MAX_RECORD_BYTES;

pub mod chain;
pub mod checkpoint;
pub mod config;
pub mod encode;
pub mod enrich;
pub mod files;
pub mod formats;
pub mod http;
pub mod import;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod pollers;
mod reader;
pub mod sample;
pub mod sinks;
pub mod tail;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::checkpoint::CheckpointStore;
use crate::config::{Config, SinkType};
use crate::enrich::Enricher;
use crate::pipeline::{FileSourceRunner, SINK_QUEUE, Shutdown};
use crate::sinks::{Grouping, Sink};
use crate::tail::{FileTailer, TailOptions};

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
    let mut e = Enricher::build(enrich::EnrichConfig::from_source(
        name,
        s,
        cfg.redaction.mask_literals,
    ))
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

/// Options of `onetrail parse`.
pub struct ParseOptions {
    pub format: String,
    pub log_line_prefix: Option<String>,
    pub instance: Option<String>,
    pub forward_other: bool,
    pub mask_literals: bool,
    /// Records longer than this are cut ([`onetrail_event::Framer`]).
    pub max_record_bytes: usize,
}

/// Counts of what `parse_file` emitted.
#[derive(Debug, Default, Clone)]
pub struct ParseStats {
    pub events: u64,
    pub unparsed: u64,
    pub bytes: u64,
}

impl ParseStats {
    /// The file has content but not one record of it was recognised (no
    /// event, or only `unparsed` ones): it is not in the format it was read as.
    pub fn nothing_recognised(&self) -> bool {
        self.bytes > 0 && self.unparsed == self.events
    }
}

/// The first 64 KiB of `path` (empty when it cannot be read).
fn file_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(f) = files::open_regular(path)
        && f.take(64 * 1024).read_to_end(&mut head).is_err()
    {
        head.clear();
    }
    head
}

/// Whether format `name` recognises at least one record in `head`: an event
/// that is not `unparsed` (and, with `strict`, not `other` either: some
/// formats read almost any text as `other` records, no evidence of a match).
fn recognises(head: &[u8], name: &str, fopts: &formats::FormatOptions, strict: bool) -> bool {
    let Ok((mut format, _)) = formats::by_name(name, fopts) else {
        return false;
    };
    let Some(name) = formats::static_name(name) else {
        return false;
    };
    let mut framer = onetrail_event::Framer::new(DEFAULT_MAX_RECORD_BYTES);
    let mut events = Vec::new();
    let mut at = 0;
    while at < head.len() && events.len() < 64 {
        let pos = onetrail_event::RecordPos {
            source_key: "sniff",
            path: None,
            offset: at as u64,
            format: name,
        };
        match framer.step(
            &mut *format,
            &head[at..],
            &pos,
            onetrail_event::Flush::Final,
            &mut events,
        ) {
            0 => break,
            n => at += n,
        }
    }
    events.iter().any(|e| match e.category {
        onetrail_event::Category::Unparsed => false,
        onetrail_event::Category::Other => !strict,
        _ => true,
    })
}

/// The formats (other than `except`) that recognise records in the first
/// 64 KiB of `path`: what the file looks like, for a message when it was read
/// in the wrong format. pgaudit stderr is tried with its default prefix.
pub fn formats_recognising(path: &Path, except: &str) -> Vec<&'static str> {
    let head = file_head(path);
    if head.is_empty() {
        return Vec::new();
    }
    let fopts = formats::FormatOptions {
        log_line_prefix: None,
        forward_other: false,
    };
    formats::all_formats()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| *name != except && recognises(&head, name, &fopts, true))
        .collect()
}

/// `Some(message)` when `path` has content but not one record of its first
/// 64 KiB is recognised as `format` (only `unparsed` ones, the rule `parse`
/// applies to the whole file): the file is in another format (the
/// message says which it looks like). `None` when it is recognised, empty or
/// unreadable (reading it reports that). Used before `import` sends anything.
pub fn wrong_format(path: &Path, format: &str, fopts: &formats::FormatOptions) -> Option<String> {
    let head = file_head(path);
    if head.is_empty() || recognises(&head, format, fopts, false) {
        return None;
    }
    let looks = formats_recognising(path, format);
    let like = if looks.is_empty() {
        "no format onetrail knows recognises it either".to_string()
    } else {
        format!("it looks like {}", looks.join(" or "))
    };
    Some(format!(
        "{}: not one record of its first 64 KiB is recognised as {format} ({like})",
        path.display()
    ))
}

/// Parse one whole file offline and write one JSON event per line to `out`.
/// Ids are the same as `run` gives for the same file (same fingerprint).
pub fn parse_file(
    path: &Path,
    opts: &ParseOptions,
    out: &mut dyn Write,
) -> Result<ParseStats, String> {
    let fopts = formats::FormatOptions {
        log_line_prefix: opts.log_line_prefix.clone(),
        forward_other: opts.forward_other,
    };
    let (format, _engine) = formats::by_name(&opts.format, &fopts)?;
    let fmt_name = formats::static_name(&opts.format).unwrap_or("unknown");
    let mut reader = reader::FileReader::open(path, format, fmt_name, opts.max_record_bytes)?;
    let mut enricher = Enricher::new(
        opts.instance.clone(),
        Default::default(),
        opts.mask_literals,
    );
    let mut stats = ParseStats::default();
    let mut events = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut emit =
        |events: &mut Vec<onetrail_event::Event>, stats: &mut ParseStats| -> Result<(), String> {
            for mut ev in events.drain(..) {
                enricher.apply(&mut ev);
                stats.events += 1;
                if ev.category == onetrail_event::Category::Unparsed {
                    stats.unparsed += 1;
                }
                line.clear();
                // Same bytes as serde_json::to_writer, faster (BENCHMARKS.md).
                ev.write_json(&mut line);
                line.push(b'\n');
                out.write_all(&line)
                    .map_err(|e| format!("writing output: {e}"))?;
            }
            Ok(())
        };
    // Streamed through a bounded buffer (see `reader`), 256 events at a time.
    loop {
        let eof = reader.fill(256, &mut events)?;
        emit(&mut events, &mut stats)?;
        if eof {
            break;
        }
    }
    stats.bytes = reader.read;
    Ok(stats)
}

/// How bad a finding of `onetrail check` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but should be changed (secrets readable by others, no TLS
    /// verification, cleartext to another host, a path that is not tailed).
    Warn,
    /// The agent cannot work like this.
    Fail,
}

/// One finding of `onetrail check`.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub subject: String,
    pub message: String,
}

impl Finding {
    /// Not a failure (a warning is not one).
    pub fn ok(&self) -> bool {
        self.level != Level::Fail
    }
}

/// Validate what can be validated without running: files matched and
/// readable, sinks buildable, data_dir writable; and warn about what works
/// but exposes the audit trail or its secrets. `config_path` (the file `cfg`
/// came from) is checked for being readable by others.
pub fn check(cfg: &Config, config_path: Option<&Path>) -> Vec<Finding> {
    let mut f = Findings::default();
    if let Some(p) = config_path {
        f.warn_if_exposed("config", "the configuration file", p);
    }
    // `check` changes nothing on disk: it probes, it does not create.
    match check_dir_writable(&cfg.data_dir) {
        Ok(msg) => f.push(true, "data_dir", msg),
        Err(e) => f.push(
            false,
            "data_dir",
            format!("{e} (the agent keeps its checkpoints there)"),
        ),
    }
    for (name, sc) in &cfg.sources {
        let s = &sc.value;
        let subject = format!("source {name}");
        if let Some(p) = &s.password_file {
            f.warn_if_exposed(&subject, "the secret file `password_file`", p);
        }
        if s.kind.is_poller() {
            // No files to match; the database is reached when the agent polls.
            match pollers::validate(cfg, name) {
                Ok(()) => f.push(true, &subject, "polling source configured".into()),
                Err(e) => f.push(false, &subject, e),
            }
            continue;
        }
        let mut matched = BTreeMap::new();
        for pat in &s.paths {
            match glob::glob(pat) {
                Ok(it) => {
                    for p in it.flatten() {
                        // Never a plain open: a FIFO would block `check` forever.
                        let readable = files::open_regular(&p).map(drop);
                        matched.insert(p, readable);
                    }
                }
                Err(e) => f.push(false, &subject, format!("bad glob {pat:?}: {e}")),
            }
        }
        for pat in &s.paths {
            if let Some((dir, why)) = tail::denied_dir_of(pat) {
                f.push(
                    false,
                    &subject,
                    format!(
                        "cannot list {}: permission denied{why}, so {pat:?} finds no file (add the agent's user to the group that owns the logs, e.g. `adm` or `postgres`, and make the directory group-readable)",
                        dir.display()
                    ),
                );
            }
        }
        if matched.is_empty() {
            f.push(
                false,
                &subject,
                format!(
                    "no file matches {:?} yet (the agent waits for them; check the path and the server's log settings)",
                    s.paths
                ),
            );
        }
        let collects = matched.values().any(Result::is_ok);
        for (p, r) in matched {
            match r {
                Ok(()) => f.push(true, &subject, format!("{} is readable", p.display())),
                Err(files::NotRegular::Kind(kind)) if kind == "directory" && !collects => f.push(
                    false,
                    &subject,
                    format!(
                        "{} is a directory: the agent tails files, not directories, and collects nothing; use a glob such as \"{}/*.log\"",
                        p.display(),
                        p.display()
                    ),
                ),
                Err(files::NotRegular::Kind(kind)) => f.warn(
                    &subject,
                    format!(
                        "{} is a {kind}, not a regular file: the agent skips it (only regular files are tailed)",
                        p.display()
                    ),
                ),
                Err(files::NotRegular::Io(e)) => f.push(
                    false,
                    &subject,
                    format!(
                        "{} is not readable: {e}{} (add the agent's user to the log files' group, e.g. `adm`, `postgres` or `mysql`)",
                        p.display(),
                        files::access_detail(&p)
                    ),
                ),
            }
        }
        match formats::build(cfg, name) {
            Ok((fm, _)) => f.push(true, &subject, format!("format {} ready", fm.name())),
            Err(e) => f.push(false, &subject, e),
        }
        // Read real lines: the newest file says whether format and prefix fit.
        if let (Some(file), Ok((fmt_name, mut fopts))) = (
            sample::newest_file(&s.paths),
            formats::source_format(cfg, name),
        ) {
            // `auto` is judged on the sample itself, not resolved again.
            if s.log_line_prefix
                .as_ref()
                .is_some_and(|p| p.value == "auto")
            {
                fopts.log_line_prefix = Some("auto".into());
            }
            for (level, msg) in sample::check_file(fmt_name, &fopts, &file) {
                f.add(level, &subject, msg);
            }
        }
    }
    for (name, sc) in &cfg.sinks {
        let subject = format!("sink {name}");
        let s = &sc.value;
        let sasl_file = s.sasl.as_ref().and_then(|a| a.password_file.clone());
        for (key, p) in [
            ("token_file", &s.token_file),
            ("api_key_file", &s.api_key_file),
            ("sasl.password_file", &sasl_file),
        ] {
            if let Some(p) = p {
                f.warn_if_exposed(&subject, &format!("the secret file `{key}`"), p);
            }
        }
        if matches!(s.kind, SinkType::SplunkHec | SinkType::Datadog) {
            if s.tls.verify == Some(false) {
                f.warn(
                    &subject,
                    "tls.verify is false: the receiver's certificate is NOT checked; anyone on the path can read and change the audit trail (use `tls.ca_file` for a private CA)".into(),
                );
            }
            if let Some(host) = s.endpoint.as_deref().and_then(cleartext_remote_host) {
                f.warn(
                    &subject,
                    format!(
                        "the endpoint is cleartext http:// to {host}, another host: audit events and the credentials cross the network unencrypted; use https://"
                    ),
                );
            }
        }
        if s.kind == SinkType::Syslog
            && !matches!(
                s.protocol,
                crate::config::SyslogProtocol::Tls | crate::config::SyslogProtocol::RelpTls
            )
            && let Some(addr) = &s.address
            && let Some(host) = cleartext_remote_host(&format!("http://{}", addr.trim()))
        {
            f.warn(
                &subject,
                format!(
                    "`protocol: {}` to {host}, another host: audit events cross the network unencrypted; use `protocol: tls`",
                    match s.protocol {
                        crate::config::SyslogProtocol::Tcp => "tcp",
                        crate::config::SyslogProtocol::Relp => "relp",
                        _ => "udp",
                    }
                ),
            );
        }
        if s.kind == SinkType::Kafka
            && s.tls.enabled == Some(false)
            && let Some(host) = s
                .brokers
                .iter()
                .find_map(|b| cleartext_remote_host(&format!("http://{}", b.trim())))
        {
            f.warn(
                &subject,
                format!(
                    "`tls.enabled: false` to {host}, another host: audit events{} cross the network unencrypted",
                    if s.sasl.is_some() {
                        " and the SASL password"
                    } else {
                        ""
                    }
                ),
            );
        }
        if s.kind == SinkType::File {
            let path = s.path.clone().unwrap_or_default();
            let r = if path.exists() {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map(|_| format!("{} is writable", path.display()))
                    .map_err(|e| format!("{} is not writable: {e}", path.display()))
            } else {
                check_dir_writable(path.parent().unwrap_or(Path::new(".")))
                    .map(|_| format!("{} will be created", path.display()))
            };
            match r {
                Ok(m) => f.push(true, &subject, m),
                Err(e) => f.push(false, &subject, e),
            }
            continue;
        }
        match Sink::build(name, s, &cfg.data_dir) {
            Ok(sink) => {
                let (level, msg) = probe_sink(sink);
                f.add(level, &subject, msg);
            }
            Err(e) => f.push(false, &subject, e),
        }
    }
    f.0
}

/// The findings of one `check`, in order.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, level: Level, subject: &str, message: String) {
        self.0.push(Finding {
            level,
            subject: subject.to_string(),
            // Endpoints may be quoted (probe results): never their credentials.
            message: config::mask_url_credentials(&message).into_owned(),
        });
    }

    /// Ok or Fail.
    fn push(&mut self, ok: bool, subject: &str, message: String) {
        self.add(if ok { Level::Ok } else { Level::Fail }, subject, message);
    }

    fn warn(&mut self, subject: &str, message: String) {
        self.add(Level::Warn, subject, message);
    }

    /// Warn when `path` (a secret, the configuration) is readable by others.
    fn warn_if_exposed(&mut self, subject: &str, what: &str, path: &Path) {
        if files::readable_by_others(path).unwrap_or(false) {
            self.warn(
                subject,
                format!(
                    "{what} {p} is readable by every user of this host: `chmod o-rwx {p}` (e.g. mode 0640, owner root, group onetrail)",
                    p = path.display()
                ),
            );
        }
    }
}

/// The host of a cleartext `http://` endpoint when it is not this host
/// (loopback): traffic to it crosses a network unencrypted.
fn cleartext_remote_host(endpoint: &str) -> Option<String> {
    let e = endpoint.trim();
    let rest = e
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &e[7..])?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        Some(v6) => &v6[..v6.find(']').unwrap_or(v6.len())],
        None => hostport.split(':').next().unwrap_or(""),
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| host.to_string())
}

/// `check`'s probe of a sink: Splunk HEC proves its token with an empty
/// event request, Datadog validates its API key ([`sinks::Probe`]). Sends no
/// event and writes nothing. A receiver that cannot prove the credentials
/// (an explicit Datadog `endpoint:`) gives a warning that says so.
fn probe_sink(sink: Sink) -> (Level, String) {
    let run = move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                return (
                    Level::Fail,
                    format!("cannot start a runtime for the probe: {e}"),
                );
            }
        };
        rt.block_on(async move {
            let (label, r) = match sink {
                Sink::SplunkHec(s) => ("Splunk HEC", s.probe().await),
                Sink::Datadog(d) => ("Datadog", d.probe().await),
                Sink::Syslog(s) => ("syslog", s.probe().await),
                Sink::Kafka(s) => ("Kafka", s.probe().await),
                Sink::File(_) | Sink::Stdout(_) => return (Level::Ok, "ready".to_string()),
            };
            match r {
                Ok(sinks::Probe::Verified(m)) => (Level::Ok, format!("{label}: {m}")),
                Ok(sinks::Probe::Unverified(m)) => (Level::Warn, format!("{label}: {m}")),
                Err(m) => (Level::Fail, format!("{label}: {m}")),
            }
        })
    };
    // Its own thread: `check` may be called from inside a runtime.
    std::thread::spawn(run)
        .join()
        .unwrap_or_else(|_| (Level::Fail, "the probe panicked".into()))
}

/// Whether the agent could write in `dir` (or create it), without creating
/// anything: an existing directory gets a probe file that is removed at once.
fn check_dir_writable(dir: &Path) -> Result<String, String> {
    if dir.is_dir() {
        let probe = dir.join(format!(".onetrail-check-{}", std::process::id()));
        return match std::fs::write(&probe, b"ok") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Ok(format!("{} is writable", dir.display()))
            }
            Err(e) => Err(format!("{} is not writable: {e}", dir.display())),
        };
    }
    if dir.exists() {
        return Err(format!("{} exists but is not a directory", dir.display()));
    }
    // Walk up to the first existing ancestor: that is where it would be created.
    let mut anc = dir.parent();
    while let Some(a) = anc {
        if a.is_dir() {
            return check_dir_writable(a)
                .map(|_| format!("{} does not exist yet and will be created", dir.display()));
        }
        anc = a.parent();
    }
    Err(format!("{} cannot be created", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_endpoints_to_other_hosts_are_found() {
        let remote = |e: &str| cleartext_remote_host(e);
        assert_eq!(remote("http://splunk:8088").as_deref(), Some("splunk"));
        assert_eq!(
            remote("HTTP://u:p@10.0.0.7:8088/x").as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(
            remote("http://[2001:db8::1]:80").as_deref(),
            Some("2001:db8::1")
        );
        for local in [
            "http://127.0.0.1:8088",
            "http://127.8.9.1",
            "http://localhost:8080/",
            "http://[::1]:8088",
            "http://u:p@localhost",
            "https://splunk:8088",
        ] {
            assert_eq!(remote(local), None, "{local}");
        }
    }
}
