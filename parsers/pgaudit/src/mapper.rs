//! [`ServerMessage`] → [`Event`], with the two pieces of per-backend state
//! the mapping needs.
//!
//! **Held AUDIT events.** pgaudit logs a statement before it runs, so the
//! outcome is only known from what the same backend (pid) logs next. The
//! events of the backend's current statement (one statement id; several
//! substatements or object lines share it) are held back:
//! - an `ERROR`/`FATAL`/`PANIC` of the same pid that is about the held
//!   statement (its `STATEMENT:` text is the held text; without one, only for
//!   FUNCTION-class records such as DO blocks, which pgaudit logs before they
//!   run) marks them `failure` with the error's SQLSTATE and message, and
//!   yields no event itself; any other error releases them as `success` and
//!   becomes its own `failure` event (SELECT/DML failing in the executor have
//!   no AUDIT line at all);
//! - an AUDIT record of another statement, or a `LOG` line of the same pid
//!   (the statement is over), releases them as `success`;
//! - `NOTICE`/`WARNING`/`INFO`/`DEBUG` lines (raised while the statement
//!   runs) leave them held;
//! - `release_held`, and eviction when more than [`MAX_HELD`] backends are
//!   held, emit them with outcome `unknown`.
//!
//! Records with no backend key (a stderr prefix with neither `%p` nor `%c`)
//! are not held: their events are emitted at once with outcome `unknown`.
//!
//! **Connection details.** `connection received` / `connection authenticated`
//! / `connection authorized` lines are remembered per pid (at most
//! [`MAX_CONNECTIONS`], oldest evicted) to enrich the login event and every
//! later event of the backend whose prefix lacks user, database, client or
//! application; `disconnection` forgets the pid.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use chrono::DateTime;
use onetrail_event::{Category, Client, DbObject, Engine, ErrorInfo, Event, Outcome, RecordPos};
use serde_json::{Map, Value};

use crate::classify::{classify_audit, classify_statement, statement_action};
use crate::message::ServerMessage;
use crate::payload::{PLACEHOLDERS, PgauditRecord, parameters_json, parse_payload};

/// Most backends with held events at once.
pub const MAX_HELD: usize = 4096;
/// Most events held for one statement (object logging can emit many).
pub const MAX_HELD_PER_STATEMENT: usize = 256;
/// Most remembered connections.
pub const MAX_CONNECTIONS: usize = 4096;

#[derive(Debug, Default, Clone)]
struct Connection {
    seq: u64,
    host: Option<String>,
    port: Option<u16>,
    identity: Option<String>,
    method: Option<String>,
    user: Option<String>,
    database: Option<String>,
    application: Option<String>,
}

#[derive(Debug)]
struct HeldStatement {
    offset: u64,
    statement_id: i64,
    events: Vec<Event>,
}

#[derive(Debug)]
pub struct Mapper {
    forward_other: bool,
    /// Hold AUDIT events until the backend's next record shows the outcome.
    /// Off for pgauditlogtofile files, which never contain the errors.
    track_outcome: bool,
    conns: HashMap<u32, Connection>,
    conn_seq: u64,
    held: HashMap<u32, HeldStatement>,
    /// (offset of the first held record, pid), to find the oldest quickly.
    held_order: BTreeSet<(u64, u32)>,
    /// Emptied event vectors of released groups, reused by the next `hold`
    /// (one allocation less per held statement).
    spare: Vec<Vec<Event>>,
}

fn severity_is_error(sev: &str) -> bool {
    matches!(sev, "ERROR" | "FATAL" | "PANIC")
}

/// Severities logged while a statement is still running.
fn severity_is_in_flight(sev: &str) -> bool {
    matches!(
        sev,
        "NOTICE"
            | "WARNING"
            | "INFO"
            | "DEBUG"
            | "DETAIL"
            | "HINT"
            | "QUERY"
            | "CONTEXT"
            | "LOCATION"
            | "STATEMENT"
    )
}

