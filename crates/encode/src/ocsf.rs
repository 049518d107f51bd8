//! `encoding: ocsf`: OCSF 1.7.0 events (every class used here is unchanged in
//! 1.8.0). Mapping (also in docs/encodings.md):
//!
//! | onetrail category | OCSF class (uid) | activity_id |
//! |---|---|---|
//! | `read`, `dml`, `ddl`, `function`, `session`, `admin`, `other`, `unparsed` | Datastore Activity (6005) | see [`datastore_activity`] |
//! | `auth` | Authentication (3002) | 1 Logon, 2 Logoff |
//! | `dcl` creating/altering/dropping accounts | Account Change (3001) | 1 Create, 6 Delete, 3 Password Change, 2 Enable, 5 Disable, 99 Other |
//! | `dcl` GRANT/REVOKE | User Access Management (3005) | 1 Assign Privileges, 2 Revoke Privileges, 3 Assign Role, 4 Remove Role |
//! | `dcl` other (e.g. USER MAPPING) | Account Change (3001) | 99 Other |
//! | `audit_config`, `agent` | Event Log Activity (1008) | 6 Start, 7 Stop, 10 Disable, 99 Other |
//!
//! Engine specifics (`extra`) go to `unmapped.<engine>`; the rest of the
//! native event that OCSF has no attribute for goes to `unmapped.onetrail`.

use std::net::IpAddr;

use onetrail_event::{Category, Event, Outcome};
use serde_json::{Map, Value, json};

use crate::fields::{
    DclKind, dcl_kind, dcl_target, main_object, object_name, product_name, put, vendor_name,
};

/// The OCSF schema version written to `metadata.version`.
pub const OCSF_VERSION: &str = "1.7.0";

/// (class_uid, category_uid, activity_id) of an event.
pub fn class_of(ev: &Event) -> (u32, u32, u32) {
    match ev.category {
        Category::Auth => (3002, 3, if crate::fields::is_logoff(ev) { 2 } else { 1 }),
        Category::Dcl => match dcl_kind(ev) {
            DclKind::CreateAccount => (3001, 3, 1),
            DclKind::EnableAccount => (3001, 3, 2),
            DclKind::PasswordChange => (3001, 3, 3),
            DclKind::DisableAccount => (3001, 3, 5),
            DclKind::DropAccount => (3001, 3, 6),
            DclKind::AlterAccount | DclKind::Other => (3001, 3, 99),
            DclKind::GrantPrivileges => (3005, 3, 1),
            DclKind::RevokePrivileges => (3005, 3, 2),
            DclKind::GrantRole => (3005, 3, 3),
            DclKind::RevokeRole => (3005, 3, 4),
        },
        Category::AuditConfig | Category::Agent => (1008, 1, event_log_activity(ev)),
        _ => (6005, 6, datastore_activity(ev)),
    }
}

/// Datastore Activity `activity_id`: 1 Read, 2 Update, 4 Query, 5 Write,
/// 6 Create, 7 Delete, 8 List, 0 Unknown, 99 Other.
pub fn datastore_activity(ev: &Event) -> u32 {
    let a = ev.action.to_ascii_uppercase();
    let first = a.split_whitespace().next().unwrap_or("");
    match ev.category {
        Category::Unparsed => 0,
        Category::Read if first == "COPY" => 1,
        Category::Read => 4,
        Category::Dml => match first {
            "INSERT" | "COPY" => 6,
            "UPDATE" => 2,
            "DELETE" | "TRUNCATE" => 7,
            _ => 5,
        },
        Category::Ddl => match first {
            "CREATE" => 6,
            "DROP" => 7,
            "ALTER" | "COMMENT" | "RENAME" | "REINDEX" | "CLUSTER" => 2,
            _ => 99,
        },
        _ if first == "SHOW" => 8,
        _ => 99,
    }
}

