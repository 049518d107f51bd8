//! Identity and change-context extraction from statement text and
//! application names: sqlcommenter comments, session-setting statements
//! (`SET onetrail.actor`, `set_config(…)`, `SET @onetrail_actor`,
//! `SET application_name`) and `application_name` patterns.
//!
//! Everything here is pure (no state): [`super::sessions`] keeps what a
//! session said, [`super::Enricher`] decides who wins.

use std::collections::HashMap;

use regex::Regex;

/// Context keys onetrail extracts (besides the actor).
pub const CONTEXT_KEYS: [&str; 3] = ["ticket", "approver", "change_ref"];

/// What a text told about identity and change context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub actor: Option<String>,
    /// `(ticket|approver|change_ref, value)`.
    pub context: Vec<(&'static str, String)>,
}

impl Found {
    pub fn is_empty(&self) -> bool {
        self.actor.is_none() && self.context.is_empty()
    }
}

/// Which comment keys mean what (`identity.comment_keys`).
#[derive(Debug, Clone)]
pub struct CommentKeys {
    pub actor: Vec<String>,
    pub ticket: Vec<String>,
    pub approver: Vec<String>,
    pub change_ref: Vec<String>,
}

impl CommentKeys {
    fn role(&self, key: &str) -> Option<&'static str> {
        let has = |l: &[String]| l.iter().any(|k| k.eq_ignore_ascii_case(key));
        if has(&self.actor) {
            Some("actor")
        } else if has(&self.ticket) {
            Some("ticket")
        } else if has(&self.approver) {
            Some("approver")
        } else if has(&self.change_ref) {
            Some("change_ref")
        } else {
            None
        }
    }
}

/// Identity and context from sqlcommenter-style comments
/// (`/*user='alice%40corp',ticket='OPS-42'*/`) anywhere in `stmt`. Keys and
/// values are URL-decoded; `\'` inside a value is a quote. A comment that is
/// not entirely `key='value'` pairs is ignored. The last comment wins.
pub fn from_comments(stmt: &str, keys: &CommentKeys) -> Found {
    let mut found = Found::default();
    let mut rest = stmt;
    while let Some(i) = rest.find("/*") {
        let body_start = &rest[i + 2..];
        let Some(end) = body_start.find("*/") else {
            break;
        };
        let body = &body_start[..end];
        rest = &body_start[end + 2..];
        let Some(pairs) = comment_pairs(body) else {
            continue;
        };
        for (k, v) in pairs {
            match keys.role(&k) {
                Some("actor") => found.actor = Some(v),
                Some(role) => set_ctx(&mut found.context, role, v),
                None => {}
            }
        }
    }
    found
}

fn set_ctx(ctx: &mut Vec<(&'static str, String)>, key: &'static str, v: String) {
    if let Some(e) = ctx.iter_mut().find(|(k, _)| *k == key) {
        e.1 = v;
    } else {
        ctx.push((key, v));
    }
}

/// `key='value',key2='value2'` → pairs, or `None` if the body has another shape.
fn comment_pairs(body: &str) -> Option<Vec<(String, String)>> {
    let b = body.trim().as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && b[i] != b'\'' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return None;
        }
        let key = std::str::from_utf8(&b[ks..i]).ok()?.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        i += 1;
        if i >= b.len() || b[i] != b'\'' {
            return None;
        }
        i += 1;
        let mut val = Vec::new();
        loop {
            match b.get(i) {
                None => return None,
                Some(b'\\') if b.get(i + 1) == Some(&b'\'') => {
                    val.push(b'\'');
                    i += 2;
                }
                Some(b'\'') => {
                    i += 1;
                    break;
                }
                Some(&c) => {
                    val.push(c);
                    i += 1;
                }
            }
        }
        let val = String::from_utf8(val).ok()?;
        out.push((url_decode(key), url_decode(&val)));
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return Some(out);
        }
        if b[i] != b',' {
            return None;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
    }
}

