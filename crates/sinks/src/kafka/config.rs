//! The kafka sink's compression codec, its checks, the topic template and
//! the librdkafka properties (`key` and `sasl` are in `crate::config`, so that
//! the config module never reaches into a sink).

use serde::Deserialize;

use crate::config::{SinkConfig, SinkType};

pub use crate::config::{KafkaKey, SaslConfig};

/// `compression` of a kafka sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
    fn parse(s: &str) -> Option<Codec> {
        Some(match s {
            "none" => Codec::None,
            "gzip" => Codec::Gzip,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            _ => return None,
        })
    }
}

/// SASL mechanisms librdkafka implements without Kerberos or OAuth.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// Default `max_message_bytes` of a kafka sink: the producer's and the
/// broker's default limit (`message.max.bytes` 1000000 / 1048588).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_000_000;

/// `max_message_bytes` of a kafka sink.
pub fn max_message_bytes(cfg: &SinkConfig) -> usize {
    cfg.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
}

/// Whether the kafka sink talks TLS (`tls.enabled`, default true).
pub fn uses_tls(cfg: &SinkConfig) -> bool {
    cfg.tls.enabled != Some(false)
}

/// The sink's `compression`: a codec name; `true`/`false` are the HTTP
/// sinks' form and mean gzip/none here too.
pub fn codec(cfg: &SinkConfig) -> Result<Codec, String> {
    use crate::config::Compression;
    match &cfg.compression {
        None => Ok(Codec::None),
        Some(Compression::Enabled(true)) => Ok(Codec::Gzip),
        Some(Compression::Enabled(false)) => Ok(Codec::None),
        // The value is not quoted: it may come from a `${VAR}`.
        Some(Compression::Named(n)) => Codec::parse(n).ok_or_else(|| {
            "unknown `compression` for `type: kafka`; expected none, gzip, lz4 or zstd".to_string()
        }),
    }
}

/// The placeholders a topic may use.
pub const PLACEHOLDERS: &[&str] = &["engine", "instance", "category"];

/// One piece of a parsed topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Engine,
    Instance,
    Category,
}

/// Longest topic name Kafka takes.
pub const MAX_TOPIC_LEN: usize = 249;

/// A topic character Kafka takes (`[a-zA-Z0-9._-]`).
fn topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Parse `topic` (`db-audit`, `audit.{engine}.{instance}`).
pub fn parse_topic(t: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(i) => {
                if i > 0 {
                    out.push(Piece::Text(rest[..i].to_string()));
                }
                let close = rest[i..]
                    .find('}')
                    .ok_or_else(|| format!("`topic: {t}`: `{{` without `}}`"))?;
                let name = &rest[i + 1..i + close];
                out.push(match name {
                    "engine" => Piece::Engine,
                    "instance" => Piece::Instance,
                    "category" => Piece::Category,
                    _ => {
                        return Err(format!(
                            "`topic: {t}`: unknown placeholder `{{{name}}}`; expected {{engine}}, {{instance}} or {{category}}"
                        ));
                    }
                });
                rest = &rest[i + close + 1..];
            }
            None => {
                out.push(Piece::Text(rest.to_string()));
                rest = "";
            }
        }
    }
    for p in &out {
        if let Piece::Text(s) = p {
            if s.contains('}') {
                return Err(format!("`topic: {t}`: `}}` without `{{`"));
            }
            if let Some(c) = s.chars().find(|c| !topic_char(*c)) {
                return Err(format!(
                    "`topic: {t}`: {c:?} is not allowed in a Kafka topic name (letters, digits, `.`, `_`, `-`)"
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("`topic` is empty".into());
    }
    if out.len() == 1
        && let Piece::Text(s) = &out[0]
        && (s == "." || s == "..")
    {
        return Err(format!("`topic: {t}` is not a valid Kafka topic name"));
    }
    Ok(out)
}

/// The topic of `ev`: placeholders replaced (an event without `instance`
/// gets `default`), characters Kafka does not take replaced by `_`, at most
/// [`MAX_TOPIC_LEN`] characters.
pub fn topic_of(pieces: &[Piece], ev: &onetrail_event::Event) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Engine => s.push_str(ev.engine.as_str()),
            Piece::Instance => s.extend(
                ev.instance
                    .as_deref()
                    .filter(|i| !i.is_empty())
                    .unwrap_or("default")
                    .chars()
                    .map(|c| if topic_char(c) { c } else { '_' }),
            ),
            Piece::Category => s.push_str(ev.category.as_str()),
        }
    }
    if s.len() > MAX_TOPIC_LEN {
        s.truncate(MAX_TOPIC_LEN); // ASCII only: a char boundary
    }
    s
}