/// Event Log Activity `activity_id` for `agent` and `audit_config` events.
pub fn event_log_activity(ev: &Event) -> u32 {
    let a = ev.action.to_ascii_uppercase();
    if ev.category == Category::Agent {
        return match a.as_str() {
            "START" => 6,
            "STOP" => 7,
            _ => 99,
        };
    }
    let stmt = ev.statement.as_deref().unwrap_or("").to_ascii_lowercase();
    let value = ev
        .extra
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    if a.starts_with("NOAUDIT")
        || (stmt.contains("pgaudit.log") && (stmt.contains("'none'") || stmt.contains("= none")))
        || value == "none"
    {
        10
    } else {
        99
    }
}

fn severity(ev: &Event) -> u32 {
    match (ev.category, ev.outcome) {
        (Category::Agent, _) if ev.action == "GAP" || ev.action == "DEAD_LETTER" => 4,
        (Category::AuditConfig, _) => 3,
        (Category::Auth, Outcome::Failure) => 3,
        (_, Outcome::Failure) => 2,
        (Category::Unparsed, _) => 2,
        _ => 1,
    }
}

fn endpoint_src(ev: &Event, unmapped: &mut Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(ip) = &ev.client.ip {
        if ip.parse::<IpAddr>().is_ok() {
            m.insert("ip".into(), ip.clone().into());
        } else {
            unmapped.insert("client_ip".into(), ip.clone().into());
        }
    }
    if let Some(p) = ev.client.port {
        m.insert("port".into(), p.into());
    }
    put(&mut m, "hostname", ev.client.host.clone());
    put(&mut m, "svc_name", ev.client.application.clone());
    if m.is_empty() {
        // Required by Datastore Activity; a local (socket) client has no address.
        m.insert("name".into(), "local".into());
    }
    m
}

fn endpoint_dst(ev: &Event) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "name", ev.instance.clone());
    m.insert("svc_name".into(), ev.engine.as_str().into());
    m
}