fn s(v: &Option<Cow<'_, str>>) -> Option<String> {
    v.as_deref().map(str::to_string)
}

fn client_from(host: Option<&str>, port: Option<u16>) -> Client {
    let mut c = Client {
        port,
        ..Client::default()
    };
    if let Some(h) = host {
        c.set_address(h);
    }
    c
}

/// `name="value"` or `name=value` token value in a core log message.
fn kv<'m>(msg: &'m str, key: &str) -> Option<&'m str> {
    let mut from = 0;
    while let Some(p) = msg[from..].find(key) {
        let at = from + p;
        let boundary = at == 0 || msg.as_bytes()[at - 1] == b' ';
        let after = &msg[at + key.len()..];
        if boundary && let Some(v) = after.strip_prefix('=') {
            if let Some(q) = v.strip_prefix('"') {
                return q.find('"').map(|e| &q[..e]);
            }
            let end = v.find(' ').unwrap_or(v.len());
            return Some(&v[..end]);
        }
        from = at + key.len();
    }
    None
}

/// The first `"quoted"` value after `marker` in `msg`.
fn quoted_after<'m>(msg: &'m str, marker: &str) -> Option<&'m str> {
    let rest = &msg[msg.find(marker)? + marker.len()..];
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// Split `schema.name` at the first dot outside quotes and parentheses.
fn split_object_name(name: &str) -> (Option<String>, String) {
    let mut in_quotes = false;
    let mut depth = 0i32;
    for (i, c) in name.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '(' if !in_quotes => depth += 1,
            ')' if !in_quotes => depth -= 1,
            '.' if !in_quotes && depth == 0 => {
                return (
                    Some(unquote_ident(&name[..i])),
                    unquote_ident(&name[i + 1..]),
                );
            }
            _ => {}
        }
    }
    (None, unquote_ident(name))
}

/// `"My Table"` → `My Table`; anything not a single quoted identifier is kept.
fn unquote_ident(s: &str) -> String {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let inner = &s[1..s.len() - 1];
        if !inner.replace("\"\"", "").contains('"') {
            return inner.replace("\"\"", "\"");
        }
    }
    s.to_string()
}

impl Mapper {
    pub fn new(forward_other: bool, track_outcome: bool) -> Mapper {
        Mapper {
            forward_other,
            track_outcome,
            conns: HashMap::new(),
            conn_seq: 0,
            held: HashMap::new(),
            held_order: BTreeSet::new(),
            spare: Vec::new(),
        }
    }

    pub fn held_since(&self) -> Option<u64> {
        self.held_order.first().map(|&(o, _)| o)
    }

    pub fn release_held(&mut self, out: &mut Vec<Event>) {
        let order = std::mem::take(&mut self.held_order);
        for (_, pid) in order {
            if let Some(h) = self.held.remove(&pid) {
                out.extend(h.events);
            }
        }
    }

    fn release_pid(
        &mut self,
        pid: u32,
        outcome: Outcome,
        error: Option<&ErrorInfo>,
        out: &mut Vec<Event>,
    ) {
        if let Some(mut h) = self.held.remove(&pid) {
            self.held_order.remove(&(h.offset, pid));
            for mut ev in h.events.drain(..) {
                ev.outcome = outcome;
                ev.error = error.cloned();
                out.push(ev);
            }
            if self.spare.len() < 64 {
                self.spare.push(h.events);
            }
        }
    }

    fn hold(&mut self, pid: u32, statement_id: i64, offset: u64, ev: Event, out: &mut Vec<Event>) {
        if let Some(h) = self.held.get_mut(&pid)
            && h.statement_id == statement_id
            && h.events.len() < MAX_HELD_PER_STATEMENT
        {
            h.events.push(ev);
            return;
        }
        if self.held.contains_key(&pid) {
            // Same statement id but the group is full: the earlier events go
            // out without an outcome; a new statement: the old one succeeded.
            let same = self.held[&pid].statement_id == statement_id;
            let outcome = if same {
                Outcome::Unknown
            } else {
                Outcome::Success
            };
            self.release_pid(pid, outcome, None, out);
        }
        while self.held.len() >= MAX_HELD {
            let Some(&(_, oldest)) = self.held_order.first() else {
                break;
            };
            self.release_pid(oldest, Outcome::Unknown, None, out);
        }
        self.held_order.insert((offset, pid));
        let mut events = self.spare.pop().unwrap_or_default();
        events.push(ev);
        self.held.insert(
            pid,
            HeldStatement {
                offset,
                statement_id,
                events,
            },
        );
    }

