//! # onetrail-agent — the runtime that puts the components together
//!
//! Job: the YAML layer ([`config`] loads and checks, [`settings`] holds the
//! types), formats by name ([`formats`]), tailing ([`tail`]), pollers
//! ([`pollers`]), the source runners ([`pipeline`]), the `parse`, `check`,
//! `detect` and `import` commands, the supervisor with reload, and the
//! `/status` + `/metrics` server ([`http`]). The `onetrail` binary is thin
//! glue over [`run`], [`parse_file`] and [`check`].
//!
//! Boundaries: the agent uses every other crate (parsers, `onetrail-core`,
//! `onetrail-enrich`, `onetrail-encode`, `onetrail-sinks`); none uses it.
//! It re-exports them under their former module names (`sinks`, `enrich`,
//! `encode`, `checkpoint`, `metrics`, `files`, `notify`, `chain`).
//!
//! One record's walk: [`tail`] reads bytes → the source's parser frames and
//! normalizes them → [`enrich`] → [`pipeline::Batch`] to every sink →
//! acknowledgement → [`checkpoint`].

pub mod config;
pub mod formats;
pub mod http;
pub mod import;
pub mod pipeline;
pub mod pollers;
pub mod sample;
pub mod settings;
pub mod tail;

mod check;
mod findings;
mod parse;
mod prefix;
mod reader;
mod supervisor;

// The crates the agent is built from, under their former module names.
pub use onetrail_core::{checkpoint, files, metrics, notify};
pub use onetrail_encode as encode;
pub use onetrail_enrich as enrich;
pub use onetrail_event::DEFAULT_MAX_RECORD_BYTES;
pub use onetrail_sinks as sinks;
pub use onetrail_sinks::chain;

pub use check::check;
pub use findings::{Finding, Level};
pub use parse::{ParseOptions, ParseStats, formats_recognising, parse_file, wrong_format};
pub use supervisor::{RunOptions, run, run_with};
