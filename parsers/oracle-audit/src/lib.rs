//! Oracle audit records → onetrail events.
//!
//! A pure library: rows and bytes in, [`Event`]s out, no I/O and no clock.
//!
//! - [`row`]: one `UNIFIED_AUDIT_TRAIL` row ([`UnifiedAuditRow`]) → one event,
//!   and the row's de-duplication key ([`DedupKey`]); used by the agent's
//!   Oracle poller and by every file format below.
//! - File formats ([`FORMATS`], [`format_by_name`]):
//!   - `oracle-unified-syslog`: `UNIFIED_AUDIT_SYSTEMLOG` key-field lines;
//!   - `oracle-aud`: traditional `.aud` OS audit files (classic and extended layouts);
//!   - `oracle-audit-xml`: XML audit trail files (`AUDIT_TRAIL=XML`);
//!   - `oracle-unified-csv`: a CSV export of `UNIFIED_AUDIT_TRAIL` with a header row.
//!
//! `extra` keys are listed in `docs/engines/oracle.md`.

use onetrail_event::{Event, Flush, RecordFormat, RecordPos};

pub mod aud;
pub mod classify;
pub mod csv;
pub mod row;
pub mod syslog;
pub mod util;
pub mod xml;

pub use classify::{action_name_of_code, classify, outcome_of};
pub use row::{
    CLIENT_IDENTIFIER_KEY, ColValue, DedupKey, UnifiedAuditRow, client_identifier, map_row,
};

/// Names accepted by [`format_by_name`].
pub const FORMATS: &[&str] = &[
    "oracle-unified-syslog",
    "oracle-aud",
    "oracle-audit-xml",
    "oracle-unified-csv",
];

/// The `UNIFIED_AUDIT_TRAIL` columns the agent's poller selects (all present
/// since 12.2), in order. The documented CSV export query selects the same
/// list, which lets `oracle-unified-csv` read rows whose header it did not see.
pub const TRAIL_COLUMNS: &[&str] = &[
    "EVENT_TIMESTAMP_UTC",
    "DBID",
    "INSTANCE_ID",
    "SESSIONID",
    "ENTRY_ID",
    "STATEMENT_ID",
    "AUDIT_TYPE",
    "ACTION_NAME",
    "RETURN_CODE",
    "DBUSERNAME",
    "DBPROXY_USERNAME",
    "EXTERNAL_USERID",
    "GLOBAL_USERID",
    "OS_USERNAME",
    "USERHOST",
    "TERMINAL",
    "CLIENT_PROGRAM_NAME",
    "AUTHENTICATION_TYPE",
    "CLIENT_IDENTIFIER",
    "CURRENT_USER",
    "OS_PROCESS",
    "TRANSACTION_ID",
    "SCN",
    "EXECUTION_ID",
    "OBJECT_SCHEMA",
    "OBJECT_NAME",
    "NEW_SCHEMA",
    "NEW_NAME",
    "SQL_TEXT",
    "SQL_BINDS",
    "SYSTEM_PRIVILEGE_USED",
    "SYSTEM_PRIVILEGE",
    "OBJECT_PRIVILEGES",
    "ROLE",
    "TARGET_USER",
    "AUDIT_OPTION",
    "UNIFIED_AUDIT_POLICIES",
    "FGA_POLICY_NAME",
    "ADDITIONAL_INFO",
    "APPLICATION_CONTEXTS",
    "DBLINK_INFO",
    "PROXY_SESSIONID",
];

/// Options of the Oracle file formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleOptions {
    /// `oracle-unified-syslog`: lines without an Oracle unified-audit payload
    /// become `other` events (default); `false` skips them.
    pub forward_other: bool,
    /// Year given to RFC 3164 syslog timestamps, which have none. The runtime
    /// passes the current year; without it 1970 is used. Either way the event
    /// carries `extra.time_year_assumed`.
    pub syslog_year: Option<i32>,
}

impl Default for OracleOptions {
    fn default() -> Self {
        OracleOptions {
            forward_other: true,
            syslog_year: None,
        }
    }
}

/// Configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleConfigError {
    #[error("unknown Oracle audit format {name:?}; valid formats: {}", FORMATS.join(", "))]
    UnknownFormat { name: String },
}

enum Layout {
    Syslog(syslog::SyslogState),
    Aud(aud::AudState),
    Xml(xml::XmlState),
    Csv(csv::CsvState),
}

/// One Oracle file format with its per-file state.
pub struct OracleFormat {
    name: &'static str,
    layout: Layout,
}

/// The format called `name` (one of [`FORMATS`]).
pub fn format_by_name(
    name: &str,
    opts: &OracleOptions,
) -> Result<Box<dyn RecordFormat>, OracleConfigError> {
    Ok(Box::new(OracleFormat::new(name, opts)?))
}

impl OracleFormat {
    pub fn new(name: &str, opts: &OracleOptions) -> Result<OracleFormat, OracleConfigError> {
        let year = syslog::default_year(opts.syslog_year);
        let (name, layout) = match name {
            "oracle-unified-syslog" => (
                "oracle-unified-syslog",
                Layout::Syslog(syslog::SyslogState {
                    forward_other: opts.forward_other,
                    year,
                    last_time: None,
                }),
            ),
            "oracle-aud" => {
                let mut s = aud::AudState::default();
                s.year = year;
                ("oracle-aud", Layout::Aud(s))
            }
            "oracle-audit-xml" => ("oracle-audit-xml", Layout::Xml(xml::XmlState::default())),
            "oracle-unified-csv" => ("oracle-unified-csv", Layout::Csv(csv::CsvState::default())),
            other => {
                return Err(OracleConfigError::UnknownFormat {
                    name: other.to_string(),
                });
            }
        };
        Ok(OracleFormat { name, layout })
    }
}

impl RecordFormat for OracleFormat {
    fn name(&self) -> &'static str {
        self.name
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        match &self.layout {
            Layout::Syslog(_) => util::frame_line(buf, flush),
            Layout::Aud(_) => aud::frame(buf, flush),
            Layout::Xml(_) => xml::frame(buf, flush),
            Layout::Csv(_) => csv::frame(buf, flush),
        }
    }

    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        match &self.layout {
            // Records run until the next header line.
            Layout::Aud(_) => onetrail_event::decide_on_line(line, 4096, aud::is_record_start),
            Layout::Xml(_) => xml::starts_record(line),
            Layout::Syslog(_) | Layout::Csv(_) => Some(true),
        }
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        match &mut self.layout {
            Layout::Syslog(s) => s.parse(record, pos, out),
            Layout::Aud(s) => s.parse(record, pos, out),
            Layout::Xml(s) => s.parse(record, pos, out),
            Layout::Csv(s) => s.parse(record, pos, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_format_lists_valid_ones() {
        let e = format_by_name("oracle", &OracleOptions::default())
            .err()
            .unwrap()
            .to_string();
        for f in FORMATS {
            assert!(e.contains(f), "{e}");
        }
    }
}