    /// Map one message. `raw` is the record's bytes (for `unparsed` events).
    pub fn map(
        &mut self,
        msg: &ServerMessage<'_>,
        pos: &RecordPos<'_>,
        raw: &[u8],
        out: &mut Vec<Event>,
    ) {
        if let Some(payload) = &msg.audit {
            self.map_audit(msg, payload, pos, raw, out);
            return;
        }
        let sev = msg.severity.as_ref();
        if severity_is_error(sev) {
            if let Some(pid) = msg.pid
                && self.held.contains_key(&pid)
            {
                if self.error_is_about_held(pid, msg) {
                    let err = self.error_info(msg);
                    self.release_pid(pid, Outcome::Failure, Some(&err), out);
                    return;
                }
                // The error belongs to a later statement that pgaudit never
                // logged (SELECT/DML failing in the executor have no AUDIT
                // line): the held statement had finished, successfully.
                self.release_pid(pid, Outcome::Success, None, out);
            }
            self.map_error(msg, pos, out);
            return;
        }
        if let Some(pid) = msg.pid
            && !severity_is_in_flight(sev)
        {
            self.release_pid(pid, Outcome::Success, None, out);
        }
        self.map_server_line(msg, pos, out);
    }

    /// Whether an ERROR of backend `pid` is the failure of its held statement.
    /// With a `STATEMENT:` line: when its text is the text of one of the held
    /// events (DO blocks log their own text first, then their sub-statements).
    /// Without one (or when the held texts were not logged): only for
    /// FUNCTION-class records (DO, function calls), the statements pgaudit
    /// logs *before* they run; SELECT/DML are logged after they finished and
    /// utility statements after they succeeded.
    fn error_is_about_held(&self, pid: u32, msg: &ServerMessage<'_>) -> bool {
        let Some(h) = self.held.get(&pid) else {
            return false;
        };
        let texts: Vec<&str> = h
            .events
            .iter()
            .filter_map(|e| e.statement.as_deref())
            .map(normalize_statement)
            .collect();
        if let Some(stmt) = msg.statement.as_deref()
            && !texts.is_empty()
        {
            let stmt = normalize_statement(stmt);
            return texts.contains(&stmt);
        }
        h.events.iter().any(|e| {
            e.extra
                .get("pgaudit")
                .and_then(|p| p.get("class"))
                .and_then(|c| c.as_str())
                == Some("FUNCTION")
        })
    }

    fn error_info(&self, msg: &ServerMessage<'_>) -> ErrorInfo {
        ErrorInfo {
            code: s(&msg.sqlstate).or_else(|| auth_failure_code(&msg.message).map(str::to_string)),
            message: Some(msg.message.to_string()),
        }
    }

