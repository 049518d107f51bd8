//! Holes on record: spans during which an engine's own trail shows that
//! auditing was switched off, turned into one `agent` `GAP` event each.
//!
//! The record that switches auditing off is already an `audit_config` alert.
//! What it cannot say is how long auditing stayed off and what went
//! unrecorded meanwhile; that is only known when the trail shows auditing
//! again. Per source and instance, this module remembers each open span and,
//! when the record that ends it arrives, emits a `GAP` (`alert: true`) naming
//! the instance, the window (`extra.off_since` … `extra.off_until`) and, where
//! the engine numbers its statements globally, the ids skipped.
//!
//! | engine | switched off by | span ends at | ids |
//! |---|---|---|---|
//! | MariaDB `server_audit` | `SET GLOBAL server_audit_logging = OFF` (logged by the plugin before it stops) | the next record of the instance (normally the `… = ON` statement, which the plugin logs; after a restart, the first record) | query ids are server-global: `off id + 1 ..= next id - 1` |
//! | PostgreSQL pgaudit, one session | `SET pgaudit.log = 'none'` is *not* logged (pgaudit logs a `SET` after it took effect) | the session's logged `SET pgaudit.log = '<x>'` whose virtual transaction id (`extra.vxid`, csvlog/jsonlog or `%v`) jumps past the session's previous audit record: the window is from that record to the `SET` | the session's unlogged transactions (`from_vxid` … `to_vxid`) |
//! | PostgreSQL pgaudit, server | server log `parameter "pgaudit.log" changed to "none"` (a reload) | `parameter "pgaudit.log" changed to "<anything else>"` | — |
//! | SQL Server Audit | `AUSC` record (audit session changed) of `ALTER SERVER AUDIT … WITH (STATE = OFF)` | the next record of the instance (a restarted audit first writes an `AUSC`) | — |
//! | SQL Server audit specification | `ALTER SERVER\|DATABASE AUDIT SPECIFICATION s WITH (STATE = OFF)` | the same statement with `STATE = ON` | — |
//! | Oracle unified auditing | `NOAUDIT POLICY p` | `AUDIT POLICY p` | — |
//!
//! Only successful switches count. Open spans are saved with the checkpoint
//! (inside the session state), as of the last delivered chunk, so a restart
//! between OFF and ON still reports the hole. At most [`MAX_OPEN`] spans are
//! tracked per source; past that, the oldest is reported at once as a `GAP`
//! whose end is unknown (`off_until: null`).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use onetrail_event::{Category, Engine, Event, Outcome, RecordPos};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Open spans tracked per source.
pub const MAX_OPEN: usize = 1024;
/// pgaudit sessions whose last audit record is remembered (vxid evidence).
const MAX_PG_SESSIONS: usize = 10_000;
/// Bytes of a statement looked at to recognise a switch.
const MAX_LOOK: usize = 512;

/// How an open span ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Close {
    /// Any later record of the instance: nothing is written while off.
    AnyRecord,
    /// The session's next session-audit record or its logout.
    Session,
    /// Only the matching ON switch.
    ExplicitOn,
}

/// One span during which auditing is off, as far as the trail shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffSpan {
    instance: Option<String>,
    /// What was switched off (`server_audit_logging`, `pgaudit.log`,
    /// `pgaudit.log of session 123`, `server audit`, `audit specification X`,
    /// `unified audit policy P`).
    scope: String,
    close: Close,
    since: DateTime<Utc>,
    off_event_id: String,
    /// The engine's statement/query id of the switching record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    off_query_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    db_user: Option<String>,
    /// The (redacted) statement or setting that switched auditing off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    switched_by: Option<String>,
}

/// A switch recognised in one event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Switch {
    Off { scope: String, close: Close },
    On { scope: String },
}

/// Open spans of one source, with the checkpoint journal (same scheme as
/// `sessions`: changes are tagged with their chunk and only delivered chunks'
/// changes are saved).
#[derive(Debug, Clone, Default)]
pub struct AuditOff {
    open: Vec<OffSpan>,
    persist: Option<Persist>,
    /// Session → its last pgaudit record (memory only).
    pg_last: HashMap<String, PgLast>,
}

#[derive(Debug, Clone)]
struct PgLast {
    instance: Option<String>,
    /// `backend id/local transaction id` of its virtual transaction id.
    vxid: (i64, i64),
    time: DateTime<Utc>,
    id: String,
}

