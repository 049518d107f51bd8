//! Sinks: where events go. Every sink has the same shape: a config (in
//! `config::SinkConfig`), an encoder, a `deliver` that returns only once a group
//! of batches is durably accepted (retrying as long as it takes), and the
//! shared runner below that groups batches and acknowledges them.

pub mod datadog;
pub mod file;
pub mod http;
pub mod kafka;
pub mod splunk_hec;
pub mod stdout;
pub mod syslog;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{Encoding, SinkConfig, SinkType, TlsConfig};
use crate::metrics::SinkMetrics;
use crate::pipeline::{Batch, Shutdown};

/// Why `deliver` gave up: only shutdown makes a sink give up; the batches stay
/// unacknowledged and are read again after the restart.
#[derive(Debug)]
pub struct Aborted;

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
            Sink::Syslog(s) => s.deliver(batches, shutdown, metrics).await,
            Sink::Kafka(s) => s.deliver(batches, shutdown, metrics).await,
        }
    }
}

/// The chain state file of the `chain: true` file sink `name`.
pub fn chain_state_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("chain").join(format!("{name}.json"))
}

/// Encode events as one JSON document per line, in `encoding` (see [`crate::encode`]).
pub fn encode_lines(batches: &[Arc<Batch>], encoding: Encoding, out: &mut Vec<u8>) {
    for b in batches {
        for ev in &b.events {
            crate::encode::write_json(ev, encoding, out);
            out.push(b'\n');
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
            let mut ev = crate::pipeline::agent_event(
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

/// `action` of the alert raised for dead-lettered events.
pub const DEAD_LETTER_ACTION: &str = "DEAD_LETTER";

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

/// Exponential backoff with full jitter, capped: the wait before retry `attempt` (1-based).
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let ceiling = exp.min(cap);
    // Full jitter: uniform in [0, ceiling]. A cheap PRNG is enough here.
    let r = jitter_fraction();
    ceiling.mul_f64(r)
}

fn jitter_fraction() -> f64 {
    use std::cell::Cell;
    thread_local! { static STATE: Cell<u64> = Cell::new(0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64); }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Sleep in small steps so an abort is noticed; false if aborted.
pub async fn sleep_unless_aborted(d: Duration, shutdown: &Shutdown) -> bool {
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        if shutdown.aborted() {
            return false;
        }
        let step = (end - tokio::time::Instant::now()).min(Duration::from_millis(100));
        tokio::time::sleep(step).await;
    }
    !shutdown.aborted()
}

// ---------------------------------------------------------------------------
// Shared by the HTTP sinks: retries, TLS client, gzip, dead letters.

/// Retry timing of an HTTP sink. Retries never stop (the source's files are
/// the buffer); only shutdown ends them.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First delay; doubles per attempt (full jitter).
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Delay between attempts while the sink is paused (credentials refused).
    pub pause: Duration,
}

/// Longest `Retry-After` honoured; beyond it the receiver is asked again sooner.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl RetryPolicy {
    pub fn from_config(cfg: &SinkConfig) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(cfg.retry_initial_backoff_ms.max(1)),
            max: Duration::from_millis(
                cfg.retry_max_backoff_ms
                    .max(cfg.retry_initial_backoff_ms)
                    .max(1),
            ),
            pause: Duration::from_millis(cfg.pause_retry_ms.max(1)),
        }
    }

    /// The wait before retry `attempt` (1-based): the receiver's `Retry-After`
    /// when it sent one (capped at [`MAX_RETRY_AFTER`]), else full-jitter backoff.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        retry_delay(attempt, self.initial, self.max, retry_after)
    }
}

/// [`backoff`], unless the receiver said when to come back (`Retry-After`).
pub fn retry_delay(
    attempt: u32,
    base: Duration,
    cap: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    match retry_after {
        Some(d) => d.min(MAX_RETRY_AFTER),
        // `backoff` doubles from `base * 2`; start at `base` instead.
        None => backoff(attempt.saturating_sub(1), base, cap),
    }
}