    /// An event with the fields every PostgreSQL event shares.
    fn base_event(&self, msg: &ServerMessage<'_>, pos: &RecordPos<'_>) -> Event {
        let time = msg.time.at.unwrap_or(DateTime::UNIX_EPOCH);
        let mut ev = Event::new(Engine::Postgresql, time, pos, 0);
        let conn = msg.pid.and_then(|p| self.conns.get(&p));
        ev.db_user = s(&msg.user).or_else(|| conn.and_then(|c| c.user.clone()));
        ev.database = s(&msg.database).or_else(|| conn.and_then(|c| c.database.clone()));
        ev.client = match (&msg.remote_host, conn) {
            (Some(h), _) => client_from(Some(h), msg.remote_port),
            (None, Some(c)) => client_from(c.host.as_deref(), c.port),
            (None, None) => Client::default(),
        };
        ev.client.application =
            s(&msg.application).or_else(|| conn.and_then(|c| c.application.clone()));
        ev.session.id = s(&msg.session_id).or_else(|| msg.pid.map(|p| p.to_string()));
        let x = &mut ev.extra;
        if let Some(p) = msg.pid {
            x.insert("pid".into(), p.into());
        }
        x.insert("severity".into(), msg.severity.as_ref().into());
        if let Some(v) = &msg.sqlstate {
            x.insert("sqlstate".into(), v.as_ref().into());
        }
        if let Some(v) = &msg.backend_type {
            x.insert("backend_type".into(), v.as_ref().into());
        }
        if let Some(v) = msg.query_id {
            x.insert("query_id".into(), v.into());
        }
        if let Some(v) = &msg.vxid {
            x.insert("vxid".into(), v.as_ref().into());
        }
        if let Some(v) = msg.txid {
            x.insert("txid".into(), v.into());
        }
        if let Some(v) = msg.session_line {
            x.insert("session_line".into(), v.into());
        }
        if let Some(v) = msg.leader_pid {
            x.insert("leader_pid".into(), v.into());
        }
        if let Some(v) = &msg.command_tag {
            x.insert("command_tag".into(), v.as_ref().into());
        }
        if let Some(z) = msg.time.unresolved_zone {
            x.insert("time_zone_unresolved".into(), z.into());
        }
        if msg.time.at.is_none() {
            x.insert("time_missing".into(), true.into());
            if let Some(t) = msg.time.invalid {
                x.insert("time_invalid".into(), t.into());
            }
        }
        ev
    }

    fn map_audit(
        &mut self,
        msg: &ServerMessage<'_>,
        payload: &str,
        pos: &RecordPos<'_>,
        raw: &[u8],
        out: &mut Vec<Event>,
    ) {
        let rec = match parse_payload(payload) {
            Ok(r) => r,
            Err(e) => {
                if let Some(pid) = msg.pid {
                    self.release_pid(pid, Outcome::Success, None, out);
                }
                let base = self.base_event(msg, pos);
                let mut ev = Event::unparsed(Engine::Postgresql, base.time, pos, raw, e);
                ev.extra = base.extra;
                out.push(ev);
                return;
            }
        };
        let ev = self.audit_event(msg, &rec, pos);
        match msg.pid {
            Some(pid) if self.track_outcome => {
                self.hold(pid, rec.statement_id, pos.offset, ev, out)
            }
            _ => out.push(ev),
        }
    }

    fn audit_event(
        &self,
        msg: &ServerMessage<'_>,
        rec: &PgauditRecord<'_>,
        pos: &RecordPos<'_>,
    ) -> Event {
        let mut ev = self.base_event(msg, pos);
        ev.category = classify_audit(&rec.class, &rec.command, &rec.statement);
        ev.action = rec.command.to_ascii_uppercase();
        if !rec.object_type.is_empty() || !rec.object_name.is_empty() {
            let (schema, name) = if rec.object_name.is_empty() {
                (None, None)
            } else {
                let (s, n) = split_object_name(&rec.object_name);
                (s, Some(n))
            };
            ev.objects.push(DbObject {
                kind: (!rec.object_type.is_empty())
                    .then(|| rec.object_type.to_ascii_lowercase().replace(' ', "_")),
                schema,
                name,
            });
        }
        let mut pg = Map::new();
        pg.insert("audit_type".into(), rec.audit_type.as_ref().into());
        pg.insert("class".into(), rec.class.as_ref().into());
        if !rec.object_type.is_empty() {
            pg.insert("object_type".into(), rec.object_type.as_ref().into());
        }
        if PLACEHOLDERS.contains(&rec.statement.as_ref()) {
            pg.insert(
                "statement_placeholder".into(),
                rec.statement.as_ref().into(),
            );
        } else {
            ev.statement = Some(rec.statement.to_string());
        }
        pg.insert("parameters".into(), parameters_json(&rec.parameter));
        ev.extra.insert("pgaudit".into(), Value::Object(pg));
        ev.rows = rec.rows;
        ev.session.statement_id = Some(rec.statement_id);
        ev.session.substatement_id = Some(rec.substatement_id);
        ev
    }

