//! `encoding: datadog`: Datadog standard attributes at the top level, the rest
//! of the native event under `onetrail`. The Datadog sink adds the reserved
//! intake attributes (`ddsource`, `ddtags`, `hostname`, `service`).
//!
//! | Datadog attribute | from |
//! |---|---|
//! | `timestamp` (ms) | `time` |
//! | `status` | `error` for failed auth / GAP / DEAD_LETTER, `warn` for other failures and unparsed, else `info` |
//! | `message` | `statement`, else `raw`, else a one-line summary |
//! | `db.system` | `engine` |
//! | `db.instance` | `database` |
//! | `db.statement` | `statement` |
//! | `db.operation` | `action` |
//! | `db.user` | `db_user` |
//! | `db.row_count` | `rows` |
//! | `usr.name` | `actor.name`, else `db_user` |
//! | `network.client.ip` / `.port` | `client.ip` / `client.port` |
//! | `evt.name` | `authentication`, `database.query`, `database.access_control`, `database.audit_config`, `onetrail.agent`, `database.unparsed` |
//! | `evt.category` | `category` |
//! | `evt.outcome` | `outcome` (`success`/`failure`; left out when unknown) |
//! | `error.kind` / `error.message` | `error.code` / `error.message` |
//! | `onetrail.*` | every other native key (`id`, `engine`, `instance`, `objects`, `session`, `client`, `context`, `source`, `extra`, `raw`, `parse_error`, ...) |

use onetrail_event::{Category, Event, Outcome};
use serde_json::{Map, Value};

use crate::fields::put;

pub fn encode(ev: &Event) -> Value {
    let mut o = Map::new();
    o.insert("timestamp".into(), ev.time.timestamp_millis().into());
    o.insert("status".into(), status(ev).into());
    o.insert("message".into(), message(ev).into());
    let mut db = Map::new();
    db.insert("system".into(), ev.engine.as_str().into());
    put(&mut db, "instance", ev.database.clone());
    put(&mut db, "statement", ev.statement.clone());
    put(&mut db, "operation", ev.action.clone());
    put(&mut db, "user", ev.db_user.clone());
    if let Some(r) = ev.rows {
        db.insert("row_count".into(), r.into());
    }
    o.insert("db".into(), db.into());
    let usr = ev
        .actor
        .as_ref()
        .map(|a| a.name.clone())
        .or_else(|| ev.db_user.clone());
    if let Some(u) = usr {
        let mut m = Map::new();
        m.insert("name".into(), u.into());
        o.insert("usr".into(), m.into());
    }
    let mut client = Map::new();
    put(&mut client, "ip", ev.client.ip.clone());
    if let Some(p) = ev.client.port {
        client.insert("port".into(), p.into());
    }
    if !client.is_empty() {
        let mut n = Map::new();
        n.insert("client".into(), client.into());
        o.insert("network".into(), n.into());
    }
    let mut evt = Map::new();
    evt.insert("name".into(), evt_name(ev).into());
    evt.insert("category".into(), ev.category.as_str().into());
    match ev.outcome {
        Outcome::Success => evt.insert("outcome".into(), "success".into()),
        Outcome::Failure => evt.insert("outcome".into(), "failure".into()),
        Outcome::Unknown => None,
    };
    o.insert("evt".into(), evt.into());
    if let Some(e) = &ev.error {
        let mut m = Map::new();
        put(&mut m, "kind", e.code.clone());
        put(&mut m, "message", e.message.clone());
        put(&mut o, "error", Value::Object(m));
    }
    // The rest of the native event.
    let mut rest = match serde_json::to_value(ev).expect("events always serialize") {
        Value::Object(m) => m,
        _ => unreachable!("an event is an object"),
    };
    for k in ["time", "statement", "db_user", "rows", "error", "outcome"] {
        rest.remove(k);
    }
    o.insert("onetrail".into(), rest.into());
    Value::Object(o)
}

/// `evt.name`: a shared name per kind of activity.
pub fn evt_name(ev: &Event) -> &'static str {
    match ev.category {
        Category::Auth => "authentication",
        Category::Dcl => "database.access_control",
        Category::AuditConfig => "database.audit_config",
        Category::Agent => "onetrail.agent",
        Category::Unparsed => "database.unparsed",
        _ => "database.query",
    }
}

/// Datadog `status` (log level).
pub fn status(ev: &Event) -> &'static str {
    match (ev.category, ev.outcome) {
        (Category::Agent, _) if ev.action == "GAP" || ev.action == "DEAD_LETTER" => "error",
        (Category::Auth, Outcome::Failure) => "error",
        (_, Outcome::Failure) | (Category::Unparsed, _) | (Category::AuditConfig, _) => "warn",
        _ => "info",
    }
}

/// Datadog `message`: the statement, else the raw record, else a summary.
pub fn message(ev: &Event) -> String {
    ev.statement
        .clone()
        .or_else(|| ev.raw.clone())
        .unwrap_or_else(|| crate::fields::summary(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::ev;

    #[test]
    fn standard_attributes() {
        let mut e = ev(Category::Read, "SELECT", "select 1");
        e.db_user = Some("app".into());
        e.database = Some("orders".into());
        e.client.ip = Some("10.0.0.7".into());
        e.client.port = Some(5000);
        e.outcome = Outcome::Success;
        let v = encode(&e);
        assert_eq!(v["db"]["statement"], "select 1");
        assert_eq!(v["db"]["instance"], "orders");
        assert_eq!(v["db"]["operation"], "SELECT");
        assert_eq!(v["db"]["user"], "app");
        assert_eq!(v["usr"]["name"], "app");
        assert_eq!(v["network"]["client"]["ip"], "10.0.0.7");
        assert_eq!(v["evt"]["name"], "database.query");
        assert_eq!(v["evt"]["outcome"], "success");
        assert_eq!(v["timestamp"], e.time.timestamp_millis());
        assert_eq!(v["onetrail"]["id"], e.id.as_str());
        assert!(v["onetrail"].get("statement").is_none());
    }

    #[test]
    fn agent_alerts_are_errors() {
        for action in ["GAP", "DEAD_LETTER"] {
            let e = ev(Category::Agent, action, "");
            assert_eq!(status(&e), "error", "{action}");
        }
        assert_eq!(status(&ev(Category::Agent, "START", "")), "info");
    }
}
