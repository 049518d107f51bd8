//! The HTTP sinks over HTTPS: rustls with the system roots plus `tls.ca_file`,
//! client certificates, and `tls.verify: false`, against the HTTPS receivers
//! of onetrail_testkit with certificates made at test time (`openssl` tool).
//!
//! Every test runs on a current-thread runtime so the thread-local log
//! capture sees everything the sink logs.

mod sink_common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use onetrail_agent::metrics::SinkMetrics;
use onetrail_agent::pipeline::{Batch, Shutdown};
use onetrail_agent::sinks::{Grouping, Sink, run_sink};
use onetrail_testkit::receivers::{DatadogReceiver, HecReceiver, TlsMaterial};
use sink_common::*;

const TOKEN: &str = "0bd1b8d8-6b7e-4c8e-9d4e-1234567890ab";
const KEY: &str = "dd0123456789abcdef0123456789abcd";
const VERIFY_OFF_WARNING: &str = "tls.verify is false";

fn hec_yaml(url: &str, tls: &str) -> String {
    format!("type: splunk_hec\nendpoint: {url}\ntoken: {TOKEN}\nhost: db-01\n{FAST}{tls}")
}

fn dd_yaml(url: &str, tls: &str) -> String {
    format!("type: datadog\nendpoint: {url}\napi_key: {KEY}\nhost: db-01\n{FAST}{tls}")
}

fn ca_file(p: &std::path::Path) -> String {
    format!("tls:\n  ca_file: {}\n", p.display())
}

/// Log lines captured on this thread (a `tracing` subscriber writing to memory).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Capture everything logged on this thread until the guard is dropped.
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let w = logs.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(sub))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

/// A batch whose acknowledgement can be observed, and the receiving end.
fn tracked(n: u32) -> (Arc<Batch>, std_mpsc::Receiver<u64>) {
    let (tx, rx) = std_mpsc::channel();
    let b = Batch::tracked("pg".into(), events(n), 1, 42, tx);
    (Arc::new(b), rx)
}

/// A sink running under `run_sink` with one batch queued, as in the agent.
struct Running {
    shutdown: Shutdown,
    metrics: Arc<SinkMetrics>,
    task: tokio::task::JoinHandle<()>,
    _tx: tokio::sync::mpsc::Sender<Arc<Batch>>,
}

async fn run(sink: Sink, batch: &Arc<Batch>) -> Running {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(batch.clone()).await.unwrap();
    let shutdown = Shutdown::default();
    let metrics = Arc::new(SinkMetrics::default());
    let grouping = Grouping {
        max_events: 1000,
        timeout: Duration::ZERO,
    };
    let task = tokio::spawn(run_sink(
        sink,
        rx,
        grouping,
        shutdown.clone(),
        metrics.clone(),
    ));
    Running {
        shutdown,
        metrics,
        task,
        _tx: tx,
    }
}