    fn map_error(&mut self, msg: &ServerMessage<'_>, pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let err = self.error_info(msg);
        if msg.severity == "FATAL"
            && let Some(mut ev) = self.login_failure(msg, pos)
        {
            ev.error = Some(err);
            out.push(ev);
            return;
        }
        if let Some(stmt) = msg.statement.as_deref() {
            let mut ev = self.base_event(msg, pos);
            ev.category = classify_statement("", stmt);
            ev.action = statement_action(stmt);
            if ev.action.is_empty() {
                ev.action = msg.severity.to_string();
            }
            ev.outcome = Outcome::Failure;
            ev.error = Some(err);
            ev.statement = Some(stmt.to_string());
            self.add_secondary(msg, &mut ev.extra, false);
            out.push(ev);
            return;
        }
        if self.forward_other {
            let mut ev = self.other_event(msg, pos);
            ev.outcome = Outcome::Failure;
            ev.error = Some(err);
            out.push(ev);
        }
    }

    fn login_failure(&self, msg: &ServerMessage<'_>, pos: &RecordPos<'_>) -> Option<Event> {
        let m = msg.message.as_ref();
        let code = msg.sqlstate.as_deref();
        let known = auth_failure_code(m).is_some();
        if !known && !code.is_some_and(|c| c.starts_with("28")) {
            return None;
        }
        let mut ev = self.base_event(msg, pos);
        ev.category = Category::Auth;
        ev.action = "LOGIN FAILED".into();
        ev.outcome = Outcome::Failure;
        let attempted = quoted_after(m, "for user ")
            .or_else(|| quoted_after(m, "user "))
            .or_else(|| m.strip_prefix("role ").and_then(|r| quoted_after(r, "")));
        if let Some(u) = attempted {
            ev.db_user = Some(u.to_string());
        }
        if let Some(d) = quoted_after(m, "database ") {
            ev.database = Some(d.to_string());
        }
        if ev.client.ip.is_none()
            && ev.client.host.is_none()
            && let Some(h) = quoted_after(m, "host ")
        {
            let c = client_from(Some(h), None);
            ev.client.ip = c.ip;
            ev.client.host = c.host;
        }
        self.add_secondary(msg, &mut ev.extra, true);
        Some(ev)
    }

    fn add_secondary(
        &self,
        msg: &ServerMessage<'_>,
        x: &mut Map<String, Value>,
        with_statement: bool,
    ) {
        for (k, v) in [
            ("detail", &msg.detail),
            ("hint", &msg.hint),
            ("context", &msg.context),
            ("internal_query", &msg.internal_query),
            ("location", &msg.location),
        ] {
            if let Some(v) = v {
                x.insert(k.into(), v.as_ref().into());
            }
        }
        if with_statement && let Some(v) = &msg.statement {
            x.insert("statement".into(), v.as_ref().into());
        }
        if let Some(id) = msg.pid.and_then(|p| self.conns.get(&p)) {
            if let Some(i) = &id.identity {
                x.insert("auth_identity".into(), i.as_str().into());
            }
            if let Some(m) = &id.method {
                x.insert("auth_method".into(), m.as_str().into());
            }
        }
    }

    fn other_event(&self, msg: &ServerMessage<'_>, pos: &RecordPos<'_>) -> Event {
        let mut ev = self.base_event(msg, pos);
        ev.category = Category::Other;
        ev.action = msg.severity.to_string();
        ev.extra
            .insert("message".into(), msg.message.as_ref().into());
        self.add_secondary(msg, &mut ev.extra, true);
        ev
    }