/// Percent-decoding (`%40` → `@`); invalid sequences are kept as they are.
pub fn url_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A session setting a statement makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// `SET application_name = 'x'` (PostgreSQL).
    ApplicationName(Option<String>),
    /// `onetrail.actor` / `@onetrail_actor`; `None` = reset.
    Actor(Option<String>),
    /// `onetrail.ticket|approver|change_ref` / `@onetrail_…`; `None` = reset.
    Context(&'static str, Option<String>),
    /// `RESET ALL` / `DISCARD ALL`: forget everything the session said.
    ResetAll,
}

fn variable_role(name: &str) -> Option<Setting> {
    let n = name.trim_matches(['"', '`']).to_ascii_lowercase();
    let key = n
        .strip_prefix("onetrail.")
        .or_else(|| n.strip_prefix("@onetrail_"))
        .or_else(|| n.strip_prefix("@@session.onetrail_"));
    match key {
        Some("actor") | Some("user") => Some(Setting::Actor(None)),
        Some(k) => CONTEXT_KEYS
            .iter()
            .find(|c| **c == k)
            .map(|c| Setting::Context(c, None)),
        None if n == "application_name" => Some(Setting::ApplicationName(None)),
        None => None,
    }
}

fn with_value(s: Setting, v: Option<String>) -> Setting {
    let v = v.filter(|x| !x.is_empty());
    match s {
        Setting::Actor(_) => Setting::Actor(v),
        Setting::Context(k, _) => Setting::Context(k, v),
        Setting::ApplicationName(_) => Setting::ApplicationName(v),
        Setting::ResetAll => Setting::ResetAll,
    }
}