impl Running {
    /// Wait (bounded) until the batch is acknowledged.
    async fn acked(&self, acks: &std_mpsc::Receiver<u64>, within: Duration) {
        let end = Instant::now() + within;
        loop {
            if let Ok(seq) = acks.try_recv() {
                assert_eq!(seq, 42);
                return;
            }
            assert!(
                Instant::now() < end,
                "not acknowledged within {within:?}; last error {:?}",
                self.metrics.last_error()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait (bounded) until the sink reports an error containing every one of
    /// `needles`; then watch for a second that it keeps retrying and nothing is acknowledged.
    /// Returns the error.
    async fn refused(&self, acks: &std_mpsc::Receiver<u64>, needles: &[&str]) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        let err = loop {
            assert!(
                acks.try_recv().is_err(),
                "acknowledged despite the TLS failure"
            );
            if let Some(e) = self.metrics.last_error()
                && needles.iter().all(|n| e.contains(n))
            {
                break e;
            }
            assert!(
                Instant::now() < end,
                "no error containing {needles:?} within 10 s; last error {:?}",
                self.metrics.last_error()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // It keeps retrying, and still nothing is acknowledged.
        let retries = self.metrics.retries.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(
            acks.try_recv().is_err(),
            "acknowledged despite the TLS failure"
        );
        assert!(
            self.metrics.retries.load(Ordering::Relaxed) > retries,
            "the sink stopped retrying"
        );
        assert!(!self.metrics.is_up());
        assert_eq!(self.metrics.sent_events.load(Ordering::Relaxed), 0);
        err
    }

    /// Abort (the shutdown deadline) and wait for the sink to give up.
    /// The sources hang up too (as at a real shutdown).
    async fn abort(self) {
        self.shutdown.abort.store(true, Ordering::Release);
        drop(self._tx);
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the sink gives up within 5 s of an abort")
            .unwrap();
    }
}

#[tokio::test]
async fn hec_over_https_with_ca_file_delivers() {
    let tls = TlsMaterial::generate();
    let rx = HecReceiver::start_tls(TOKEN, &tls).await;
    assert!(rx.url.starts_with("https://127.0.0.1:"), "{}", rx.url);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &hec_yaml(&rx.url, &ca_file(&tls.ca_cert)));
    let (logs, _g) = Logs::capture();
    let (batch, acks) = tracked(25);
    let r = run(build(&cfg), &batch).await;
    r.acked(&acks, Duration::from_secs(10)).await;
    {
        let s = rx.state();
        assert_eq!(s.accepted.len(), 25);
        assert!(s.tls_errors.is_empty(), "{:?}", s.tls_errors);
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    }
    assert_eq!(r.metrics.sent_events.load(Ordering::Relaxed), 25);
    // Verification is on: no warning about it.
    assert_eq!(logs.count(VERIFY_OFF_WARNING), 0, "{}", logs.text());
    r.abort().await;
}

/// Without `ca_file` (system roots only) and with an unrelated CA, the
/// receiver's certificate is unknown: nothing is delivered or acknowledged,
/// the reason is reported; with the right CA the same batch then arrives.
#[tokio::test]
async fn hec_refuses_an_unknown_certificate_and_keeps_the_data() {
    let tls = TlsMaterial::generate();
    let rx = HecReceiver::start_tls(TOKEN, &tls).await;
    let dir = tempfile::tempdir().unwrap();
    let (logs, _g) = Logs::capture();
    let (batch, acks) = tracked(10);
    for tls_yaml in [String::new(), ca_file(&tls.other_ca_cert)] {
        let cfg = config(dir.path(), &hec_yaml(&rx.url, &tls_yaml));
        let failed_before = rx.state().tls_errors.len();
        let r = run(build(&cfg), &batch).await;
        let err = r
            .refused(
                &acks,
                &["invalid peer certificate", "UnknownIssuer", "tls.ca_file"],
            )
            .await;
        assert!(err.starts_with("request failed"), "{err}");
        {
            let s = rx.state();
            assert!(s.accepted.is_empty());
            assert!(s.requests.is_empty(), "no request gets past the handshake");
            // The client, not the server, broke off the handshakes.
            assert!(s.tls_errors.len() > failed_before);
            assert!(
                s.tls_errors.iter().all(|e| e.contains("UnknownCA")),
                "{:?}",
                s.tls_errors
            );
        }
        r.abort().await;
    }
    // The reason is in the logs too, with the hint; no one turned verification off.
    let text = logs.text();
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(text.contains("Splunk HEC health check failed"), "{text}");
    assert_eq!(logs.count(VERIFY_OFF_WARNING), 0, "{text}");

    // The config fixed: the same (still unacknowledged) batch arrives.
    let cfg = config(dir.path(), &hec_yaml(&rx.url, &ca_file(&tls.ca_cert)));
    let r = run(build(&cfg), &batch).await;
    r.acked(&acks, Duration::from_secs(10)).await;
    assert_eq!(rx.state().accepted.len(), 10);
    r.abort().await;
}

#[tokio::test]
async fn hec_verify_false_delivers_and_warns_at_every_start() {
    let tls = TlsMaterial::generate();
    let rx = HecReceiver::start_tls(TOKEN, &tls).await;
    let dir = tempfile::tempdir().unwrap();
    // No CA at all: the certificate is unknown, and not checked.
    let cfg = config(dir.path(), &hec_yaml(&rx.url, "tls:\n  verify: false\n"));
    let (logs, _g) = Logs::capture();
    let (batch, acks) = tracked(5);
    let r = run(build(&cfg), &batch).await;
    r.acked(&acks, Duration::from_secs(10)).await;
    assert_eq!(rx.state().accepted.len(), 5);
    r.abort().await;
    assert_eq!(logs.count(VERIFY_OFF_WARNING), 1, "{}", logs.text());
    let line = logs
        .text()
        .lines()
        .find(|l| l.contains(VERIFY_OFF_WARNING))
        .unwrap()
        .to_string();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("sink=out"), "{line}");
    // A second start (restart, reload) warns again.
    drop(build(&cfg));
    assert_eq!(logs.count(VERIFY_OFF_WARNING), 2, "{}", logs.text());
    // `verify: true` written out is the default: verified, no warning.
    let cfg = config(dir.path(), &hec_yaml(&rx.url, "tls:\n  verify: true\n"));
    let (batch, acks) = tracked(1);
    let r = run(build(&cfg), &batch).await;
    r.refused(&acks, &["UnknownIssuer"]).await;
    r.abort().await;
    assert_eq!(logs.count(VERIFY_OFF_WARNING), 2, "{}", logs.text());
}

#[tokio::test]
async fn hec_mtls_needs_the_client_certificate() {
    let tls = TlsMaterial::generate();
    let rx = HecReceiver::start_mtls(TOKEN, &tls).await;
    let dir = tempfile::tempdir().unwrap();
    let (batch, acks) = tracked(7);

    // No client certificate: the receiver refuses the handshake.
    let cfg = config(dir.path(), &hec_yaml(&rx.url, &ca_file(&tls.ca_cert)));
    let r = run(build(&cfg), &batch).await;
    let err = r.refused(&acks, &["tls.client_cert"]).await;
    r.abort().await;
    {
        let s = rx.state();
        assert!(s.accepted.is_empty() && s.requests.is_empty());
        assert!(
            s.tls_errors.iter().any(|e| e.contains("no certificates")),
            "{:?}",
            s.tls_errors
        );
    }
    eprintln!("without a client certificate: {err}");

    // A client certificate from a CA the receiver does not trust.
    let cfg = config(
        dir.path(),
        &hec_yaml(
            &rx.url,
            &format!(
                "tls:\n  ca_file: {}\n  client_cert: {}\n  client_key: {}\n",
                tls.ca_cert.display(),
                tls.other_client_cert.display(),
                tls.other_client_key.display()
            ),
        ),
    );
    let r = run(build(&cfg), &batch).await;
    let err = r.refused(&acks, &["tls.client_cert"]).await;
    r.abort().await;
    assert!(rx.state().accepted.is_empty());
    eprintln!("with an untrusted client certificate: {err}");

    // The right client certificate: delivered.
    let cfg = config(
        dir.path(),
        &hec_yaml(
            &rx.url,
            &format!(
                "tls:\n  ca_file: {}\n  client_cert: {}\n  client_key: {}\n",
                tls.ca_cert.display(),
                tls.client_cert.display(),
                tls.client_key.display()
            ),
        ),
    );
    let r = run(build(&cfg), &batch).await;
    r.acked(&acks, Duration::from_secs(10)).await;
    assert_eq!(rx.state().accepted.len(), 7);
    r.abort().await;
}

#[tokio::test]
async fn datadog_over_https_with_ca_file() {
    let tls = TlsMaterial::generate();
    let rx = DatadogReceiver::start_tls(KEY, &tls).await;
    // By name this time: the certificate's DNS SAN.
    let url = rx.url.replace("127.0.0.1", "localhost");
    let dir = tempfile::tempdir().unwrap();

    // An unrelated CA: refused, nothing acknowledged.
    let (batch, acks) = tracked(12);
    let cfg = config(dir.path(), &dd_yaml(&url, &ca_file(&tls.other_ca_cert)));
    let r = run(build(&cfg), &batch).await;
    r.refused(&acks, &["UnknownIssuer", "tls.ca_file"]).await;
    r.abort().await;
    assert!(rx.state().accepted.is_empty());

    // The CA: delivered.
    let cfg = config(dir.path(), &dd_yaml(&url, &ca_file(&tls.ca_cert)));
    let r = run(build(&cfg), &batch).await;
    r.acked(&acks, Duration::from_secs(10)).await;
    {
        let s = rx.state();
        assert_eq!(s.accepted.len(), 12);
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert!(s.requests.iter().all(|q| {
            q.header("host")
                .is_some_and(|h| h.starts_with("localhost:"))
        }));
    }
    r.abort().await;
}

/// `onetrail check` prints each finding as `FAIL <subject>: <message>`.
#[tokio::test]
async fn check_with_the_wrong_ca_says_what_to_fix() {
    let tls = TlsMaterial::generate();
    let hec = HecReceiver::start_tls(TOKEN, &tls).await;
    let dd = DatadogReceiver::start_tls(KEY, &tls).await;
    let dir = tempfile::tempdir().unwrap();
    for (yaml, what) in [
        (
            hec_yaml(&hec.url, &ca_file(&tls.other_ca_cert)),
            "Splunk HEC",
        ),
        (dd_yaml(&dd.url, &ca_file(&tls.other_ca_cert)), "Datadog"),
        (hec_yaml(&hec.url, ""), "Splunk HEC"),
    ] {
        let cfg = config(dir.path(), &yaml);
        // `check` runs its probe on a thread of its own, outside this runtime.
        let findings = tokio::task::spawn_blocking(move || onetrail_agent::check(&cfg, None))
            .await
            .unwrap();
        let f = findings
            .iter()
            .find(|f| f.subject == "sink out")
            .expect("a finding for the sink");
        assert!(!f.ok(), "{f:?}");
        let m = &f.message;
        assert!(m.starts_with(what), "{m}");
        assert!(m.contains("UnknownIssuer"), "{m}");
        assert!(m.contains("certificate"), "{m}");
        assert!(m.contains("tls.ca_file"), "{m}");
    }
    // The right CA: the probe passes.
    let cfg = config(dir.path(), &hec_yaml(&hec.url, &ca_file(&tls.ca_cert)));
    let findings = tokio::task::spawn_blocking(move || onetrail_agent::check(&cfg, None))
        .await
        .unwrap();
    let f = findings.iter().find(|f| f.subject == "sink out").unwrap();
    assert!(f.ok(), "{f:?}");
    assert!(hec.state().tls_errors.len() >= 2);
}
