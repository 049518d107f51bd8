//! # onetrail-enrich — what happens to every event between its parser and the sinks
//!
//! Boundaries: depends on `onetrail-event` and `onetrail-redact` only. It
//! knows no parser, no sink and no configuration file: the agent turns a
//! source's YAML into an [`EnrichConfig`] and builds an [`Enricher`] from it.
//!
//! The steps, in order:
//!
//! 1. `instance` from the source's config;
//! 2. **credential redaction** (always on, cannot be configured away) of every
//!    field that can carry statement text: `statement`, `raw`,
//!    `error.message`, `parse_error`, and every string inside `extra`. With
//!    `mask_literals` every literal in `statement` is also replaced by `?`.
//!    Everything below reads the *redacted* text, so no secret can reach the
//!    session table (which is saved in the checkpoint file) or `actor`/`context`;
//! 3. **session state** ([`sessions`]): logins, `SET application_name`,
//!    `SET onetrail.*`, `set_config('onetrail.*', …)`, `SET @onetrail_*`
//!    remembered per `session.id`, dropped at LOGOUT; pgaudit statement-id
//!    gaps per session; spans during which the engine's own trail shows
//!    auditing switched off ([`audit_off`]), each reported by one `GAP`;
//! 4. **identity** (`actor`): the configured chain of resolvers
//!    (`identity.resolvers`, default `sqlcommenter, session,
//!    application_name, static_map`), first match wins, `actor.via` names it;
//! 5. **context**: `ticket`, `approver`, `change_ref` from application-name
//!    captures, then session settings, then statement comments (later wins),
//!    then the static `context` of the config for keys not set yet;
//! 6. **alert**: every `audit_config` event gets `alert: true`;
//! 7. **sensitivity** labels from object globs ([`filter::Sensitivity`]);
//! 8. **compliance** tags ([`compliance::TABLE`]);
//! 9. redaction again over what steps 3–5 added (`actor.name`, `context`
//!    strings), so every text field is covered whatever its origin;
//! 10. the **filter** ([`filter::FilterConfig`]) decides whether the event is
//!     sent. A filtered event is simply not sent: its record position still
//!     advances with its chunk, so checkpoints are unaffected.
//!
//! `redacted` and `redacted_count` say what redaction did.

pub mod audit_off;
pub mod compliance;
pub mod filter;
pub mod identity;
pub mod sessions;

use std::collections::BTreeMap;
use std::sync::Arc;

use onetrail_event::{Actor, Category, Event, Outcome, RecordPos};
use onetrail_redact::{Redactor, RedactorOptions};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use filter::{FilterConfig, Labels};
use identity::{AppPatterns, CommentKeys, Found, Setting};
use sessions::{SessionState, SessionTable};

/// One identity resolver (`identity.resolvers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolver {
    /// A sqlcommenter-style comment in the statement (`/*user='alice'*/`).
    Sqlcommenter,
    /// `SET onetrail.actor` / `set_config('onetrail.actor', …)` / `SET @onetrail_actor`
    /// earlier in the same session.
    Session,
    /// `identity.application_name` patterns on the event's application name
    /// (or the one the session's login / `SET application_name` gave).
    ApplicationName,
    /// `identity.static_map`: database user → person.
    StaticMap,
}

impl Resolver {
    fn via(self) -> &'static str {
        match self {
            Resolver::Sqlcommenter => "sqlcommenter",
            Resolver::Session => "session",
            Resolver::ApplicationName => "application_name",
            Resolver::StaticMap => "static_map",
        }
    }
}

fn default_resolvers() -> Vec<Resolver> {
    vec![
        Resolver::Sqlcommenter,
        Resolver::Session,
        Resolver::ApplicationName,
        Resolver::StaticMap,
    ]
}
fn default_max_sessions() -> usize {
    sessions::DEFAULT_MAX_SESSIONS
}
fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
fn default_actor_keys() -> Vec<String> {
    strings(&["user", "actor"])
}
fn default_ticket_keys() -> Vec<String> {
    strings(&["ticket"])
}
fn default_approver_keys() -> Vec<String> {
    strings(&["approver"])
}
fn default_change_keys() -> Vec<String> {
    strings(&["change_ref", "change"])
}
fn default_true() -> bool {
    true
}

