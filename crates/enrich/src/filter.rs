//! Sensitive-object labels and the include/exclude filter.

use std::collections::BTreeMap;

use onetrail_event::{Category, Event, Outcome};
use serde::Deserialize;

/// Case-insensitive glob: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// One label or several (`phi` or `[pci, pii]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Labels {
    One(String),
    Many(Vec<String>),
}

impl Labels {
    fn iter(&self) -> impl Iterator<Item = &String> {
        match self {
            Labels::One(s) => std::slice::from_ref(s).iter(),
            Labels::Many(v) => v.iter(),
        }
    }
}

/// Object globs → labels.
#[derive(Debug, Clone, Default)]
pub struct Sensitivity {
    rules: Vec<(String, Vec<String>)>,
}

impl Sensitivity {
    pub fn new(map: &BTreeMap<String, Labels>) -> Sensitivity {
        Sensitivity {
            rules: map
                .iter()
                .map(|(g, l)| {
                    (
                        g.clone(),
                        l.iter().map(|s| s.to_ascii_lowercase()).collect(),
                    )
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Labels of the objects `ev` touches: each object's `schema.name` (or
    /// `name`) against every glob; a glob without `.` also matches the bare
    /// name. When the parser named no object, the identifiers of the statement
    /// are tried instead (a heuristic: `FROM billing.cards c` matches
    /// `billing.cards`). Sorted, without duplicates, merged into `ev.sensitivity`.
    pub fn apply(&self, ev: &mut Event) {
        if self.rules.is_empty() {
            return;
        }
        let mut labels: Vec<String> = Vec::new();
        let mut test = |name: &str, bare: &str| {
            for (g, l) in &self.rules {
                if glob_match(g, name) || (!g.contains('.') && glob_match(g, bare)) {
                    labels.extend(l.iter().cloned());
                }
            }
        };
        if ev.objects.is_empty() {
            if let Some(stmt) = ev.statement.as_deref() {
                for id in identifiers(stmt) {
                    let bare = id.rsplit('.').next().unwrap_or(&id).to_string();
                    test(&id, &bare);
                }
            }
        } else {
            for o in &ev.objects {
                let Some(name) = o.name.as_deref() else {
                    continue;
                };
                match o.schema.as_deref() {
                    Some(s) => test(&format!("{s}.{name}"), name),
                    None => test(name, name),
                }
            }
        }
        if labels.is_empty() {
            return;
        }
        labels.append(&mut ev.sensitivity);
        labels.sort();
        labels.dedup();
        ev.sensitivity = labels;
    }
}

/// Dotted identifiers of a statement, quotes (`"`, `` ` ``, `[ ]`) removed;
/// string literals and comments skipped.
fn identifiers(stmt: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = stmt.as_bytes();
    let mut i = 0;
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        let t = cur.trim_matches('.');
        if t.contains(|c: char| c.is_ascii_alphabetic() || c == '_') && out.len() < 256 {
            out.push(t.to_string());
        }
        cur.clear();
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => {
                flush(&mut cur, &mut out);
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                flush(&mut cur, &mut out);
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                flush(&mut cur, &mut out);
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'"' | b'`' | b'[' => {
                let close = match c {
                    b'[' => b']',
                    x => x,
                };
                i += 1;
                let s = i;
                while i < b.len() && b[i] != close {
                    i += 1;
                }
                cur.push_str(&String::from_utf8_lossy(&b[s..i.min(b.len())]));
            }
            b'.' => cur.push('.'),
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let s = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                cur.push_str(&String::from_utf8_lossy(&b[s..i]));
                continue;
            }
            _ => flush(&mut cur, &mut out),
        }
        i += 1;
    }
    flush(&mut cur, &mut out);
    out
}

/// `filter:` of a source. Rules are tried in order and the first that
/// matches decides; if none matches, the preset decides; the default keeps
/// every event.
///
/// Protected events — `auth` failures, `dcl`, `audit_config`, `agent`,
/// `unparsed`, and any event with `alert: true` — are dropped only by an
/// `exclude` rule whose `category` list names their category explicitly.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// `all` (default: keep everything) or `recommended`: DDL, DML, DCL,
    /// auth, audit_config, function, session, admin, agent, other and
    /// unparsed always; `read` (SELECT, COPY TO) only when it touches an
    /// object with a `sensitivity` label.
    #[serde(default)]
    pub preset: Preset,
    /// `- include: {…}` / `- exclude: {…}`, first match wins.
    #[serde(default)]
    pub rules: Vec<FilterRule>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    #[default]
    All,
    Recommended,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterRule {
    Include(Match),
    Exclude(Match),
}

/// Conditions of a rule; all given ones must hold (each list: any of).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Event categories (`read`, `dml`, …).
    #[serde(default)]
    pub category: Vec<Category>,
    /// Actions, case-insensitive globs (`SELECT`, `CREATE *`).
    #[serde(default)]
    pub action: Vec<String>,
    /// Database users, globs.
    #[serde(default)]
    pub db_user: Vec<String>,
    /// Databases, globs.
    #[serde(default)]
    pub database: Vec<String>,
    /// Objects (`schema.name`), globs; matches when any object of the event does.
    #[serde(default)]
    pub object: Vec<String>,
    /// Sensitivity labels; matches when the event carries any of them.
    #[serde(default)]
    pub sensitivity: Vec<String>,
    /// `success`, `failure` or `unknown`.
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

impl Match {
    fn matches(&self, ev: &Event) -> bool {
        let any = |globs: &[String], v: Option<&str>| {
            globs.is_empty() || v.is_some_and(|v| globs.iter().any(|g| glob_match(g, v)))
        };
        (self.category.is_empty() || self.category.contains(&ev.category))
            && any(&self.action, Some(&ev.action))
            && any(&self.db_user, ev.db_user.as_deref())
            && any(&self.database, ev.database.as_deref())
            && (self.object.is_empty()
                || ev.objects.iter().any(|o| {
                    let name = match (&o.schema, &o.name) {
                        (Some(s), Some(n)) => format!("{s}.{n}"),
                        (None, Some(n)) => n.clone(),
                        _ => return false,
                    };
                    self.object.iter().any(|g| glob_match(g, &name))
                }))
            && (self.sensitivity.is_empty()
                || ev
                    .sensitivity
                    .iter()
                    .any(|l| self.sensitivity.iter().any(|s| s.eq_ignore_ascii_case(l))))
            && self.outcome.is_none_or(|o| o == ev.outcome)
    }
}

/// Whether filtering may drop `ev` without a rule naming its category.
pub fn protected(ev: &Event) -> bool {
    ev.alert
        || matches!(
            ev.category,
            Category::Dcl | Category::AuditConfig | Category::Agent | Category::Unparsed
        )
        || (ev.category == Category::Auth && ev.outcome == Outcome::Failure)
}

impl FilterConfig {
    pub fn is_noop(&self) -> bool {
        self.preset == Preset::All && self.rules.is_empty()
    }

    /// Keep `ev`? Call after sensitivity labels and alerts are set.
    pub fn keep(&self, ev: &Event) -> bool {
        for r in &self.rules {
            match r {
                FilterRule::Include(m) if m.matches(ev) => return true,
                FilterRule::Exclude(m) if m.matches(ev) => {
                    if protected(ev) && !m.category.contains(&ev.category) {
                        continue;
                    }
                    return false;
                }
                _ => {}
            }
        }
        match self.preset {
            Preset::All => true,
            Preset::Recommended => ev.category != Category::Read || !ev.sensitivity.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onetrail_event::{DbObject, Engine, RecordPos};

    fn ev(cat: Category, objects: &[(&str, &str)]) -> Event {
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "t",
        };
        let mut e = Event::new(Engine::Postgresql, chrono::Utc::now(), &pos, 0);
        e.category = cat;
        e.action = "SELECT".into();
        e.outcome = Outcome::Success;
        e.objects = objects
            .iter()
            .map(|(s, n)| DbObject {
                kind: Some("table".into()),
                schema: Some(s.to_string()),
                name: Some(n.to_string()),
            })
            .collect();
        e
    }

    fn sens() -> Sensitivity {
        let mut m = BTreeMap::new();
        m.insert("public.patients*".to_string(), Labels::One("phi".into()));
        m.insert(
            "billing.cards".to_string(),
            Labels::Many(vec!["PCI".into(), "pii".into()]),
        );
        m.insert("ssn_vault".to_string(), Labels::One("pii".into()));
        Sensitivity::new(&m)
    }

    #[test]
    fn globs() {
        assert!(glob_match("public.patients*", "public.patients_2024"));
        assert!(glob_match("PUBLIC.Patients*", "public.patients"));
        assert!(glob_match("b?lling.*", "billing.cards"));
        assert!(!glob_match("billing.cards", "billing.cards_old"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acd"));
        assert!(glob_match("*.cards", "x.y.cards"));
    }

    #[test]
    fn sensitivity_from_objects_and_statement() {
        let s = sens();
        let mut e = ev(
            Category::Read,
            &[("public", "patients"), ("billing", "cards")],
        );
        s.apply(&mut e);
        assert_eq!(e.sensitivity, vec!["pci", "phi", "pii"]);
        let mut e = ev(Category::Read, &[("public", "notes")]);
        s.apply(&mut e);
        assert!(e.sensitivity.is_empty());
        // Bare-name glob matches any schema.
        let mut e = ev(Category::Read, &[("vault", "ssn_vault")]);
        s.apply(&mut e);
        assert_eq!(e.sensitivity, vec!["pii"]);
        // No objects: identifiers of the statement; literals and comments skipped.
        let mut e = ev(Category::Read, &[]);
        e.statement = Some("SELECT * FROM \"billing\".\"cards\" c WHERE x = 'public.patients' /* public.patients */".into());
        s.apply(&mut e);
        assert_eq!(e.sensitivity, vec!["pci", "pii"]);
        let mut e = ev(Category::Read, &[]);
        e.statement = Some("select * from `billing`.`cards`".into());
        s.apply(&mut e);
        assert_eq!(e.sensitivity, vec!["pci", "pii"]);
    }

    #[test]
    fn recommended_preset_keeps_sensitive_reads_only() {
        let f = FilterConfig {
            preset: Preset::Recommended,
            rules: vec![],
        };
        let s = sens();
        let mut sensitive = ev(Category::Read, &[("public", "patients")]);
        s.apply(&mut sensitive);
        assert!(f.keep(&sensitive));
        assert!(!f.keep(&ev(Category::Read, &[("public", "notes")])));
        for c in [
            Category::Ddl,
            Category::Dml,
            Category::Dcl,
            Category::Auth,
            Category::AuditConfig,
            Category::Agent,
        ] {
            assert!(f.keep(&ev(c, &[])), "{c}");
        }
        assert!(FilterConfig::default().keep(&ev(Category::Read, &[])));
        assert!(FilterConfig::default().is_noop());
    }

    #[test]
    fn rules_first_match_wins_and_protected_events_need_explicit_category() {
        let yaml = r#"
preset: recommended
rules:
  - include: { db_user: [auditor*], category: [read] }
  - exclude: { db_user: [monitoring] }
  - exclude: { category: [dml], object: ["tmp.*"] }
  - exclude: { category: [auth], db_user: [healthcheck] }
"#;
        let f: FilterConfig = serde_saphyr::from_str(yaml).unwrap();
        let mut e = ev(Category::Read, &[("public", "notes")]);
        e.db_user = Some("auditor_1".into());
        assert!(f.keep(&e), "include rule beats the preset");
        let mut e = ev(Category::Dml, &[("public", "notes")]);
        e.db_user = Some("monitoring".into());
        assert!(!f.keep(&e));
        // Protected: a DCL / audit_config / auth failure / alert of `monitoring` is kept.
        for c in [
            Category::Dcl,
            Category::AuditConfig,
            Category::Agent,
            Category::Unparsed,
        ] {
            let mut e = ev(c, &[]);
            e.db_user = Some("monitoring".into());
            assert!(f.keep(&e), "{c}");
        }
        let mut e = ev(Category::Auth, &[]);
        e.db_user = Some("monitoring".into());
        e.outcome = Outcome::Failure;
        assert!(f.keep(&e));
        let mut e = ev(Category::Session, &[]);
        e.db_user = Some("monitoring".into());
        e.alert = true;
        assert!(f.keep(&e));
        // ... unless the rule names the category.
        let mut e = ev(Category::Auth, &[]);
        e.db_user = Some("healthcheck".into());
        e.outcome = Outcome::Failure;
        assert!(!f.keep(&e));
        assert!(!f.keep(&ev(Category::Dml, &[("tmp", "x")])));
        assert!(f.keep(&ev(Category::Dml, &[("app", "x")])));
    }

    #[test]
    fn rule_conditions() {
        let m = Match {
            action: vec!["create *".into()],
            database: vec!["app*".into()],
            outcome: Some(Outcome::Failure),
            sensitivity: vec!["PHI".into()],
            ..Default::default()
        };
        let mut e = ev(Category::Ddl, &[]);
        e.action = "CREATE TABLE".into();
        e.database = Some("appdb".into());
        e.outcome = Outcome::Failure;
        e.sensitivity = vec!["phi".into()];
        assert!(m.matches(&e));
        e.database = None;
        assert!(!m.matches(&e));
    }
}
