//! What happens to every event between its parser and the sinks: instance and
//! static context from the source's config, then credential redaction.
//!
//! Redaction is always on and cannot be configured away. It runs on every field
//! that can carry statement text: `statement`, `raw`, `error.message`,
//! `parse_error`, and every string inside `extra` (PostgreSQL `STATEMENT:` /
//! `DETAIL:` text, pgaudit parameters, MySQL/SQL Server/Oracle specifics).
//! `redacted` and `redacted_count` say what was done. With `mask_literals`
//! every literal in `statement` is also replaced by `?`.

use std::sync::Arc;

use onetrail_event::Event;
use onetrail_redact::{Redactor, RedactorOptions};
use serde_json::{Map, Value};

/// Per-source enrichment.
#[derive(Clone)]
pub struct Enricher {
    pub instance: Option<String>,
    pub context: Map<String, Value>,
    pub redactor: Arc<Redactor>,
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
            .finish_non_exhaustive()
    }
}

impl Enricher {
    pub fn new(instance: Option<String>, context: Map<String, Value>, mask_literals: bool) -> Enricher {
        Enricher {
            instance,
            context,
            redactor: Arc::new(Redactor::new(RedactorOptions { mask_literals })),
        }
    }

    pub fn apply(&self, ev: &mut Event) {
        if ev.instance.is_none() {
            ev.instance.clone_from(&self.instance);
        }
        for (k, v) in &self.context {
            ev.context.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self.redact(ev);
    }

    /// Replace credentials in every text field of `ev`.
    pub fn redact(&self, ev: &mut Event) {
        let mut count = 0usize;
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
            fix(s);
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
        if count > 0 {
            ev.redacted = true;
            ev.redacted_count += count as u32;
        }
    }
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
mod tests {
    use super::*;
    use onetrail_event::{Engine, RecordPos};

    #[test]
    fn redacts_every_text_field() {
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "t",
        };
        let mut ev = Event::new(Engine::Postgresql, chrono::Utc::now(), &pos, 0);
        ev.statement = Some("CREATE ROLE a LOGIN PASSWORD 'Hunter2-x'".into());
        ev.raw = Some("LOG:  AUDIT: ... CREATE ROLE a PASSWORD 'Hunter2-x'".into());
        ev.extra.insert(
            "statement".into(),
            "ALTER USER b IDENTIFIED BY 'Zz9-secret'".into(),
        );
        ev.extra
            .insert("parameters".into(), serde_json::json!(["x", "password=Qq1-pw host=h"]));
        Enricher::new(Some("i".into()), Map::new(), false).apply(&mut ev);
        let text = serde_json::to_string(&ev).unwrap();
        for secret in ["Hunter2-x", "Zz9-secret", "Qq1-pw"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(ev.redacted);
        assert!(ev.redacted_count >= 4, "{}", ev.redacted_count);
        assert_eq!(ev.instance.as_deref(), Some("i"));
        assert!(ev.statement.unwrap().starts_with("CREATE ROLE a LOGIN PASSWORD"));
    }
}
