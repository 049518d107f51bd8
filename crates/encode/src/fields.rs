//! What the projections share: names of engines and objects, the one-line
//! summary, the kind of a DCL statement, and the `put` that skips nulls.

use onetrail_event::{Category, DbObject, Engine, Event, Outcome};
use serde_json::{Map, Value};

/// The product name of an engine, as its vendor writes it.
pub fn product_name(e: Engine) -> &'static str {
    match e {
        Engine::Postgresql => "PostgreSQL",
        Engine::Mysql => "MySQL",
        Engine::Mariadb => "MariaDB",
        Engine::Sqlserver => "Microsoft SQL Server",
        Engine::Oracle => "Oracle Database",
    }
}

/// The vendor of an engine.
pub fn vendor_name(e: Engine) -> &'static str {
    match e {
        Engine::Postgresql => "PostgreSQL Global Development Group",
        Engine::Mysql | Engine::Oracle => "Oracle",
        Engine::Mariadb => "MariaDB Foundation",
        Engine::Sqlserver => "Microsoft",
    }
}

/// `schema.name` (or `name`) of a database object.
pub fn object_name(o: &DbObject) -> Option<String> {
    match (&o.schema, &o.name) {
        (Some(s), Some(n)) => Some(format!("{s}.{n}")),
        (None, Some(n)) => Some(n.clone()),
        _ => None,
    }
}

/// The first object that names a table-like thing (table, view, ...), or the first object.
pub fn main_object(ev: &Event) -> Option<&DbObject> {
    ev.objects
        .iter()
        .find(|o| {
            matches!(
                o.kind.as_deref().map(str::to_ascii_lowercase).as_deref(),
                Some(
                    "table" | "view" | "materialized view" | "foreign table" | "partitioned table"
                )
            )
        })
        .or_else(|| ev.objects.first())
}

/// A one-line human summary: used where a model needs a message.
pub fn summary(ev: &Event) -> String {
    let mut s = format!("{} {} {}", product_name(ev.engine), ev.category, ev.action);
    if let Some(o) = main_object(ev).and_then(object_name) {
        s.push_str(&format!(" {o}"));
    }
    if let Some(u) = &ev.db_user {
        s.push_str(&format!(" by {u}"));
    }
    match ev.outcome {
        Outcome::Success => {}
        Outcome::Failure => s.push_str(" (failed)"),
        Outcome::Unknown => {}
    }
    s
}

/// What a `dcl` event does to an account or privilege, read from its action
/// and statement. Used by the OCSF and CIM encodings alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DclKind {
    CreateAccount,
    DropAccount,
    /// ALTER ROLE/USER ... PASSWORD
    PasswordChange,
    /// ALTER ROLE/USER ... NOLOGIN / ACCOUNT LOCK
    DisableAccount,
    /// ALTER ROLE/USER ... LOGIN / ACCOUNT UNLOCK
    EnableAccount,
    AlterAccount,
    GrantPrivileges,
    RevokePrivileges,
    GrantRole,
    RevokeRole,
    Other,
}

/// Classify a `dcl` event.
pub fn dcl_kind(ev: &Event) -> DclKind {
    let action = ev.action.to_ascii_uppercase();
    let stmt = ev.statement.as_deref().unwrap_or("").to_ascii_uppercase();
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let has = |w: &str| {
        words
            .iter()
            .any(|x| x.trim_matches(|c: char| !c.is_ascii_alphanumeric()) == w)
    };
    let account = |a: &str| {
        let mut w = a.split_whitespace();
        w.next();
        matches!(w.next(), Some("ROLE" | "USER" | "LOGIN" | "GROUP")) && w.next() != Some("MAPPING")
    };
    if action.starts_with("GRANT") || action.starts_with("REVOKE") {
        // `GRANT SELECT ON t TO u` names privileges; `GRANT role TO u` a role.
        let privileges = has("ON");
        return match (action.starts_with("GRANT"), privileges) {
            (true, true) => DclKind::GrantPrivileges,
            (false, true) => DclKind::RevokePrivileges,
            (true, false) => DclKind::GrantRole,
            (false, false) => DclKind::RevokeRole,
        };
    }
    if action.starts_with("CREATE") && account(&action) {
        return DclKind::CreateAccount;
    }
    if action.starts_with("DROP") && account(&action) {
        return DclKind::DropAccount;
    }
    if action.starts_with("ALTER") && account(&action) {
        if has("PASSWORD") || has("IDENTIFIED") {
            return DclKind::PasswordChange;
        }
        if has("NOLOGIN") || (has("ACCOUNT") && has("LOCK")) {
            return DclKind::DisableAccount;
        }
        if has("LOGIN") || (has("ACCOUNT") && has("UNLOCK")) {
            return DclKind::EnableAccount;
        }
        return DclKind::AlterAccount;
    }
    DclKind::Other
}

/// The account a `dcl` statement acts on: the grantee of GRANT/REVOKE, the
/// role of CREATE/ALTER/DROP ROLE|USER. Best effort, from the statement text.
pub fn dcl_target(ev: &Event) -> Option<String> {
    let stmt = ev.statement.as_deref()?;
    let toks: Vec<&str> = stmt
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(')
        .filter(|t| !t.is_empty())
        .collect();
    let upper: Vec<String> = toks.iter().map(|t| t.to_ascii_uppercase()).collect();
    let clean = |t: &str| {
        let t = t.trim_matches('"').trim_matches('\'').trim_matches('`');
        (!t.is_empty()).then(|| t.to_string())
    };
    match dcl_kind(ev) {
        DclKind::GrantPrivileges | DclKind::GrantRole => {
            let i = upper.iter().rposition(|t| t == "TO")?;
            toks.get(i + 1).and_then(|t| clean(t))
        }
        DclKind::RevokePrivileges | DclKind::RevokeRole => {
            let i = upper.iter().rposition(|t| t == "FROM")?;
            toks.get(i + 1).and_then(|t| clean(t))
        }
        DclKind::Other => None,
        _ => {
            let i = upper
                .iter()
                .position(|t| matches!(t.as_str(), "ROLE" | "USER" | "LOGIN" | "GROUP"))?;
            let mut j = i + 1;
            if upper.get(j).map(String::as_str) == Some("IF") {
                j += 2; // IF [NOT] EXISTS
                if upper.get(j).map(String::as_str) == Some("EXISTS") {
                    j += 1;
                }
            }
            toks.get(j).and_then(|t| clean(t))
        }
    }
}

/// Whether the event is a logout / disconnect.
pub fn is_logoff(ev: &Event) -> bool {
    let a = ev.action.to_ascii_uppercase();
    ev.category == Category::Auth
        && (a.contains("LOGOUT") || a.contains("LOGOFF") || a.contains("DISCONNECT"))
}

/// Insert `v` under `k` unless it is null / empty.
pub(crate) fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    let v = v.into();
    let empty = match &v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if !empty {
        m.insert(k.to_string(), v);
    }
}