/// The OCSF event.
pub fn encode(ev: &Event) -> Value {
    let (class_uid, category_uid, activity_id) = class_of(ev);
    let mut o = Map::new();
    let mut onetrail = Map::new();
    o.insert("class_uid".into(), class_uid.into());
    o.insert("category_uid".into(), category_uid.into());
    o.insert("activity_id".into(), activity_id.into());
    o.insert(
        "type_uid".into(),
        (class_uid as u64 * 100 + activity_id as u64).into(),
    );
    if activity_id == 99 {
        o.insert("activity_name".into(), ev.action.clone().into());
    }
    o.insert("severity_id".into(), severity(ev).into());
    o.insert("time".into(), ev.time.timestamp_millis().into());
    o.insert("timezone_offset".into(), 0.into());
    o.insert("message".into(), crate::fields::summary(ev).into());
    let (status_id, status) = match ev.outcome {
        Outcome::Success => (1, "Success"),
        Outcome::Failure => (2, "Failure"),
        Outcome::Unknown => (0, "Unknown"),
    };
    o.insert("status_id".into(), status_id.into());
    o.insert("status".into(), status.into());
    if let Some(e) = &ev.error {
        put(&mut o, "status_code", e.code.clone());
        put(&mut o, "status_detail", e.message.clone());
    }
    let mut meta = Map::new();
    meta.insert("version".into(), OCSF_VERSION.into());
    meta.insert(
        "product".into(),
        json!({"name": product_name(ev.engine), "vendor_name": vendor_name(ev.engine)}),
    );
    meta.insert("uid".into(), ev.id.clone().into());
    meta.insert("log_name".into(), ev.source.format.clone().into());
    put(&mut meta, "log_source", ev.source.path.clone());
    meta.insert("logged_time".into(), ev.time.timestamp_millis().into());
    meta.insert(
        "processed_time".into(),
        chrono::Utc::now().timestamp_millis().into(),
    );
    o.insert("metadata".into(), meta.into());

    let src = endpoint_src(ev, &mut onetrail);
    let dst = endpoint_dst(ev);
    let mut actor = Map::new();
    if let Some(u) = &ev.db_user {
        actor.insert("user".into(), json!({"name": u}));
    }
    if let Some(s) = &ev.session.id {
        actor.insert("session".into(), json!({"uid": s}));
    }
    put(&mut actor, "app_name", ev.client.application.clone());
    if let Some(a) = &ev.actor {
        // The human behind the database user.
        actor.insert("invoked_by".into(), a.name.clone().into());
    }

    match class_uid {
        6005 => {
            o.insert("actor".into(), actor.into());
            o.insert("src_endpoint".into(), src.into());
            o.insert("dst_endpoint".into(), dst.into());
            let mut db = Map::new();
            put(&mut db, "name", ev.database.clone());
            put(&mut db, "uid", ev.instance.clone());
            db.insert("type_id".into(), 1.into());
            db.insert("type".into(), "Relational".into());
            o.insert("database".into(), db.into());
            let table = main_object(ev).and_then(object_name);
            o.insert("type_id".into(), if table.is_some() { 3 } else { 1 }.into());
            if let Some(t) = table {
                o.insert("table".into(), json!({ "name": t }));
            }
            if let Some(q) = &ev.statement {
                let mut qi = Map::new();
                qi.insert("query_string".into(), q.clone().into());
                if let Some(id) = ev.session.statement_id {
                    qi.insert("uid".into(), id.to_string().into());
                }
                o.insert("query_info".into(), qi.into());
            }
        }
        3002 => {
            let user = ev.db_user.clone().unwrap_or_default();
            o.insert("user".into(), json!({ "name": user }));
            if let Some(s) = &ev.session.id {
                o.insert("session".into(), json!({"uid": s}));
            }
            o.insert("service".into(), json!({"name": product_name(ev.engine)}));
            o.insert("src_endpoint".into(), src.into());
            o.insert("dst_endpoint".into(), dst.into());
            if let Some(ip) = ev
                .client
                .ip
                .as_deref()
                .and_then(|i| i.parse::<IpAddr>().ok())
            {
                o.insert("is_remote".into(), (!ip.is_loopback()).into());
            }
            if !actor.is_empty() {
                actor.remove("user");
                if !actor.is_empty() {
                    o.insert("actor".into(), actor.into());
                }
            }
        }
        3001 | 3005 => {
            let target = dcl_target(ev).or_else(|| main_object(ev).and_then(object_name));
            let mut user = Map::new();
            put(&mut user, "name", target);
            o.insert("user".into(), user.into());
            if class_uid == 3005 {
                o.insert("privileges".into(), privileges(ev).into());
            }
            o.insert("actor".into(), actor.into());
            o.insert("src_endpoint".into(), src.into());
        }
        _ => {
            // 1008 Event Log Activity
            if !actor.is_empty() {
                o.insert("actor".into(), actor.into());
            }
            if ev.category == Category::AuditConfig {
                o.insert("src_endpoint".into(), src.into());
            }
            o.insert("dst_endpoint".into(), dst.into());
            o.insert("log_provider".into(), product_name(ev.engine).into());
            put(&mut o, "log_name", ev.source.format.clone());
        }
    }

    // Everything else, so nothing is lost.
    onetrail.insert("id".into(), ev.id.clone().into());
    onetrail.insert("engine".into(), ev.engine.as_str().into());
    onetrail.insert("category".into(), ev.category.as_str().into());
    onetrail.insert("action".into(), ev.action.clone().into());
    put(&mut onetrail, "instance", ev.instance.clone());
    put(&mut onetrail, "database", ev.database.clone());
    if !ev.objects.is_empty() {
        onetrail.insert(
            "objects".into(),
            serde_json::to_value(&ev.objects).expect("serializes"),
        );
    }
    if ev.category != Category::Auth || ev.db_user.is_none() {
        put(&mut onetrail, "db_user", ev.db_user.clone());
    }
    if let Some(a) = &ev.actor {
        onetrail.insert("actor".into(), serde_json::to_value(a).expect("serializes"));
    }
    // The statement is `query_info.query_string` in Datastore Activity; the
    // other classes have no attribute for it.
    if class_uid != 6005 {
        put(&mut onetrail, "statement", ev.statement.clone());
    }
    if let Some(r) = ev.rows {
        onetrail.insert("rows".into(), r.into());
    }
    let sess = serde_json::to_value(&ev.session).expect("serializes");
    onetrail.insert("session".into(), sess);
    onetrail.insert(
        "source".into(),
        serde_json::to_value(&ev.source).expect("serializes"),
    );
    put(&mut onetrail, "context", Value::Object(ev.context.clone()));
    put(&mut onetrail, "raw", ev.raw.clone());
    put(&mut onetrail, "parse_error", ev.parse_error.clone());
    if ev.category == Category::Agent {
        put(&mut onetrail, "extra", Value::Object(ev.extra.clone()));
    }
    let mut unmapped = Map::new();
    unmapped.insert("onetrail".into(), onetrail.into());
    if ev.category != Category::Agent && !ev.extra.is_empty() {
        unmapped.insert(ev.engine.as_str().into(), Value::Object(ev.extra.clone()));
    }
    o.insert("unmapped".into(), unmapped.into());
    Value::Object(o)
}