    fn conn_entry(&mut self, pid: u32) -> &mut Connection {
        if !self.conns.contains_key(&pid)
            && self.conns.len() >= MAX_CONNECTIONS
            && let Some((&oldest, _)) = self.conns.iter().min_by_key(|(_, c)| c.seq)
        {
            self.conns.remove(&oldest);
        }
        self.conn_seq += 1;
        let seq = self.conn_seq;
        let c = self.conns.entry(pid).or_default();
        c.seq = seq;
        c
    }

    fn map_server_line(
        &mut self,
        msg: &ServerMessage<'_>,
        pos: &RecordPos<'_>,
        out: &mut Vec<Event>,
    ) {
        let m = msg.message.as_ref();
        if let Some(rest) = m.strip_prefix("connection received: ") {
            if let Some(pid) = msg.pid {
                let host = kv(rest, "host").map(str::to_string);
                let port = kv(rest, "port").and_then(|p| p.parse().ok());
                let c = self.conn_entry(pid);
                *c = Connection {
                    seq: c.seq,
                    host,
                    port,
                    ..Connection::default()
                };
                return;
            }
        } else if let Some(rest) = m.strip_prefix("connection authenticated: ") {
            if let Some(pid) = msg.pid {
                let identity = kv(rest, "identity").map(str::to_string);
                let method = kv(rest, "method").map(str::to_string);
                let c = self.conn_entry(pid);
                c.identity = identity;
                c.method = method;
                return;
            }
        } else if let Some(rest) = m
            .strip_prefix("connection authorized: ")
            .or_else(|| m.strip_prefix("replication connection authorized: "))
        {
            if let Some(pid) = msg.pid {
                let user = kv(rest, "user")
                    .map(str::to_string)
                    .or_else(|| s(&msg.user));
                let database = kv(rest, "database")
                    .map(str::to_string)
                    .or_else(|| s(&msg.database));
                let application = kv(rest, "application_name")
                    .map(str::to_string)
                    .or_else(|| s(&msg.application));
                let c = self.conn_entry(pid);
                c.user = user;
                c.database = database;
                c.application = application;
            }
            let mut ev = self.base_event(msg, pos);
            ev.category = Category::Auth;
            ev.action = "LOGIN".into();
            ev.outcome = Outcome::Success;
            if let Some(u) = kv(rest, "user") {
                ev.db_user = Some(u.to_string());
            }
            if let Some(d) = kv(rest, "database") {
                ev.database = Some(d.to_string());
            }
            if let Some(a) = kv(rest, "application_name") {
                ev.client.application = Some(a.to_string());
            }
            if m.starts_with("replication ") {
                ev.extra.insert("replication".into(), true.into());
            }
            if rest.contains("SSL enabled") {
                ev.extra.insert("ssl".into(), true.into());
            }
            if rest.contains("GSS ") {
                ev.extra.insert("gss".into(), true.into());
            }
            self.add_secondary(msg, &mut ev.extra, false);
            out.push(ev);
            return;
        } else if let Some(rest) = m.strip_prefix("disconnection: ") {
            let mut ev = self.base_event(msg, pos);
            ev.category = Category::Auth;
            ev.action = "LOGOUT".into();
            ev.outcome = Outcome::Success;
            if let Some(t) = rest
                .strip_prefix("session time: ")
                .map(|t| &t[..t.find(' ').unwrap_or(t.len())])
            {
                ev.extra.insert("session_time".into(), t.into());
            }
            if let Some(u) = kv(rest, "user") {
                ev.db_user = Some(u.to_string());
            }
            if let Some(d) = kv(rest, "database") {
                ev.database = Some(d.to_string());
            }
            if let Some(h) = kv(rest, "host") {
                let port = kv(rest, "port")
                    .and_then(|p| p.parse().ok())
                    .or(ev.client.port);
                let app = ev.client.application.take();
                ev.client = client_from(Some(h), port);
                ev.client.application = app;
            }
            self.add_secondary(msg, &mut ev.extra, false);
            if let Some(pid) = msg.pid {
                self.conns.remove(&pid);
            }
            out.push(ev);
            return;
        } else if let Some(rest) = m.strip_prefix("parameter \"pgaudit.") {
            // `parameter "pgaudit.log" changed to "ddl"` (after a reload).
            if let Some((name, after)) = rest.split_once('"') {
                let mut ev = self.base_event(msg, pos);
                ev.category = Category::AuditConfig;
                ev.action = "SET PARAMETER".into();
                ev.outcome = Outcome::Success;
                ev.extra
                    .insert("parameter".into(), format!("pgaudit.{name}").into());
                if let Some(v) = quoted_after(after, "changed to ") {
                    ev.extra.insert("value".into(), v.into());
                } else if after.contains("removed from configuration file") {
                    ev.extra.insert("value".into(), Value::Null);
                    ev.extra.insert("message".into(), m.into());
                }
                out.push(ev);
                return;
            }
        } else if m == "pgaudit extension initialized"
            || m == "pgauditlogtofile extension initialized"
        {
            let mut ev = self.base_event(msg, pos);
            ev.category = Category::AuditConfig;
            ev.action = "AUDIT INITIALIZED".into();
            ev.outcome = Outcome::Success;
            ev.extra.insert("message".into(), m.into());
            out.push(ev);
            return;
        }
        if self.forward_other {
            out.push(self.other_event(msg, pos));
        }
    }
}