/// `identity:` of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Resolvers tried in order; the first that names a person sets `actor`.
    /// Default `[sqlcommenter, session, application_name, static_map]`.
    #[serde(default = "default_resolvers")]
    pub resolvers: Vec<Resolver>,
    /// Database user → person, optionally only for one `instance`
    /// (`- { db_user: svc_batch, actor: "Dana Ops", instance: pg-prod-1 }`).
    /// Entries naming the event's instance win over entries without one. Default none.
    #[serde(default)]
    pub static_map: Vec<StaticMapEntry>,
    /// Regexes (Rust `regex` syntax) over the application / program name, with
    /// named captures `user` (or `actor`), `ticket`, `approver`, `change_ref`:
    /// `'^jira-(?P<user>[a-z]+)$'`. First matching pattern wins. Default none.
    #[serde(default)]
    pub application_name: Vec<String>,
    /// Which sqlcommenter keys mean what.
    #[serde(default)]
    pub comment_keys: CommentKeysConfig,
    /// Sessions remembered at most; past that, the least recently used
    /// eighth is forgotten at once.
    /// Default 10 000 (a few hundred bytes each).
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            resolvers: default_resolvers(),
            static_map: Vec::new(),
            application_name: Vec::new(),
            comment_keys: CommentKeysConfig::default(),
            max_sessions: default_max_sessions(),
        }
    }
}

/// One `identity.static_map` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMapEntry {
    /// The database user (case-insensitive).
    pub db_user: String,
    /// The person.
    pub actor: String,
    /// Only for events of this instance. Default: any.
    #[serde(default)]
    pub instance: Option<String>,
}

/// `identity.comment_keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentKeysConfig {
    /// Keys naming the person. Default `[user, actor]`.
    #[serde(default = "default_actor_keys")]
    pub actor: Vec<String>,
    /// Default `[ticket]`.
    #[serde(default = "default_ticket_keys")]
    pub ticket: Vec<String>,
    /// Default `[approver]`.
    #[serde(default = "default_approver_keys")]
    pub approver: Vec<String>,
    /// Default `[change_ref, change]`.
    #[serde(default = "default_change_keys")]
    pub change_ref: Vec<String>,
}

impl Default for CommentKeysConfig {
    fn default() -> Self {
        CommentKeysConfig {
            actor: default_actor_keys(),
            ticket: default_ticket_keys(),
            approver: default_approver_keys(),
            change_ref: default_change_keys(),
        }
    }
}

/// `compliance:` of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfig {
    /// Fill `compliance` from the table in docs/compliance.md. Default true.
    #[serde(default = "default_true")]
    pub tags: bool,
    /// Database users with administrative access (PCI DSS 10.2.1.2). Default
    /// `[postgres, rdsadmin, azure_superuser, cloudsqladmin, root, admin, sa, sys, system]`.
    #[serde(default)]
    pub privileged_users: Option<Vec<String>>,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig {
            tags: true,
            privileged_users: None,
        }
    }
}

/// Everything configurable about enrichment, gathered from a source's config.
#[derive(Debug, Clone, Default)]
pub struct EnrichConfig {
    pub instance: Option<String>,
    pub context: Map<String, Value>,
    pub mask_literals: bool,
    pub source_name: Option<String>,
    pub identity: IdentityConfig,
    pub sensitivity: BTreeMap<String, Labels>,
    pub filter: FilterConfig,
    pub compliance: ComplianceConfig,
    /// The server's declared `pgaudit.log` (statement-id gap alerts only when it logs everything).
    pub pgaudit_log: Option<String>,
}

/// Whether a declared `pgaudit.log` value logs every statement class:
/// contains `all` and subtracts nothing (`all, -misc` does not).
pub fn pgaudit_logs_everything(v: &str) -> bool {
    let parts: Vec<String> = v
        .split(',')
        .map(|p| p.trim().trim_matches('\'').trim().to_ascii_lowercase())
        .collect();
    parts.iter().any(|p| p == "all") && !parts.iter().any(|p| p.starts_with('-'))
}

