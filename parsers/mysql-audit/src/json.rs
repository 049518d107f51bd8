//! MySQL Enterprise Audit JSON (`audit_log_format=JSON`) and Percona
//! `audit_log` JSON (`{"audit_record":{...}}`). Both format names accept both
//! shapes (Percona's `audit_log_filter` writes the Enterprise shape).
//!
//! Framing: a record is one JSON object, found by brace matching (so
//! pretty-printed objects work too), plus an optional trailing `,` and the rest
//! of its line. The array brackets `[` / `]` (the closing one only appears when
//! the server closes the file) are structural lines that produce no event.
//! A JSON string never contains a raw newline, so a newline inside a string,
//! or a `{` at column 0 while an object is still open, ends a broken record.

use std::borrow::Cow;
use std::fmt;

use onetrail_event::{Category, DbObject, Engine, Event, Flush, Outcome, RecordFormat, RecordPos};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use crate::MysqlOptions;
use crate::classify::{classify_sql_command, classify_statement};
use crate::common::{self, Clock, MAX_RECORD, opt_s};
use crate::generic::{self, Fields};

const ENGINE: Engine = Engine::Mysql;

pub struct JsonAudit {
    name: &'static str,
    clock: Clock,
}

impl JsonAudit {
    pub fn new(name: &'static str, _opts: &MysqlOptions) -> Self {
        JsonAudit {
            name,
            clock: Clock::default(),
        }
    }
}

/// A number or a string (Percona writes `connection_id` as a string).
#[derive(Debug, Default)]
struct Loose(Option<String>);

impl Loose {
    fn as_i64(&self) -> Option<i64> {
        self.0.as_deref().and_then(|s| s.trim().parse().ok())
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
                Ok(Loose(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
struct Account<'a> {
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct Login<'a> {
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    os: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    proxy: Option<Cow<'a, str>>,
}

/// Union of the fields of every `<class>_data` payload onetrail uses.
#[derive(Debug, Default, Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    command: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sql_command: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    query: Option<Cow<'a, str>>,
    #[serde(default)]
    status: Option<Loose>,
    #[serde(borrow, default)]
    db: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    table: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    connection_type: Option<Cow<'a, str>>,
    #[serde(default)]
    connection_attributes: Option<Value>,
    #[serde(default)]
    server_id: Option<Loose>,
    #[serde(borrow, default)]
    os_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mysql_version: Option<Cow<'a, str>>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct EaRecord<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<Loose>,
    #[serde(borrow, default)]
    class: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(default)]
    connection_id: Option<Loose>,
    #[serde(borrow, default)]
    account: Option<Account<'a>>,
    #[serde(borrow, default)]
    login: Option<Login<'a>>,
    #[serde(borrow, default)]
    general_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    connection_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    table_access_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    startup_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    shutdown_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    query_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    command_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    stored_program_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    authentication_data: Option<Payload<'a>>,
    #[serde(borrow, default)]
    global_variable_data: Option<Payload<'a>>,
    #[serde(default)]
    message_data: Option<Value>,
    #[serde(default)]
    query_statistics: Option<Value>,
    #[serde(borrow, default)]
    audit_record: Option<PerconaRecord<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct PerconaRecord<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    record: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    command_class: Option<Cow<'a, str>>,
    #[serde(default)]
    connection_id: Option<Loose>,
    #[serde(default)]
    status: Option<Loose>,
    #[serde(borrow, default)]
    sqltext: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    priv_user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    os_user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    os_login: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    proxy_user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    db: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mysql_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, alias = "startup_optionsi")]
    startup_options: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    os_version: Option<Cow<'a, str>>,
}

fn loose_cow(l: Option<Loose>) -> Option<Cow<'static, str>> {
    l.and_then(|l| l.0).map(Cow::Owned)
}

