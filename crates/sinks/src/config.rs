//! Every sink's keys (`sinks.<name>:` in the YAML file). Which keys apply
//! depends on `type`; the agent's configuration layer checks them against
//! the key table before serde reads them.

use std::path::PathBuf;

use onetrail_core::secrets::Secret;
pub use onetrail_encode::Encoding;
use serde::Deserialize;

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    /// Newline-delimited JSON appended to a local file.
    File,
    /// Newline-delimited JSON on standard output.
    Stdout,
    /// Splunk HTTP Event Collector.
    SplunkHec,
    /// Datadog Logs intake v2.
    Datadog,
    /// A syslog receiver over TCP or TLS (RFC 5424, CEF or LEEF messages).
    Syslog,
    /// Kafka topics, each message acknowledged by the brokers (`kafka`).
    Kafka,
}

/// syslog: the message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    /// RFC 5424 with structured data and the event JSON as MSG.
    #[default]
    Rfc5424,
    /// ArcSight Common Event Format.
    Cef,
    /// IBM QRadar Log Event Extended Format 2.0.
    Leef,
}

/// syslog: the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyslogProtocol {
    Tcp,
    #[default]
    Tls,
    /// rsyslog's Reliable Event Logging Protocol: every message acknowledged.
    Relp,
    /// RELP inside TLS (rsyslog `imrelp` with `tls="on"`).
    RelpTls,
    /// One datagram per message (RFC 5426), nothing acknowledged.
    Udp,
}

/// syslog: how messages are delimited on the stream (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum SyslogFraming {
    /// `<length> <message>`.
    #[default]
    #[serde(rename = "octet-counting")]
    OctetCounting,
    /// `<message>\n`.
    #[serde(rename = "newline")]
    Newline,
}

fn default_batch_events() -> usize {
    500
}
fn default_batch_bytes() -> usize {
    1024 * 1024
}
fn default_batch_timeout_ms() -> u64 {
    1000
}

