//! The record model shared by MySQL Enterprise Audit XML and the Percona
//! `audit_log` formats (XML old/new, JSON, CSV): a flat set of named fields
//! (`NAME`, `RECORD`/`RECORD_ID`, `TIMESTAMP`, `COMMAND_CLASS`, `CONNECTION_ID`,
//! `STATUS`, `SQLTEXT`, `USER`, `PRIV_USER`, `OS_LOGIN`/`OS_USER`,
//! `PROXY_USER`, `HOST`, `IP`, `DB`, ...), turned into one [`Event`].

use std::borrow::Cow;

use onetrail_event::{Category, DbObject, Engine, Event, Outcome, RecordPos};
use serde_json::Value;

use crate::classify::{classify_sql_command, classify_statement};
use crate::common::{self, Clock, opt_s, split_composite_user};

/// Field values of one record; `None` = field absent.
#[derive(Debug, Default)]
pub(crate) struct Fields<'a> {
    pub name: Option<Cow<'a, str>>,
    pub record_id: Option<Cow<'a, str>>,
    pub timestamp: Option<Cow<'a, str>>,
    pub command_class: Option<Cow<'a, str>>,
    pub connection_id: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
    pub status_code: Option<Cow<'a, str>>,
    pub sqltext: Option<Cow<'a, str>>,
    pub user: Option<Cow<'a, str>>,
    pub priv_user: Option<Cow<'a, str>>,
    pub os_login: Option<Cow<'a, str>>,
    pub proxy_user: Option<Cow<'a, str>>,
    pub host: Option<Cow<'a, str>>,
    pub ip: Option<Cow<'a, str>>,
    pub db: Option<Cow<'a, str>>,
    pub table: Option<Cow<'a, str>>,
    pub connection_type: Option<Cow<'a, str>>,
    pub server_id: Option<Cow<'a, str>>,
    pub version: Option<Cow<'a, str>>,
    pub mysql_version: Option<Cow<'a, str>>,
    pub os_version: Option<Cow<'a, str>>,
    pub startup_options: Option<Cow<'a, str>>,
    pub message: Option<Cow<'a, str>>,
    pub component: Option<Cow<'a, str>>,
    pub producer: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    /// Assign by (upper- or lower-case) field name; unknown names are ignored.
    pub fn set(&mut self, name: &[u8], v: Cow<'a, str>) {
        let slot = match name.to_ascii_uppercase().as_slice() {
            b"NAME" => &mut self.name,
            b"RECORD" | b"RECORD_ID" => &mut self.record_id,
            b"TIMESTAMP" => &mut self.timestamp,
            b"COMMAND_CLASS" => &mut self.command_class,
            b"CONNECTION_ID" => &mut self.connection_id,
            b"STATUS" => &mut self.status,
            b"STATUS_CODE" => &mut self.status_code,
            b"SQLTEXT" => &mut self.sqltext,
            b"USER" => &mut self.user,
            b"PRIV_USER" => &mut self.priv_user,
            b"OS_LOGIN" | b"OS_USER" => &mut self.os_login,
            b"PROXY_USER" => &mut self.proxy_user,
            b"HOST" => &mut self.host,
            b"IP" => &mut self.ip,
            b"DB" => &mut self.db,
            b"TABLE" => &mut self.table,
            b"CONNECTION_TYPE" => &mut self.connection_type,
            b"SERVER_ID" => &mut self.server_id,
            b"VERSION" => &mut self.version,
            b"MYSQL_VERSION" => &mut self.mysql_version,
            b"OS_VERSION" => &mut self.os_version,
            b"STARTUP_OPTIONS" | b"STARTUP_OPTIONSI" => &mut self.startup_options,
            b"MESSAGE" => &mut self.message,
            b"COMPONENT" => &mut self.component,
            b"PRODUCER" => &mut self.producer,
            _ => return,
        };
        *slot = Some(v);
    }
}

fn s<'b>(f: &'b Option<Cow<'_, str>>) -> &'b str {
    f.as_deref().unwrap_or("")
}

fn put(ev: &mut Event, key: &str, f: &Option<Cow<'_, str>>) {
    if let Some(v) = f
        && !v.is_empty()
    {
        ev.extra.insert(key.into(), Value::from(v.as_ref()));
    }
}