fn percona_fields(r: PerconaRecord<'_>) -> Fields<'_> {
    Fields {
        name: r.name,
        record_id: r.record,
        timestamp: r.timestamp,
        command_class: r.command_class,
        connection_id: loose_cow(r.connection_id),
        status: loose_cow(r.status),
        sqltext: r.sqltext,
        user: r.user,
        priv_user: r.priv_user,
        os_login: r.os_user.or(r.os_login),
        proxy_user: r.proxy_user,
        host: r.host,
        ip: r.ip,
        db: r.db,
        mysql_version: r.mysql_version,
        startup_options: r.startup_options,
        os_version: r.os_version,
        ..Fields::default()
    }
}

fn put(ev: &mut Event, key: &str, v: Option<&str>) {
    if let Some(v) = v
        && !v.is_empty()
    {
        ev.extra.insert(key.into(), Value::from(v));
    }
}

fn statement_event(ev: &mut Event, p: &Payload<'_>) {
    let sql = p.query.as_deref().unwrap_or("");
    let cmd = p.sql_command.as_deref().unwrap_or("");
    let (mut cat, mut action) = classify_statement(sql);
    if (sql.trim().is_empty() || cat == Category::Other)
        && let Some((c2, a2)) = classify_sql_command(cmd)
        && (sql.trim().is_empty() || c2 != Category::Other)
    {
        cat = c2;
        action = a2;
    }
    if action.is_empty()
        && let Some(c) = p.command.as_deref()
    {
        action = c.to_ascii_uppercase();
    }
    ev.category = cat;
    ev.action = action;
    if !sql.is_empty() {
        ev.statement = Some(sql.to_string());
    }
    if let Some(st) = p.status.as_ref().and_then(Loose::as_i64) {
        common::set_status(ev, st);
    }
    put(ev, "sql_command", p.sql_command.as_deref());
    put(ev, "command", p.command.as_deref());
}

fn build_ea(r: EaRecord<'_>, clock: &mut Clock, pos: &RecordPos<'_>) -> Event {
    let ts = r.timestamp.as_deref().unwrap_or("");
    // EA JSON timestamps are UTC by specification.
    let (t, note) = clock.resolve(ts.as_bytes(), true);
    let mut ev = Event::new(ENGINE, t, pos, 0);
    note.apply(&mut ev.extra, ts.as_bytes());
    let class = r.class.as_deref().unwrap_or("");
    let event = r.event.as_deref().unwrap_or("");

    let acct = r.account.unwrap_or_default();
    let login = r.login.unwrap_or_default();
    ev.db_user = acct.user.as_deref().and_then(opt_s);
    if let Some(h) = acct.host.as_deref()
        && !h.is_empty()
    {
        if h.contains('%') {
            ev.extra.insert("account_host".into(), Value::from(h));
        } else {
            common::set_client_addr(&mut ev.client, h);
        }
    }
    if let Some(ip) = login.ip.as_deref()
        && !ip.is_empty()
    {
        ev.client.ip = Some(ip.to_string());
    }
    if login.user.as_deref().is_some_and(|u| !u.is_empty()) && login.user != acct.user {
        put(&mut ev, "login_user", login.user.as_deref());
    }
    put(&mut ev, "os_login", login.os.as_deref());
    put(&mut ev, "proxy_user", login.proxy.as_deref());
    if let Some(c) = r.connection_id.as_ref().and_then(|c| c.0.as_deref())
        && c != "0"
    {
        ev.session.id = Some(c.to_string());
    }
    put(&mut ev, "event_class", Some(class));
    put(&mut ev, "event_subclass", Some(event));
    if let Some(id) = r.id.as_ref().and_then(Loose::as_i64) {
        ev.extra.insert("record_id".into(), Value::from(id));
    }
    if let Some(q) = r.query_statistics {
        if let Some(rows) = q.get("rows_sent").and_then(Value::as_i64) {
            ev.rows = Some(rows);
        }
        ev.extra.insert("query_statistics".into(), q);
    }

    if let Some(p) = &r.general_data {
        statement_event(&mut ev, p);
    } else if let Some(p) = &r.connection_data {
        ev.category = Category::Auth;
        let status = p.status.as_ref().and_then(Loose::as_i64);
        let failed = status.is_some_and(|s| s != 0);
        ev.action = match event {
            "connect" if failed => "LOGIN FAILED",
            "connect" => "LOGIN",
            "change_user" => "CHANGE USER",
            "disconnect" => "LOGOUT",
            _ => "",
        }
        .to_string();
        if ev.action.is_empty() {
            ev.action = event.to_ascii_uppercase();
        }
        match status {
            Some(s) => common::set_status(&mut ev, s),
            None => ev.outcome = Outcome::Unknown,
        }
        ev.database = p.db.as_deref().and_then(opt_s);
        put(&mut ev, "connection_type", p.connection_type.as_deref());
        if let Some(attrs) = &p.connection_attributes {
            if let Some(prog) = attrs.get("program_name").and_then(Value::as_str) {
                ev.client.application = Some(prog.to_string());
            }
            ev.extra
                .insert("connection_attributes".into(), attrs.clone());
        }
    } else if let Some(p) = &r.table_access_data {
        ev.category = match event {
            "read" => Category::Read,
            "insert" | "update" | "delete" => Category::Dml,
            _ => Category::Other,
        };
        ev.action = event.to_ascii_uppercase();
        ev.objects.push(DbObject {
            kind: Some("table".to_string()),
            schema: p.db.as_deref().and_then(opt_s),
            name: p.table.as_deref().and_then(opt_s),
        });
        if let Some(q) = p.query.as_deref() {
            ev.statement = opt_s(q);
        }
        put(&mut ev, "sql_command", p.sql_command.as_deref());
    } else if class == "audit" || r.startup_data.is_some() || r.shutdown_data.is_some() {
        ev.category = Category::AuditConfig;
        ev.action = match event {
            "startup" => "AUDIT START".to_string(),
            "shutdown" => "AUDIT STOP".to_string(),
            e => format!("AUDIT {}", e.to_ascii_uppercase()),
        };
        if let Some(p) = r.startup_data.as_ref().or(r.shutdown_data.as_ref()) {
            if let Some(id) = p.server_id.as_ref().and_then(|s| s.0.as_deref()) {
                ev.extra.insert("server_id".into(), Value::from(id));
            }
            put(&mut ev, "server_version", p.mysql_version.as_deref());
            put(&mut ev, "os_version", p.os_version.as_deref());
            if let Some(args) = &p.args {
                ev.extra
                    .insert("startup_args".into(), Value::Array(args.clone()));
            }
        }
    } else if let Some(p) = r
        .query_data
        .as_ref()
        .or(r.command_data.as_ref())
        .or(r.stored_program_data.as_ref())
    {
        statement_event(&mut ev, p);
        if p.query.is_none() && p.sql_command.is_none() {
            ev.action = event.to_ascii_uppercase();
            if let Some(n) = p.name.as_deref() {
                put(&mut ev, "command", Some(n));
            }
        }
    } else if let Some(p) = &r.authentication_data {
        ev.category = Category::Dcl;
        ev.action = format!("AUTHENTICATION {}", event.to_ascii_uppercase());
        if let Some(st) = p.status.as_ref().and_then(Loose::as_i64) {
            common::set_status(&mut ev, st);
        }
    } else if let Some(p) = &r.global_variable_data {
        let name = p.name.as_deref().unwrap_or("");
        ev.category = if name.contains("audit_log") || name.contains("server_audit") {
            Category::AuditConfig
        } else {
            Category::Admin
        };
        ev.action = "SET GLOBAL".to_string();
        put(&mut ev, "variable_name", Some(name));
        if let Some(v) = &p.value {
            ev.extra.insert("variable_value".into(), v.clone());
        }
        if let Some(st) = p.status.as_ref().and_then(Loose::as_i64) {
            common::set_status(&mut ev, st);
        }
    } else if class == "message" || r.message_data.is_some() {
        ev.category = Category::Other;
        ev.action = "MESSAGE".to_string();
        if let Some(m) = r.message_data {
            ev.extra.insert("message_data".into(), m);
        }
    } else {
        ev.category = Category::Other;
        ev.action = if event.is_empty() {
            class.to_ascii_uppercase()
        } else {
            event.to_ascii_uppercase()
        };
        if let Some(m) = r.message_data {
            ev.extra.insert("message_data".into(), m);
        }
    }
    ev
}

/// Frame one JSON object (see module docs).
pub(crate) fn frame_json(buf: &[u8], flush: Flush) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() && matches!(buf[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    if i == buf.len() {
        return (flush == Flush::Final && !buf.is_empty()).then_some(buf.len());
    }
    if buf[i] != b'{' {
        return common::frame_line(buf, flush);
    }
    let mut depth: u32 = 0;
    let mut in_str = false;
    let mut esc = false;
    let mut j = i;
    while j < buf.len() {
        let c = buf[j];
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            } else if c == b'\n' {
                return Some(j + 1); // broken record
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return end_of_line_after(buf, j + 1, flush);
                    }
                }
                b'\n' if buf.get(j + 1) == Some(&b'{') => return Some(j + 1), // broken record
                _ => {}
            }
        }
        j += 1;
    }
    match flush {
        Flush::Final => Some(buf.len()),
        _ if buf.len() > MAX_RECORD => {
            Some(memchr::memchr(b'\n', buf).map_or(buf.len(), |p| p + 1))
        }
        _ => None,
    }
}

