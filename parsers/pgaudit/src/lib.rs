//! PostgreSQL server logs carrying pgaudit records → onetrail events.
//!
//! A pure library: bytes in, [`Event`]s out, no I/O and no clock. Four
//! formats ([`FORMATS`]) share one mapping:
//!
//! - `pgaudit-stderr`: the plain-text server log, any `log_line_prefix`;
//! - `pgaudit-csvlog`: `log_destination = csvlog` (23/24/26 columns);
//! - `pgaudit-jsonlog`: `log_destination = jsonlog` (PostgreSQL 15+);
//! - `pgauditlogtofile`: the pgauditlogtofile extension's own file (raw ≤1.6,
//!   CSV and JSON 1.7+).
//!
//! Each format decodes a record into a [`message::ServerMessage`] borrowing
//! from the input; [`mapper::Mapper`] turns it into events: one per pgaudit
//! AUDIT record (held back until the backend's next record tells whether the
//! statement failed), login/logout/failed-login events from the core
//! connection messages, failed statements from `ERROR` + `STATEMENT`, audit
//! configuration changes, and (optionally) every other line as `other`.
//! See `docs/schema.md`, section "PostgreSQL (`extra` keys)".

use std::borrow::Cow;

use chrono::DateTime;
use onetrail_event::{Engine, Event, Flush, RecordFormat, RecordPos};

pub mod classify;
pub mod csvlog;
pub mod infer;
pub mod jsonlog;
pub mod logtofile;
pub mod mapper;
pub mod message;
pub mod payload;
pub mod prefix;
pub mod stderr;
pub mod time;

pub use classify::{classify_statement, statement_action};
pub use payload::{PgauditRecord, parse_payload};
pub use prefix::LogLinePrefix;

/// Names accepted by [`format_by_name`].
pub const FORMATS: &[&str] = &[
    "pgaudit-stderr",
    "pgaudit-csvlog",
    "pgaudit-jsonlog",
    "pgauditlogtofile",
];

/// Options of the PostgreSQL formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The server's `log_line_prefix` (`SHOW log_line_prefix`); used by
    /// `pgaudit-stderr` only. Default `%m [%p] ` (PostgreSQL ≥ 10).
    pub log_line_prefix: String,
    /// Turn server lines that are neither audit records nor login/logout
    /// messages into `other` events (default); `false` skips them.
    pub forward_other: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            log_line_prefix: "%m [%p] ".to_string(),
            forward_other: true,
        }
    }
}

/// Configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgConfigError {
    #[error("unknown PostgreSQL log format {name:?}; valid formats: {}", FORMATS.join(", "))]
    UnknownFormat { name: String },
    #[error("bad log_line_prefix {prefix:?} at character {position}: {reason}")]
    BadPrefix {
        prefix: String,
        /// Byte offset of the offending `%` in the prefix.
        position: usize,
        reason: String,
    },
}

enum Layout {
    Stderr(Box<LogLinePrefix>),
    Csvlog,
    Jsonlog,
    LogToFile,
}

/// One PostgreSQL log format with its per-source state.
pub struct PgFormat {
    name: &'static str,
    layout: Layout,
    mapper: mapper::Mapper,
}

/// The format called `name` (one of [`FORMATS`]).
pub fn format_by_name(
    name: &str,
    opts: &PgOptions,
) -> Result<Box<dyn RecordFormat>, PgConfigError> {
    Ok(Box::new(PgFormat::new(name, opts)?))
}

impl PgFormat {
    pub fn new(name: &str, opts: &PgOptions) -> Result<PgFormat, PgConfigError> {
        let (name, layout) = match name {
            "pgaudit-stderr" => (
                "pgaudit-stderr",
                Layout::Stderr(Box::new(LogLinePrefix::compile(&opts.log_line_prefix)?)),
            ),
            "pgaudit-csvlog" => ("pgaudit-csvlog", Layout::Csvlog),
            "pgaudit-jsonlog" => ("pgaudit-jsonlog", Layout::Jsonlog),
            "pgauditlogtofile" => ("pgauditlogtofile", Layout::LogToFile),
            other => {
                return Err(PgConfigError::UnknownFormat {
                    name: other.to_string(),
                });
            }
        };
        let track_outcome = !matches!(layout, Layout::LogToFile);
        Ok(PgFormat {
            name,
            layout,
            mapper: mapper::Mapper::new(opts.forward_other, track_outcome),
        })
    }
}

impl RecordFormat for PgFormat {
    fn name(&self) -> &'static str {
        self.name
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        match &self.layout {
            Layout::Stderr(p) => stderr::frame(p, buf, flush),
            Layout::Csvlog => csvlog::frame(buf, flush),
            Layout::Jsonlog => jsonlog::frame(buf, flush),
            Layout::LogToFile => logtofile::frame(buf, flush),
        }
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        // Valid UTF-8 (nearly always): the fast validator, no copy.
        let text: Cow<'_, str> = match std::str::from_utf8(record) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(record),
        };
        let decoded = match &self.layout {
            Layout::Stderr(p) => stderr::decode(p, &text),
            Layout::Csvlog => csvlog::decode(&text),
            Layout::Jsonlog => jsonlog::decode(&text),
            Layout::LogToFile => logtofile::decode(&text),
        };
        match decoded {
            Ok(msg) => self.mapper.map(&msg, pos, record, out),
            Err(e) => {
                let mut ev =
                    Event::unparsed(Engine::Postgresql, DateTime::UNIX_EPOCH, pos, record, e);
                ev.extra.insert("time_missing".into(), true.into());
                out.push(ev);
            }
        }
    }

    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        match &self.layout {
            // Continuation lines of a message start with a TAB.
            Layout::Stderr(_) => line.first().map(|&c| c != b'\t'),
            Layout::Jsonlog => Some(true),
            // Quoted values span lines; a record starts with its timestamp.
            Layout::Csvlog => {
                onetrail_event::decide_on_line(line, 16, onetrail_event::starts_with_date_time)
            }
            // The rule its own framing uses for raw detail lines.
            Layout::LogToFile => {
                onetrail_event::decide_on_line(line, 1024, logtofile::starts_record)
            }
        }
    }

    fn held_since(&self) -> Option<u64> {
        self.mapper.held_since()
    }

    fn release_held(&mut self, out: &mut Vec<Event>) {
        self.mapper.release_held(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_format_lists_valid_ones() {
        let e = format_by_name("pgaudit", &PgOptions::default())
            .err()
            .unwrap();
        let s = e.to_string();
        for f in FORMATS {
            assert!(s.contains(f), "{s}");
        }
    }

    #[test]
    fn bad_prefix_is_reported() {
        let opts = PgOptions {
            log_line_prefix: "%m [%p] %y".into(),
            ..PgOptions::default()
        };
        let e = format_by_name("pgaudit-stderr", &opts)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("%y") && e.contains("character 8"), "{e}");
        // Other formats ignore the prefix.
        assert!(format_by_name("pgaudit-csvlog", &opts).is_ok());
    }

    #[test]
    fn names_round_trip() {
        for f in FORMATS {
            assert_eq!(format_by_name(f, &PgOptions::default()).unwrap().name(), *f);
        }
    }
}
