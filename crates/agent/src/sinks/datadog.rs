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
//! * Responses: 2xx accepted; 408, 429, 5xx and network errors retried with
//!   backoff (honouring `Retry-After`); 401/403 pause the sink (retry every
//!   `pause_retry_ms`, error logged each time, `up = false`; nothing dropped);
//!   400 and 413 split the request until the offending entry is alone, which
//!   then goes to the dead-letter file.
//! * Datadog accepts events up to 18 h old. Before every attempt, events older
//!   than `max_event_age_secs` (default 18 h) are written to the dead-letter
//!   file and one `agent`/`GAP` event per source (with `extra.reason`,
//!   `count`, `first_time`, `last_time`, `dead_letter_path`) is sent instead.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use onetrail_event::{Engine, Event};
use serde_json::Value;

use super::http::{Receiver, send_counted, wait_to_retry};
use super::{Aborted, DeadLetter, RetryPolicy, error_chain, gzip, http_client, retry_after_of};
use crate::config::{Encoding, Secret, SinkConfig, mask_url_credentials, read_secret_file};
use crate::metrics::SinkMetrics;
use crate::pipeline::{Batch, Shutdown};

/// Most entries per request.
pub const MAX_ENTRIES: usize = 1000;
/// Most bytes per request before compression.
pub const MAX_PAYLOAD_BYTES: usize = 5_000_000;
/// Most bytes per entry.
pub const MAX_ENTRY_BYTES: usize = 1_000_000;
/// Room kept in every request for a `GAP` event that may replace old events.
const GAP_ROOM: usize = 16 * 1024;

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
    source: Arc<str>,
    bytes: Vec<u8>,
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
        let api_key = match (&cfg.api_key, &cfg.api_key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => read_secret_file(p)?,
            (None, None) => return Err("set `api_key: ${DD_API_KEY}` or `api_key_file:`".into()),
        };
        if api_key.expose().is_empty() {
            return Err("the Datadog API key is empty".into());
        }
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
            compression: cfg.compression.unwrap_or(true),
            tags: cfg.tags.join(","),
            service: cfg.service.clone(),
            hostname: cfg.host.clone().unwrap_or_else(super::hostname),
            max_bytes: cfg.batch_max_bytes.clamp(4096, MAX_PAYLOAD_BYTES)
                - GAP_ROOM.min(cfg.batch_max_bytes / 4),
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

    /// `onetrail check`: validate the API key (site) or reach the endpoint.
    pub async fn probe(&self) -> Result<String, String> {
        if let Some(v) = &self.validate_url {
            let r = self
                .client
                .get(v)
                .header("DD-API-KEY", self.api_key.expose())
                .send()
                .await
                .map_err(|e| format!("{v} unreachable: {}", error_chain(&e)))?;
            return match r.status().as_u16() {
                200 => Ok(format!(
                    "API key valid ({v}); logs go to {}",
                    self.shown_url
                )),
                401 | 403 => Err(format!(
                    "{v}: HTTP {}: the API key is not valid for this site (check `api_key` and `site`)",
                    r.status().as_u16()
                )),
                s => Err(format!("{v}: HTTP {s}")),
            };
        }
        // An explicit endpoint: one harmless GET proves DNS, TCP and TLS.
        match self.client.get(&self.url).send().await {
            Ok(r) => Ok(format!(
                "{} reachable (HTTP {})",
                self.shown_url,
                r.status().as_u16()
            )),
            Err(e) => Err(format!(
                "{} unreachable: {}",
                self.shown_url,
                error_chain(&e)
            )),
        }
    }

    /// The intake entry for an event (reserved attributes added), cut down
    /// to [`MAX_ENTRY_BYTES`] when needed (then with the cut event). `Err`
    /// (the reason) when even that cannot fit.
    pub fn entry(&self, ev: &Event) -> Result<(Vec<u8>, Option<Event>), String> {
        let mut bytes = self.encode_entry(ev);
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
                self.encode_entry(&e).len()
            };
            *field.get(&mut e) = Some(String::new());
            let base = self.encode_entry(&e).len();
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
                bytes = self.encode_entry(&e);
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

    fn encode_entry(&self, ev: &Event) -> Vec<u8> {
        let mut v = crate::encode::to_value(ev, self.encoding);
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
                m.insert("message".into(), crate::encode::datadog::message(ev).into());
            }
            if !m.contains_key("timestamp") {
                m.insert("timestamp".into(), ev.time.timestamp_millis().into());
            }
            if !m.contains_key("status") {
                m.insert("status".into(), crate::encode::datadog::status(ev).into());
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
                        source: b.source.clone(),
                        bytes,
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
            let add = it.bytes.len() + 1;
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

    /// Divert events older than the intake window: dead-letter them and put
    /// one GAP event per source in their place.
    async fn divert_old(
        &mut self,
        chunk: &mut Vec<Item<'_>>,
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        let limit = chrono::Utc::now()
            - chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::hours(18));
        if !chunk.iter().any(|i| i.ev.time < limit) {
            return Ok(());
        }
        let (old, keep): (Vec<Item<'_>>, Vec<Item<'_>>) = std::mem::take(chunk)
            .into_iter()
            .partition(|i| i.ev.time < limit);
        *chunk = keep;
        let reason = format!(
            "older than Datadog's intake window ({} h; `max_event_age_secs`)",
            self.max_age.as_secs_f64() / 3600.0
        );
        let dl: Vec<(&Event, String)> = old.iter().map(|i| (&*i.ev, reason.clone())).collect();
        self.dead.write(&dl, shutdown, metrics).await?;
        let mut by_source: BTreeMap<(Arc<str>, &'static str), Vec<&Item<'_>>> = BTreeMap::new();
        for it in &old {
            by_source
                .entry((it.source.clone(), it.ev.engine.as_str()))
                .or_default()
                .push(it);
        }
        for ((source, _), its) in by_source {
            let first = its.iter().map(|i| i.ev.time).min().expect("non-empty");
            let last = its.iter().map(|i| i.ev.time).max().expect("non-empty");
            let mut gap = crate::pipeline::agent_event(
                &source,
                its[0].ev.engine,
                "GAP",
                "events older than the receiver's intake window were written to the dead-letter file",
            );
            gap.extra.insert("reason".into(), reason.clone().into());
            gap.extra.insert("sink".into(), self.name.clone().into());
            gap.extra.insert("count".into(), its.len().into());
            gap.extra.insert(
                "first_time".into(),
                first
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    .into(),
            );
            gap.extra.insert(
                "last_time".into(),
                last.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    .into(),
            );
            gap.extra.insert(
                "dead_letter_path".into(),
                self.dead.path.display().to_string().into(),
            );
            gap.instance = its[0].ev.instance.clone();
            tracing::error!(
                sink = %self.name, source = %source, count = its.len(),
                "events older than Datadog's intake window diverted to {}; a GAP event is sent instead",
                self.dead.path.display()
            );
            metrics.gap_events.fetch_add(1, Ordering::Relaxed);
            let bytes = self.encode_entry(&gap);
            chunk.push(Item {
                ev: Cow::Owned(gap),
                source,
                bytes,
            });
        }
        Ok(())
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
            self.divert_old(chunk, shutdown, metrics).await?;
            if chunk.is_empty() {
                return Ok(Sent::Done);
            }
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
                    let text = r.text().await.unwrap_or_default();
                    let detail: String = text.chars().take(300).collect();
                    let what = if detail.trim().is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status} ({})", detail.trim())
                    };
                    match status {
                        200..=299 => return Ok(Sent::Done),
                        400 | 413 => {
                            return Ok(if chunk.len() > 1 {
                                Sent::Split
                            } else {
                                Sent::Reject(0, format!("{what}: rejected by the Datadog intake"))
                            });
                        }
                        408 | 429 | 500..=599 => self.retry.transient(attempt, retry_after, what),
                        401 | 403 => self.retry.paused(
                            retry_after,
                            format!("{what}: the API key is missing or invalid for this site"),
                        ),
                        _ => self.retry.paused(retry_after, what),
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