/// After a complete element ending at `k`: take an optional `,`, blanks and
/// the newline. If something else follows on the same line, stop before it.
pub(crate) fn end_of_line_after(buf: &[u8], mut k: usize, flush: Flush) -> Option<usize> {
    while k < buf.len() {
        match buf[k] {
            b' ' | b'\t' | b'\r' | b',' => k += 1,
            b'\n' => return Some(k + 1),
            _ => return Some(k),
        }
    }
    if flush == Flush::Final { Some(k) } else { None }
}

fn strip_structural(mut b: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = b
        && matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'[' | b',')
    {
        b = rest;
    }
    while let [rest @ .., c] = b
        && matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b']' | b',')
    {
        b = rest;
    }
    b
}

impl RecordFormat for JsonAudit {
    fn name(&self) -> &'static str {
        self.name
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        frame_json(buf, flush)
    }

    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        // Pretty-printed records open with `{` in column 0; their inner
        // lines are indented or close with `}`.
        line.first().map(|c| matches!(c, b'{' | b'[' | b']'))
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let body = strip_structural(record);
        if body.is_empty() {
            return; // `[`, `]` or blank line
        }
        if body[0] != b'{' {
            out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                "not a JSON object",
            ));
            return;
        }
        match serde_json::from_slice::<EaRecord<'_>>(body) {
            Ok(mut r) => {
                if let Some(p) = r.audit_record.take() {
                    let f = percona_fields(p);
                    out.push(generic::build(&f, &mut self.clock, pos, ENGINE));
                } else if r.class.is_none() && r.timestamp.is_none() {
                    out.push(common::unparsed(
                        ENGINE,
                        &self.clock,
                        pos,
                        record,
                        "JSON object is neither an Enterprise Audit record nor a Percona audit_record",
                    ));
                } else {
                    out.push(build_ea(r, &mut self.clock, pos));
                }
            }
            Err(e) => out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                format!("invalid JSON: {e}"),
            )),
        }
    }
}
