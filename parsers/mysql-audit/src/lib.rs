//! Pure parsers for the MySQL family of audit logs: bytes in, [`Event`]s out
//! (no I/O, no clock, no async).
//!
//! | format name              | source                                                              | engine    |
//! |--------------------------|---------------------------------------------------------------------|-----------|
//! | `mariadb-server-audit`   | MariaDB Audit Plugin file or syslog output; RDS/Aurora variants     | `mariadb` |
//! | `mysql-enterprise-json`  | MySQL Enterprise Audit `audit_log_format=JSON`                      | `mysql`   |
//! | `mysql-enterprise-xml`   | MySQL Enterprise Audit XML (new and old style)                      | `mysql`   |
//! | `percona-audit-json`     | Percona `audit_log` JSON (also accepts the Enterprise shape)        | `mysql`   |
//! | `percona-audit-xml`      | Percona `audit_log` XML, OLD (attributes) and NEW (elements)        | `mysql`   |
//! | `percona-audit-csv`      | Percona `audit_log` CSV                                             | `mysql`   |
//!
//! Mapping rules and the `extra` keys are documented in `docs/schema.md`,
//! section "MySQL family (`extra` keys)".
//!
//! [`Event`]: onetrail_event::Event

mod classify;
mod common;
mod csv;
mod generic;
mod json;
mod mariadb;
mod time;
mod xml;

pub use classify::classify_statement;
pub use mariadb::{DEFAULT_QUERY_LOG_LIMIT, MAX_PENDING};

use onetrail_event::RecordFormat;

/// Every format name this crate implements.
pub const FORMATS: &[&str] = &[
    "mariadb-server-audit",
    "mysql-enterprise-json",
    "mysql-enterprise-xml",
    "percona-audit-json",
    "percona-audit-xml",
    "percona-audit-csv",
];

/// Options shared by the MySQL-family formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlOptions {
    /// Forward lines that are not audit records but belong in the stream
    /// (other programs' lines in a syslog file carrying server_audit output)
    /// as `category: other` events. When false they are skipped. Lines that
    /// *should* be audit records but cannot be parsed are always emitted as
    /// `unparsed`.
    pub forward_other: bool,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        MysqlOptions {
            forward_other: true,
        }
    }
}

/// Configuration errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MysqlConfigError {
    #[error("unknown MySQL-family audit format {name:?}; valid formats: {}", FORMATS.join(", "))]
    UnknownFormat { name: String },
}

/// Build the [`RecordFormat`] for a format name (see [`FORMATS`]).
pub fn format_by_name(
    name: &str,
    opts: &MysqlOptions,
) -> Result<Box<dyn RecordFormat>, MysqlConfigError> {
    Ok(match name {
        "mariadb-server-audit" => Box::new(mariadb::MariadbServerAudit::new(opts)),
        "mysql-enterprise-json" => Box::new(json::JsonAudit::new("mysql-enterprise-json", opts)),
        "percona-audit-json" => Box::new(json::JsonAudit::new("percona-audit-json", opts)),
        "mysql-enterprise-xml" => Box::new(xml::XmlAudit::new("mysql-enterprise-xml", opts)),
        "percona-audit-xml" => Box::new(xml::XmlAudit::new("percona-audit-xml", opts)),
        "percona-audit-csv" => Box::new(csv::CsvAudit::new(opts)),
        _ => {
            return Err(MysqlConfigError::UnknownFormat {
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
            let f = format_by_name(name, &MysqlOptions::default()).unwrap();
            assert_eq!(f.name(), *name);
        }
        let err = format_by_name("mysql", &MysqlOptions::default())
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("\"mysql\"") && msg.contains("percona-audit-csv"),
            "{msg}"
        );
    }
}
