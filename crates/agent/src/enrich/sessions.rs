//! What each open database session said about itself, per source.
//!
//! Keyed by `session.id` (the enricher is per source, so the key is
//! effectively `(source, session.id)`). Bounded: at most `cap` sessions
//! (`identity.max_sessions`, default 10 000); when full, the session used
//! least recently is forgotten. A session's state is dropped at its LOGOUT.
//!
//! **Persistence.** The state must match the checkpoint it is saved with: after
//! a restart the source re-reads everything after its checkpoint, so the saved
//! state must be the state *as of the checkpoint*, not as of the last record
//! read. Every change is therefore journaled with the sequence number of the
//! chunk that made it; [`SessionTable::commit`] applies the journal up to a
//! delivered chunk to a second, committed copy, and only that copy is saved.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Default `identity.max_sessions`.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// One session's remembered state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// From `SET onetrail.actor`, `set_config('onetrail.actor', …)`, `SET @onetrail_actor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// From the login record or `SET application_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// From the login record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_user: Option<String>,
    /// `ticket`, `approver`, `change_ref` set by the session.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
    /// Last pgaudit statement id seen (gap detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_statement_id: Option<i64>,
}

/// An LRU-bounded map of session states.
#[derive(Debug, Clone, Default)]
struct Lru {
    map: HashMap<String, (SessionState, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl Lru {
    fn get(&mut self, key: &str) -> Option<&SessionState> {
        self.tick += 1;
        let t = self.tick;
        let (_, at) = self.map.get_mut(key)?;
        let old = std::mem::replace(at, t);
        if let Some(k) = self.order.remove(&old) {
            self.order.insert(t, k);
        }
        self.map.get(key).map(|(s, _)| s)
    }

    fn put(&mut self, key: &str, st: SessionState, cap: usize) {
        self.tick += 1;
        if let Some((_, old)) = self.map.remove(key) {
            self.order.remove(&old);
        }
        self.map.insert(key.to_string(), (st, self.tick));
        self.order.insert(self.tick, key.to_string());
        while self.map.len() > cap.max(1) {
            let Some((_, k)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&k);
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some((_, old)) = self.map.remove(key) {
            self.order.remove(&old);
        }
    }

    /// Oldest first, so a reload rebuilds the same order.
    fn to_list(&self) -> Vec<(String, SessionState)> {
        self.order
            .values()
            .filter_map(|k| self.map.get(k).map(|(s, _)| (k.clone(), s.clone())))
            .collect()
    }
}

/// The saved form (inside `SourceCheckpoint::sessions`).
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    version: u32,
    /// Oldest first.
    sessions: Vec<(String, SessionState)>,
}

/// Live session states, plus (when persistence is on) a journal and the
/// committed copy that goes into the checkpoint.
#[derive(Debug, Clone)]
pub struct SessionTable {
    cap: usize,
    live: Lru,
    persist: Option<Persist>,
}

#[derive(Debug, Clone, Default)]
struct Persist {
    /// Tag of the changes being made now (the chunk sequence number).
    current: u64,
    journal: VecDeque<(u64, String, Option<SessionState>)>,
    committed: Lru,
}

impl SessionTable {
    pub fn new(cap: usize) -> SessionTable {
        SessionTable {
            cap: cap.max(1),
            live: Lru::default(),
            persist: None,
        }
    }

    pub fn len(&self) -> usize {
        self.live.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.map.is_empty()
    }

    pub fn get(&mut self, key: &str) -> Option<&SessionState> {
        self.live.get(key)
    }

    pub fn put(&mut self, key: &str, st: SessionState) {
        if let Some(p) = &mut self.persist {
            p.journal
                .push_back((p.current, key.to_string(), Some(st.clone())));
        }
        self.live.put(key, st, self.cap);
    }

    pub fn remove(&mut self, key: &str) {
        if !self.live.map.contains_key(key) {
            return;
        }
        if let Some(p) = &mut self.persist {
            p.journal.push_back((p.current, key.to_string(), None));
        }
        self.live.remove(key);
    }

    /// Turn persistence on, starting from a saved state (`None`, or a value
    /// written by [`SessionTable::saved`]; an unreadable value starts empty).
    pub fn restore(&mut self, saved: Option<&serde_json::Value>) -> Result<(), String> {
        let mut p = Persist::default();
        let mut err = Ok(());
        if let Some(v) = saved {
            match serde_json::from_value::<Saved>(v.clone()) {
                Ok(s) if s.version == 1 => {
                    for (k, st) in s.sessions {
                        self.live.put(&k, st.clone(), self.cap);
                        p.committed.put(&k, st, self.cap);
                    }
                }
                Ok(s) => err = Err(format!("unknown saved session state version {}", s.version)),
                Err(e) => err = Err(format!("unreadable saved session state: {e}")),
            }
        }
        self.persist = Some(p);
        err
    }

    /// Changes from now on belong to chunk `seq`.
    pub fn begin(&mut self, seq: u64) {
        if let Some(p) = &mut self.persist {
            p.current = seq;
        }
    }

    /// Every chunk up to `seq` is delivered: its changes become saveable.
    pub fn commit(&mut self, seq: u64) {
        let cap = self.cap;
        if let Some(p) = &mut self.persist {
            while p.journal.front().is_some_and(|(t, _, _)| *t <= seq) {
                let (_, k, st) = p.journal.pop_front().expect("checked");
                match st {
                    Some(st) => p.committed.put(&k, st, cap),
                    None => p.committed.remove(&k),
                }
            }
        }
    }

    /// The committed state, for the checkpoint (`None` when empty or not persisting).
    pub fn saved(&self) -> Option<serde_json::Value> {
        let p = self.persist.as_ref()?;
        if p.committed.map.is_empty() {
            return None;
        }
        serde_json::to_value(Saved {
            version: 1,
            sessions: p.committed.to_list(),
        })
        .ok()
    }

    #[cfg(test)]
    pub fn journal_len(&self) -> usize {
        self.persist.as_ref().map_or(0, |p| p.journal.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(actor: &str) -> SessionState {
        SessionState {
            actor: Some(actor.into()),
            ..Default::default()
        }
    }

    #[test]
    fn lru_cap_evicts_least_recently_used() {
        let mut t = SessionTable::new(2);
        t.put("a", st("1"));
        t.put("b", st("2"));
        assert!(t.get("a").is_some()); // a is now newer than b
        t.put("c", st("3"));
        assert_eq!(t.len(), 2);
        assert!(t.get("b").is_none());
        assert!(t.get("a").is_some() && t.get("c").is_some());
        t.remove("a");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn only_committed_changes_are_saved() {
        let mut t = SessionTable::new(10);
        t.restore(None).unwrap();
        t.begin(1);
        t.put("s1", st("alice"));
        t.begin(2);
        t.put("s1", st("bob"));
        t.put("s2", st("carol"));
        assert!(t.saved().is_none());
        t.commit(1);
        let saved = t.saved().unwrap();
        let mut r = SessionTable::new(10);
        r.restore(Some(&saved)).unwrap();
        assert_eq!(r.get("s1").unwrap().actor.as_deref(), Some("alice"));
        assert!(r.get("s2").is_none());
        t.begin(3);
        t.remove("s1");
        t.commit(3);
        assert_eq!(t.journal_len(), 0);
        let mut r = SessionTable::new(10);
        r.restore(t.saved().as_ref()).unwrap();
        assert!(r.get("s1").is_none());
        assert_eq!(r.get("s2").unwrap().actor.as_deref(), Some("carol"));
    }

    #[test]
    fn without_persistence_nothing_is_journaled() {
        let mut t = SessionTable::new(10);
        t.put("s", st("x"));
        assert_eq!(t.journal_len(), 0);
        assert!(t.saved().is_none());
    }

    #[test]
    fn bad_saved_state_starts_empty() {
        let mut t = SessionTable::new(10);
        assert!(
            t.restore(Some(&serde_json::json!({"version": 9, "sessions": []})))
                .is_err()
        );
        assert!(t.is_empty());
        assert!(t.restore(Some(&serde_json::json!("nope"))).is_err());
    }
}