/// Parse a `Retry-After` header: delta-seconds or an HTTP-date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = t.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response, if any.
pub fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// An HTTP client for a sink: rustls with the system roots plus `tls.ca_file`,
/// an optional client certificate, gzip responses, the request timeout.
pub fn http_client(
    name: &str,
    tls: &TlsConfig,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .gzip(true)
        .user_agent(concat!("onetrail/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            format!(
                "tls.ca_file {}: not a PEM certificate bundle: {}",
                ca.display(),
                error_chain(&e)
            )
        })?;
        if certs.is_empty() {
            return Err(format!(
                "tls.ca_file {}: no certificate in it",
                ca.display()
            ));
        }
        b = b.tls_certs_merge(certs);
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(c), Some(k)) => {
            let mut pem =
                std::fs::read(c).map_err(|e| format!("tls.client_cert {}: {e}", c.display()))?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(k).map_err(|e| format!("tls.client_key {}: {e}", k.display()))?,
            );
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                format!(
                    "tls.client_cert/client_key ({} / {}): {}",
                    c.display(),
                    k.display(),
                    error_chain(&e)
                )
            })?;
            b = b.identity(id);
        }
        (None, None) => {}
        _ => return Err("tls.client_cert and tls.client_key go together".into()),
    }
    if tls.verify == Some(false) {
        tracing::warn!(
            sink = %name,
            "tls.verify is false: the receiver's certificate is NOT checked; anyone on the path can read and change the audit trail"
        );
        b = b.tls_danger_accept_invalid_certs(true);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
}

/// An error with its `source()` chain (TLS reasons are deep in it), and what
/// to change when it is a TLS failure (see [`tls_hint`]). Never contains
/// secrets: reqwest errors carry the URL, whose credentials are masked.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    if let Some(h) = tls_hint(&s) {
        s.push_str(" (");
        s.push_str(h);
        s.push(')');
    }
    crate::config::mask_url_credentials(&s).into_owned()
}

/// The setting to look at for a TLS failure, from rustls' reason in `msg`.
pub fn tls_hint(msg: &str) -> Option<&'static str> {
    let has = |n: &str| msg.contains(n);
    Some(if has("invalid peer certificate: UnknownIssuer") {
        "the receiver's certificate is not signed by a CA this host trusts: set `tls.ca_file` to the PEM file of the CA that signed it"
    } else if has("CaUsedAsEndEntity") {
        "the receiver presents a CA certificate as its own: it needs a server certificate (CA:FALSE) signed by a CA, and that CA in `tls.ca_file`"
    } else if has("certificate not valid for name") || has("NotValidForName") {
        "the endpoint's host name is not one the receiver's certificate names (subjectAltName): use one of those names in `endpoint`"
    } else if has("certificate expired") || has("certificate not valid yet") {
        "the receiver's certificate is outside its validity period, or this host's clock is wrong"
    } else if has("invalid peer certificate") {
        "the receiver's certificate failed verification: check it, and `tls.ca_file`"
    } else if has("received fatal alert: CertificateRequired") {
        "the receiver requires a client certificate: set `tls.client_cert` and `tls.client_key`"
    } else if has("received fatal alert: UnknownCA")
        || has("received fatal alert: BadCertificate")
        || has("received fatal alert: CertificateUnknown")
        || has("received fatal alert: AccessDenied")
    {
        "the receiver refused the TLS handshake, likely the client certificate: check `tls.client_cert`/`tls.client_key` and that the receiver trusts their CA"
    } else {
        return None;
    })
}

/// gzip level of request bodies. Level 1, by measurement on event JSON
/// (BENCHMARKS.md, zlib-rs backend): ~740 MB/s at ratio 0.14, against
/// ~230 MB/s at level 6 for ratio 0.08; on the database host CPU is what
/// counts, and the bodies are already 7x smaller.
pub const GZIP_LEVEL: u32 = 1;

