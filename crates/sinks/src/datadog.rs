//! `type: datadog`: Datadog Logs intake v2, `POST /api/v2/logs`.
//!
//! * Host: `site:` maps to `https://http-intake.logs.<site>` (see [`intake_host`]);
//!   `endpoint:` overrides it (a proxy, a test receiver).
//! * `DD-API-KEY` header; body a JSON array of log entries, gzip unless
//!   `compression: false`. Requests hold at most 1000 entries and 5,000,000
//!   bytes before compression (and at most `batch_max_bytes`). An entry over
//!   1,000,000 bytes has its `statement` (then `raw`) cut, and is flagged
//!   `extra.truncated_for_sink: true` with `extra.original_statement_bytes`;
//!   never cut silently.
//! * Each entry: the event in the sink's `encoding` plus the intake's reserved
//!   attributes `ddsource` (`postgresql`, `mysql` for MySQL and MariaDB,
//!   `sqlserver`, `oracle`), `ddtags` (`tags`, comma-joined), `hostname`
//!   (`host`, else this machine's name), `service` (`service`, else the
//!   event's `instance`, else the ddsource), and `message`, `timestamp` (ms)
//!   and `status` when the encoding has none.
//! * Delivered means the intake's documented success: `202 Accepted` (200
//!   from older intakes) with a JSON object body (Datadog answers `{}`). A
//!   2xx with anything else (a proxy's login page, an empty or garbage body)
//!   pauses the sink; an answer cut short (connection closed before
//!   `Content-Length`) is retried with backoff. Errors quote the answer's
//!   first bytes ([`crate::common::body_excerpt`], the API key masked).
//! * Responses: 408, 429, 5xx and network errors retried with backoff
//!   (honouring `Retry-After`); 401/403 pause the sink (retry every
//!   `pause_retry_ms`, error logged each time, `up = false`; nothing dropped);
//!   400 and 413 split the request until the offending entry is alone, which
//!   then goes to the dead-letter file.
//! * Datadog indexes events up to 18 h in the past. An event older than
//!   `max_event_age_secs` (default 18 h) when a request is built is sent
//!   **late**: `timestamp` is the current time, and its real time is kept in
//!   `original_time` (RFC 3339) and `original_timestamp` (Unix ms), which
//!   Datadog's date remapper does not read, with `late: true`.
//!   `deploy/datadog/onetrail-late-events.pipeline.json` tags them `late:true`
//!   (see README, "Delivery guarantees"). Nothing is dead-lettered for its age.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use onetrail_event::{Engine, Event};
use serde_json::Value;

use crate::common::{
    Aborted, DeadLetter, RetryPolicy, error_chain, gzip, http_client, retry_after_of,
};
use crate::config::{Encoding, SinkConfig};
use crate::http::{Receiver, send_counted, wait_to_retry};
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;
use onetrail_core::secrets::{Secret, mask_url_credentials, secret_or_file};

/// Most entries per request.
pub const MAX_ENTRIES: usize = 1000;
/// Most bytes per request before compression.
pub const MAX_PAYLOAD_BYTES: usize = 5_000_000;
/// Most bytes per entry.
pub const MAX_ENTRY_BYTES: usize = 1_000_000;
/// Room kept in every entry and request slot for the attributes of a late
/// event (`late`, `original_time`, `original_timestamp`, a longer `timestamp`).
const LATE_ROOM: usize = 128;

/// The logs intake host of a Datadog site (`datadoghq.com`, `us3.datadoghq.com`, …).
pub fn intake_host(site: &str) -> Option<String> {
    let s = site.trim().trim_end_matches('/').to_ascii_lowercase();
    let s = s.strip_prefix("app.").unwrap_or(&s);
    const SITES: &[&str] = &[
        "datadoghq.com",
        "us3.datadoghq.com",
        "us5.datadoghq.com",
        "datadoghq.eu",
        "ap1.datadoghq.com",
        "ap2.datadoghq.com",
        "uk1.datadoghq.com",
        "ddog-gov.com",
        "us2.ddog-gov.com",
    ];
    SITES.contains(&s).then(|| format!("http-intake.logs.{s}"))
}

#[derive(Clone, Copy)]
enum Field {
    Statement,
    Raw,
}

