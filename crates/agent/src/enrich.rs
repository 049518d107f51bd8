//! What happens to every event between its parser and the sinks: instance and
//! static context from the source's config, then credential redaction.
//!
//! Redaction is always on. It runs on every field that can carry statement
//! text: `statement`, `raw`, `error.message`, and every string inside `extra`
//! (PostgreSQL `STATEMENT:`/`DETAIL:` text, pgaudit parameters, ...).

use onetrail_event::Event;
use serde_json::{Map, Value};

/// Per-source enrichment.
#[derive(Debug, Clone, Default)]
pub struct Enricher {
    pub instance: Option<String>,
    pub context: Map<String, Value>,
}

impl Enricher {
    pub fn apply(&self, ev: &mut Event) {
        if ev.instance.is_none() {
            ev.instance.clone_from(&self.instance);
        }
        for (k, v) in &self.context {
            ev.context.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}
