//! `type: kafka`: one message per event to a Kafka topic, delivered when the
//! broker acknowledged it.
//!
//! * **Client.** The `rdkafka` crate with the librdkafka it bundles (2.12),
//!   built from source into the binary. Not Debian's librdkafka (2.0.2):
//!   it fails against current brokers ("Read underflow" on ApiVersions v3,
//!   research/feasibility.md); no pure-Rust client was known to give an
//!   idempotent producer with `acks=all` that had been tried against a broker
//!   here. TLS and SCRAM go through the system OpenSSL (libssl3).
//! * **Delivered.** The producer is idempotent (`enable.idempotence=true`,
//!   hence `acks=all`): a message counts only when its delivery report says
//!   the partition leader has it with every in-sync replica. A group of
//!   batches is acknowledged to its sources (and their checkpoints move) only
//!   once every message of the group has such a report, like every other sink.
//! * **Retries.** librdkafka retries inside the producer (same producer id
//!   and sequence numbers: the broker drops its own duplicates) until
//!   `message.timeout.ms` (= `request_timeout_secs`); a message whose report
//!   is still an error (broker down, leader gone, not authorized, unknown
//!   topic) is produced again by the sink with backoff
//!   (`retry_initial_backoff_ms` .. `retry_max_backoff_ms`), for ever, until
//!   it is acknowledged or the agent stops: nothing is dropped. While that
//!   lasts, and as soon as librdkafka reports a broker error, the sink is
//!   down in `/health`, `status` and `onetrail_sink_up`.
//! * **Duplicates.** At least once. Duplicates come only from (a) a message
//!   produced again by the sink after its report was an error although the
//!   broker had written it (the acknowledgement was lost with the broker):
//!   at most one group (`batch_max_events`) per failure; (b) an agent killed
//!   or stopped between an acknowledgement and the next checkpoint write:
//!   the events read since the last checkpoint write are sent again. The
//!   event `id` (also the `onetrail_id` header) is the de-duplication key.
//! * **Too large.** A message over `max_message_bytes` (default 1000000, the
//!   producer's and the broker's default), or one the broker refuses as too
//!   large for the topic (`MESSAGE_TOO_LARGE`), is written to the dead-letter
//!   file with the reason and raises an `agent` `DEAD_LETTER` alert, as the
//!   HTTP sinks do with the events their receivers reject.
//! * **Topics** are never created: `allow.auto.create.topics=false`, and an
//!   unknown topic is an error (`check` reports it with the broker's words,
//!   delivery retries until it exists).
//! * **Order.** `key` decides the partition, the unit of order
//!   ([`config::KafkaKey`]). Within one producer session order is kept
//!   (the idempotent producer keeps it across its own retries); a message
//!   the sink has to produce again lands after the ones acknowledged before.

pub mod check;
pub mod config;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, config::RDKafkaLogLevel};

use crate::common::{Aborted, DeadLetter, RetryPolicy};
use crate::config::{Encoding, SinkConfig};
use crate::http::{Receiver, wait_to_retry};
use config::{KafkaKey, Piece};
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;

/// The Kafka message header that carries the event `id`.
pub const ID_HEADER: &str = "onetrail_id";

/// What librdkafka reports outside delivery reports (broker connection and
/// authentication errors): newest last, at most 20, for the sink's status
/// and `check`.
#[derive(Default, Clone)]
pub struct Errors(Arc<Mutex<Vec<String>>>);

impl Errors {
    /// The errors librdkafka reported since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("poisoned"))
    }
}

/// The producer's librdkafka context: its log lines go to `tracing`, its
/// errors to [`Errors`].
pub struct Context {
    sink: String,
    errors: Errors,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        let msg = onetrail_core::secrets::mask_url_credentials(msg);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(sink = %self.sink, "librdkafka {fac}: {msg}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(sink = %self.sink, "librdkafka {fac}: {msg}")
            }
            _ => tracing::debug!(sink = %self.sink, "librdkafka {fac}: {msg}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let msg = onetrail_core::secrets::mask_url_credentials(&format!("{error}: {reason}"))
            .into_owned();
        tracing::debug!(sink = %self.sink, "librdkafka error: {msg}");
        let mut e = self.errors.0.lock().expect("poisoned");
        if e.len() >= 20 {
            e.remove(0);
        }
        e.push(msg);
    }
}

