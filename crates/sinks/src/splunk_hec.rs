//! `type: splunk_hec`: Splunk HTTP Event Collector, `/services/collector/event`.
//!
//! * Several events per request, as concatenated JSON envelopes
//!   (`{"time":…,"host":…,"source":…,"sourcetype":…,"index":…,"fields":{…},"event":{…}}`),
//!   each request at most `batch_max_bytes` before compression (an envelope
//!   larger than that goes alone); gzip unless `compression: false`.
//! * `Authorization: Splunk <token>` and an `X-Splunk-Request-Channel` on every
//!   request. The channel is a random UUID made once per sink and kept in
//!   `<data_dir>/splunk-hec/<sink>.channel`; if that file cannot be written the
//!   channel lives as long as the process (logged).
//! * `acknowledgements: true`: each request's `ackId` is polled on
//!   `/services/collector/ack` (same channel) every `ack_poll_interval_ms`;
//!   `deliver` returns only once every request is acknowledged. A request not
//!   acknowledged within `ack_timeout_secs` (default 300, the forwarder's
//!   `useACK` convention) is sent again (possible duplicates: `fields.event_id`).
//!   A `code: 0` answer without `ackId` (the token has acknowledgement off) is
//!   no confirmation: the sink pauses and says which setting to change; an ack
//!   poll answered with anything but `{"acks":{…}}` (code 14 included)
//!   confirms nothing, and the ack timeout sends the request again.
//! * Delivered means HEC's documented success form: HTTP 200 with a JSON body
//!   whose `code` is 0. A 2xx with anything else (a proxy's HTML login page,
//!   an empty or garbage body) pauses the sink; an answer cut short (connection
//!   closed before `Content-Length`) is retried with backoff. Errors quote the
//!   answer's first bytes ([`crate::common::body_excerpt`], the token masked).
//! * Responses, per HEC code: 200/code 0 accepted; 408, 429, 5xx (busy 9,
//!   unhealthy 18, …) and network errors retried with backoff, honouring
//!   `Retry-After`; 401/403 (codes 1–4) and 400 codes 7 (index), 10/11
//!   (channel), 14, 16 and any other 4xx pause the sink: it retries every
//!   `pause_retry_ms`, logs an error each time, reports `up = false`, and drops
//!   nothing. 400 codes 6, 12, 13, 15 (invalid event) reject the event named by
//!   `invalid-event-number` (the request is split in halves when it names none):
//!   it goes to the dead-letter file and the rest is sent again. 413 splits the
//!   request; a single event too large for the receiver is dead-lettered.
//! * A health check (`/services/collector/health`) is logged at the first
//!   delivery; it never stops the sink. It does not prove the token: `onetrail
//!   check` does that with an empty event request ([`SplunkHecSink::probe`]).
//! * Event times are sent as they are: HEC takes old events (a backfill, a
//!   host cut off for days) with their own `time`; there is no age limit here.

use std::collections::VecDeque;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use onetrail_event::Event;
use serde_json::Value;

use crate::common::{
    Aborted, DeadLetter, RetryPolicy, error_chain, gzip, http_client, random_uuid, retry_after_of,
    sleep_unless_aborted,
};
use crate::config::{Encoding, SinkConfig};
use crate::http::{Receiver, send_counted, wait_to_retry};
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;
use onetrail_core::secrets::{Secret, mask_url_credentials, secret_or_file};

/// Default `sourcetype`.
pub const DEFAULT_SOURCETYPE: &str = "onetrail:audit:json";

pub struct SplunkHecSink {
    name: String,
    client: reqwest::Client,
    base: String,
    token: Secret,
    encoding: Encoding,
    compression: bool,
    acks: bool,
    ack_timeout: Duration,
    ack_poll: Duration,
    max_bytes: usize,
    host: String,
    source: Option<String>,
    sourcetype: String,
    index: Option<String>,
    indexed_fields: bool,
    retry: RetryPolicy,
    dead: DeadLetter,
    channel_path: PathBuf,
    channel: Option<String>,
    started: bool,
}

