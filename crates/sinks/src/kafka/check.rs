//! `onetrail check` of a kafka sink: connect (TLS and SASL as configured),
//! read the topic's metadata from the brokers, send nothing.

use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::Producer;

use super::config::Piece;
use crate::common::Probe;

/// Connect, authenticate, and read the metadata of the topic (or, when the
/// topic has placeholders, of every topic, listing those it could match).
/// An unknown topic fails with the broker's words: topics are never created.
pub async fn probe(
    name: &str,
    cfg: &rdkafka::ClientConfig,
    topic_text: &str,
    topic: &[Piece],
    timeout: Duration,
) -> Result<Probe, String> {
    let name = name.to_string();
    let cfg = cfg.clone();
    let fixed = match topic {
        [Piece::Text(t)] => Some(t.clone()),
        _ => None,
    };
    let topic_text = topic_text.to_string();
    let prefix = match topic.first() {
        Some(Piece::Text(t)) => t.clone(),
        _ => String::new(),
    };
    tokio::task::spawn_blocking(move || {
        let (p, errors) = super::producer(&name, &cfg)?;
        let brokers = cfg.get("bootstrap.servers").unwrap_or("").to_string();
        let md = p
            .client()
            .fetch_metadata(fixed.as_deref(), timeout)
            .map_err(|e| {
                let mut m = format!("{brokers}: cannot read metadata: {e}");
                let errs = errors.take();
                if !errs.is_empty() {
                    m.push_str(" (");
                    m.push_str(&errs.join("; "));
                    m.push(')');
                }
                let tls = cfg
                    .get("security.protocol")
                    .is_some_and(|p| p.ends_with("ssl"));
                if let Some(h) = hint(&m).or_else(|| {
                    (tls && m.contains("BrokerTransportFailure")).then_some(
                        "no TLS session with the broker: is its listener TLS? For a plaintext listener set `tls.enabled: false`; else check that it is reachable",
                    )
                }) {
                    m.push_str(" (");
                    m.push_str(h);
                    m.push(')');
                }
                m
            })?;
        let nbrokers = md.brokers().len();
        let how = match cfg.get("security.protocol") {
            Some("ssl") => "TLS, certificate verified",
            Some("sasl_ssl") => "TLS, certificate verified, SASL authenticated",
            Some("sasl_plaintext") => "SASL authenticated, NOT encrypted",
            _ => "plaintext, NOT encrypted",
        };
        match fixed {
            Some(t) => {
                let Some(mt) = md.topics().iter().find(|m| m.name() == t) else {
                    return Err(format!(
                        "{brokers}: the brokers returned no metadata for topic `{t}`"
                    ));
                };
                if let Some(e) = mt.error() {
                    let code = RDKafkaErrorCode::from(e);
                    let extra = if code == RDKafkaErrorCode::UnknownTopicOrPartition {
                        "; onetrail never creates topics: create it (with the partitions and retention you want)"
                    } else if code == RDKafkaErrorCode::TopicAuthorizationFailed {
                        "; grant the sink's principal WRITE and DESCRIBE on it"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "{brokers}: topic `{t}`: the broker answered {code}{extra}"
                    ));
                }
                Ok(Probe::Verified(format!(
                    "{brokers}: connected ({how}); topic `{t}` has {} partitions; {nbrokers} brokers",
                    mt.partitions().len()
                )))
            }
            None => {
                let matching: Vec<&str> = md
                    .topics()
                    .iter()
                    .map(|m| m.name())
                    .filter(|n| n.starts_with(&prefix))
                    .take(10)
                    .collect();
                Ok(Probe::Unverified(format!(
                    "{brokers}: connected ({how}); {nbrokers} brokers; `topic: {topic_text}` has placeholders, so which topics will be written depends on the events: existing topics starting with `{prefix}`: {}",
                    if matching.is_empty() {
                        "none".to_string()
                    } else {
                        matching.join(", ")
                    }
                )))
            }
        }
    })
    .await
    .map_err(|e| format!("the Kafka probe failed: {e}"))?
}

/// The setting to look at, from librdkafka's words in `msg`.
pub fn hint(msg: &str) -> Option<&'static str> {
    let has = |n: &str| msg.contains(n);
    Some(if has("certificate verify failed") {
        "the brokers' certificate is not signed by a CA in `tls.ca_file` (or the system's store), or its names do not match the broker address"
    } else if has("SSL handshake failed")
        || has("wrong version number")
        || has("packet length too long")
    {
        "TLS handshake failed: is the listener TLS? For a plaintext listener set `tls.enabled: false`"
    } else if has("Authentication failure")
        || has("SASL authentication")
        || has("Authentication failed")
    {
        "check `sasl.mechanism`, `sasl.username` and the password"
    } else if has("Disconnected while requesting ApiVersion")
        || has("Unsupported SASL mechanism")
        || has("SaslHandshake")
    {
        "the listener may not speak what `tls`/`sasl` say: check the listener's security protocol"
    } else {
        return None;
    })
}