/// The message key of `ev` under `key`.
pub fn key_of(key: KafkaKey, ev: &onetrail_event::Event) -> Option<String> {
    match key {
        KafkaKey::None => None,
        KafkaKey::Id => Some(ev.id.clone()),
        KafkaKey::Instance => Some(
            ev.instance
                .clone()
                .unwrap_or_else(|| ev.engine.as_str().to_string()),
        ),
        KafkaKey::Session => ev.session.id.as_ref().map(|sid| {
            format!(
                "{}/{sid}",
                ev.instance.as_deref().unwrap_or(ev.engine.as_str())
            )
        }),
    }
}

/// `host:port` of a broker.
fn check_broker(b: &str) -> Result<(), String> {
    let bad =
        || format!("`brokers`: `{b}` must be host:port (`kafka-1.example.com:9093`, `[::1]:9092`)");
    let (host, port) = b.trim().rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains("://") || host.contains(',') {
        return Err(bad());
    }
    Ok(())
}

/// The checks `Config::load` runs on a kafka sink (and on keys of the other
/// sinks that mean something else there).
pub fn validate(cfg: &SinkConfig) -> Result<(), String> {
    if cfg.kind != SinkType::Kafka {
        if let Some(crate::config::Compression::Named(_)) = &cfg.compression {
            return Err("`compression` takes `true` or `false` (gzip or not) for this sink; codec names are for `type: kafka`".into());
        }
        return Ok(());
    }
    if cfg.brokers.is_empty() {
        return Err(
            "`brokers` is required for `type: kafka` (`[\"kafka-1.example.com:9093\"]`)".into(),
        );
    }
    for b in &cfg.brokers {
        check_broker(b)?;
    }
    let topic = cfg
        .topic
        .as_deref()
        .ok_or("`topic` is required for `type: kafka`")?;
    parse_topic(topic)?;
    codec(cfg)?;
    let max = max_message_bytes(cfg);
    if !(1000..=1_000_000_000).contains(&max) {
        return Err("`max_message_bytes` must be between 1000 and 1000000000".into());
    }
    if cfg.tls.verify == Some(false) {
        return Err("`tls.verify: false` is not supported by the kafka sink; put the brokers' CA in `tls.ca_file`".into());
    }
    if !uses_tls(cfg)
        && (cfg.tls.ca_file.is_some()
            || cfg.tls.client_cert.is_some()
            || cfg.tls.client_key.is_some())
    {
        return Err(
            "`tls.ca_file`/`client_cert`/`client_key` need TLS (remove `tls.enabled: false`)"
                .into(),
        );
    }
    if cfg.tls.client_cert.is_some() != cfg.tls.client_key.is_some() {
        return Err("tls.client_cert and tls.client_key go together".into());
    }
    if let Some(s) = &cfg.sasl {
        if !MECHANISMS.contains(&s.mechanism.as_str()) {
            return Err(
                "unknown `sasl.mechanism`; expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into(),
            );
        }
        if s.username.is_empty() {
            return Err("`sasl.username` is empty".into());
        }
        match (&s.password, &s.password_file) {
            (None, None) => {
                return Err(
                    "set `sasl.password: ${KAFKA_PASSWORD}` or `sasl.password_file:`".into(),
                );
            }
            (Some(_), Some(_)) => {
                return Err("set one of `sasl.password` and `sasl.password_file`".into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The SASL password: `password`, or the first line of `password_file`.
fn password(s: &SaslConfig) -> Result<String, String> {
    if let Some(p) = &s.password {
        return Ok(p.expose().to_string());
    }
    let path = s.password_file.as_ref().ok_or("no SASL password")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("sasl.password_file {}: {e}", path.display()))?;
    let p = text.lines().next().unwrap_or("").to_string();
    if p.is_empty() {
        return Err(format!("sasl.password_file {}: empty", path.display()));
    }
    Ok(p)
}

/// The librdkafka properties of the producer (see the module doc for why each).
pub fn client_config(name: &str, cfg: &SinkConfig) -> Result<rdkafka::ClientConfig, String> {
    validate(cfg)?;
    let mut c = rdkafka::ClientConfig::new();
    let brokers: Vec<&str> = cfg.brokers.iter().map(|b| b.trim()).collect();
    let timeout_ms = (cfg.request_timeout_secs.max(1) * 1000).min(i32::MAX as u64);
    c.set("bootstrap.servers", brokers.join(","))
        .set("client.id", format!("onetrail-{name}"))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", codec(cfg)?.as_str())
        .set("allow.auto.create.topics", "false")
        .set("message.max.bytes", max_message_bytes(cfg).to_string())
        // How long a message may wait for its acknowledgement before its
        // delivery reports an error (then the sink retries the group).
        .set("message.timeout.ms", timeout_ms.to_string())
        .set("socket.timeout.ms", timeout_ms.max(10_000).to_string())
        .set("linger.ms", "5")
        .set(
            "reconnect.backoff.ms",
            cfg.retry_initial_backoff_ms.clamp(1, 60_000).to_string(),
        )
        .set(
            "reconnect.backoff.max.ms",
            cfg.retry_max_backoff_ms
                .clamp(cfg.retry_initial_backoff_ms.clamp(1, 60_000), 3_600_000)
                .to_string(),
        )
        .set(
            "retry.backoff.ms",
            cfg.retry_initial_backoff_ms.clamp(1, 60_000).to_string(),
        )
        .set(
            "retry.backoff.max.ms",
            cfg.retry_max_backoff_ms
                .clamp(cfg.retry_initial_backoff_ms.clamp(1, 60_000), 3_600_000)
                .to_string(),
        );
    let tls = uses_tls(cfg);
    let protocol = match (tls, cfg.sasl.is_some()) {
        (true, true) => "sasl_ssl",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (false, false) => "plaintext",
    };
    c.set("security.protocol", protocol);
    if tls {
        c.set("enable.ssl.certificate.verification", "true")
            .set("ssl.endpoint.identification.algorithm", "https");
        match &cfg.tls.ca_file {
            Some(ca) => {
                std::fs::metadata(ca).map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
                c.set("ssl.ca.location", ca.display().to_string());
            }
            // The system's CA store (OpenSSL's default locations).
            None => {
                c.set("ssl.ca.location", "probe");
            }
        }
        if let (Some(cert), Some(key)) = (&cfg.tls.client_cert, &cfg.tls.client_key) {
            for (k, p) in [("tls.client_cert", cert), ("tls.client_key", key)] {
                std::fs::metadata(p).map_err(|e| format!("{k} {}: {e}", p.display()))?;
            }
            c.set("ssl.certificate.location", cert.display().to_string())
                .set("ssl.key.location", key.display().to_string());
        }
    }
    if let Some(s) = &cfg.sasl {
        c.set("sasl.mechanisms", &s.mechanism)
            .set("sasl.username", &s.username)
            .set("sasl.password", password(s)?);
    }
    // librdkafka's own log lines go through `tracing` (rdkafka's default context logs with `log`).
    c.set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_templates() {
        assert_eq!(
            parse_topic("db-audit").unwrap(),
            vec![Piece::Text("db-audit".into())]
        );
        assert_eq!(
            parse_topic("audit.{engine}.{instance}").unwrap(),
            vec![
                Piece::Text("audit.".into()),
                Piece::Engine,
                Piece::Text(".".into()),
                Piece::Instance
            ]
        );
        assert!(parse_topic("a.{host}").unwrap_err().contains("{host}"));
        assert!(parse_topic("a.{engine").is_err());
        assert!(parse_topic("a}b").is_err());
        assert!(parse_topic("db audit").unwrap_err().contains("' '"));
        assert!(parse_topic("").is_err());
        assert!(parse_topic("..").is_err());
        let mut ev = onetrail_core::batch::agent_event(
            "x",
            onetrail_event::Engine::Postgresql,
            "START",
            "m",
        );
        ev.instance = Some("prod db/1".into());
        let p = parse_topic("a.{engine}.{instance}.{category}").unwrap();
        assert_eq!(topic_of(&p, &ev), "a.postgresql.prod_db_1.agent");
        ev.instance = None;
        assert_eq!(topic_of(&p, &ev), "a.postgresql.default.agent");
        ev.instance = Some("x".repeat(400));
        assert_eq!(topic_of(&p, &ev).len(), MAX_TOPIC_LEN);
    }

    #[test]
    fn keys() {
        let mut ev = onetrail_core::batch::agent_event(
            "x",
            onetrail_event::Engine::Postgresql,
            "START",
            "m",
        );
        assert_eq!(key_of(KafkaKey::Session, &ev), None);
        assert_eq!(key_of(KafkaKey::None, &ev), None);
        assert_eq!(key_of(KafkaKey::Id, &ev).as_deref(), Some(ev.id.as_str()));
        assert_eq!(
            key_of(KafkaKey::Instance, &ev).as_deref(),
            Some("postgresql")
        );
        ev.session.id = Some("4711".into());
        ev.instance = Some("pg1".into());
        assert_eq!(key_of(KafkaKey::Session, &ev).as_deref(), Some("pg1/4711"));
        assert_eq!(key_of(KafkaKey::Instance, &ev).as_deref(), Some("pg1"));
    }

    #[test]
    fn brokers() {
        assert!(check_broker("kafka-1:9093").is_ok());
        assert!(check_broker("[::1]:9092").is_ok());
        assert!(check_broker("kafka-1").is_err());
        assert!(check_broker("tcp://kafka-1:9092").is_err());
        assert!(check_broker("a:1,b:2").is_err());
        assert!(check_broker("kafka:0").is_err());
    }
}