/// Privileges (or roles) of a GRANT/REVOKE: the words between the verb and `ON`/`TO`/`FROM`.
fn privileges(ev: &Event) -> Vec<Value> {
    let stmt = ev.statement.as_deref().unwrap_or("");
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, tok) in stmt.split_whitespace().enumerate() {
        let up = tok.to_ascii_uppercase();
        if i == 0 {
            continue; // GRANT / REVOKE
        }
        if matches!(up.as_str(), "ON" | "TO" | "FROM") {
            break;
        }
        if i == 1 && up == "GRANT" {
            continue; // REVOKE GRANT OPTION FOR ...
        }
        for (j, part) in tok.split(',').enumerate() {
            if j > 0 && !cur.trim().is_empty() {
                out.push(Value::from(cur.trim().to_string()));
                cur.clear();
            }
            if !cur.is_empty() && !part.is_empty() {
                cur.push(' ');
            }
            cur.push_str(part);
        }
    }
    if !cur.trim().is_empty() {
        out.push(Value::from(cur.trim().to_string()));
    }
    if out.is_empty() {
        out.push(Value::from(ev.action.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::ev;

    #[test]
    fn classes_and_type_uids() {
        let cases = [
            (Category::Read, "SELECT", "select 1", 6005, 4),
            (Category::Dml, "INSERT", "insert into t values (1)", 6005, 6),
            (Category::Dml, "UPDATE", "update t set a=1", 6005, 2),
            (Category::Dml, "TRUNCATE TABLE", "truncate t", 6005, 7),
            (Category::Ddl, "CREATE TABLE", "create table t()", 6005, 6),
            (Category::Ddl, "DROP TABLE", "drop table t", 6005, 7),
            (
                Category::Ddl,
                "ALTER TABLE",
                "alter table t add b int",
                6005,
                2,
            ),
            (Category::Auth, "LOGIN", "", 3002, 1),
            (Category::Auth, "LOGOUT", "", 3002, 2),
            (Category::Dcl, "CREATE ROLE", "create role bob", 3001, 1),
            (Category::Dcl, "GRANT", "grant select on t to bob", 3005, 1),
            (
                Category::AuditConfig,
                "SET",
                "set pgaudit.log = 'none'",
                1008,
                10,
            ),
            (Category::Agent, "START", "", 1008, 6),
            (Category::Unparsed, "UNPARSED", "", 6005, 0),
        ];
        for (cat, action, stmt, class, act) in cases {
            let v = encode(&ev(cat, action, stmt));
            assert_eq!(v["class_uid"], class, "{action}");
            assert_eq!(v["activity_id"], act, "{action}");
            assert_eq!(v["type_uid"], class as u64 * 100 + act as u64);
            assert_eq!(v["metadata"]["version"], OCSF_VERSION);
        }
    }

    #[test]
    fn grant_privileges_are_listed() {
        let v = encode(&ev(
            Category::Dcl,
            "GRANT",
            "GRANT SELECT, INSERT ON t TO alice",
        ));
        assert_eq!(v["privileges"], json!(["SELECT", "INSERT"]));
        assert_eq!(v["user"]["name"], "alice");
    }
}
