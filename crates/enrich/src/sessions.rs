//! What each open database session said about itself, per source.
//!
//! Keyed by `session.id` (the enricher is per source, so the key is
//! effectively `(source, session.id)`). Bounded: at most `cap` sessions
//! (`identity.max_sessions`, default 10 000); when that is exceeded, the
//! least recently used eighth is forgotten in one pass. A session's state is
//! dropped at its LOGOUT.
//!
//! **Persistence.** The state must match the checkpoint it is saved with: after
//! a restart the source re-reads everything after its checkpoint, so the saved
//! state must be the state *as of the checkpoint*, not as of the last record
//! read. Every change is therefore journaled with the sequence number of the
//! chunk that made it; [`SessionTable::commit`] applies the journal up to a
//! delivered chunk to a second, committed copy, and only that copy is saved.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

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

/// An LRU-bounded map of session states. States are shared (`Arc`) with the
/// journal, so remembering a change does not copy the session's strings.
/// Each entry carries the tick it was last used at; a use is one hash lookup.
/// When the map grows past `cap`, one scan forgets the least recently used
/// sessions down to `cap - cap / 8`, so the scan runs at most once per
/// `cap / 8` new sessions.
#[derive(Debug, Clone, Default)]
struct Lru {
    map: HashMap<String, (Arc<SessionState>, u64)>,
    tick: u64,
}

impl Lru {
    /// Mark `key` as used now; its entry, if any.
    fn touch(&mut self, key: &str) -> Option<&mut Arc<SessionState>> {
        self.tick += 1;
        let t = self.tick;
        let (st, at) = self.map.get_mut(key)?;
        *at = t;
        Some(st)
    }

    fn put(&mut self, key: &str, st: Arc<SessionState>, cap: usize) {
        if let Some(slot) = self.touch(key) {
            *slot = st;
            return;
        }
        self.map.insert(key.to_string(), (st, self.tick));
        let cap = cap.max(1);
        if self.map.len() > cap {
            let keep = cap - cap / 8;
            let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
            let drop = ticks.len() - keep;
            let (_, &mut oldest_kept, _) = ticks.select_nth_unstable(drop);
            self.map.retain(|_, (_, t)| *t >= oldest_kept);
        }
    }

    fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// Oldest first, so a reload rebuilds the same order.
    fn to_list(&self) -> Vec<(&str, &SessionState)> {
        let mut v: Vec<(&str, &SessionState, u64)> = self
            .map
            .iter()
            .map(|(k, (s, t))| (k.as_str(), &**s, *t))
            .collect();
        v.sort_unstable_by_key(|e| e.2);
        v.into_iter().map(|(k, s, _)| (k, s)).collect()
    }
}

/// The saved form (inside `SourceCheckpoint::sessions`).
#[derive(Debug, Deserialize)]
struct Saved {
    version: u32,
    /// Oldest first.
    sessions: Vec<(String, SessionState)>,
}

#[derive(Debug, Serialize)]
struct SavedRef<'a> {
    version: u32,
    sessions: Vec<(&'a str, &'a SessionState)>,
}

/// Live session states, plus (when persistence is on) a journal and the
/// committed copy that goes into the checkpoint.
#[derive(Debug, Clone)]
pub struct SessionTable {
    cap: usize,
    live: Lru,
    persist: Option<Persist>,
}

/// One journaled change.
#[derive(Debug, Clone)]
enum Change {
    Put(Arc<SessionState>),
    /// Only `last_statement_id` changed (the common case: every pgaudit
    /// statement of a session), journaled without copying the state.
    StatementId(i64),
    Remove,
}

#[derive(Debug, Clone, Default)]
struct Persist {
    /// Tag of the changes being made now (the chunk sequence number).
    current: u64,
    journal: VecDeque<(u64, String, Change)>,
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

    /// The session's state, marking it used now.
    pub fn get(&mut self, key: &str) -> Option<&SessionState> {
        self.live.touch(key).map(|s| &**s)
    }