/// Build the event for one record. `engine` is always MySQL here.
pub(crate) fn build(
    f: &Fields<'_>,
    clock: &mut Clock,
    pos: &RecordPos<'_>,
    engine: Engine,
) -> Event {
    let ts = s(&f.timestamp);
    let (t, note) = clock.resolve(ts.as_bytes(), false);
    let mut ev = Event::new(engine, t, pos, 0);
    note.apply(&mut ev.extra, ts.as_bytes());

    let name = s(&f.name);
    let status: Option<i64> = f.status.as_deref().and_then(|v| v.trim().parse().ok());
    let (user, priv_from_user) = split_composite_user(s(&f.user));
    ev.db_user = opt_s(user);
    ev.database = opt_s(s(&f.db));
    let host = s(&f.host);
    let ip = s(&f.ip);
    if !ip.is_empty() {
        ev.client.ip = Some(ip.to_string());
    }
    if !host.is_empty() && host != ip {
        ev.client.host = Some(host.to_string());
    }
    if let Some(c) = f.connection_id.as_deref()
        && !c.is_empty()
    {
        ev.session.id = Some(c.to_string());
    }

    let sql = s(&f.sqltext);
    let cmd = s(&f.command_class);
    match name {
        "Connect" | "Change user" => {
            ev.category = Category::Auth;
            let failed = status.is_some_and(|v| v != 0);
            ev.action = match (name, failed) {
                ("Connect", false) => "LOGIN",
                ("Connect", true) => "LOGIN FAILED",
                _ => "CHANGE USER",
            }
            .to_string();
        }
        "Quit" => {
            ev.category = Category::Auth;
            ev.action = "LOGOUT".to_string();
        }
        "Audit" => {
            ev.category = Category::AuditConfig;
            ev.action = "AUDIT START".to_string();
        }
        "NoAudit" => {
            ev.category = Category::AuditConfig;
            ev.action = "AUDIT STOP".to_string();
        }
        "TableRead" | "TableInsert" | "TableUpdate" | "TableDelete" => {
            ev.category = if name == "TableRead" {
                Category::Read
            } else {
                Category::Dml
            };
            ev.action = name["Table".len()..].to_ascii_uppercase();
            ev.objects.push(DbObject {
                kind: Some("table".to_string()),
                schema: opt_s(s(&f.db)),
                name: opt_s(s(&f.table)),
            });
        }
        _ => {
            let (mut cat, mut action) = classify_statement(sql);
            if cat == Category::Other
                && let Some((c2, a2)) = classify_sql_command(cmd)
                && c2 != Category::Other
            {
                cat = c2;
                action = a2;
            }
            if action.is_empty() {
                action = name.to_ascii_uppercase();
            }
            ev.category = cat;
            ev.action = action;
            if !sql.is_empty() {
                ev.statement = Some(sql.to_string());
            }
            if let Some(t) = f.table.as_deref()
                && !t.is_empty()
            {
                ev.objects.push(DbObject {
                    kind: Some("table".to_string()),
                    schema: opt_s(s(&f.db)),
                    name: Some(t.to_string()),
                });
            }
        }
    }
    match status {
        Some(v) => common::set_status(&mut ev, v),
        None => ev.outcome = Outcome::Unknown,
    }
    put(&mut ev, "record_name", &f.name);
    put(&mut ev, "record_id", &f.record_id);
    put(&mut ev, "command_class", &f.command_class);
    match (priv_from_user, f.priv_user.as_deref()) {
        (_, Some(p)) if !p.is_empty() => {
            ev.extra.insert("priv_user".into(), Value::from(p));
        }
        (Some(p), _) if !p.is_empty() => {
            ev.extra.insert("priv_user".into(), Value::from(p));
        }
        _ => {}
    }
    put(&mut ev, "os_login", &f.os_login);
    put(&mut ev, "proxy_user", &f.proxy_user);
    put(&mut ev, "connection_type", &f.connection_type);
    put(&mut ev, "status_code", &f.status_code);
    put(&mut ev, "server_id", &f.server_id);
    put(&mut ev, "server_version", &f.mysql_version);
    put(&mut ev, "os_version", &f.os_version);
    put(&mut ev, "startup_options", &f.startup_options);
    put(&mut ev, "message", &f.message);
    put(&mut ev, "component", &f.component);
    put(&mut ev, "producer", &f.producer);
    if f.user.as_deref().is_some_and(|u| u != user) {
        put(&mut ev, "user_raw", &f.user);
    }
    ev
}