/// gzip a request body.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 6 + 64),
        flate2::Compression::new(GZIP_LEVEL),
    );
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// The machine's host name (for `host`/`hostname` when not configured).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A random (v4) UUID in its canonical text form.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        // Fallback: time, pid and the jitter PRNG; unique enough for a channel id.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
        b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        b[12..].copy_from_slice(&((jitter_fraction() * u32::MAX as f64) as u32).to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The first bytes of a receiver's answer, for logs and errors: at most
/// [`EXCERPT_BYTES`], control characters shown as spaces, `secrets` (the
/// sink's token or API key, should a proxy echo a header) and URL
/// credentials masked. `"(empty)"` for an empty body.
pub fn body_excerpt(body: &[u8], secrets: &[&str]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(s, "****");
    }
    let text = crate::config::mask_url_credentials(&text).into_owned();
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = out.trim();
    if trimmed.is_empty() {
        return "(empty)".into();
    }
    out = trimmed.to_string();
    if out.len() > EXCERPT_BYTES {
        let mut at = EXCERPT_BYTES;
        while !out.is_char_boundary(at) {
            at -= 1;
        }
        out.truncate(at);
        out.push('…');
    }
    format!("{out:?}")
}

/// Most bytes of a receiver's answer quoted by [`body_excerpt`].
pub const EXCERPT_BYTES: usize = 160;

/// What `onetrail check` could establish about an HTTP sink.
#[derive(Debug)]
pub enum Probe {
    /// The credentials were proven with the receiver.
    Verified(String),
    /// The receiver was reached, but it offers no way to prove the credentials.
    Unverified(String),
}

/// An event written to a dead-letter file, as its alert names it.
#[derive(Debug, Clone)]
pub struct DeadLettered {
    pub id: String,
    pub engine: onetrail_event::Engine,
    pub instance: Option<String>,
    pub time: chrono::DateTime<chrono::Utc>,
    pub reason: String,
    /// The event was itself a `DEAD_LETTER` alert (raises no other).
    pub is_alert: bool,
}

/// The local file where events a receiver rejects as invalid are kept, one
/// JSON line per event: `{"time","sink","reason","event"}` with the native
/// event, so it can be inspected and replayed. Opened on first use.
pub struct DeadLetter {
    sink: String,
    pub path: PathBuf,
    file: Option<std::fs::File>,
    /// What was written since the sink's runner last took it (for its alert).
    pub written: Vec<DeadLettered>,
}

impl DeadLetter {
    /// The sink it belongs to.
    pub fn sink(&self) -> &str {
        &self.sink
    }

    /// `cfg.dead_letter_path`, default `<data_dir>/dead-letter/<sink>.jsonl`.
    pub fn new(sink: &str, cfg: &SinkConfig, data_dir: &Path) -> DeadLetter {
        DeadLetter {
            sink: sink.to_string(),
            path: cfg
                .dead_letter_path
                .clone()
                .unwrap_or_else(|| data_dir.join("dead-letter").join(format!("{sink}.jsonl"))),
            file: None,
            written: Vec::new(),
        }
    }