impl Field {
    fn get(self, e: &mut Event) -> &mut Option<String> {
        match self {
            Field::Statement => &mut e.statement,
            Field::Raw => &mut e.raw,
        }
    }
}

/// Datadog `ddsource` of an engine (the names of Datadog's own integrations).
pub fn ddsource(e: Engine) -> &'static str {
    match e {
        Engine::Postgresql => "postgresql",
        Engine::Mysql | Engine::Mariadb => "mysql",
        Engine::Sqlserver => "sqlserver",
        Engine::Oracle => "oracle",
    }
}

pub struct DatadogSink {
    name: String,
    client: reqwest::Client,
    url: String,
    /// `url` for messages: `user:password@` masked.
    shown_url: String,
    /// `https://api.<site>/api/v1/validate`, when a site is configured.
    validate_url: Option<String>,
    api_key: Secret,
    encoding: Encoding,
    compression: bool,
    tags: String,
    service: Option<String>,
    hostname: String,
    max_bytes: usize,
    max_age: Duration,
    retry: RetryPolicy,
    dead: DeadLetter,
    started: bool,
}

struct Item<'a> {
    ev: Cow<'a, Event>,
    bytes: Vec<u8>,
    /// Encoded as a late event (past the intake window).
    late: bool,
}

enum Sent {
    Done,
    Split,
    Reject(usize, String),
}

impl DatadogSink {
    pub fn new(name: &str, cfg: &SinkConfig, data_dir: &Path) -> Result<DatadogSink, String> {
        let (url, validate_url) = match (&cfg.endpoint, &cfg.site) {
            (Some(e), _) => {
                let e = e.trim().trim_end_matches('/');
                if !(e.starts_with("http://") || e.starts_with("https://")) {
                    return Err(format!(
                        "`endpoint: {}` must start with https:// (or http://)",
                        mask_url_credentials(e)
                    ));
                }
                let url = if e.ends_with("/api/v2/logs") {
                    e.to_string()
                } else {
                    format!("{e}/api/v2/logs")
                };
                (url, None)
            }
            (None, site) => {
                let site = site.as_deref().unwrap_or("datadoghq.com");
                let host = intake_host(site).ok_or_else(|| {
                    format!(
                        "unknown Datadog `site: {site}`; expected one of datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com, uk1.datadoghq.com, ddog-gov.com, us2.ddog-gov.com (or set `endpoint:`)"
                    )
                })?;
                let site = host.trim_start_matches("http-intake.logs.").to_string();
                (
                    format!("https://{host}/api/v2/logs"),
                    Some(format!("https://api.{site}/api/v1/validate")),
                )
            }
        };
        let api_key = secret_or_file(
            &cfg.api_key,
            &cfg.api_key_file,
            "set `api_key: ${DD_API_KEY}` or `api_key_file:`",
            "the Datadog API key is empty",
        )?;
        let client = http_client(
            name,
            &cfg.tls,
            Duration::from_secs(cfg.request_timeout_secs.max(1)),
        )?;
        Ok(DatadogSink {
            name: name.to_string(),
            client,
            shown_url: mask_url_credentials(&url).into_owned(),
            url,
            validate_url,
            api_key,
            encoding: cfg.encoding,
            compression: crate::config::Compression::gzip(&cfg.compression),
            tags: cfg.tags.join(","),
            service: cfg.service.clone(),
            hostname: cfg.host.clone().unwrap_or_else(crate::common::hostname),
            max_bytes: cfg.batch_max_bytes.clamp(4096, MAX_PAYLOAD_BYTES),
            max_age: Duration::from_secs(cfg.max_event_age_secs),
            retry: RetryPolicy::from_config(cfg),
            dead: DeadLetter::new(name, cfg, data_dir),
            started: false,
        })
    }

    /// The intake URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dead-letter file.
    pub fn dead_letter_path(&self) -> &Path {
        &self.dead.path
    }

    pub(crate) fn dead_letter_mut(&mut self) -> &mut DeadLetter {
        &mut self.dead
    }