/// What one request came to.
enum Sent {
    /// Accepted (no ack wanted or available).
    Done,
    /// Accepted, indexer acknowledgement pending under this id.
    Ack(u64),
    /// The receiver wants smaller requests, or an unnamed event is invalid.
    Split,
    /// Event at this position of the request is invalid: dead-letter it, resend the rest.
    Reject(usize, String),
}

impl SplunkHecSink {
    pub fn new(name: &str, cfg: &SinkConfig, data_dir: &Path) -> Result<SplunkHecSink, String> {
        let endpoint = cfg
            .endpoint
            .as_deref()
            .ok_or("`endpoint` is required for `type: splunk_hec`")?;
        let base = endpoint_base(endpoint)?;
        let token = secret_or_file(
            &cfg.token,
            &cfg.token_file,
            "set `token: ${SPLUNK_HEC_TOKEN}` or `token_file:`",
            "the HEC token is empty",
        )?;
        let client = http_client(
            name,
            &cfg.tls,
            Duration::from_secs(cfg.request_timeout_secs.max(1)),
        )?;
        if cfg.batch_max_bytes == 0 {
            return Err("`batch_max_bytes` must be > 0".into());
        }
        Ok(SplunkHecSink {
            name: name.to_string(),
            client,
            base,
            token,
            encoding: cfg.encoding,
            compression: crate::config::Compression::gzip(&cfg.compression),
            acks: cfg.acknowledgements,
            ack_timeout: Duration::from_secs(cfg.ack_timeout_secs.max(1)),
            ack_poll: Duration::from_millis(cfg.ack_poll_interval_ms.max(1)),
            max_bytes: cfg.batch_max_bytes,
            host: cfg.host.clone().unwrap_or_else(crate::common::hostname),
            source: cfg.source.clone(),
            sourcetype: cfg
                .sourcetype
                .clone()
                .unwrap_or_else(|| DEFAULT_SOURCETYPE.into()),
            index: cfg.index.clone(),
            indexed_fields: cfg.indexed_fields,
            retry: RetryPolicy::from_config(cfg),
            dead: DeadLetter::new(name, cfg, data_dir),
            channel_path: data_dir.join("splunk-hec").join(format!("{name}.channel")),
            channel: None,
            started: false,
        })
    }

    /// The channel in use (after the first delivery).
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    /// The dead-letter file.
    pub fn dead_letter_path(&self) -> &Path {
        &self.dead.path
    }

    pub(crate) fn dead_letter_mut(&mut self) -> &mut DeadLetter {
        &mut self.dead
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Load or create the channel; log a health check. Once.
    async fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        self.channel = Some(load_or_create_channel(
            &self.name,
            &self.channel_path,
            false,
        ));
        match self.health().await {
            Ok(msg) => tracing::info!(sink = %self.name, "Splunk HEC health: {msg}"),
            Err(msg) => {
                tracing::warn!(sink = %self.name, "Splunk HEC health check failed (the sink keeps trying): {msg}")
            }
        }
    }

