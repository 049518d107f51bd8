//! # onetrail-encode — how an event is written for a receiver
//!
//! Job: the encodings (`encoding:` on every sink). `native` is event v1 as
//! is; the others project it onto a SIEM's own model. Every mapping lives in
//! this crate (one file per model) and is listed in `docs/encodings.md`; keep
//! the two in step.
//!
//! Boundaries: depends on `onetrail-event` only; knows no sink, no
//! configuration file and no parser. Sinks (and the hash chain) call
//! [`to_value`] / [`write_json`].
//!
//! Projections never lose data: whatever a model has no field for stays
//! available under a namespaced key (`unmapped` in OCSF, `onetrail` in the
//! Datadog encoding; the Splunk CIM encoding is the native event plus CIM keys).

pub mod datadog;
mod fields;
pub mod ocsf;
pub mod splunk_cim;

pub use fields::{
    DclKind, dcl_kind, dcl_target, is_logoff, main_object, object_name, product_name, summary,
    vendor_name,
};

use onetrail_event::Event;
use serde::Deserialize;
use serde_json::Value;

/// How a sink writes events (`encoding:` on every sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// onetrail event v1, as documented in docs/schema.md.
    #[default]
    Native,
    /// OCSF 1.x classes.
    Ocsf,
    /// Splunk CIM field names.
    SplunkCim,
    /// Datadog standard attributes.
    Datadog,
}

/// The event as one JSON value in `encoding`.
pub fn to_value(ev: &Event, encoding: Encoding) -> Value {
    match encoding {
        Encoding::Native => serde_json::to_value(ev).expect("events always serialize"),
        Encoding::Ocsf => ocsf::encode(ev),
        Encoding::SplunkCim => splunk_cim::encode(ev),
        Encoding::Datadog => datadog::encode(ev),
    }
}

/// Append the event as compact JSON (no newline) in `encoding`.
pub fn write_json(ev: &Event, encoding: Encoding, out: &mut Vec<u8>) {
    match encoding {
        // Fast path: no intermediate `Value`; same bytes as serde_json.
        Encoding::Native => ev.write_json(out),
        other => {
            serde_json::to_writer(&mut *out, &to_value(ev, other)).expect("events always serialize")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use onetrail_event::RecordPos;
    use onetrail_event::{Category, Engine};

    pub(crate) fn ev(cat: Category, action: &str, stmt: &str) -> Event {
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "pgaudit-stderr",
        };
        let t = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let mut e = Event::new(Engine::Postgresql, t, &pos, 0);
        e.category = cat;
        e.action = action.into();
        e.statement = (!stmt.is_empty()).then(|| stmt.to_string());
        e
    }

    #[test]
    fn dcl_classification_and_target() {
        let cases = [
            (
                "CREATE ROLE",
                "CREATE ROLE bob LOGIN PASSWORD <REDACTED>",
                DclKind::CreateAccount,
                Some("bob"),
            ),
            (
                "CREATE USER",
                "create user if not exists \"Eve\"",
                DclKind::CreateAccount,
                Some("Eve"),
            ),
            (
                "DROP ROLE",
                "DROP ROLE IF EXISTS bob",
                DclKind::DropAccount,
                Some("bob"),
            ),
            (
                "ALTER ROLE",
                "ALTER ROLE bob PASSWORD <REDACTED>",
                DclKind::PasswordChange,
                Some("bob"),
            ),
            (
                "ALTER ROLE",
                "ALTER ROLE bob NOLOGIN",
                DclKind::DisableAccount,
                Some("bob"),
            ),
            (
                "ALTER ROLE",
                "ALTER ROLE bob CONNECTION LIMIT 3",
                DclKind::AlterAccount,
                Some("bob"),
            ),
            (
                "GRANT",
                "GRANT SELECT, INSERT ON t TO alice;",
                DclKind::GrantPrivileges,
                Some("alice"),
            ),
            (
                "GRANT",
                "GRANT readers TO alice",
                DclKind::GrantRole,
                Some("alice"),
            ),
            (
                "REVOKE",
                "REVOKE ALL ON t FROM alice",
                DclKind::RevokePrivileges,
                Some("alice"),
            ),
            (
                "REVOKE",
                "REVOKE readers FROM alice",
                DclKind::RevokeRole,
                Some("alice"),
            ),
            (
                "CREATE USER MAPPING",
                "CREATE USER MAPPING FOR bob SERVER s",
                DclKind::Other,
                None,
            ),
        ];
        for (action, stmt, kind, target) in cases {
            let e = ev(Category::Dcl, action, stmt);
            assert_eq!(dcl_kind(&e), kind, "{stmt}");
            assert_eq!(dcl_target(&e).as_deref(), target, "{stmt}");
        }
    }
}