struct Rules {
    source_name: Option<String>,
    resolvers: Vec<Resolver>,
    static_map: Vec<StaticMapEntry>,
    comment_keys: CommentKeys,
    sensitivity: filter::Sensitivity,
    filter: FilterConfig,
    compliance: bool,
    privileged_users: Vec<String>,
    gap_alerts: bool,
}

/// Per-source enrichment (see the module doc for the steps).
#[derive(Clone)]
pub struct Enricher {
    pub instance: Option<String>,
    pub context: Map<String, Value>,
    pub redactor: Arc<Redactor>,
    rules: Arc<Rules>,
    sessions: SessionTable,
    audit_off: audit_off::AuditOff,
    apps: AppPatterns,
    /// Events the filter dropped so far.
    pub filtered: u64,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher::new(None, Map::new(), false)
    }
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("instance", &self.instance)
            .field("context", &self.context)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Enricher {
    /// Instance, static context and redaction only (plus the defaults of
    /// everything else: alerts, compliance tags, session carry-over).
    pub fn new(
        instance: Option<String>,
        context: Map<String, Value>,
        mask_literals: bool,
    ) -> Enricher {
        Enricher::build(EnrichConfig {
            instance,
            context,
            mask_literals,
            ..Default::default()
        })
        .expect("the default enrichment config is valid")
    }

    /// Everything from a source's config. Errors name the bad key.
    pub fn build(c: EnrichConfig) -> Result<Enricher, String> {
        let apps = AppPatterns::new(&c.identity.application_name)?;
        if c.identity.max_sessions == 0 {
            return Err("identity.max_sessions must be > 0".into());
        }
        let ck = &c.identity.comment_keys;
        let rules = Rules {
            source_name: c.source_name,
            resolvers: c.identity.resolvers.clone(),
            static_map: c.identity.static_map.clone(),
            comment_keys: CommentKeys {
                actor: ck.actor.clone(),
                ticket: ck.ticket.clone(),
                approver: ck.approver.clone(),
                change_ref: ck.change_ref.clone(),
            },
            sensitivity: filter::Sensitivity::new(&c.sensitivity),
            filter: c.filter,
            compliance: c.compliance.tags,
            privileged_users: c
                .compliance
                .privileged_users
                .unwrap_or_else(|| strings(compliance::DEFAULT_PRIVILEGED_USERS)),
            gap_alerts: c
                .pgaudit_log
                .as_deref()
                .is_some_and(pgaudit_logs_everything),
        };
        Ok(Enricher {
            instance: c.instance,
            context: c.context,
            redactor: Arc::new(Redactor::new(RedactorOptions {
                mask_literals: c.mask_literals,
            })),
            rules: Arc::new(rules),
            sessions: SessionTable::new(c.identity.max_sessions),
            audit_off: audit_off::AuditOff::default(),
            apps,
            filtered: 0,
        })
    }

    /// Enrich one event; never filters (agent START/STOP notices). A gap it
    /// reveals is noted in `extra.statement_id_gap` only.
    pub fn apply(&mut self, ev: &mut Event) {
        let mut ignored = Vec::new();
        self.enrich(ev, &mut ignored);
    }

    /// Enrich a chunk's events in place: `GAP` events for missing pgaudit
    /// statements are inserted before the event that revealed them, and
    /// events the filter rejects are removed (their positions still advance
    /// with the chunk). Returns how many the filter removed.
    pub fn process(&mut self, events: &mut Vec<Event>) -> u64 {
        // In place: a chunk's Vec is reused, nothing is moved in the common case.
        let mut gaps: Vec<(usize, Event)> = Vec::new();
        let mut found = Vec::new();
        for (i, ev) in events.iter_mut().enumerate() {
            self.enrich(ev, &mut found);
            gaps.extend(found.drain(..).map(|g| (i, g)));
        }
        if !gaps.is_empty() {
            let old = std::mem::take(events);
            events.reserve(old.len() + gaps.len());
            let mut gaps = gaps.into_iter().peekable();
            for (i, ev) in old.into_iter().enumerate() {
                while let Some((_, g)) = gaps.next_if(|(at, _)| *at == i) {
                    events.push(g);
                }
                events.push(ev);
            }
        }
        if self.rules.filter.is_noop() {
            return 0;
        }
        let before = events.len();
        let filter = &self.rules.filter;
        events.retain(|e| filter.keep(e));
        let dropped = (before - events.len()) as u64;
        self.filtered += dropped;
        dropped
    }

    /// Session-state persistence: start from the state saved with the
    /// checkpoint and journal changes from now on (see [`sessions`]).
    /// The open audit-off spans ([`audit_off`]) travel in the same value,
    /// under `audit_off`.
    pub fn restore_sessions(&mut self, saved: Option<&Value>) {
        if let Err(e) = self.sessions.restore(saved) {
            tracing::warn!(source = ?self.rules.source_name, "{e}; session identities start empty");
        }
        if let Err(e) = self
            .audit_off
            .restore(saved.and_then(|v| v.get("audit_off")))
        {
            tracing::warn!(source = ?self.rules.source_name, "{e}; no audit-off span is open");
        }
    }

    /// The events enriched from now on belong to chunk `seq`.
    pub fn begin_chunk(&mut self, seq: u64) {
        self.sessions.begin(seq);
        self.audit_off.begin(seq);
    }

    /// Chunks up to `seq` are delivered (their positions are checkpointed).
    pub fn commit_chunk(&mut self, seq: u64) {
        self.sessions.commit(seq);
        self.audit_off.commit(seq);
    }

    /// Session state as of the last committed chunk, for `SourceCheckpoint::sessions`.
    pub fn saved_sessions(&self) -> Option<Value> {
        let mut saved = self.sessions.saved();
        if let Some(off) = self.audit_off.saved() {
            let v = saved.get_or_insert_with(|| serde_json::json!({"version": 1, "sessions": []}));
            if let Some(o) = v.as_object_mut() {
                o.insert("audit_off".into(), off);
            }
        }
        saved
    }

    /// Steps 1–9; pushes onto `gaps` the GAP events to send before `ev`.
    fn enrich(&mut self, ev: &mut Event, gaps: &mut Vec<Event>) {
        if ev.instance.is_none() {
            ev.instance.clone_from(&self.instance);
        }
        self.redact(ev);
        let gap = self.track_session(ev);
        for mut g in self
            .audit_off
            .observe(ev, self.rules.source_name.as_deref())
        {
            self.tag_gap(&mut g);
            gaps.push(g);
        }
        if let Some(g) = gap.and_then(|(from, to)| self.gap(ev, from, to)) {
            gaps.push(g);
        }
        let state = match ev.session.id.as_deref() {
            Some(k) => self.sessions.peek(k),
            None => None,
        };

        // Identity and context.
        let keys = &self.rules.comment_keys;
        let comment = match ev.statement.as_deref() {
            Some(s) if s.contains("/*") => identity::from_comments(s, keys),
            _ => Found::default(),
        };
        if ev.client.application.is_none()
            && let Some(st) = state
        {
            ev.client.application.clone_from(&st.application);
        }
        if ev.db_user.is_none()
            && let Some(st) = state
        {
            ev.db_user.clone_from(&st.db_user);
        }
        let app = match ev.client.application.as_deref() {
            Some(a) if !self.apps.is_empty() => self.apps.find(a).clone(),
            _ => Found::default(),
        };
        if ev.actor.is_none() && ev.category != Category::Agent {
            for r in &self.rules.resolvers {
                let name = match r {
                    Resolver::Sqlcommenter => comment.actor.clone(),
                    Resolver::Session => state.and_then(|s| s.actor.clone()),
                    Resolver::ApplicationName => app.actor.clone(),
                    Resolver::StaticMap => self.static_actor(ev),
                };
                if let Some(name) = name {
                    ev.actor = Some(Actor {
                        name,
                        via: r.via().to_string(),
                    });
                    break;
                }
            }
        }
        for (k, v) in &app.context {
            ev.context
                .insert((*k).to_string(), Value::String(v.clone()));
        }
        if let Some(st) = state {
            for (k, v) in &st.context {
                ev.context.insert(k.clone(), Value::String(v.clone()));
            }
        }
        // A LOGOUT is resolved with the state the session ends with, which
        // is then forgotten.
        if ev.category == Category::Auth
            && ev.action == "LOGOUT"
            && let Some(k) = ev.session.id.as_deref()
        {
            self.sessions.remove(k);
        }
        for (k, v) in &comment.context {
            ev.context
                .insert((*k).to_string(), Value::String(v.clone()));
        }
        for (k, v) in &self.context {
            ev.context.entry(k.clone()).or_insert_with(|| v.clone());
        }

        if ev.category == Category::AuditConfig {
            ev.alert = true;
        }
        self.rules.sensitivity.apply(ev);
        if self.rules.compliance {
            compliance::tag(
                ev,
                &compliance::Ctx {
                    privileged_users: &self.rules.privileged_users,
                },
            );
        }
        self.redact_added(ev);
    }

    fn static_actor(&self, ev: &Event) -> Option<String> {
        let user = ev.db_user.as_deref()?;
        let m = |e: &&StaticMapEntry| e.db_user.eq_ignore_ascii_case(user);
        let inst = ev.instance.as_deref();
        self.rules
            .static_map
            .iter()
            .filter(m)
            .find(|e| e.instance.is_some() && e.instance.as_deref() == inst)
            .or_else(|| {
                self.rules
                    .static_map
                    .iter()
                    .filter(m)
                    .find(|e| e.instance.is_none())
            })
            .map(|e| e.actor.clone())
    }

    /// Update the session's state from `ev` (it stays in `self.sessions`,
    /// where `enrich` reads it); returns a statement-id gap
    /// `(first missing, last missing)`.
    fn track_session(&mut self, ev: &Event) -> Option<(i64, i64)> {
        let key = ev.session.id.as_deref()?;
        let failed = ev.outcome == Outcome::Failure;
        let login = ev.category == Category::Auth && ev.action == "LOGIN" && !failed;
        let settings = match ev.statement.as_deref() {
            Some(s) if !failed => identity::settings(s),
            _ => Vec::new(),
        };
        let stmt_id = ev
            .session
            .statement_id
            .filter(|_| ev.extra.contains_key("pgaudit"));
        let gap_after = |last: Option<i64>| match (stmt_id, last) {
            (Some(id), Some(last)) if id > last + 1 => Some((last + 1, id - 1)),
            _ => None,
        };
        if login || !settings.is_empty() {
            let current = self.sessions.get(key);
            let gap = gap_after(current.and_then(|s| s.last_statement_id));
            let mut st = if login {
                SessionState {
                    application: ev.client.application.clone(),
                    db_user: ev.db_user.clone(),
                    ..Default::default()
                }
            } else {
                current.cloned().unwrap_or_default()
            };
            for s in settings {
                match s {
                    Setting::ApplicationName(v) => st.application = v,
                    Setting::Actor(v) => st.actor = v,
                    Setting::Context(k, Some(v)) => {
                        st.context.insert(k.to_string(), v);
                    }
                    Setting::Context(k, None) => {
                        st.context.remove(k);
                    }
                    Setting::ResetAll => {
                        st.actor = None;
                        st.context.clear();
                    }
                }
            }
            if stmt_id.is_some() {
                st.last_statement_id = stmt_id;
            }
            self.sessions.put(key, st);
            return gap;
        }
        let Some(id) = stmt_id else {
            // Nothing changes; the session was used.
            self.sessions.get(key);
            return None;
        };
        // The common case: only the statement counter moves.
        match self.sessions.advance_statement_id(key, id) {
            Some(last) => gap_after(last),
            None => {
                let st = SessionState {
                    last_statement_id: Some(id),
                    ..Default::default()
                };
                self.sessions.put(key, st);
                None
            }
        }
    }

    /// A statement-id gap: an `agent` `GAP` event when `pgaudit_log` declares
    /// that everything is logged, else a note in `extra.statement_id_gap`.
    fn gap(&self, ev: &mut Event, from: i64, to: i64) -> Option<Event> {
        let session = ev.session.id.clone().unwrap_or_default();
        if !self.rules.gap_alerts {
            ev.extra.insert(
                "statement_id_gap".into(),
                serde_json::json!({"from": from, "to": to}),
            );
            return None;
        }
        let key = format!("gap:{}", ev.id);
        let pos = RecordPos {
            source_key: &key,
            path: ev.source.path.as_deref(),
            offset: ev.source.offset.unwrap_or(0),
            format: &ev.source.format,
        };
        let mut g = Event::new(ev.engine, ev.time, &pos, 0);
        g.category = Category::Agent;
        g.action = "GAP".into();
        g.outcome = Outcome::Failure;
        g.alert = true;
        g.instance.clone_from(&ev.instance);
        g.db_user.clone_from(&ev.db_user);
        g.database.clone_from(&ev.database);
        g.client = ev.client.clone();
        g.session.id = ev.session.id.clone();
        if let Some(n) = &self.rules.source_name {
            g.extra.insert("source_name".into(), n.as_str().into());
        }
        g.extra.insert("session_id".into(), session.as_str().into());
        g.extra.insert("from_statement_id".into(), from.into());
        g.extra.insert("to_statement_id".into(), to.into());
        g.extra.insert(
            "reason".into(),
            format!(
                "pgaudit statement ids {from}..={to} of session {session} are missing from the log (pgaudit.log declared to log everything)"
            )
            .into(),
        );
        ev.extra.insert(
            "statement_id_gap".into(),
            serde_json::json!({"from": from, "to": to}),
        );
        self.tag_gap(&mut g);
        Some(g)
    }

    /// Static context and compliance tags of a GAP event enrichment made.
    fn tag_gap(&self, g: &mut Event) {
        for (k, v) in &self.context {
            g.context.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if self.rules.compliance {
            compliance::tag(
                g,
                &compliance::Ctx {
                    privileged_users: &self.rules.privileged_users,
                },
            );
        }
    }

    /// Replace credentials in every text field of `ev`.
    pub fn redact(&self, ev: &mut Event) {
        let mut count = 0usize;
        let mut xml_count = 0usize;
        let r = &*self.redactor;
        let mut fix = |s: &mut String| {
            if let Some((new, n)) = r.redact(s) {
                count += n;
                *s = new;
            }
        };
        if let Some(s) = ev.statement.as_mut() {
            fix(s);
        }
        if let Some(s) = ev.raw.as_mut() {
            // XML audit records write a statement's quotes as entities
            // (`PASSWORD &apos;p&apos;`): decode, redact, re-escape.
            if is_xml_format(&ev.source.format) {
                if let Some((new, n)) = r.redact_xml(s) {
                    xml_count += n;
                    *s = new;
                }
            } else {
                fix(s);
            }
        }
        if let Some(s) = ev.parse_error.as_mut() {
            fix(s);
        }
        if let Some(e) = ev.error.as_mut()
            && let Some(s) = e.message.as_mut()
        {
            fix(s);
        }
        for v in ev.extra.values_mut() {
            redact_value(v, &mut fix);
        }
        let count = count + xml_count;
        if count > 0 {
            ev.redacted = true;
            ev.redacted_count += count as u32;
        }
    }

    /// Redaction of the fields enrichment adds (`actor.name`, `context`).
    fn redact_added(&self, ev: &mut Event) {
        let mut count = 0usize;
        let r = &*self.redactor;
        let mut fix = |s: &mut String| {
            if let Some((new, n)) = r.redact(s) {
                count += n;
                *s = new;
            }
        };
        if let Some(a) = ev.actor.as_mut() {
            fix(&mut a.name);
        }
        for v in ev.context.values_mut() {
            redact_value(v, &mut fix);
        }
        if count > 0 {
            ev.redacted = true;
            ev.redacted_count += count as u32;
        }
    }
}

/// Formats whose raw record is XML (`percona-audit-xml`,
/// `mysql-enterprise-xml`, `oracle-audit-xml`; see `formats.rs`).
fn is_xml_format(format: &str) -> bool {
    format.ends_with("-xml")
}

fn redact_value(v: &mut Value, fix: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => fix(s),
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, fix)),
        Value::Object(o) => o.values_mut().for_each(|x| redact_value(x, fix)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