/// SQLSTATE of a login failure, from the message text (for stderr lines
/// without `%e`).
pub fn auth_failure_code(message: &str) -> Option<&'static str> {
    if message.starts_with("password authentication failed for user") {
        Some("28P01")
    } else if message.starts_with("no pg_hba.conf entry")
        || message.starts_with("pg_hba.conf rejects connection")
        || (message.starts_with("role \"") && message.ends_with("\" does not exist"))
        || (message.contains("authentication failed for user"))
        || message.starts_with("role \"") && message.ends_with("is not permitted to log in")
    {
        Some("28000")
    } else if message.starts_with("database \"") && message.ends_with("\" does not exist") {
        Some("3D000")
    } else {
        None
    }
}

/// Statement text as pgaudit 17+ logs it: no surrounding whitespace, no trailing `;`.
fn normalize_statement(s: &str) -> &str {
    s.trim().trim_end_matches(';').trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        assert_eq!(
            split_object_name("public.account"),
            (Some("public".into()), "account".into())
        );
        assert_eq!(
            split_object_name("public.int_add(integer,integer)"),
            (Some("public".into()), "int_add(integer,integer)".into())
        );
        assert_eq!(
            split_object_name("\"My Schema\".\"t.1\""),
            (Some("My Schema".into()), "t.1".into())
        );
        assert_eq!(
            split_object_name("regress_user1"),
            (None, "regress_user1".into())
        );
        assert_eq!(
            split_object_name("public.f(public.t)"),
            (Some("public".into()), "f(public.t)".into())
        );
    }

    #[test]
    fn kv_values() {
        let m = "user=bob database=app application_name=psql SSL enabled (protocol=TLSv1.3)";
        assert_eq!(kv(m, "user"), Some("bob"));
        assert_eq!(kv(m, "database"), Some("app"));
        assert_eq!(kv(m, "application_name"), Some("psql"));
        assert_eq!(
            kv("identity=\"alice smith\" method=scram", "identity"),
            Some("alice smith")
        );
        assert_eq!(kv(m, "name"), None);
    }

    #[test]
    fn auth_codes() {
        assert_eq!(
            auth_failure_code("password authentication failed for user \"bob\""),
            Some("28P01")
        );
        assert_eq!(
            auth_failure_code(
                "no pg_hba.conf entry for host \"1.2.3.4\", user \"u\", database \"d\", SSL off"
            ),
            Some("28000")
        );
        assert_eq!(
            auth_failure_code("role \"x\" does not exist"),
            Some("28000")
        );
        assert_eq!(
            auth_failure_code("database \"x\" does not exist"),
            Some("3D000")
        );
        assert_eq!(
            auth_failure_code("terminating connection due to administrator command"),
            None
        );
    }
}