/// TLS settings of an HTTP sink. Verification is on unless `verify: false`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// kafka: TLS to the brokers. Default true.
    pub enabled: Option<bool>,
    pub verify: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// One sink. Which keys apply depends on `type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// file: the file to append to.
    pub path: Option<PathBuf>,
    /// How events are encoded. Default `native`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Most events per batch. Default 500.
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    /// Most encoded bytes per batch (before compression). Default 1 MiB.
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    /// Longest a partial batch waits before it is sent. Default 1000 ms.
    #[serde(default = "default_batch_timeout_ms")]
    pub batch_timeout_ms: u64,
    /// HTTP sinks: base URL (`https://splunk:8088`, `http://127.0.0.1:8080`).
    pub endpoint: Option<String>,
    /// splunk_hec: the HEC token (use `${ENV}`), or `token_file`.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub index: Option<String>,
    pub sourcetype: Option<String>,
    pub source: Option<String>,
    pub host: Option<String>,
    /// splunk_hec: wait for indexer acknowledgement before a batch counts as
    /// delivered (an answer without `ackId` then pauses the sink). Default false.
    #[serde(default)]
    pub acknowledgements: bool,
    /// datadog: the site (`datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, ...).
    pub site: Option<String>,
    /// datadog: the API key (use `${ENV}`), or `api_key_file`.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    pub service: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// HTTP sinks: gzip request bodies (`true`/`false`, default true);
    /// kafka: `none`, `gzip`, `lz4` or `zstd` (default none).
    pub compression: Option<Compression>,
    /// HTTP sinks: where events a receiver rejects as invalid are written, one
    /// JSON line per event with the reason (each time also an `agent`
    /// `DEAD_LETTER` event, `alert: true`). Default `<data_dir>/dead-letter/<sink>.jsonl`.
    pub dead_letter_path: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// splunk_hec with `acknowledgements: true`: how long to wait for the
    /// indexer acknowledgement of a request before sending it again. Default
    /// 300 s, the Splunk forwarder's convention (`useACK` resends after 300 s).
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: u64,
    /// splunk_hec with `acknowledgements: true`: the pause between two polls of
    /// `/services/collector/ack`. Default 1000 ms (Vector polls every 10 s, but
    /// it pipelines requests; onetrail waits for the ack before the next group).
    #[serde(default = "default_ack_poll_ms")]
    pub ack_poll_interval_ms: u64,
    /// HTTP sinks: timeout of one request (connect + send + response). Default 30 s.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// HTTP sinks: first retry delay; it doubles per attempt (full jitter) up to
    /// `retry_max_backoff_ms`. A `Retry-After` from the receiver wins. Default 1000 ms.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_backoff_ms: u64,
    /// HTTP sinks: longest retry delay. Default 60000 ms. Retries never stop:
    /// the source's log files are the buffer.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_backoff_ms: u64,
    /// HTTP sinks: while the receiver refuses the credentials (401/403, HEC
    /// token/index/channel errors) or answers with something other than its
    /// success form (a proxy's login page) the sink is paused: it tries again
    /// every `pause_retry_ms` and logs an error each time. Default 30000 ms.
    #[serde(default = "default_pause_retry_ms")]
    pub pause_retry_ms: u64,
    /// datadog: events older than this (at send time) are outside Datadog's
    /// intake window (18 h); they are sent late: `timestamp` is the send time,
    /// their own time is in `original_time` (RFC 3339) and `original_timestamp`
    /// (Unix ms), flagged `late: true`. Default 64800 s (18 h).
    #[serde(default = "default_max_event_age_secs")]
    pub max_event_age_secs: u64,
    /// splunk_hec: send indexed `fields` with every event (`event_id`, the
    /// de-duplication key; `db_system`; `category`; `instance` when set).
    /// Default true. They are searchable without extraction (`event_id::…`).
    #[serde(default = "default_true")]
    pub indexed_fields: bool,
    /// file: tamper-evident hash chain. Each line gets `chain: {seq, prev,
    /// hash}` (SHA-256 over a canonical encoding, see `chain`); the chain
    /// continues across restarts (state in `<data_dir>/chain/<sink>.json`),
    /// and `onetrail import` into the same sink continues it (it appends
    /// under the file's lock). Check a file with `onetrail verify FILE`.
    /// Default false.
    #[serde(default)]
    pub chain: bool,
    /// syslog: `host:port` of the receiver.
    pub address: Option<String>,
    /// syslog: `tcp`, `tls`, `relp`, `relp_tls` or `udp`. Default `tls`.
    #[serde(default)]
    pub protocol: SyslogProtocol,
    /// syslog: `octet-counting` or `newline`. Default `octet-counting`.
    #[serde(default)]
    pub framing: SyslogFraming,
    /// syslog: `rfc5424`, `cef` or `leef`. Default `rfc5424`.
    #[serde(default)]
    pub format: SyslogFormat,
    /// syslog: facility name. Default `local4`.
    pub facility: Option<String>,
    /// syslog: APP-NAME. Default `onetrail`.
    pub app_name: Option<String>,
    /// syslog: longest message. Default 65536 (udp: 2048, RFC 5426).
    /// kafka: longest message (key, value, header). Default 1000000.
    pub max_message_bytes: Option<usize>,
    /// kafka: the bootstrap brokers, `host:port` each.
    #[serde(default)]
    pub brokers: Vec<String>,
    /// kafka: the topic; may use `{engine}`, `{instance}`, `{category}`.
    pub topic: Option<String>,
    /// kafka: the message key (`session`, `id`, `instance`, `none`). Default `session`.
    pub key: Option<KafkaKey>,
    /// kafka: SASL authentication.
    pub sasl: Option<SaslConfig>,
}

/// `key`: the Kafka message key, which decides the partition and therefore
/// what stays in order (Kafka orders messages only within a partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KafkaKey {
    /// `<instance>/<session id>`: a session's events stay in order in one
    /// partition. Events without a session (agent events) have no key.
    #[default]
    Session,
    /// The event `id`: spread evenly, no order between events; the key
    /// also lets a compacted topic keep one copy per event.
    Id,
    /// The event's `instance` (else its engine): every event of a database
    /// in one partition, in order, but no more parallelism than databases.
    Instance,
    /// No key: librdkafka's sticky partitioner, no order.
    None,
}

/// `sasl` of a kafka sink.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub username: String,
    /// The password (write `${ENV}`), or `password_file`.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
}

/// `compression` of a sink: `true`/`false` (HTTP sinks: gzip or not) or a
/// codec name (kafka: `none`, `gzip`, `lz4`, `zstd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compression {
    Enabled(bool),
    Named(String),
}

impl Compression {
    /// HTTP sinks: whether to gzip bodies (`None`: the default, yes).
    pub fn gzip(c: &Option<Compression>) -> bool {
        !matches!(c, Some(Compression::Enabled(false)))
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Compression;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false, or a codec name (none, gzip, lz4, zstd)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Compression, E> {
                Ok(Compression::Enabled(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Compression, E> {
                Ok(Compression::Named(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn default_ack_timeout_secs() -> u64 {
    300
}
fn default_ack_poll_ms() -> u64 {
    1000
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_retry_initial_ms() -> u64 {
    1000
}
fn default_retry_max_ms() -> u64 {
    60_000
}
fn default_pause_retry_ms() -> u64 {
    30_000
}
fn default_max_event_age_secs() -> u64 {
    18 * 3600
}