fn parse_vxid(v: &str) -> Option<(i64, i64)> {
    let (a, b) = v.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[derive(Debug, Clone, Default)]
struct Persist {
    current: u64,
    /// After chunk `seq`, the open spans were these.
    journal: VecDeque<(u64, Vec<OffSpan>)>,
    committed: Vec<OffSpan>,
}

impl AuditOff {
    /// Look at one (redacted, instance-filled) event: returns the `GAP`
    /// events it reveals, to be sent before it.
    pub fn observe(&mut self, ev: &Event, source_name: Option<&str>) -> Vec<Event> {
        if ev.engine == Engine::Postgresql
            && ev.outcome != Outcome::Failure
            && let Some(g) = self.pg_session_gap(ev, source_name)
        {
            return vec![g];
        }
        if ev.category == Category::Agent || self.open.is_empty() && !may_switch(ev) {
            return Vec::new();
        }
        let before = self.open.len();
        let mut gaps = Vec::new();
        let switch = if ev.outcome == Outcome::Failure {
            None
        } else {
            switch_of(ev)
        };
        // Spans this event ends.
        let mut i = 0;
        while i < self.open.len() {
            let s = &self.open[i];
            if s.instance == ev.instance && ends(s, ev, switch.as_ref()) {
                let s = self.open.remove(i);
                gaps.push(gap_event(&s, Some(ev), source_name));
            } else {
                i += 1;
            }
        }
        let mut changed = self.open.len() != before;
        if let Some(Switch::Off { scope, close }) = switch
            && !self
                .open
                .iter()
                .any(|s| s.instance == ev.instance && s.scope == scope)
        {
            if self.open.len() >= MAX_OPEN {
                let s = self.open.remove(0);
                gaps.push(gap_event(&s, None, source_name));
            }
            self.open.push(OffSpan {
                instance: ev.instance.clone(),
                session: if close == Close::Session {
                    ev.session.id.clone()
                } else {
                    None
                },
                scope,
                close,
                since: ev.time,
                off_event_id: ev.id.clone(),
                off_query_id: ev.session.statement_id,
                db_user: ev.db_user.clone(),
                switched_by: ev
                    .statement
                    .as_deref()
                    .map(|s| bounded(s, MAX_LOOK).to_string())
                    .or_else(|| setting_text(ev)),
            });
            changed = true;
        }
        if changed && let Some(p) = &mut self.persist {
            p.journal.push_back((p.current, self.open.clone()));
        }
        gaps
    }

    /// A pgaudit session that logs `SET pgaudit.log = …` after transactions
    /// it did not log: its virtual transaction ids jump.
    fn pg_session_gap(&mut self, ev: &Event, source_name: Option<&str>) -> Option<Event> {
        let audit_type = ev.extra.get("pgaudit")?.get("audit_type")?.as_str()?;
        if !audit_type.eq_ignore_ascii_case("SESSION") {
            return None;
        }
        let session = ev.session.id.as_deref()?;
        let vxid = parse_vxid(ev.extra.get("vxid")?.as_str()?)?;
        // Every pgaudit record passes here: update in place, no allocation
        // for a known session.
        let prev = match self.pg_last.get_mut(session) {
            Some(last) if last.instance == ev.instance => {
                let prev = (last.vxid, last.time);
                last.vxid = vxid;
                last.time = ev.time;
                let prev_id = std::mem::replace(&mut last.id, ev.id.clone());
                // Hostile input: ids anywhere in i64.
                if !(prev.0.0 == vxid.0 && vxid.1 > prev.0.1.saturating_add(1)) {
                    return None;
                }
                PgLast {
                    instance: None,
                    vxid: prev.0,
                    time: prev.1,
                    id: prev_id,
                }
            }
            _ => {
                if self.pg_last.len() >= MAX_PG_SESSIONS {
                    self.pg_last.clear();
                }
                self.pg_last.insert(
                    session.to_string(),
                    PgLast {
                        instance: ev.instance.clone(),
                        vxid,
                        time: ev.time,
                        id: ev.id.clone(),
                    },
                );
                return None;
            }
        };
        let w = words(ev.statement.as_deref()?);
        if w.first().map(String::as_str) != Some("SET") || assigned(&w, "PGAUDIT.LOG").is_none() {
            return None;
        }
        let span = OffSpan {
            instance: ev.instance.clone(),
            scope: format!("pgaudit.log of session {session}"),
            close: Close::Session,
            since: prev.time,
            off_event_id: prev.id,
            off_query_id: None,
            session: Some(session.to_string()),
            db_user: ev.db_user.clone(),
            switched_by: None,
        };
        let mut g = gap_event(&span, Some(ev), source_name);
        // vxid.1 > prev + 1 (checked above), so from <= to and no overflow.
        let (from, to) = (prev.vxid.1 + 1, vxid.1 - 1);
        let n = to.saturating_sub(from).saturating_add(1);
        let x = &mut g.extra;
        x.insert("from_vxid".into(), format!("{}/{from}", vxid.0).into());
        x.insert("to_vxid".into(), format!("{}/{to}", vxid.0).into());
        x.insert("skipped_transactions".into(), n.into());
        if let Some(Value::String(r)) = x.get_mut("reason") {
            r.push_str(&format!(
                "; {n} transaction(s) of the session ({}/{from}..={}/{to}) were not logged before it set pgaudit.log again",
                vxid.0, vxid.0
            ));
        }
        Some(g)
    }

    /// Start from the state saved with the checkpoint and journal from now on.
    pub fn restore(&mut self, saved: Option<&Value>) -> Result<(), String> {
        let mut p = Persist::default();
        let mut err = Ok(());
        if let Some(v) = saved {
            match serde_json::from_value::<Vec<OffSpan>>(v.clone()) {
                Ok(list) => {
                    self.open = list.clone();
                    p.committed = list;
                }
                Err(e) => err = Err(format!("unreadable saved audit-off spans: {e}")),
            }
        }
        self.persist = Some(p);
        err
    }

    pub fn begin(&mut self, seq: u64) {
        if let Some(p) = &mut self.persist {
            p.current = seq;
        }
    }

    pub fn commit(&mut self, seq: u64) {
        if let Some(p) = &mut self.persist {
            while p.journal.front().is_some_and(|(t, _)| *t <= seq) {
                p.committed = p.journal.pop_front().expect("checked").1;
            }
        }
    }

    /// Open spans as of the last committed chunk (`None` when none).
    pub fn saved(&self) -> Option<Value> {
        let p = self.persist.as_ref()?;
        if p.committed.is_empty() {
            return None;
        }
        serde_json::to_value(&p.committed).ok()
    }

    /// Spans currently open.
    pub fn open_len(&self) -> usize {
        self.open.len()
    }
}

fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn setting_text(ev: &Event) -> Option<String> {
    let p = ev.extra.get("parameter")?.as_str()?;
    let v = ev.extra.get("value")?.as_str()?;
    Some(format!("{p} = {v}"))
}

/// Cheap pre-check: could this event switch auditing on or off? Every
/// switch the table above lists is classified `audit_config` by its parser.
fn may_switch(ev: &Event) -> bool {
    ev.category == Category::AuditConfig
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether `ev` ends the open span `s`.
fn ends(s: &OffSpan, ev: &Event, switch: Option<&Switch>) -> bool {
    match switch {
        Some(Switch::On { scope }) if *scope == s.scope => return true,
        Some(Switch::Off { scope, .. }) if *scope == s.scope => return false,
        _ => {}
    }
    if ev.id == s.off_event_id {
        return false;
    }
    match s.close {
        // A record re-ordered from before the switch (a MariaDB table run
        // released late) has a lower query id; records without one
        // (logins, and everything after a restart) end the span.
        Close::AnyRecord => match (ev.session.statement_id, s.off_query_id) {
            (Some(id), Some(off)) if id > 0 => id > off,
            _ => true,
        },
        Close::Session => {
            if ev.category == Category::AuditConfig && ev.action == "AUDIT INITIALIZED" {
                return true; // the server restarted: the session is gone
            }
            if ev.session.id != s.session {
                return false;
            }
            let logout = ev.category == Category::Auth && ev.action == "LOGOUT";
            let session_audit = ev
                .extra
                .get("pgaudit")
                .and_then(|p| p.get("audit_type"))
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("SESSION"));
            logout || session_audit
        }
        Close::ExplicitOn => false,
    }
}

/// Words of a statement, upper-cased, at most `MAX_LOOK` bytes looked at.
fn words(stmt: &str) -> Vec<String> {
    let s = bounded(stmt, MAX_LOOK);
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '$' | '#') {
            cur.extend(c.to_uppercase());
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if matches!(c, '=' | ';' | ',' | '(' | ')') {
                out.push(c.to_string());
            }
            if c == ':' {
                // `:=` is `=`
                continue;
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The value assigned to `name` in `SET … name = value` (quotes removed).
fn assigned<'a>(w: &'a [String], name: &str) -> Option<&'a str> {
    let i = w.iter().position(|x| x.ends_with(name))?;
    let name_word = &w[i];
    // `@@GLOBAL.SERVER_AUDIT_LOGGING`, `GLOBAL.X`, or the bare name.
    if name_word != name && !name_word.ends_with(&format!(".{name}")) {
        return None;
    }
    match (w.get(i + 1).map(String::as_str), w.get(i + 2)) {
        (Some("="), Some(v)) => Some(v.as_str()),
        (Some("TO"), Some(v)) => Some(v.as_str()),
        _ => None,
    }
}

fn is_off_word(v: &str) -> Option<bool> {
    match v {
        "OFF" | "0" | "FALSE" => Some(true),
        "ON" | "1" | "TRUE" => Some(false),
        _ => None,
    }
}

/// The switch `ev` makes, if any (the caller has checked it did not fail).
fn switch_of(ev: &Event) -> Option<Switch> {
    if !may_switch(ev) {
        return None;
    }
    let off = |scope: &str, close| Switch::Off {
        scope: scope.to_string(),
        close,
    };
    let on = |scope: &str| Switch::On {
        scope: scope.to_string(),
    };
    match ev.engine {
        Engine::Mariadb | Engine::Mysql => {
            let w = words(ev.statement.as_deref()?);
            if w.first().map(String::as_str) != Some("SET") {
                return None;
            }
            let v = assigned(&w, "SERVER_AUDIT_LOGGING")?;
            Some(if is_off_word(v)? {
                off("server_audit_logging", Close::AnyRecord)
            } else {
                on("server_audit_logging")
            })
        }
        Engine::Postgresql => {
            // A reload: the postmaster logs the new value.
            if ev.extra.get("parameter").and_then(Value::as_str) == Some("pgaudit.log") {
                let v = ev.extra.get("value")?.as_str()?;
                return Some(if pgaudit_log_is_none(v) {
                    off("pgaudit.log", Close::ExplicitOn)
                } else {
                    on("pgaudit.log")
                });
            }
            if !ev.extra.contains_key("pgaudit") {
                return None;
            }
            let w = words(ev.statement.as_deref()?);
            if w.first().map(String::as_str) != Some("SET") {
                return None;
            }
            let v = assigned(&w, "PGAUDIT.LOG")?;
            let session = ev.session.id.as_deref()?;
            let scope = format!("pgaudit.log of session {session}");
            pgaudit_log_is_none(v).then(|| off(&scope, Close::Session))
        }
        Engine::Sqlserver => {
            let stmt = ev.statement.as_deref().unwrap_or("");
            let w = words(stmt);
            let state_off = state_is(&w, "OFF");
            let state_on = state_is(&w, "ON");
            let ausc = ev.extra.get("action_id").and_then(Value::as_str) == Some("AUSC");
            if let Some(i) = w
                .windows(3)
                .position(|x| x[0] == "AUDIT" && x[1] == "SPECIFICATION")
                .filter(|_| w.first().map(String::as_str) == Some("ALTER"))
            {
                let scope = format!("audit specification {}", w[i + 2]);
                return if state_off {
                    Some(off(&scope, Close::ExplicitOn))
                } else if state_on {
                    Some(on(&scope))
                } else {
                    None
                };
            }
            if !ausc {
                return None;
            }
            // `additional_information` of an AUSC record:
            // `<action_info …><session><![CDATA[SecAudit$A]]></session>
            // <action>event enabled</action>…` ("event disabled" at a stop).
            let info = ev
                .extra
                .get("additional_information")
                .and_then(Value::as_str)
                .map(|s| bounded(s, 2048))
                .unwrap_or("");
            let action = between(info, "<action>", "</action>").unwrap_or("");
            let scope = match between(info, "<session><![CDATA[", "]]>") {
                Some(n) => format!("server audit {}", n.strip_suffix("$A").unwrap_or(n)),
                None => "server audit".to_string(),
            };
            if contains_ci(action, "disabled") || state_off {
                Some(off(&scope, Close::AnyRecord))
            } else {
                Some(on(&scope))
            }
        }
        Engine::Oracle => {
            let w = words(ev.statement.as_deref()?);
            match (
                w.first().map(String::as_str),
                w.get(1).map(String::as_str),
                w.get(2),
            ) {
                (Some("NOAUDIT"), Some("POLICY"), Some(p)) => {
                    Some(off(&format!("unified audit policy {p}"), Close::ExplicitOn))
                }
                (Some("AUDIT"), Some("POLICY"), Some(p)) => {
                    Some(on(&format!("unified audit policy {p}")))
                }
                _ => None,
            }
        }
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let from = s.find(open)? + open.len();
    let len = s[from..].find(close)?;
    Some(&s[from..from + len])
}

/// `WITH ( STATE = <v> )` in a statement's words.
fn state_is(w: &[String], v: &str) -> bool {
    w.windows(3)
        .any(|x| x[0] == "STATE" && x[1] == "=" && x[2] == v)
}

/// `pgaudit.log` values that log no statement class.
fn pgaudit_log_is_none(v: &str) -> bool {
    let v = v.trim().trim_matches('\'').trim();
    v.is_empty() || v.eq_ignore_ascii_case("none")
}

/// The `GAP` for a span, ended by `end` (`None`: no longer tracked, end unknown).
fn gap_event(s: &OffSpan, end: Option<&Event>, source_name: Option<&str>) -> Event {
    let now = end.map_or_else(Utc::now, |e| e.time);
    let key = match end {
        Some(e) => format!("audit-off:{}:{}", s.off_event_id, e.id),
        None => format!("audit-off:{}:untracked", s.off_event_id),
    };
    let engine = end.map_or(engine_of(s), |e| e.engine);
    let format = end.map_or("", |e| e.source.format.as_str());
    let pos = RecordPos {
        source_key: &key,
        path: end.and_then(|e| e.source.path.as_deref()),
        offset: end.and_then(|e| e.source.offset).unwrap_or(0),
        format,
    };
    let mut g = Event::new(engine, now, &pos, 0);
    g.category = Category::Agent;
    g.action = "GAP".into();
    g.outcome = Outcome::Failure;
    g.alert = true;
    g.instance.clone_from(&s.instance);
    g.db_user.clone_from(&s.db_user);
    g.session.id.clone_from(&s.session);
    let x = &mut g.extra;
    if let Some(n) = source_name {
        x.insert("source_name".into(), n.into());
    }
    x.insert("gap_kind".into(), "audit_off".into());
    x.insert("scope".into(), s.scope.as_str().into());
    x.insert("off_since".into(), rfc3339(s.since).into());
    x.insert(
        "off_until".into(),
        end.map_or(Value::Null, |e| rfc3339(e.time).into()),
    );
    x.insert("off_event_id".into(), s.off_event_id.as_str().into());
    x.insert(
        "on_event_id".into(),
        end.map_or(Value::Null, |e| e.id.as_str().into()),
    );
    if let Some(b) = &s.switched_by {
        x.insert("switched_off_by".into(), b.as_str().into());
    }
    let inst = s.instance.as_deref().unwrap_or("(no instance)");
    let mut reason = match end {
        Some(e) => format!(
            "auditing ({}) was off on {inst} from {} to {}",
            s.scope,
            rfc3339(s.since),
            rfc3339(e.time)
        ),
        None => format!(
            "auditing ({}) is off on {inst} since {}; no longer tracked (more than {MAX_OPEN} open spans), end unknown",
            s.scope,
            rfc3339(s.since)
        ),
    };
    // Server-global query ids (MariaDB): the ids assigned while off.
    if s.close == Close::AnyRecord
        && let (Some(from), Some(next)) = (s.off_query_id, end.and_then(|e| e.session.statement_id))
        && next > from
        && from >= 0
    {
        let skipped = next - from - 1;
        x.insert("skipped_query_ids".into(), skipped.into());
        if skipped > 0 {
            x.insert("from_query_id".into(), (from + 1).into());
            x.insert("to_query_id".into(), (next - 1).into());
            reason.push_str(&format!(
                "; query ids {}..={} ({skipped}) ran unaudited",
                from + 1,
                next - 1
            ));
        }
    }
    x.insert("reason".into(), reason.into());
    g
}

fn engine_of(s: &OffSpan) -> Engine {
    if s.scope.starts_with("server_audit") {
        Engine::Mariadb
    } else if s.scope.starts_with("pgaudit") {
        Engine::Postgresql
    } else if s.scope.starts_with("unified") {
        Engine::Oracle
    } else {
        Engine::Sqlserver
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(engine: Engine, n: u64, stmt: &str) -> Event {
        let pos = RecordPos {
            source_key: "src",
            path: None,
            offset: n,
            format: "f",
        };
        let t = DateTime::from_timestamp(1_700_000_000 + n as i64, 0).unwrap();
        let mut e = Event::new(engine, t, &pos, 0);
        e.instance = Some("db1".into());
        e.statement = Some(stmt.into());
        e.outcome = Outcome::Success;
        // As the parsers classify them: every switch is `audit_config`.
        e.category = if contains_ci(stmt, "audit") && !stmt.starts_with("SELECT") {
            Category::AuditConfig
        } else {
            Category::Read
        };
        e
    }

    fn maria(n: u64, qid: i64, stmt: &str) -> Event {
        let mut e = ev(Engine::Mariadb, n, stmt);
        e.session.statement_id = Some(qid);
        e
    }

    #[test]
    fn statement_switches_are_recognised() {
        let sw = |engine, s: &str| switch_of(&ev(engine, 0, s));
        let m = Engine::Mariadb;
        for s in [
            "SET GLOBAL server_audit_logging=OFF",
            "set global server_audit_logging = off",
            "SET @@global.server_audit_logging = 0",
            "SET GLOBAL server_audit_logging='OFF'",
            "SET GLOBAL server_audit_events='', server_audit_logging := FALSE",
        ] {
            assert!(matches!(sw(m, s), Some(Switch::Off { .. })), "{s}");
        }
        for s in [
            "SET GLOBAL server_audit_logging=ON",
            "SET GLOBAL server_audit_logging = 1",
        ] {
            assert!(matches!(sw(m, s), Some(Switch::On { .. })), "{s}");
        }
        for s in [
            "SELECT 'SET GLOBAL server_audit_logging=OFF'",
            "SET GLOBAL server_audit_logging_x=OFF",
            "SET GLOBAL server_audit_events='CONNECT'",
        ] {
            assert_eq!(sw(m, s), None, "{s}");
        }
        let o = Engine::Oracle;
        assert_eq!(
            sw(o, "NOAUDIT POLICY ora_secureconfig"),
            Some(Switch::Off {
                scope: "unified audit policy ORA_SECURECONFIG".into(),
                close: Close::ExplicitOn
            })
        );
        assert_eq!(
            sw(o, "audit policy ORA_SECURECONFIG"),
            Some(Switch::On {
                scope: "unified audit policy ORA_SECURECONFIG".into()
            })
        );
        assert_eq!(sw(o, "NOAUDIT SELECT ON hr.emp"), None);
        let q = Engine::Sqlserver;
        assert_eq!(
            sw(
                q,
                "ALTER DATABASE AUDIT SPECIFICATION [spec1] WITH (STATE = OFF)"
            ),
            Some(Switch::Off {
                scope: "audit specification SPEC1".into(),
                close: Close::ExplicitOn
            })
        );
    }

    #[test]
    fn mariadb_off_on_gives_one_gap_with_the_skipped_query_ids() {
        let mut t = AuditOff::default();
        assert!(
            t.observe(&maria(1, 30, "SELECT 1"), Some("maria"))
                .is_empty()
        );
        let off = maria(2, 33, "SET GLOBAL server_audit_logging=OFF");
        assert!(t.observe(&off, Some("maria")).is_empty());
        assert_eq!(t.open_len(), 1);
        let on = maria(9, 37, "SET GLOBAL server_audit_logging=ON");
        let g = t.observe(&on, Some("maria"));
        assert_eq!(g.len(), 1);
        let g = &g[0];
        assert_eq!(
            (g.category, g.action.as_str(), g.alert),
            (Category::Agent, "GAP", true)
        );
        assert_eq!(g.instance.as_deref(), Some("db1"));
        assert_eq!(g.extra["from_query_id"], 34);
        assert_eq!(g.extra["to_query_id"], 36);
        assert_eq!(g.extra["skipped_query_ids"], 3);
        assert_eq!(g.extra["off_since"], rfc3339(off.time));
        assert_eq!(g.extra["off_until"], rfc3339(on.time));
        assert_eq!(g.extra["off_event_id"], off.id.as_str());
        assert_eq!(g.extra["on_event_id"], on.id.as_str());
        assert_eq!(g.extra["source_name"], "maria");
        assert_eq!(t.open_len(), 0);
        // Nothing more.
        assert!(t.observe(&maria(10, 38, "SELECT 2"), None).is_empty());
        // A failed OFF (no SUPER) switches nothing.
        let mut denied = maria(11, 39, "SET GLOBAL server_audit_logging=OFF");
        denied.outcome = Outcome::Failure;
        assert!(t.observe(&denied, None).is_empty());
        assert_eq!(t.open_len(), 0);
        // Another instance's record does not end the span.
        t.observe(&maria(12, 40, "SET GLOBAL server_audit_logging=OFF"), None);
        let mut other = maria(13, 90, "SELECT 1");
        other.instance = Some("db2".into());
        assert!(t.observe(&other, None).is_empty());
        // After a restart: query ids start again, the window is still known.
        let g = t.observe(&maria(14, 0, "CONNECT"), None);
        assert_eq!(g.len(), 1);
        assert!(!g[0].extra.contains_key("from_query_id"));
        assert!(g[0].extra["off_until"].is_string());
    }

    #[test]
    fn pgaudit_session_and_reload_spans() {
        let pg = |n, session: &str, stmt: &str| {
            let mut e = ev(Engine::Postgresql, n, stmt);
            e.session.id = Some(session.into());
            e.extra.insert(
                "pgaudit".into(),
                serde_json::json!({"audit_type": "SESSION"}),
            );
            e
        };
        let mut t = AuditOff::default();
        assert!(
            t.observe(&pg(1, "a", "SET pgaudit.log = 'none'"), None)
                .is_empty()
        );
        // Another session's records do not end it; an OBJECT record of the
        // same session does not either.
        assert!(t.observe(&pg(2, "b", "SELECT 1"), None).is_empty());
        let mut obj = pg(3, "a", "SELECT * FROM t");
        obj.extra.insert(
            "pgaudit".into(),
            serde_json::json!({"audit_type": "OBJECT"}),
        );
        assert!(t.observe(&obj, None).is_empty());
        let g = t.observe(&pg(4, "a", "SELECT 2"), None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].extra["scope"], "pgaudit.log of session a");
        assert_eq!(g[0].session.id.as_deref(), Some("a"));

        // A reload to 'none' and back.
        let param = |n, v: &str| {
            let mut e = ev(Engine::Postgresql, n, "");
            e.statement = None;
            e.category = Category::AuditConfig;
            e.action = "SET PARAMETER".into();
            e.extra.insert("parameter".into(), "pgaudit.log".into());
            e.extra.insert("value".into(), v.into());
            e
        };
        assert!(t.observe(&param(10, "none"), None).is_empty());
        assert!(t.observe(&pg(11, "c", "SELECT 1"), None).is_empty());
        let g = t.observe(&param(12, "all"), None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].extra["scope"], "pgaudit.log");
        assert_eq!(g[0].extra["switched_off_by"], "pgaudit.log = none");
    }

    #[test]
    fn pgaudit_session_vxid_jump_before_a_set_is_a_gap() {
        let pg = |n, vxid: &str, stmt: &str| {
            let mut e = ev(Engine::Postgresql, n, stmt);
            e.session.id = Some("6b116d45.2e1d".into());
            e.extra.insert(
                "pgaudit".into(),
                serde_json::json!({"audit_type": "SESSION"}),
            );
            e.extra.insert("vxid".into(), vxid.into());
            e
        };
        // As the real server writes it: `SET pgaudit.log = 'none'` (3/3) and
        // the statement after it (3/4) are not logged.
        let mut t = AuditOff::default();
        let before = pg(1, "3/2", "SELECT 'before'");
        assert!(t.observe(&before, None).is_empty());
        let set = pg(2, "3/5", "SET pgaudit.log = 'all'");
        let g = t.observe(&set, None);
        assert_eq!(g.len(), 1);
        let x = &g[0].extra;
        assert_eq!(x["scope"], "pgaudit.log of session 6b116d45.2e1d");
        assert_eq!(x["off_since"], rfc3339(before.time));
        assert_eq!(x["off_until"], rfc3339(set.time));
        assert_eq!(x["from_vxid"], "3/3");
        assert_eq!(x["to_vxid"], "3/4");
        assert_eq!(x["skipped_transactions"], 2);
        // Consecutive transactions, or a jump without a SET of pgaudit.log
        // (catalog queries with log_catalog off): nothing.
        assert!(
            t.observe(&pg(3, "3/6", "SET pgaudit.log = 'all'"), None)
                .is_empty()
        );
        assert!(t.observe(&pg(4, "3/9", "SELECT 1"), None).is_empty());
    }

    #[test]
    fn extreme_ids_do_not_overflow() {
        let mut t = AuditOff::default();
        let pg = |n, vxid: &str, stmt: &str| {
            let mut e = ev(Engine::Postgresql, n, stmt);
            e.session.id = Some("s".into());
            e.extra.insert(
                "pgaudit".into(),
                serde_json::json!({"audit_type": "SESSION"}),
            );
            e.extra.insert("vxid".into(), vxid.into());
            e
        };
        let max = i64::MAX;
        assert!(
            t.observe(&pg(1, &format!("1/{max}"), "SELECT 1"), None)
                .is_empty()
        );
        assert!(
            t.observe(
                &pg(2, "1/-9223372036854775808", "SET pgaudit.log = 'all'"),
                None
            )
            .is_empty()
        );
        let g = t.observe(&pg(3, &format!("1/{max}"), "SET pgaudit.log = 'all'"), None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].extra["skipped_transactions"], max);
        let mut off = maria(
            4,
            -9_000_000_000_000_000_000,
            "SET GLOBAL server_audit_logging=OFF",
        );
        off.session.statement_id = Some(i64::MIN);
        t.observe(&off, None);
        let g = t.observe(&maria(5, max, "SET GLOBAL server_audit_logging=ON"), None);
        assert_eq!(g.len(), 1);
        assert!(!g[0].extra.contains_key("from_query_id"));
    }

    #[test]
    fn sqlserver_audit_stop_and_start() {
        let q = |n, action: &str, stmt: &str| {
            let mut e = ev(Engine::Sqlserver, n, stmt);
            e.extra.insert("action_id".into(), action.into());
            e
        };
        let mut t = AuditOff::default();
        let info = |what: &str| {
            format!(
                "<action_info xmlns=\"http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data\"><session><![CDATA[SecAudit$A]]></session><action>event {what}</action><startup_type>manual</startup_type><object><![CDATA[audit_event]]></object></action_info>"
            )
        };
        let ausc = |n, what: &str| {
            let mut e = q(n, "AUSC", "");
            e.statement = None;
            e.category = Category::AuditConfig;
            e.extra
                .insert("additional_information".into(), info(what).into());
            e
        };
        // The start record of a fresh audit opens nothing.
        assert!(t.observe(&ausc(0, "enabled"), None).is_empty());
        assert!(t.observe(&q(1, "SL", "SELECT 1"), None).is_empty());
        let off = ausc(2, "disabled");
        assert!(t.observe(&off, None).is_empty());
        assert_eq!(t.open_len(), 1);
        let on = ausc(5, "enabled");
        let g = t.observe(&on, None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].extra["scope"], "server audit SecAudit");
        assert_eq!(g[0].extra["off_since"], rfc3339(off.time));
        assert_eq!(g[0].extra["off_until"], rfc3339(on.time));
        assert_eq!(g[0].engine, Engine::Sqlserver);
        // An audit specification turned off and on by statement.
        let spec = |n, v: &str| {
            q(
                n,
                "AL",
                &format!("ALTER SERVER AUDIT SPECIFICATION [logins] WITH (STATE = {v})"),
            )
        };
        assert!(t.observe(&spec(6, "OFF"), None).is_empty());
        assert!(t.observe(&q(7, "SL", "SELECT 1"), None).is_empty());
        let g = t.observe(&spec(8, "ON"), None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].extra["scope"], "audit specification LOGINS");
    }

    #[test]
    fn open_spans_are_saved_as_of_the_committed_chunk() {
        let mut t = AuditOff::default();
        t.restore(None).unwrap();
        t.begin(1);
        t.observe(&maria(1, 10, "SET GLOBAL server_audit_logging=OFF"), None);
        t.begin(2);
        t.observe(&maria(2, 20, "SET GLOBAL server_audit_logging=ON"), None);
        assert!(t.saved().is_none(), "nothing delivered yet");
        t.commit(1);
        let saved = t.saved().expect("the span opened in chunk 1");
        // A restart from the chunk-1 checkpoint re-reads chunk 2 and reports.
        let mut r = AuditOff::default();
        r.restore(Some(&saved)).unwrap();
        let g = r.observe(&maria(2, 20, "SET GLOBAL server_audit_logging=ON"), None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].extra["from_query_id"], 11);
        t.commit(2);
        assert!(t.saved().is_none());
        assert!(r.restore(Some(&serde_json::json!("bad"))).is_err());
    }

    #[test]
    fn too_many_open_spans_report_the_oldest() {
        let mut t = AuditOff::default();
        let pg = |n: u64| {
            let mut e = ev(Engine::Postgresql, n, "SET pgaudit.log = none");
            e.session.id = Some(format!("s{n}"));
            e.extra.insert("pgaudit".into(), serde_json::json!({}));
            e
        };
        for n in 0..MAX_OPEN as u64 {
            assert!(t.observe(&pg(n), None).is_empty());
        }
        let g = t.observe(&pg(MAX_OPEN as u64), None);
        assert_eq!(g.len(), 1);
        assert!(g[0].extra["off_until"].is_null());
        assert_eq!(g[0].extra["scope"], "pgaudit.log of session s0");
        assert_eq!(t.open_len(), MAX_OPEN);
    }
}