pub type Client = FutureProducer<Context>;

/// Build a producer (no connection is made until it is used), and the
/// errors its librdkafka reports.
pub fn producer(name: &str, cfg: &rdkafka::ClientConfig) -> Result<(Client, Errors), String> {
    let errors = Errors::default();
    let ctx = Context {
        sink: name.to_string(),
        errors: errors.clone(),
    };
    let p = cfg
        .create_with_context(ctx)
        .map_err(|e| format!("cannot create the Kafka producer: {e}"))?;
    Ok((p, errors))
}

/// One message of a group.
struct Msg {
    /// Index of the event in the group (flattened).
    ev: usize,
    topic: String,
    key: Option<String>,
    value: Vec<u8>,
}

pub struct KafkaSink {
    name: String,
    client_config: rdkafka::ClientConfig,
    producer: Option<(Client, Errors)>,
    topic: Vec<Piece>,
    /// The topic as configured (for `check`).
    topic_text: String,
    brokers: String,
    key: KafkaKey,
    encoding: Encoding,
    max_message_bytes: usize,
    retry: RetryPolicy,
    metadata_timeout: Duration,
    dead_letter: DeadLetter,
}

impl KafkaSink {
    pub fn new(
        name: &str,
        cfg: &SinkConfig,
        data_dir: &std::path::Path,
    ) -> Result<KafkaSink, String> {
        let client_config = config::client_config(name, cfg)?;
        let topic_text = cfg.topic.clone().unwrap_or_default();
        Ok(KafkaSink {
            name: name.to_string(),
            client_config,
            producer: None,
            topic: config::parse_topic(&topic_text)?,
            topic_text,
            brokers: cfg.brokers.join(","),
            key: cfg.key.unwrap_or_default(),
            encoding: cfg.encoding,
            max_message_bytes: config::max_message_bytes(cfg),
            retry: RetryPolicy::from_config(cfg),
            metadata_timeout: Duration::from_secs(cfg.request_timeout_secs.clamp(1, 60)),
            dead_letter: DeadLetter::new(name, cfg, data_dir),
        })
    }

    pub fn dead_letter_mut(&mut self) -> &mut DeadLetter {
        &mut self.dead_letter
    }

    fn producer(&mut self) -> Result<&(Client, Errors), String> {
        if self.producer.is_none() {
            self.producer = Some(producer(&self.name, &self.client_config)?);
        }
        Ok(self.producer.as_ref().expect("created above"))
    }

