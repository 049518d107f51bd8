//! # onetrail-sinks — where events go
//!
//! Job: every sink (file, stdout, Splunk HEC, Datadog, syslog, Kafka), the runner
//! they share (group batches, deliver, acknowledge to the sources, dead
//! letters), their configuration keys ([`config`]) and the tamper-evident
//! hash chain of the file sink ([`chain`]).
//!
//! Boundaries: depends on `onetrail-core` (batches, retry, metrics, secrets,
//! durable writes) and `onetrail-encode` (encodings). A sink never knows a
//! parser, enrichment or the agent's YAML layer.
//!
//! A sink has the same shape whatever it sends to: a config, an encoder, and
//! a `deliver` that returns only once a group of batches is durably accepted
//! (retrying as long as it takes). Adding one: see `registry.rs` and the
//! README's layout section.

pub mod chain;
mod common;
pub mod config;
pub mod datadog;
pub mod file;
pub mod http;
pub mod kafka;
mod registry;
pub mod splunk_hec;
pub mod stdout;
pub mod syslog;

pub use common::*;
pub use registry::*;