    fn write_now(&mut self, events: &[(&onetrail_event::Event, String)]) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(crate::files::open_append(&self.path, false)?);
        }
        let mut buf = Vec::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for (ev, reason) in events {
            let line = serde_json::json!({
                "time": now,
                "sink": self.sink,
                "reason": crate::config::mask_url_credentials(reason),
                "event": ev,
            });
            serde_json::to_writer(&mut buf, &line).expect("serializes");
            buf.push(b'\n');
        }
        let f = self.file.as_mut().expect("opened above");
        let r = f.write_all(&buf).and_then(|()| f.sync_data());
        if r.is_err() {
            self.file = None; // reopen next time
        }
        r
    }

    /// Write and sync; retries (with backoff) until it succeeds or shutdown
    /// aborts: a rejected event is acknowledged only once it is on disk here.
    pub async fn write(
        &mut self,
        events: &[(&onetrail_event::Event, String)],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        if events.is_empty() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            match self.write_now(events) {
                Ok(()) => {
                    metrics
                        .dead_lettered
                        .fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    for (ev, reason) in events {
                        tracing::error!(
                            sink = %self.sink, id = %ev.id, path = %self.path.display(),
                            "event rejected by the receiver, written to the dead-letter file: {reason}"
                        );
                        self.written.push(DeadLettered {
                            id: ev.id.clone(),
                            engine: ev.engine,
                            instance: ev.instance.clone(),
                            time: ev.time,
                            reason: crate::config::mask_url_credentials(reason).into_owned(),
                            is_alert: ev.category == onetrail_event::Category::Agent
                                && ev.action == DEAD_LETTER_ACTION,
                        });
                    }
                    return Ok(());
                }
                Err(e) => {
                    attempt += 1;
                    let msg = format!("cannot write dead-letter file {}: {e}", self.path.display());
                    tracing::error!(sink = %self.sink, "{msg} (will retry; the batch stays unacknowledged)");
                    metrics.set_error(msg);
                    let wait =
                        backoff(attempt, Duration::from_millis(100), Duration::from_secs(30));
                    if !sleep_unless_aborted(wait, shutdown).await {
                        return Err(Aborted);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod http_tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn retry_delay_honours_retry_after_and_caps() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            pause: Duration::from_secs(1),
        };
        assert_eq!(
            p.delay(5, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(100_000))),
            MAX_RETRY_AFTER
        );
        for attempt in 1..40 {
            let d = p.delay(attempt, None);
            assert!(d <= Duration::from_secs(2), "{attempt}: {d:?}");
        }
        // The first retry waits at most `initial`.
        for _ in 0..100 {
            assert!(p.delay(1, None) <= Duration::from_millis(100));
        }
    }

    #[test]
    fn tls_failures_name_the_setting_to_fix() {
        let h = |m: &str| tls_hint(m).unwrap_or("");
        assert!(
            h("client error (Connect): invalid peer certificate: UnknownIssuer")
                .contains("`tls.ca_file`")
        );
        assert!(
            h("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))")
                .contains("CA:FALSE")
        );
        assert!(h("invalid peer certificate: certificate not valid for name \"db\"; certificate is only valid for DnsName(\"localhost\")").contains("`endpoint`"));
        assert!(
            h("connection error: received fatal alert: CertificateRequired")
                .contains("`tls.client_cert`")
        );
        assert!(
            h("connection error: received fatal alert: UnknownCA").contains("`tls.client_cert`")
        );
        assert_eq!(
            tls_hint("client error (Connect): tcp connect error: Connection refused"),
            None
        );
        assert_eq!(tls_hint("operation timed out"), None);
    }

    #[test]
    fn body_excerpts_are_short_printable_and_hide_secrets() {
        assert_eq!(body_excerpt(b"", &[]), "(empty)");
        assert_eq!(body_excerpt(b" \r\n ", &[]), "(empty)");
        let e = body_excerpt(
            b"<html>Login\r\nrequired for tok-1234</html>",
            &["tok-1234"],
        );
        assert_eq!(e, "\"<html>Login  required for ****</html>\"");
        let long = "é".repeat(1000);
        let e = body_excerpt(long.as_bytes(), &[]);
        assert!(e.len() <= EXCERPT_BYTES + 8 && e.ends_with("…\""), "{e}");
        let e = body_excerpt(b"see https://u:pw-9@proxy/login", &[]);
        assert!(!e.contains("pw-9"), "{e}");
        assert!(body_excerpt(&[0xff, 0xfe, b'x'], &[]).contains('x'));
    }

    #[test]
    fn uuids_are_v4_shaped_and_distinct() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }
}