    /// Encode every event of the group: its messages, and the events too
    /// large to send (with the reason).
    fn encode(&self, events: &[&onetrail_event::Event]) -> (Vec<Msg>, Vec<(usize, String)>) {
        let mut msgs = Vec::with_capacity(events.len());
        let mut too_large = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            let mut value = Vec::with_capacity(1024);
            onetrail_encode::write_json(ev, self.encoding, &mut value);
            let key = config::key_of(self.key, ev);
            let topic = config::topic_of(&self.topic, ev);
            // librdkafka counts the record's key, value, headers and ~100 bytes of framing.
            let size = value.len()
                + key.as_ref().map_or(0, String::len)
                + ID_HEADER.len()
                + ev.id.len()
                + 128;
            if size > self.max_message_bytes {
                too_large.push((
                    i,
                    format!(
                        "the encoded event is {size} bytes with its key and header, over `max_message_bytes` {}",
                        self.max_message_bytes
                    ),
                ));
                continue;
            }
            msgs.push(Msg {
                ev: i,
                topic,
                key,
                value,
            });
        }
        (msgs, too_large)
    }

    /// Produce `msgs` and wait for every delivery report. Returns the
    /// messages that failed (with the last error), and those the broker
    /// refused as too large. While waiting, broker errors librdkafka reports
    /// mark the sink down.
    async fn attempt(
        &mut self,
        msgs: Vec<Msg>,
        events: &[&onetrail_event::Event],
        metrics: &SinkMetrics,
    ) -> (Vec<Msg>, Vec<(usize, String)>, Option<String>) {
        let (producer, errors) = match self.producer() {
            Ok((p, e)) => (p.clone(), e.clone()),
            Err(e) => return (msgs, Vec::new(), Some(e)),
        };
        metrics.requests.fetch_add(1, Ordering::Relaxed);
        let mut pending = Vec::with_capacity(msgs.len());
        let mut failed = Vec::new();
        let mut last_err = None;
        for m in msgs {
            let id = &events[m.ev].id;
            let headers = OwnedHeaders::new().insert(Header {
                key: ID_HEADER,
                value: Some(id.as_bytes()),
            });
            let mut rec = FutureRecord::to(&m.topic)
                .payload(&m.value)
                .headers(headers);
            if let Some(k) = &m.key {
                rec = rec.key(k);
            }
            // A full local queue empties as reports come back: wait for room.
            let fut = loop {
                match producer.send_result(rec) {
                    Ok(f) => break Ok(f),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        rec = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => break Err(e),
                }
            };
            match fut {
                Ok(f) => {
                    metrics
                        .bytes_sent
                        .fetch_add(m.value.len() as u64, Ordering::Relaxed);
                    pending.push((m, f));
                }
                Err(e) => {
                    last_err = Some(format!("cannot produce to `{}`: {e}", m.topic));
                    failed.push(m);
                }
            }
        }
        let mut too_large = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for (m, mut f) in pending {
            let report = loop {
                tokio::select! {
                    r = &mut f => break r,
                    _ = tick.tick() => {
                        let errs = errors.take();
                        if let Some(e) = errs.last() {
                            metrics.set_error(format!("{}: {e}", self.brokers));
                        }
                    }
                }
            };
            match report {
                Ok(Ok(_delivery)) => {}
                Ok(Err((e, _))) => {
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) {
                        too_large.push((
                            m.ev,
                            format!(
                                "the broker refused the message as too large for topic `{}`: {e}",
                                m.topic
                            ),
                        ));
                    } else {
                        last_err = Some(format!("topic `{}`: {e}", m.topic));
                        failed.push(m);
                    }
                }
                Err(_canceled) => {
                    last_err = Some("the producer dropped the message".into());
                    failed.push(m);
                }
            }
        }
        if let Some((code, reason)) = producer.client().fatal_error() {
            // The idempotent producer cannot go on (e.g. its producer id was
            // fenced): start a new one for the retry.
            tracing::warn!(sink = %self.name, "Kafka producer fatal error {code}: {reason}; starting a new producer");
            last_err = Some(format!("fatal producer error: {code}: {reason}"));
            self.producer = None;
        }
        if failed.is_empty() {
            errors.take();
        } else if let Some(e) = errors.take().last()
            && last_err.as_deref().is_some_and(|l| !l.contains(e.as_str()))
        {
            last_err = Some(format!("{}; {e}", last_err.unwrap_or_default()));
        }
        (failed, too_large, last_err)
    }

    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        let events: Vec<&onetrail_event::Event> =
            batches.iter().flat_map(|b| b.events.iter()).collect();
        if events.is_empty() {
            return Ok(());
        }
        let (mut msgs, mut too_large) = self.encode(&events);
        let name = self.name.clone();
        let who = Receiver {
            sink: &name,
            label: "Kafka",
            pause_hint: "",
        };
        let mut attempt = 0;
        loop {
            if !too_large.is_empty() {
                let rejected: Vec<(&onetrail_event::Event, String)> = too_large
                    .drain(..)
                    .map(|(i, why)| (events[i], why))
                    .collect();
                metrics
                    .rejected
                    .fetch_add(rejected.len() as u64, Ordering::Relaxed);
                self.dead_letter.write(&rejected, shutdown, metrics).await?;
            }
            if msgs.is_empty() {
                metrics.set_ok();
                return Ok(());
            }
            attempt += 1;
            let (failed, large, err) = self.attempt(msgs, &events, metrics).await;
            too_large = large;
            msgs = failed;
            if msgs.is_empty() {
                continue;
            }
            let msg = format!(
                "{} of the group's messages not acknowledged: {}",
                msgs.len(),
                err.unwrap_or_else(|| "no delivery report".into())
            );
            let retry = self.retry.transient(attempt, None, msg);
            wait_to_retry(&who, retry, shutdown, metrics).await?;
        }
    }

    /// `onetrail check`: see [`check::probe`].
    pub async fn probe(&self) -> Result<crate::common::Probe, String> {
        check::probe(
            &self.name,
            &self.client_config,
            &self.topic_text,
            &self.topic,
            self.metadata_timeout,
        )
        .await
    }
}