    /// The session's state, without marking it used.
    pub fn peek(&self, key: &str) -> Option<&SessionState> {
        self.live.map.get(key).map(|(s, _)| &**s)
    }

    pub fn put(&mut self, key: &str, st: SessionState) {
        let st = Arc::new(st);
        if let Some(p) = &mut self.persist {
            p.journal
                .push_back((p.current, key.to_string(), Change::Put(st.clone())));
        }
        self.live.put(key, st, self.cap);
    }

    /// A known session ran statement `id`: its `last_statement_id` becomes
    /// `id` (journaled only when it moved). Returns the previous value, or
    /// `None` for an unknown session (left unknown). One lookup, which also
    /// marks the session used.
    pub fn advance_statement_id(&mut self, key: &str, id: i64) -> Option<Option<i64>> {
        let st = self.live.touch(key)?;
        let prev = st.last_statement_id;
        if prev != Some(id) {
            Arc::make_mut(st).last_statement_id = Some(id);
            if let Some(p) = &mut self.persist {
                p.journal
                    .push_back((p.current, key.to_string(), Change::StatementId(id)));
            }
        }
        Some(prev)
    }

    pub fn remove(&mut self, key: &str) {
        if !self.live.map.contains_key(key) {
            return;
        }
        if let Some(p) = &mut self.persist {
            p.journal
                .push_back((p.current, key.to_string(), Change::Remove));
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
                        let st = Arc::new(st);
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
                let (_, k, change) = p.journal.pop_front().expect("checked");
                match change {
                    Change::Put(st) => p.committed.put(&k, st, cap),
                    Change::StatementId(id) => {
                        if let Some(st) = p.committed.touch(&k) {
                            Arc::make_mut(st).last_statement_id = Some(id);
                        }
                    }
                    Change::Remove => p.committed.remove(&k),
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
        serde_json::to_value(SavedRef {
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
    fn past_the_cap_the_least_recently_used_eighth_goes() {
        let mut t = SessionTable::new(16);
        for i in 0..16 {
            t.put(&format!("s{i}"), st("x"));
        }
        // s0 and s1 are used again: s2, s3, s4 are now the oldest.
        assert!(t.get("s0").is_some() && t.get("s1").is_some());
        t.put("s16", st("y"));
        assert_eq!(t.len(), 14, "17 sessions, down to cap - cap/8");
        for k in ["s2", "s3", "s4"] {
            assert!(t.get(k).is_none(), "{k} forgotten");
        }
        for k in ["s0", "s1", "s5", "s15", "s16"] {
            assert!(t.get(k).is_some(), "{k} kept");
        }
    }

    #[test]
    fn statement_ids_are_saved_as_of_the_committed_chunk() {
        let mut t = SessionTable::new(10);
        t.restore(None).unwrap();
        t.begin(1);
        t.put("s", st("alice"));
        assert_eq!(t.advance_statement_id("s", 7), Some(None));
        t.begin(2);
        assert_eq!(t.advance_statement_id("s", 9), Some(Some(7)));
        let journaled = t.journal_len();
        assert_eq!(t.advance_statement_id("s", 9), Some(Some(9)));
        assert_eq!(t.journal_len(), journaled, "no move, nothing journaled");
        assert_eq!(t.peek("s").unwrap().last_statement_id, Some(9));
        t.commit(1);
        let mut r = SessionTable::new(10);
        r.restore(t.saved().as_ref()).unwrap();
        let s = r.get("s").unwrap();
        assert_eq!(
            (s.actor.as_deref(), s.last_statement_id),
            (Some("alice"), Some(7))
        );
        t.commit(2);
        let mut r = SessionTable::new(10);
        r.restore(t.saved().as_ref()).unwrap();
        assert_eq!(r.get("s").unwrap().last_statement_id, Some(9));
        // An unknown session is not created by a bare statement id.
        assert_eq!(t.advance_statement_id("nobody", 3), None);
        assert!(t.peek("nobody").is_none());
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