/// The session settings `stmt` makes: `SET [SESSION|LOCAL] name {=|TO} value`,
/// `RESET name`, `RESET ALL`, `DISCARD ALL`, MySQL `SET @name = value [, …]`,
/// and `set_config('name', 'value', …)` calls anywhere in the text. Only the
/// names onetrail knows (`application_name`, `onetrail.*`, `@onetrail_*`).
pub fn settings(stmt: &str) -> Vec<Setting> {
    let mut out = Vec::new();
    let body = skip_space_and_comments(stmt);
    let starts = |kw: &str| {
        body.len() >= kw.len() && body.as_bytes()[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
    };
    if starts("SET") && body[3..].starts_with(|c: char| c.is_whitespace()) {
        parse_set(&body[3..], &mut out);
    } else if starts("RESET") && body[5..].starts_with(|c: char| c.is_whitespace()) {
        let name = body[5..].trim().trim_end_matches(';').trim();
        if name.eq_ignore_ascii_case("all") {
            out.push(Setting::ResetAll);
        } else if let Some(s) = variable_role(name) {
            out.push(with_value(s, None));
        }
    } else if starts("DISCARD ALL") {
        out.push(Setting::ResetAll);
    }
    if contains_ignore_case(stmt, "set_config") {
        parse_set_config(stmt, &mut out);
    }
    out
}

fn parse_set(mut s: &str, out: &mut Vec<Setting>) {
    loop {
        s = s.trim_start();
        for kw in ["SESSION ", "LOCAL "] {
            if s.len() >= kw.len() && s[..kw.len()].eq_ignore_ascii_case(kw) {
                s = s[kw.len()..].trim_start();
            }
        }
        let name_end = s
            .find(|c: char| c.is_whitespace() || c == '=' || c == ':' || c == ',' || c == ';')
            .unwrap_or(s.len());
        let name = &s[..name_end];
        let mut r = s[name_end..].trim_start();
        if let Some(x) = r.strip_prefix(":=").or_else(|| r.strip_prefix('=')) {
            r = x;
        } else if r.len() >= 3 && r[..3].eq_ignore_ascii_case("TO ") {
            r = &r[3..];
        } else {
            return;
        }
        let r = r.trim_start();
        // A bare `NULL` (MySQL/MariaDB `SET @onetrail_actor = NULL`) unsets
        // the variable; a quoted 'NULL' is a name like any other.
        let bare = !r.starts_with(['\'', '"']);
        let (value, rest) = take_value(r);
        if let Some(role) = variable_role(name) {
            let v = value.filter(|v| {
                !(v.eq_ignore_ascii_case("default") || bare && v.eq_ignore_ascii_case("null"))
            });
            out.push(with_value(role, v));
        }
        match rest.trim_start().strip_prefix(',') {
            Some(more) => s = more,
            None => return,
        }
    }
}

/// A literal or bare word; returns it and what follows.
fn take_value(s: &str) -> (Option<String>, &str) {
    let b = s.as_bytes();
    match b.first() {
        Some(&q @ (b'\'' | b'"')) => {
            let mut v = Vec::new();
            let mut i = 1;
            while i < b.len() {
                if b[i] == q {
                    if b.get(i + 1) == Some(&q) {
                        v.push(q);
                        i += 2;
                        continue;
                    }
                    return (Some(String::from_utf8_lossy(&v).into_owned()), &s[i + 1..]);
                }
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == q {
                    v.push(q);
                    i += 2;
                    continue;
                }
                v.push(b[i]);
                i += 1;
            }
            (None, "")
        }
        Some(_) => {
            let end = s
                .find(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .unwrap_or(s.len());
            (Some(s[..end].to_string()), &s[end..])
        }
        None => (None, s),
    }
}

fn parse_set_config(stmt: &str, out: &mut Vec<Setting>) {
    let lower = stmt.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("set_config") {
        let at = from + i + "set_config".len();
        from = at;
        let r = stmt[at..].trim_start();
        let Some(r) = r.strip_prefix('(') else {
            continue;
        };
        let (name, r) = take_value(r.trim_start());
        let Some(r) = r.trim_start().strip_prefix(',') else {
            continue;
        };
        let (value, _) = take_value(r.trim_start());
        if let (Some(name), Some(value)) = (name, value)
            && let Some(role) = variable_role(&name)
            && !value.eq_ignore_ascii_case("null")
        {
            out.push(with_value(role, Some(value)));
        }
    }
}

fn skip_space_and_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("/*") {
            match r.find("*/") {
                Some(e) => s = &r[e + 2..],
                None => return "",
            }
        } else if let Some(r) = s.strip_prefix("--") {
            match r.find('\n') {
                Some(e) => s = &r[e + 1..],
                None => return "",
            }
        } else {
            return s;
        }
    }
}

