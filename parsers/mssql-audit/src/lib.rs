//! SQL Server Audit records → onetrail events. A pure library: rows in,
//! [`Event`]s out, no I/O and no clock.
//!
//! The same mapping ([`Mapper`]) serves three carriers:
//!
//! - rows polled from `sys.fn_get_audit_file` (the `mssql` source of
//!   `onetrail-agent`, which builds [`Row`]s from TDS);
//! - exports of that function's output, `onetrail parse --format
//!   mssql-audit-csv|mssql-audit-json` ([`FORMATS`]);
//! - the Windows event-log text of event 33205 ([`winlog::row_from_event_text`]).
//!
//! Columns are looked up by name, so every version's column set works (2016,
//! 2017, 2019, 2022, Azure SQL); unknown columns land in `extra`. Mapping rules
//! and the `extra` keys: `docs/engines/sqlserver.md`.
//!
//! Event ids are `event_id("mssql:<server_instance_name>:<file_name>",
//! audit_file_offset, row index within that offset)`: the same record gets the
//! same id whether it was polled or imported from an export.
//!
//! [`Event`]: onetrail_event::Event

pub mod export;
pub mod map;
pub mod row;
pub mod tables;
pub mod winlog;

pub use map::{
    Mapper, Origin, PART_CHARS, classify_statement, continues_into, group_key, may_continue,
};
pub use row::{Cell, Row};

use onetrail_event::RecordFormat;

/// Format name of polled rows (`source.format` of the `mssql` source).
pub const POLLED_FORMAT: &str = "mssql-audit";

/// Names accepted by [`format_by_name`].
pub const FORMATS: &[&str] = &["mssql-audit-csv", "mssql-audit-json"];

/// Configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MssqlConfigError {
    #[error("unknown SQL Server audit format {name:?}; valid formats: {}", FORMATS.join(", "))]
    UnknownFormat { name: String },
}

/// The offline format called `name` (one of [`FORMATS`]).
pub fn format_by_name(name: &str) -> Result<Box<dyn RecordFormat>, MssqlConfigError> {
    Ok(match name {
        "mssql-audit-csv" => Box::new(export::CsvExport::new()),
        "mssql-audit-json" => Box::new(export::JsonExport::new()),
        _ => {
            return Err(MssqlConfigError::UnknownFormat {
                name: name.to_string(),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_builds_and_reports_its_name() {
        for name in FORMATS {
            assert_eq!(format_by_name(name).unwrap().name(), *name);
        }
        assert!(format_by_name("mssql").is_err());
    }
}