    /// `GET /services/collector/health`: `Ok` with a description when healthy.
    /// It says nothing of the token (the endpoint need not check it).
    pub async fn health(&self) -> Result<String, String> {
        let r = self
            .client
            .get(self.url("/services/collector/health"))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{} unreachable: {}",
                    mask_url_credentials(&self.base),
                    error_chain(&e)
                )
            })?;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        let (text, code) = hec_reply(&body);
        match status {
            200 => Ok(format!(
                "healthy ({})",
                text.unwrap_or_else(|| "HTTP 200".into())
            )),
            503 => Err(format!(
                "HTTP 503{}: HEC is unhealthy or its queues are full",
                describe(text.as_deref(), code)
            )),
            _ => Err(format!("HTTP {status}{}", describe(text.as_deref(), code))),
        }
    }

    /// `onetrail check`: prove the token. An event request without data is
    /// answered HTTP 400 code 5 ("No data") once the token is accepted, and
    /// 401/403 codes 1–4 when it is not; nothing is indexed either way. Then
    /// the health endpoint. Writes nothing (a throw-away channel).
    pub async fn probe(&self) -> Result<crate::common::Probe, String> {
        let shown = mask_url_credentials(&self.base).into_owned();
        let r = self
            .client
            .post(self.url("/services/collector/event"))
            .header("Authorization", format!("Splunk {}", self.token.expose()))
            .header("X-Splunk-Request-Channel", random_uuid())
            .header("Content-Type", "application/json")
            .body(Vec::new())
            .send()
            .await
            .map_err(|e| format!("{shown} unreachable: {}", error_chain(&e)))?;
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap_or_default();
        let (text, code) = hec_reply(&String::from_utf8_lossy(&body));
        let what = if text.is_some() || code.is_some() {
            format!("HTTP {status}{}", describe(text.as_deref(), code))
        } else {
            format!(
                "HTTP {status}, {}",
                crate::common::body_excerpt(&body, &[self.token.expose()])
            )
        };
        match (status, code) {
            // No data (5), or data channel required (10): the token passed.
            (400, Some(5 | 10)) => {}
            (401 | 403, _) | (400, Some(1..=4)) => {
                return Err(format!(
                    "{shown} refuses the token: {what} (check `token`/`token_file`, and that the token and HEC are enabled)"
                ));
            }
            _ => {
                return Err(format!(
                    "{shown}/services/collector/event did not answer like Splunk HEC: {what} (check `endpoint`)"
                ));
            }
        }
        match self.health().await {
            Ok(h) => Ok(crate::common::Probe::Verified(format!(
                "token accepted by {shown}; HEC {h}"
            ))),
            Err(h) => Err(format!("token accepted by {shown}, but HEC health: {h}")),
        }
    }

    /// One HEC envelope for an event (no trailing separator). Written by hand
    /// without allocating (it runs for every event; BENCHMARKS.md); the bytes
    /// are those serde_json would write.
    pub fn envelope(&self, ev: &Event, batch_source: &str, out: &mut Vec<u8>) {
        use onetrail_event::json::write_str;
        use std::io::Write as _;
        let secs = ev.time.timestamp();
        let micros = ev.time.timestamp_subsec_micros();
        // `time` as a JSON number with microseconds, written by hand: an f64
        // cannot hold 10 + 6 digits exactly.
        if secs < 0 {
            out.extend_from_slice(b"{\"time\":0");
        } else {
            let _ = write!(out, "{{\"time\":{secs}.{micros:06}");
        }
        out.extend_from_slice(b",\"host\":");
        write_str(out, &self.host);
        out.extend_from_slice(b",\"source\":");
        match &self.source {
            Some(s) => write_str(out, s),
            None => {
                // "onetrail:" needs no escaping: escape the name, then splice.
                let at = out.len();
                write_str(out, batch_source);
                out.splice(at + 1..at + 1, *b"onetrail:");
            }
        }
        out.extend_from_slice(b",\"sourcetype\":");
        write_str(out, &self.sourcetype);
        if let Some(i) = &self.index {
            out.extend_from_slice(b",\"index\":");
            write_str(out, i);
        }
        if self.indexed_fields {
            // Keys in serde_json::Map (sorted) order.
            out.extend_from_slice(b",\"fields\":{\"category\":");
            write_str(out, ev.category.as_str());
            out.extend_from_slice(b",\"db_system\":");
            write_str(out, ev.engine.as_str());
            out.extend_from_slice(b",\"event_id\":");
            write_str(out, &ev.id);
            if let Some(i) = &ev.instance {
                out.extend_from_slice(b",\"instance\":");
                write_str(out, i);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b",\"event\":");
        onetrail_encode::write_json(ev, self.encoding, out);
        out.push(b'}');
    }

    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        self.start().await;
        // Every envelope goes into one buffer, newline-separated, so that a
        // request of consecutive events is a slice of it (no copy per event).
        let count: usize = batches.iter().map(|b| b.events.len()).sum();
        let mut buf = Vec::with_capacity(count * 1536);
        let mut items: Vec<(&Event, Range<usize>)> = Vec::with_capacity(count);
        for b in batches {
            for ev in &b.events {
                if !buf.is_empty() {
                    buf.push(b'\n');
                }
                let start = buf.len();
                self.envelope(ev, &b.source, &mut buf);
                items.push((ev, start..buf.len()));
            }
        }
        let items = Envelopes { buf, items };
        let mut queue: VecDeque<Vec<usize>> = cut(&items.items, self.max_bytes).into();
        let mut awaiting: Vec<(u64, Vec<usize>, Instant)> = Vec::new();
        loop {
            while let Some(chunk) = queue.pop_front() {
                match self.send(&items, &chunk, shutdown, metrics).await? {
                    Sent::Done => {}
                    Sent::Ack(id) => awaiting.push((id, chunk, Instant::now())),
                    Sent::Split => {
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        queue.push_front(b.to_vec());
                        queue.push_front(a.to_vec());
                    }
                    Sent::Reject(pos, reason) => {
                        let idx = chunk[pos];
                        metrics.rejected.fetch_add(1, Ordering::Relaxed);
                        self.dead
                            .write(&[(items.items[idx].0, reason)], shutdown, metrics)
                            .await?;
                        let rest: Vec<usize> =
                            chunk.iter().copied().filter(|&i| i != idx).collect();
                        if !rest.is_empty() {
                            queue.push_front(rest);
                        }
                    }
                }
            }
            if awaiting.is_empty() {
                break;
            }
            if !sleep_unless_aborted(self.ack_poll, shutdown).await {
                return Err(Aborted);
            }
            self.poll_acks(&mut awaiting, &mut queue, metrics).await;
        }
        metrics.set_ok();
        Ok(())
    }

    /// Poll `/services/collector/ack` once; acknowledged requests leave
    /// `awaiting`, timed-out ones go back to `queue` to be sent again.
    async fn poll_acks(
        &mut self,
        awaiting: &mut Vec<(u64, Vec<usize>, Instant)>,
        queue: &mut VecDeque<Vec<usize>>,
        metrics: &SinkMetrics,
    ) {
        let ids: Vec<u64> = awaiting.iter().map(|a| a.0).collect();
        let body = serde_json::json!({ "acks": ids }).to_string();
        let res = self
            .client
            .post(self.url("/services/collector/ack"))
            .header("Authorization", format!("Splunk {}", self.token.expose()))
            .header(
                "X-Splunk-Request-Channel",
                self.channel.as_deref().unwrap_or(""),
            )
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        metrics.requests.fetch_add(1, Ordering::Relaxed);
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if let (200, Some(acks)) = (status, v.get("acks").and_then(Value::as_object)) {
                    awaiting.retain(|(id, _, _)| {
                        !acks
                            .get(&id.to_string())
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    });
                } else {
                    // Not an ack answer (code 14 "ACK is disabled" included):
                    // nothing is confirmed; the ack timeout sends the requests again.
                    let (t, code) = hec_reply(&text);
                    let msg = if t.is_some() || code.is_some() {
                        format!("ack poll: HTTP {status}{}", describe(t.as_deref(), code))
                    } else {
                        format!(
                            "ack poll: HTTP {status}, not a Splunk HEC answer: {}",
                            crate::common::body_excerpt(text.as_bytes(), &[self.token.expose()])
                        )
                    };
                    tracing::warn!(sink = %self.name, "{msg} (will poll again)");
                    metrics.set_error(msg);
                    metrics.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                let msg = format!("ack poll failed: {}", error_chain(&e));
                tracing::warn!(sink = %self.name, "{msg} (will poll again)");
                metrics.set_error(msg);
                metrics.retries.fetch_add(1, Ordering::Relaxed);
            }
        }
        let timeout = self.ack_timeout;
        let mut i = 0;
        while i < awaiting.len() {
            if awaiting[i].2.elapsed() >= timeout {
                let (id, chunk, _) = awaiting.swap_remove(i);
                tracing::warn!(
                    sink = %self.name, ack_id = id, events = chunk.len(),
                    "no indexer acknowledgement after {} s: sending the request again",
                    timeout.as_secs_f64()
                );
                metrics.ack_timeouts.fetch_add(1, Ordering::Relaxed);
                queue.push_back(chunk);
            } else {
                i += 1;
            }
        }
    }

    /// Send one request until the receiver gives a definite answer.
    async fn send(
        &mut self,
        items: &Envelopes<'_>,
        chunk: &[usize],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<Sent, Aborted> {
        let joined;
        let raw: &[u8] = match items.slice(chunk) {
            Some(r) => r,
            None => {
                joined = items.join(chunk);
                &joined
            }
        };
        let body = if self.compression {
            gzip(raw)
        } else {
            raw.to_vec()
        };
        let mut attempt = 0u32;
        loop {
            if shutdown.aborted() {
                return Err(Aborted);
            }
            let req = self
                .client
                .post(self.url("/services/collector/event"))
                .header("Authorization", format!("Splunk {}", self.token.expose()))
                .header(
                    "X-Splunk-Request-Channel",
                    self.channel.as_deref().unwrap_or(""),
                )
                .header("Content-Type", "application/json");
            attempt += 1;
            let retry = match send_counted(req, body.clone(), self.compression, metrics).await {
                Err(e) => self.retry.request_failed(attempt, &e),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = retry_after_of(r.headers());
                    match r.bytes().await {
                        // The answer was cut short: nobody knows what the
                        // receiver made of the request. Send it again.
                        Err(e) => self.retry.transient(
                            attempt,
                            retry_after,
                            format!(
                                "HTTP {status}, but the answer was cut short ({}): not a confirmation, sending again",
                                error_chain(&e)
                            ),
                        ),
                        Ok(text) => match self.judge(status, &text, chunk.len(), attempt, retry_after) {
                            Judged::Sent(s) => return Ok(s),
                            Judged::Retry(r) => r,
                        },
                    }
                }
            };
            let who = Receiver {
                sink: &self.name,
                label: "Splunk HEC",
                pause_hint: " (check the token, index and HEC settings)",
            };
            wait_to_retry(&who, retry, shutdown, metrics).await?;
        }
    }
    /// What an answer to an event request means. Delivered only in HEC's
    /// documented success form: HTTP 200 with a JSON body whose `code` is 0
    /// (and an `ackId` when `acknowledgements: true`). Anything else in a 2xx
    /// (a proxy's login page, an empty or garbage body) pauses the sink.
    fn judge(
        &mut self,
        status: u16,
        body: &[u8],
        events: usize,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Judged {
        let v: Option<Value> = serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object);
        let code = v
            .as_ref()
            .and_then(|v| v.get("code"))
            .and_then(Value::as_i64);
        let htext = v
            .as_ref()
            .and_then(|v| v.get("text"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let what = if v.is_some() && (code.is_some() || htext.is_some()) {
            format!("HTTP {status}{}", describe(htext.as_deref(), code))
        } else {
            format!(
                "HTTP {status}, not a Splunk HEC answer: {}",
                crate::common::body_excerpt(body, &[self.token.expose()])
            )
        };
        let v = v.unwrap_or(Value::Null);
        Judged::Retry(match (status, code) {
            (200, Some(0)) => {
                if !self.acks {
                    return Judged::Sent(Sent::Done);
                }
                if let Some(id) = v.get("ackId").and_then(Value::as_u64) {
                    return Judged::Sent(Sent::Ack(id));
                }
                self.retry.paused(
                    None,
                    format!(
                        "{what} without an ackId: `acknowledgements: true`, but indexer acknowledgement is off for this token, so nothing confirms the events are indexed (turn on the token's indexer acknowledgement, or set `acknowledgements: false`); the request is sent again at each retry"
                    ),
                )
            }
            (200..=299, _) => self.retry.paused(
                retry_after,
                format!(
                    "{what}: not HEC's success answer (JSON with \"code\": 0), so not delivered (a proxy or a wrong `endpoint`?)"
                ),
            ),
            (400, Some(6 | 12 | 13 | 15)) => {
                let n = v.get("invalid-event-number").and_then(Value::as_u64);
                return Judged::Sent(match n {
                    Some(n) if (n as usize) < events => Sent::Reject(n as usize, what),
                    _ if events > 1 => Sent::Split,
                    _ => Sent::Reject(0, what),
                });
            }
            (413, _) => {
                return Judged::Sent(if events > 1 {
                    Sent::Split
                } else {
                    Sent::Reject(
                        0,
                        format!("{what}: the event is larger than the receiver accepts"),
                    )
                });
            }
            (408 | 429, _) | (500..=599, _) => self.retry.transient(attempt, retry_after, what),
            (400, Some(11)) => {
                // Invalid channel: make a new one, then try again.
                let path = self.channel_path.clone();
                self.channel = Some(load_or_create_channel(&self.name, &path, true));
                self.retry
                    .paused(None, format!("{what}: made a new channel"))
            }
            _ => self.retry.paused(retry_after, what),
        })
    }
}

/// [`SplunkHecSink::judge`]'s verdict: a definite answer, or wait and retry.
enum Judged {
    Sent(Sent),
    Retry(crate::http::Retry),
}

/// `https://host:8088/` → `https://host:8088` (no path allowed after the host
/// other than one ending in `/services/collector…`, which is stripped).
fn endpoint_base(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim().trim_end_matches('/');
    if !(e.starts_with("http://") || e.starts_with("https://")) {
        return Err(format!(
            "`endpoint: {}` must start with https:// (or http://), e.g. https://splunk.example.com:8088",
            mask_url_credentials(endpoint)
        ));
    }
    let e = match e.find("/services/collector") {
        Some(i) => &e[..i],
        None => e,
    };
    Ok(e.to_string())
}

/// The envelopes of one delivery: one buffer, newline-separated, and where
/// each event's envelope is in it.
struct Envelopes<'a> {
    buf: Vec<u8>,
    items: Vec<(&'a Event, Range<usize>)>,
}

impl Envelopes<'_> {
    /// The request body of `chunk` as a slice of the buffer, when its events
    /// are consecutive (every chunk but those left after a rejected event).
    fn slice(&self, chunk: &[usize]) -> Option<&[u8]> {
        let (&first, &last) = (chunk.first()?, chunk.last()?);
        if last.checked_sub(first)? + 1 != chunk.len() {
            return None;
        }
        Some(&self.buf[self.items[first].1.start..self.items[last].1.end])
    }

    /// The request body of any `chunk`: its envelopes joined by newlines.
    fn join(&self, chunk: &[usize]) -> Vec<u8> {
        let mut raw = Vec::with_capacity(chunk.iter().map(|&i| self.items[i].1.len() + 1).sum());
        for (n, &i) in chunk.iter().enumerate() {
            if n > 0 {
                raw.push(b'\n');
            }
            raw.extend_from_slice(&self.buf[self.items[i].1.clone()]);
        }
        raw
    }
}

