//! SQL Server Audit written to the Windows Application/Security log (event
//! 33205, provider `MSSQLSERVER$AUDIT`): the record is `param1`, one
//! `column:value` line per `sys.fn_get_audit_file` column. This adapter turns
//! that text into a [`Row`] so it goes through the same mapping.

use crate::row::{Cell, Row};

/// Every documented `sys.fn_get_audit_file` column (all versions).
pub const COLUMNS: &[&str] = &[
    "event_time",
    "sequence_number",
    "action_id",
    "succeeded",
    "permission_bitmask",
    "is_column_permission",
    "session_id",
    "server_principal_id",
    "database_principal_id",
    "target_server_principal_id",
    "target_database_principal_id",
    "object_id",
    "class_type",
    "session_server_principal_name",
    "server_principal_name",
    "server_principal_sid",
    "database_principal_name",
    "target_server_principal_name",
    "target_server_principal_sid",
    "target_database_principal_name",
    "server_instance_name",
    "database_name",
    "schema_name",
    "object_name",
    "statement",
    "additional_information",
    "file_name",
    "audit_file_offset",
    "user_defined_event_id",
    "user_defined_information",
    "audit_schema_version",
    "sequence_group_id",
    "transaction_id",
    "client_ip",
    "application_name",
    "duration_milliseconds",
    "response_rows",
    "affected_rows",
    "connection_id",
    "data_sensitivity_information",
    "host_name",
    "session_context",
    "client_tls_version",
    "client_tls_version_name",
    "database_transaction_id",
    "ledger_start_sequence_number",
    "external_policy_permissions_checked",
    "obo_middle_tier_app_id",
    "is_local_secondary_replica",
];

/// Parse `param1` text. A line that does not start with a known column name
/// and `:` continues the previous value (statements may contain newlines); a
/// lone `.` line ends the record. Values keep their padding (`SL  `); empty
/// values are NULL.
pub fn row_from_event_text(text: &str) -> Row {
    let mut row = Row::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "." {
            break;
        }
        let known = line.split_once(':').filter(|(k, _)| COLUMNS.contains(k));
        match known {
            Some((k, v)) => {
                if let Some((k0, v0)) = cur.take() {
                    push(&mut row, k0, v0);
                }
                cur = Some((k.to_string(), v.to_string()));
            }
            None => {
                if let Some((_, v)) = &mut cur {
                    v.push('\n');
                    v.push_str(line);
                }
            }
        }
    }
    if let Some((k, v)) = cur {
        push(&mut row, k, v);
    }
    row
}

fn push(row: &mut Row, k: String, v: String) {
    let cell = if v.is_empty() {
        Cell::Null
    } else {
        Cell::Text(v)
    };
    row.push(k, cell);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_statement_is_kept() {
        let r = row_from_event_text(
            "action_id:SL  \nstatement:SELECT *\nFROM t\nadditional_information:\nhost_name:H\n.\nignored:1",
        );
        assert_eq!(r.text("statement").as_deref(), Some("SELECT *\nFROM t"));
        assert_eq!(r.text("action_id").as_deref(), Some("SL  "));
        assert_eq!(r.get("additional_information"), Some(&Cell::Null));
        assert_eq!(r.text("host_name").as_deref(), Some("H"));
    }
}
