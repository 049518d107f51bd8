//! `encoding: splunk_cim`: the native event plus Splunk CIM field names, flat,
//! inside the HEC `event`. Which CIM data model an event feeds:
//!
//! | onetrail category | CIM model |
//! |---|---|
//! | `read`, `dml`, `function`, `session`, `admin`, `other`, `unparsed` | Databases (`Database_Query`) |
//! | `ddl` | Databases + Change (`All_Changes`) |
//! | `auth` | Authentication |
//! | `dcl` | Change / `Account_Management` |
//! | `audit_config` | Change / `Auditing_Changes` |
//! | `agent` | none (native only) |
//!
//! CIM selects datasets by *tags*: ship eventtypes/tags in a TA (see
//! docs/encodings.md). The native `action` (the verb, e.g. `SELECT`) is kept
//! as `onetrail_action` and as CIM `command`; for Authentication and Change
//! events `action` takes its CIM meaning (success/failure, created/deleted/…).

use onetrail_event::{Category, Event, Outcome};
use serde_json::{Map, Value};

use crate::fields::{DclKind, dcl_kind, dcl_target, main_object, object_name, product_name, put};

pub fn encode(ev: &Event) -> Value {
    let mut m = match serde_json::to_value(ev).expect("events always serialize") {
        Value::Object(m) => m,
        _ => unreachable!("an event is an object"),
    };
    let verb = ev.action.clone();
    m.insert("onetrail_action".into(), verb.clone().into());
    for (k, v) in cim_fields(ev) {
        m.insert(k, v);
    }
    Value::Object(m)
}

/// The CIM keys alone (also used by tests and docs).
pub fn cim_fields(ev: &Event) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("vendor_product".into(), product_name(ev.engine).into());
    c.insert("app".into(), ev.engine.as_str().into());
    put(
        &mut c,
        "dest",
        ev.instance.clone().or_else(|| ev.database.clone()),
    );
    put(
        &mut c,
        "src",
        ev.client.ip.clone().or_else(|| ev.client.host.clone()),
    );
    if let Some(p) = ev.client.port {
        c.insert("src_port".into(), p.into());
    }
    put(&mut c, "user", ev.db_user.clone());
    put(&mut c, "session_id", ev.session.id.clone());
    let object = main_object(ev)
        .and_then(object_name)
        .or_else(|| ev.database.clone());
    let status = match ev.outcome {
        Outcome::Success => Some("success"),
        Outcome::Failure => Some("failure"),
        Outcome::Unknown => None,
    };
    if let Some(e) = &ev.error {
        put(&mut c, "signature_id", e.code.clone());
        put(&mut c, "reason", e.message.clone());
    }
    match ev.category {
        Category::Auth => {
            // Authentication: action ∈ success|failure (unknown outcome: left out).
            match status {
                Some(s) => c.insert("action".into(), s.into()),
                None => c.remove("action"),
            };
            c.insert("signature".into(), ev.action.clone().into());
            c.insert(
                "authentication_service".into(),
                product_name(ev.engine).into(),
            );
        }
        Category::Dcl => {
            let (action, category) = match dcl_kind(ev) {
                DclKind::CreateAccount => ("created", "user"),
                DclKind::DropAccount => ("deleted", "user"),
                DclKind::PasswordChange
                | DclKind::EnableAccount
                | DclKind::DisableAccount
                | DclKind::AlterAccount => ("modified", "user"),
                DclKind::GrantPrivileges | DclKind::RevokePrivileges => ("modified", "privilege"),
                DclKind::GrantRole | DclKind::RevokeRole => ("modified", "role"),
                DclKind::Other => ("modified", "user"),
            };
            change(&mut c, ev, action, "AAA", category, status, object.clone());
            // Account_Management: `user` is the account changed, `src_user` who changed it.
            put(&mut c, "src_user", ev.db_user.clone());
            if let Some(t) = dcl_target(ev) {
                c.insert("user".into(), t.into());
            }
        }
        Category::AuditConfig => {
            change(
                &mut c,
                ev,
                "modified",
                "audit",
                "audit",
                status,
                object.clone(),
            );
        }
        Category::Ddl => {
            let first = ev
                .action
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let action = match first.as_str() {
                "CREATE" => "created",
                "DROP" => "deleted",
                _ => "modified",
            };
            let cat = main_object(ev)
                .and_then(|o| o.kind.clone())
                .unwrap_or_else(|| "database".into())
                .to_ascii_lowercase();
            change(&mut c, ev, action, "database", &cat, status, object.clone());
            database(&mut c, ev, object);
        }
        Category::Agent => {}
        _ => database(&mut c, ev, object),
    }
    c
}

fn database(c: &mut Map<String, Value>, ev: &Event, object: Option<String>) {
    put(c, "object", object);
    put(c, "query", ev.statement.clone());
    if let Some(id) = ev.session.statement_id {
        c.insert("query_id".into(), id.to_string().into());
    }
    if let Some(r) = ev.rows {
        c.insert("records_affected".into(), r.into());
    }
    // `query_time` is when the query started (a timestamp, not a duration).
    c.insert(
        "query_time".into(),
        ev.time
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .into(),
    );
}

fn change(
    c: &mut Map<String, Value>,
    ev: &Event,
    action: &str,
    change_type: &str,
    object_category: &str,
    status: Option<&str>,
    object: Option<String>,
) {
    c.insert("action".into(), action.into());
    c.insert("change_type".into(), change_type.into());
    c.insert("command".into(), ev.action.clone().into());
    c.insert("object_category".into(), object_category.into());
    put(c, "object", object);
    put(c, "status", status.map(str::to_string));
    put(c, "dvc", ev.instance.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::ev;

    #[test]
    fn auth_action_takes_cim_meaning_and_verb_is_kept() {
        let mut e = ev(Category::Auth, "LOGIN FAILED", "");
        e.outcome = Outcome::Failure;
        e.db_user = Some("bob".into());
        let v = encode(&e);
        assert_eq!(v["action"], "failure");
        assert_eq!(v["onetrail_action"], "LOGIN FAILED");
        assert_eq!(v["signature"], "LOGIN FAILED");
        assert_eq!(v["user"], "bob");
        // The native keys are all still there.
        assert!(v.get("db_user").is_some() && v.get("raw").is_some());
    }

    #[test]
    fn read_has_query_fields_and_native_action() {
        let mut e = ev(Category::Read, "SELECT", "select * from t");
        e.session.statement_id = Some(7);
        e.rows = Some(3);
        let v = encode(&e);
        assert_eq!(v["action"], "SELECT");
        assert_eq!(v["query"], "select * from t");
        assert_eq!(v["query_id"], "7");
        assert_eq!(v["records_affected"], 3);
    }

    #[test]
    fn grant_is_account_management() {
        let mut e = ev(Category::Dcl, "GRANT", "GRANT readers TO alice");
        e.db_user = Some("admin".into());
        e.outcome = Outcome::Success;
        let v = encode(&e);
        assert_eq!(v["action"], "modified");
        assert_eq!(v["user"], "alice");
        assert_eq!(v["src_user"], "admin");
        assert_eq!(v["status"], "success");
        assert_eq!(v["object_category"], "role");
    }
}