/// Cut items into requests of at most `max` bytes (newline separators counted).
fn cut(items: &[(&Event, Range<usize>)], max: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0usize;
    for (i, (_, r)) in items.iter().enumerate() {
        let add = r.len() + usize::from(!cur.is_empty());
        if !cur.is_empty() && size + add > max {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += r.len() + usize::from(!cur.is_empty());
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// HEC JSON reply: (`text`, `code`).
fn hec_reply(body: &str) -> (Option<String>, Option<i64>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    (
        v.get("text").and_then(Value::as_str).map(str::to_string),
        v.get("code").and_then(Value::as_i64),
    )
}

fn describe(text: Option<&str>, code: Option<i64>) -> String {
    match (text, code) {
        (Some(t), Some(c)) => format!(" (HEC code {c}: {t})"),
        (None, Some(c)) => format!(" (HEC code {c})"),
        (Some(t), None) => format!(" ({t})"),
        (None, None) => String::new(),
    }
}

/// Read the sink's channel from `path`, or make one and keep it there.
fn load_or_create_channel(sink: &str, path: &Path, renew: bool) -> String {
    if !renew && let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim();
        if s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return s.to_string();
        }
    }
    let ch = random_uuid();
    let tmp = path.with_extension("channel.tmp");
    let res = onetrail_core::files::replace_atomically(path, &tmp, format!("{ch}\n").as_bytes());
    match res {
        Ok(()) => {
            tracing::info!(sink = %sink, channel = %ch, "new Splunk HEC channel, kept in {}", path.display())
        }
        Err(e) => tracing::warn!(
            sink = %sink, channel = %ch,
            "cannot keep the Splunk HEC channel in {}: {e}; this channel lasts until the agent restarts",
            path.display()
        ),
    }
    ch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_are_the_envelopes_joined_by_newlines() {
        let pos = onetrail_event::RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "t",
        };
        let ev = Event::new(
            onetrail_event::Engine::Postgresql,
            chrono::Utc::now(),
            &pos,
            0,
        );
        let texts = ["{\"a\":1}", "{\"bb\":2}", "{}", "{\"dddd\":4}"];
        let mut buf = Vec::new();
        let mut items = Vec::new();
        for t in texts {
            if !buf.is_empty() {
                buf.push(b'\n');
            }
            let start = buf.len();
            buf.extend_from_slice(t.as_bytes());
            items.push((&ev, start..buf.len()));
        }
        let env = Envelopes { buf, items };
        let expect = |idx: &[usize]| {
            idx.iter()
                .map(|&i| texts[i])
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes()
        };
        for chunk in [&[0, 1, 2, 3][..], &[1, 2], &[3], &[0]] {
            assert_eq!(env.slice(chunk).unwrap(), expect(chunk).as_slice());
            assert_eq!(env.join(chunk), expect(chunk));
        }
        // What is left after a rejected event is not consecutive: joined.
        assert!(env.slice(&[0, 2, 3]).is_none());
        assert_eq!(env.join(&[0, 2, 3]), expect(&[0, 2, 3]));
        assert!(env.slice(&[]).is_none());
        // Request cutting counts the separators.
        assert_eq!(cut(&env.items, 16), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(cut(&env.items, 15), vec![vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn endpoint_forms() {
        assert_eq!(endpoint_base("https://s:8088/").unwrap(), "https://s:8088");
        assert_eq!(
            endpoint_base("https://s:8088/services/collector/event").unwrap(),
            "https://s:8088"
        );
        assert!(endpoint_base("s:8088").is_err());
    }

    #[test]
    fn channel_is_persisted_and_renewed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("splunk-hec").join("x.channel");
        let a = load_or_create_channel("x", &p, false);
        assert_eq!(load_or_create_channel("x", &p, false), a);
        let b = load_or_create_channel("x", &p, true);
        assert_ne!(a, b);
        assert_eq!(load_or_create_channel("x", &p, false), b);
    }
}