    /// Events older than this are sent late (see the module docs).
    fn late_limit(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            - chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::hours(18))
    }

    /// `onetrail check`: validate the API key with `GET /api/v1/validate` on
    /// the site's API host (`{"valid":true}`). With an explicit `endpoint:`
    /// the same path is asked on the endpoint's host (a proxy may pass it
    /// on); when it cannot answer, the key is not validated and `check` says so.
    pub async fn probe(&self) -> Result<crate::common::Probe, String> {
        let (v, explicit) = match &self.validate_url {
            Some(v) => (v.clone(), false),
            None => {
                let base = self.url.trim_end_matches("/api/v2/logs");
                (format!("{base}/api/v1/validate"), true)
            }
        };
        let shown = mask_url_credentials(&v).into_owned();
        let r = self
            .client
            .get(&v)
            .header("DD-API-KEY", self.api_key.expose())
            .send()
            .await
            .map_err(|e| format!("{shown} unreachable: {}", error_chain(&e)))?;
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap_or_default();
        let valid = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|j| j.get("valid").and_then(Value::as_bool));
        let excerpt = || crate::common::body_excerpt(&body, &[self.api_key.expose()]);
        match (status, valid) {
            (200, Some(true)) => Ok(crate::common::Probe::Verified(format!(
                "API key valid ({shown}); logs go to {}",
                self.shown_url
            ))),
            (401 | 403, _) | (200, Some(false)) => Err(format!(
                "{shown}: HTTP {status}: the API key is not valid{} (check `api_key`/`api_key_file`{})",
                if explicit { "" } else { " for this site" },
                if explicit { "" } else { " and `site`" }
            )),
            _ if explicit => Ok(crate::common::Probe::Unverified(format!(
                "{} is reachable, but the API key cannot be validated through it ({shown} answered HTTP {status}, {}): the first delivery will tell; with `site:` instead of `endpoint:`, check validates the key with Datadog",
                self.shown_url,
                excerpt()
            ))),
            _ => Err(format!(
                "{shown}: HTTP {status}, not Datadog's answer: {}",
                excerpt()
            )),
        }
    }

    /// The intake entry for an event (reserved attributes added), cut down
    /// to [`MAX_ENTRY_BYTES`] when needed (then with the cut event). `Err`
    /// (the reason) when even that cannot fit.
    pub fn entry(&self, ev: &Event) -> Result<(Vec<u8>, Option<Event>), String> {
        const MAX_ENTRY_BYTES: usize = self::MAX_ENTRY_BYTES - LATE_ROOM;
        let mut bytes = self.encode_entry(ev, false);
        if bytes.len() <= MAX_ENTRY_BYTES {
            return Ok((bytes, None));
        }
        // Too large: cut the statement, then the raw text, to what fits. A
        // text may appear more than once in the entry (message, db.statement),
        // so measure how many bytes each of its bytes costs.
        let mut e = ev.clone();
        let original = ev.statement.as_ref().map_or(0, String::len);
        e.extra
            .insert("truncated_for_sink".into(), Value::Bool(true));
        e.extra
            .insert("original_statement_bytes".into(), original.into());
        for field in [Field::Statement, Field::Raw] {
            let full_text = field.get(&mut e).take().unwrap_or_default();
            if full_text.is_empty() {
                continue;
            }
            let full = {
                *field.get(&mut e) = Some(full_text.clone());
                self.encode_entry(&e, false).len()
            };
            *field.get(&mut e) = Some(String::new());
            let base = self.encode_entry(&e, false).len();
            if base >= MAX_ENTRY_BYTES {
                continue; // not enough even without it: cut the next one too
            }
            let per_byte = (full - base).div_ceil(full_text.len()).max(1);
            let mut allowed = (MAX_ENTRY_BYTES - base - 64) / per_byte;
            loop {
                let mut at = allowed.min(full_text.len());
                while !full_text.is_char_boundary(at) {
                    at -= 1;
                }
                *field.get(&mut e) = Some(full_text[..at].to_string());
                bytes = self.encode_entry(&e, false);
                if bytes.len() <= MAX_ENTRY_BYTES || at == 0 {
                    break;
                }
                allowed = at - at / 10 - 1;
            }
            if bytes.len() <= MAX_ENTRY_BYTES {
                tracing::warn!(
                    sink = %self.name, id = %ev.id,
                    "event larger than Datadog's 1 MB per log: its text was cut, flagged extra.truncated_for_sink"
                );
                return Ok((bytes, Some(e)));
            }
        }
        Err(format!(
            "larger than Datadog's {MAX_ENTRY_BYTES} bytes per log even without its statement and raw text"
        ))
    }

    /// The entry of `ev`; `late`: sent with the current time as `timestamp`
    /// and its own time in `original_time`/`original_timestamp`, `late: true`.
    fn encode_entry(&self, ev: &Event, late: bool) -> Vec<u8> {
        let mut v = onetrail_encode::to_value(ev, self.encoding);
        if let Value::Object(m) = &mut v {
            let src = ddsource(ev.engine);
            m.insert("ddsource".into(), src.into());
            if !self.tags.is_empty() {
                m.insert("ddtags".into(), self.tags.clone().into());
            }
            m.insert("hostname".into(), self.hostname.clone().into());
            let service = self
                .service
                .clone()
                .or_else(|| ev.instance.clone())
                .unwrap_or_else(|| src.to_string());
            m.insert("service".into(), service.into());
            if !m.contains_key("message") {
                m.insert(
                    "message".into(),
                    onetrail_encode::datadog::message(ev).into(),
                );
            }
            if !m.contains_key("timestamp") {
                m.insert("timestamp".into(), ev.time.timestamp_millis().into());
            }
            if !m.contains_key("status") {
                m.insert("status".into(), onetrail_encode::datadog::status(ev).into());
            }
            if late {
                m.insert(
                    "timestamp".into(),
                    chrono::Utc::now().timestamp_millis().into(),
                );
                m.insert("late".into(), true.into());
                m.insert(
                    "original_time".into(),
                    ev.time
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                        .into(),
                );
                m.insert(
                    "original_timestamp".into(),
                    ev.time.timestamp_millis().into(),
                );
            }
        }
        serde_json::to_vec(&v).expect("serializes")
    }

    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        if !self.started {
            self.started = true;
            tracing::info!(sink = %self.name, url = %self.shown_url, "Datadog sink: first delivery");
        }
        let mut items: Vec<Item<'_>> = Vec::new();
        let mut too_big: Vec<(&Event, String)> = Vec::new();
        for b in batches {
            for ev in &b.events {
                match self.entry(ev) {
                    Ok((bytes, cut)) => items.push(Item {
                        ev: cut.map_or(Cow::Borrowed(ev), Cow::Owned),
                        bytes,
                        late: false,
                    }),
                    Err(why) => too_big.push((ev, why)),
                }
            }
        }
        if !too_big.is_empty() {
            metrics
                .rejected
                .fetch_add(too_big.len() as u64, Ordering::Relaxed);
            self.dead.write(&too_big, shutdown, metrics).await?;
        }
        let mut queue: VecDeque<Vec<Item<'_>>> = self.cut(items).into();
        while let Some(mut chunk) = queue.pop_front() {
            match self.send(&mut chunk, shutdown, metrics).await? {
                Sent::Done => {}
                Sent::Split => {
                    let b = chunk.split_off(chunk.len() / 2);
                    queue.push_front(b);
                    queue.push_front(chunk);
                }
                Sent::Reject(pos, reason) => {
                    let it = chunk.remove(pos);
                    metrics.rejected.fetch_add(1, Ordering::Relaxed);
                    self.dead
                        .write(&[(&it.ev, reason)], shutdown, metrics)
                        .await?;
                    if !chunk.is_empty() {
                        queue.push_front(chunk);
                    }
                }
            }
        }
        metrics.set_ok();
        Ok(())
    }

    fn cut<'a>(&self, items: Vec<Item<'a>>) -> Vec<Vec<Item<'a>>> {
        let mut out = Vec::new();
        let mut cur: Vec<Item<'a>> = Vec::new();
        let mut size = 2usize;
        for it in items {
            let add = it.bytes.len() + 1 + LATE_ROOM;
            if !cur.is_empty() && (cur.len() >= MAX_ENTRIES - 1 || size + add > self.max_bytes) {
                out.push(std::mem::take(&mut cur));
                size = 2;
            }
            size += add;
            cur.push(it);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    /// Re-encode as late the events of `chunk` that are past the intake
    /// window now (checked before every attempt: retries can take hours).
    fn mark_late(&self, chunk: &mut [Item<'_>], metrics: &SinkMetrics) {
        let limit = self.late_limit();
        let mut n = 0u64;
        for it in chunk.iter_mut().filter(|i| !i.late && i.ev.time < limit) {
            it.bytes = self.encode_entry(&it.ev, true);
            it.late = true;
            n += 1;
        }
        if n > 0 {
            metrics.late_events.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(
                sink = %self.name, count = n,
                "events older than Datadog's intake window ({:.1} h, `max_event_age_secs`) are sent late: `timestamp` is now, their own time is in `original_time`, flagged `late: true`",
                self.max_age.as_secs_f64() / 3600.0
            );
        }
    }

    async fn send(
        &mut self,
        chunk: &mut Vec<Item<'_>>,
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<Sent, Aborted> {
        let mut attempt = 0u32;
        loop {
            if shutdown.aborted() {
                return Err(Aborted);
            }
            self.mark_late(chunk, metrics);
            let mut raw =
                Vec::with_capacity(chunk.iter().map(|i| i.bytes.len() + 1).sum::<usize>() + 2);
            raw.push(b'[');
            for (n, it) in chunk.iter().enumerate() {
                if n > 0 {
                    raw.push(b',');
                }
                raw.extend_from_slice(&it.bytes);
            }
            raw.push(b']');
            let body = if self.compression { gzip(&raw) } else { raw };
            let req = self
                .client
                .post(&self.url)
                .header("DD-API-KEY", self.api_key.expose())
                .header("Content-Type", "application/json");
            attempt += 1;
            let retry = match send_counted(req, body, self.compression, metrics).await {
                Err(e) => self.retry.request_failed(attempt, &e),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = retry_after_of(r.headers());
                    match r.bytes().await {
                        Err(e) => self.retry.transient(
                            attempt,
                            retry_after,
                            format!(
                                "HTTP {status}, but the answer was cut short ({}): not a confirmation, sending again",
                                error_chain(&e)
                            ),
                        ),
                        Ok(body) => {
                            let json_object = serde_json::from_slice::<Value>(&body)
                                .is_ok_and(|v| v.is_object());
                            let what = format!(
                                "HTTP {status} ({})",
                                crate::common::body_excerpt(&body, &[self.api_key.expose()])
                            );
                            match status {
                                200 | 202 if json_object => return Ok(Sent::Done),
                                200..=299 => self.retry.paused(
                                    retry_after,
                                    format!(
                                        "{what}: not the intake's success answer (202 with a JSON object, `{{}}`), so not delivered (a proxy or a wrong `endpoint`?)"
                                    ),
                                ),
                                400 | 413 => {
                                    return Ok(if chunk.len() > 1 {
                                        Sent::Split
                                    } else {
                                        Sent::Reject(
                                            0,
                                            format!("{what}: rejected by the Datadog intake"),
                                        )
                                    });
                                }
                                408 | 429 | 500..=599 => {
                                    self.retry.transient(attempt, retry_after, what)
                                }
                                401 | 403 => self.retry.paused(
                                    retry_after,
                                    format!(
                                        "{what}: the API key is missing or invalid for this site"
                                    ),
                                ),
                                _ => self.retry.paused(retry_after, what),
                            }
                        }
                    }
                }
            };
            let who = Receiver {
                sink: &self.name,
                label: "Datadog",
                pause_hint: "",
            };
            wait_to_retry(&who, retry, shutdown, metrics).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_map_to_intake_hosts() {
        assert_eq!(
            intake_host("datadoghq.com").unwrap(),
            "http-intake.logs.datadoghq.com"
        );
        assert_eq!(
            intake_host("app.datadoghq.eu").unwrap(),
            "http-intake.logs.datadoghq.eu"
        );
        assert_eq!(
            intake_host("us5.datadoghq.com").unwrap(),
            "http-intake.logs.us5.datadoghq.com"
        );
        assert_eq!(
            intake_host("us2.ddog-gov.com").unwrap(),
            "http-intake.logs.us2.ddog-gov.com"
        );
        assert!(intake_host("example.com").is_none());
    }

    #[test]
    fn ddsource_per_engine() {
        assert_eq!(ddsource(Engine::Mariadb), "mysql");
        assert_eq!(ddsource(Engine::Postgresql), "postgresql");
        assert_eq!(ddsource(Engine::Sqlserver), "sqlserver");
        assert_eq!(ddsource(Engine::Oracle), "oracle");
    }
}