/// ASCII case-insensitive substring test without allocating.
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    if h.len() < n.len() {
        return false;
    }
    // Anchor on a needle byte that has no case (`_`, `$`, `.`…) when there is
    // one: one exact compare per haystack byte, and the full compare runs
    // only where the anchor is (this runs for every statement: BENCHMARKS.md).
    let k = n.iter().position(|c| !c.is_ascii_alphabetic()).unwrap_or(0);
    let last = h.len() - n.len();
    if k > 0 || !n[0].is_ascii_alphabetic() {
        return memchr::memchr_iter(n[k], &h[k..=last + k])
            .any(|i| h[i..i + n.len()].eq_ignore_ascii_case(n));
    }
    let first = n[0].to_ascii_lowercase();
    (0..=last)
        .any(|i| h[i].to_ascii_lowercase() == first && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `application_name` / program-name patterns with named captures `user`
/// (or `actor`), `ticket`, `approver`, `change_ref`. Results are cached per
/// application name (at most [`AppPatterns::CACHE`] names; the cache is
/// cleared when full), so the regexes run once per distinct name.
#[derive(Debug, Clone, Default)]
pub struct AppPatterns {
    patterns: Vec<Regex>,
    cache: HashMap<String, Found>,
}

impl AppPatterns {
    pub const CACHE: usize = 4096;

    pub fn new(patterns: &[String]) -> Result<AppPatterns, String> {
        let mut out = Vec::new();
        for p in patterns {
            let re = Regex::new(p)
                .map_err(|e| format!("identity.application_name: bad pattern {p:?}: {e}"))?;
            let names: Vec<&str> = re.capture_names().flatten().collect();
            if !names
                .iter()
                .any(|n| matches!(*n, "user" | "actor") || CONTEXT_KEYS.contains(n))
            {
                return Err(format!(
                    "identity.application_name: pattern {p:?} has no named capture `(?P<user>…)` (or actor, ticket, approver, change_ref)"
                ));
            }
            out.push(re);
        }
        Ok(AppPatterns {
            patterns: out,
            cache: HashMap::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// What the first matching pattern captures from `app`.
    pub fn find(&mut self, app: &str) -> &Found {
        if !self.cache.contains_key(app) {
            if self.cache.len() >= Self::CACHE {
                self.cache.clear();
            }
            let found = self.compute(app);
            self.cache.insert(app.to_string(), found);
        }
        &self.cache[app]
    }

    fn compute(&self, app: &str) -> Found {
        let mut f = Found::default();
        for re in &self.patterns {
            let Some(c) = re.captures(app) else {
                continue;
            };
            f.actor = c
                .name("user")
                .or_else(|| c.name("actor"))
                .map(|m| m.as_str().to_string())
                .filter(|s| !s.is_empty());
            for k in CONTEXT_KEYS {
                if let Some(m) = c.name(k).filter(|m| !m.as_str().is_empty()) {
                    f.context.push((k, m.as_str().to_string()));
                }
            }
            break;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> CommentKeys {
        CommentKeys {
            actor: vec!["user".into(), "actor".into()],
            ticket: vec!["ticket".into()],
            approver: vec!["approver".into()],
            change_ref: vec!["change_ref".into()],
        }
    }

    #[test]
    fn sqlcommenter_comment_is_decoded() {
        let f = from_comments(
            "SELECT * FROM t /*user='alice%40corp',ticket='OPS-42',traceparent='00-ab-cd-01'*/",
            &keys(),
        );
        assert_eq!(f.actor.as_deref(), Some("alice@corp"));
        assert_eq!(f.context, vec![("ticket", "OPS-42".to_string())]);
        // Leading comment, escaped quote, approver and change_ref.
        let f = from_comments(
            "/* actor='o\\'brien', approver='bob', change_ref='CHG%2D7' */ DELETE FROM t",
            &keys(),
        );
        assert_eq!(f.actor.as_deref(), Some("o'brien"));
        assert_eq!(
            f.context,
            vec![
                ("approver", "bob".to_string()),
                ("change_ref", "CHG-7".to_string())
            ]
        );
    }

    #[test]
    fn ordinary_comments_are_not_sqlcommenter() {
        for s in [
            "SELECT 1 /* user is alice */",
            "SELECT 1 /* user=alice */",
            "SELECT 1 /*user='alice' and more*/",
            "SELECT 1 /*user='unterminated*/",
            "SELECT '/*' AS x",
        ] {
            assert!(from_comments(s, &keys()).is_empty(), "{s}");
        }
        // Unknown keys only: nothing.
        assert!(from_comments("SELECT 1 /*route='/x'*/", &keys()).is_empty());
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode("a%40b%2Cc"), "a@b,c");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
        assert_eq!(url_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn set_statements() {
        use Setting::*;
        assert_eq!(
            settings("SET onetrail.actor = 'carol'"),
            vec![Actor(Some("carol".into()))]
        );
        assert_eq!(
            settings("set onetrail.actor to carol;"),
            vec![Actor(Some("carol".into()))]
        );
        assert_eq!(
            settings("SET SESSION application_name = 'jira-alice'"),
            vec![ApplicationName(Some("jira-alice".into()))]
        );
        assert_eq!(
            settings("SET LOCAL onetrail.ticket TO 'OPS-1'"),
            vec![Context("ticket", Some("OPS-1".into()))]
        );
        assert_eq!(settings("RESET onetrail.actor"), vec![Actor(None)]);
        assert_eq!(settings("SET onetrail.actor = DEFAULT"), vec![Actor(None)]);
        assert_eq!(settings("RESET ALL"), vec![ResetAll]);
        assert_eq!(settings("DISCARD ALL"), vec![ResetAll]);
        assert_eq!(
            settings("SELECT set_config('onetrail.actor', 'dave', false)"),
            vec![Actor(Some("dave".into()))]
        );
        assert_eq!(
            settings("select SET_CONFIG( 'onetrail.approver' , 'O''Neil', true)"),
            vec![Context("approver", Some("O'Neil".into()))]
        );
        // MySQL user variables, several in one SET.
        assert_eq!(
            settings("SET @onetrail_actor = 'erin', @onetrail_change_ref := \"CHG-9\""),
            vec![
                Actor(Some("erin".into())),
                Context("change_ref", Some("CHG-9".into()))
            ]
        );
        // `= NULL` unsets a MySQL user variable; a quoted 'NULL' does not.
        assert_eq!(
            settings("SET @onetrail_actor = NULL, @onetrail_ticket := null"),
            vec![Actor(None), Context("ticket", None)]
        );
        assert_eq!(
            settings("SET @onetrail_actor = 'NULL'"),
            vec![Actor(Some("NULL".into()))]
        );
        assert_eq!(
            settings("/* c */ SET @x = 1, @onetrail_actor='f'"),
            vec![Actor(Some("f".into()))]
        );
        // Other settings and other statements: nothing.
        assert!(settings("SET search_path = public").is_empty());
        assert!(settings("SELECT 'SET onetrail.actor = x'").is_empty());
        assert!(settings("SETTLE").is_empty());
        assert!(settings("").is_empty());
    }

    #[test]
    fn application_name_patterns_capture_and_cache() {
        let mut p = AppPatterns::new(&[
            "^jira-(?P<user>[a-z]+)$".to_string(),
            "^deploy/(?P<actor>[a-z]+)/(?P<change_ref>CHG-[0-9]+)$".to_string(),
        ])
        .unwrap();
        assert_eq!(p.find("jira-alice").actor.as_deref(), Some("alice"));
        let f = p.find("deploy/bob/CHG-12").clone();
        assert_eq!(f.actor.as_deref(), Some("bob"));
        assert_eq!(f.context, vec![("change_ref", "CHG-12".to_string())]);
        assert!(p.find("psql").is_empty());
        assert!(p.find("jira-Alice").is_empty());
        assert_eq!(p.cache.len(), 4);
        assert!(
            AppPatterns::new(&["^x$".into()])
                .unwrap_err()
                .contains("named capture")
        );
        assert!(
            AppPatterns::new(&["(".into()])
                .unwrap_err()
                .contains("bad pattern")
        );
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ignore_case("SELECT Set_Config(", "set_config"));
        assert!(!contains_ignore_case("set_conf", "set_config"));
        assert!(contains_ignore_case("x", ""));
        for (h, n) in [
            ("select * from sys.AUD$ x", "aud$"),
            ("aud$", "aud$"),
            ("xaud", "aud$"),
            ("SELECT SET_CONFIG('a')", "set_config"),
            ("set_confi", "set_config"),
            ("_", "_"),
            ("a_b", "b"),
            ("dba_fga_audit_trail", "fga_log$"),
            (
                "Ünified_audit_trail unified_AUDIT_trail",
                "unified_audit_trail",
            ),
        ] {
            let naive = h.len() >= n.len()
                && (0..=h.len() - n.len())
                    .any(|i| h.as_bytes()[i..i + n.len()].eq_ignore_ascii_case(n.as_bytes()));
            assert_eq!(contains_ignore_case(h, n), naive, "{h} / {n}");
        }
    }
}
