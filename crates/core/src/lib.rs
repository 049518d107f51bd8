//! # onetrail-core — the building blocks every runtime component shares
//!
//! Job: what travels from a source to its sinks ([`batch::Batch`], with its
//! acknowledgement, and the [`batch::Shutdown`] signal), checkpoints
//! ([`checkpoint`]), retry timing ([`retry`]), the agent's counters
//! ([`metrics`]), secrets ([`secrets`]), durable file writes (temp file +
//! fsync + rename + directory fsync, [`files`]) and the systemd notification
//! socket ([`notify`]).
//!
//! Boundaries: depends on `onetrail-event` only among our crates. It knows no
//! parser, no sink, no enrichment and no configuration file; tail, sinks,
//! pollers and the agent build on it.

pub mod batch;
pub mod checkpoint;
pub mod clock;
pub mod files;
pub mod metrics;
pub mod notify;
pub mod retry;
pub mod secrets;
