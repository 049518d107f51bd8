//! The request loop shared by the HTTP sinks (`splunk_hec`, `datadog`): one
//! counted attempt, and what follows a failed one (record, log, wait). The
//! rest of the shared machinery (retry timing, TLS client, gzip, dead letters)
//! is in the parent module.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{Aborted, RetryPolicy, error_chain, sleep_unless_aborted};
use onetrail_core::batch::Shutdown;
use onetrail_core::metrics::SinkMetrics;

/// A failed attempt: how long to wait before the next one, why, and whether
/// the sink is paused (the receiver refuses the requests) rather than
/// retrying a transient failure.
pub struct Retry {
    pub wait: Duration,
    pub msg: String,
    pub paused: bool,
}

impl RetryPolicy {
    /// A transient failure of attempt `attempt`: back off, or wait as long as
    /// the receiver's `Retry-After` says.
    pub fn transient(&self, attempt: u32, retry_after: Option<Duration>, msg: String) -> Retry {
        Retry {
            wait: self.delay(attempt, retry_after),
            msg,
            paused: false,
        }
    }

    /// The request did not reach the receiver (or no answer came back).
    pub fn request_failed(&self, attempt: u32, e: &reqwest::Error) -> Retry {
        self.transient(attempt, None, format!("request failed: {}", error_chain(e)))
    }

    /// The receiver refuses the requests: pause (at least as long as its
    /// `Retry-After`).
    pub fn paused(&self, retry_after: Option<Duration>, msg: String) -> Retry {
        Retry {
            wait: self.pause.max(retry_after.unwrap_or_default()),
            msg,
            paused: true,
        }
    }
}

/// Send one attempt of a request, counted in `metrics` (`requests`,
/// `bytes_sent`); `gzip` marks the body `Content-Encoding: gzip`.
pub async fn send_counted(
    mut req: reqwest::RequestBuilder,
    body: Vec<u8>,
    gzip: bool,
    metrics: &SinkMetrics,
) -> reqwest::Result<reqwest::Response> {
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    metrics.requests.fetch_add(1, Ordering::Relaxed);
    metrics
        .bytes_sent
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    req.body(body).send().await
}

/// Who is retrying, for the logs: the sink's name, the receiver
/// (`"Splunk HEC"`, `"Datadog"`) and what to check while paused (appended
/// to the error, may be empty).
pub struct Receiver<'a> {
    pub sink: &'a str,
    pub label: &'a str,
    pub pause_hint: &'a str,
}

/// After a failed attempt: record it in `metrics`, log it (an error while
/// paused, else a warning), and wait. `Err` when shutdown aborts the wait.
pub async fn wait_to_retry(
    who: &Receiver<'_>,
    retry: Retry,
    shutdown: &Shutdown,
    metrics: &SinkMetrics,
) -> Result<(), Aborted> {
    let Retry { wait, msg, paused } = retry;
    let msg = onetrail_core::secrets::mask_url_credentials(&msg).into_owned();
    metrics.set_error(msg.clone());
    metrics.retries.fetch_add(1, Ordering::Relaxed);
    if paused {
        tracing::error!(
            sink = %who.sink,
            "{} refuses the requests: {msg}; sink PAUSED, nothing is dropped, retrying in {:.1} s{}",
            who.label,
            wait.as_secs_f64(),
            who.pause_hint
        );
    } else {
        tracing::warn!(sink = %who.sink, "{}: {msg}; retrying in {:.3} s", who.label, wait.as_secs_f64());
    }
    if !sleep_unless_aborted(wait, shutdown).await {
        return Err(Aborted);
    }
    Ok(())
}
