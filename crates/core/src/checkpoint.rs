//! Durable source positions in `data_dir/checkpoints.json`.
//!
//! The file is versioned and always replaced atomically: write a temp file,
//! `fsync` it, `rename` it over the old one, `fsync` the directory. A `kill -9`
//! at any instant leaves either the old or the new file, never a torn one. On
//! start a leftover temp file that parses is preferred over the stable file:
//! it can only be newer (the rename was interrupted after the data was synced).
//!
//! Positions only ever move after every sink confirmed the events before them
//! (see `pipeline`), so the file is also the agent's delivery record: what is
//! before a checkpoint has been delivered at least once.
//!
//! A file that cannot be written (read-only or full `data_dir`) is not shrugged
//! off: [`CheckpointStore::persist`] records the failure in the store's
//! [`WriteHealth`], sources stop reading while it lasts, `/health` answers 503,
//! writes are retried with backoff (100 ms doubling to 5 s, one log line per
//! attempt), and the agent exits 1 once writes have failed for
//! `checkpoint_failure_exit_secs`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "checkpoints.json";
const TMP_NAME: &str = "checkpoints.json.tmp";

/// The position of one tailed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Fingerprint of the file's first `fingerprint_len` bytes (see `tail`).
    pub fingerprint: String,
    pub fingerprint_len: u64,
    pub dev: u64,
    pub ino: u64,
    /// Last path the file was seen at (informational: identity is the fingerprint).
    pub path: String,
    /// Every byte before this offset has been delivered to every sink.
    pub offset: u64,
    pub updated: DateTime<Utc>,
}

/// What one source has stored. File sources use `files`; pollers store an
/// opaque, source-defined `position` (e.g. `{file_name, audit_file_offset}` for
/// SQL Server, `{timestamp, keys}` for Oracle).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileCheckpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<serde_json::Value>,
    /// Per-session identity state (`enrich::sessions`) as of this
    /// checkpoint, so attribution survives a restart. Absent in files written
    /// before it existed, or when no session said anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "version")]
enum StateFile {
    #[serde(rename = "1")]
    V1 {
        sources: BTreeMap<String, SourceCheckpoint>,
    },
}

/// Whether checkpoints can be written, shared with the sources (which stop
/// reading while they cannot), `/health` and the agent's main loop.
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// Unix ms of the first failed write of the current failure; 0: writable.
    failing_since_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl WriteHealth {
    /// The current failure: since when (unix ms) and its last error.
    pub fn failing(&self) -> Option<(u64, String)> {
        match self.failing_since_ms.load(Ordering::Acquire) {
            0 => None,
            since => Some((
                since,
                self.last_error
                    .lock()
                    .expect("poisoned")
                    .clone()
                    .unwrap_or_default(),
            )),
        }
    }
    pub fn is_failing(&self) -> bool {
        self.failing_since_ms.load(Ordering::Acquire) != 0
    }
    /// How long writes have been failing.
    pub fn failing_for(&self) -> Option<Duration> {
        let since = self.failing_since_ms.load(Ordering::Acquire);
        (since != 0).then(|| Duration::from_millis(crate::clock::unix_ms().saturating_sub(since)))
    }
}

/// Retry timing of a store whose writes fail.
#[derive(Debug)]
struct Retry {
    attempts: u32,
    next: Instant,
}

/// Why [`CheckpointStore::persist`] wrote nothing.
#[derive(Debug)]
pub enum PersistError {
    /// The write failed (and was logged).
    Failed(std::io::Error),
    /// A write failed recently; the next attempt is not due yet.
    Backoff,
}

impl std::fmt::Display for PersistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PersistError::Failed(e) => write!(f, "{e}"),
            PersistError::Backoff => write!(f, "waiting to retry a failed write"),
        }
    }
}

/// The checkpoint file of one agent.
#[derive(Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
    sources: BTreeMap<String, SourceCheckpoint>,
    dirty: bool,
    health: Arc<WriteHealth>,
    retry: Option<Retry>,
}

impl CheckpointStore {
    /// Open (and create) `data_dir`, and load its checkpoints.
    pub fn open(data_dir: &Path) -> Result<CheckpointStore, String> {
        crate::files::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create data_dir {}: {e}", data_dir.display()))?;
        let tmp = data_dir.join(TMP_NAME);
        let stable = data_dir.join(FILE_NAME);
        let mut sources = BTreeMap::new();
        // An interrupted rename leaves a complete, synced temp file: it is the newest.
        let mut loaded = false;
        if let Ok(text) = fs::read(&tmp) {
            if let Ok(StateFile::V1 { sources: s }) = serde_json::from_slice(&text) {
                sources = s;
                loaded = true;
            }
            let _ = fs::remove_file(&tmp);
        }
        if !loaded {
            match fs::read(&stable) {
                Ok(text) => match serde_json::from_slice(&text) {
                    Ok(StateFile::V1 { sources: s }) => sources = s,
                    Err(e) => {
                        return Err(format!(
                            "{}: unreadable checkpoint file ({e}); move it away to start over (sources would re-read from the beginning)",
                            stable.display()
                        ));
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", stable.display())),
            }
        }
        Ok(CheckpointStore {
            dir: data_dir.to_path_buf(),
            sources,
            dirty: false,
            health: Arc::default(),
            retry: None,
        })
    }

    /// Report write failures into `health` (the agent's, read by `/health`).
    pub fn set_health(&mut self, health: Arc<WriteHealth>) {
        self.health = health;
    }

    pub fn health(&self) -> Arc<WriteHealth> {
        self.health.clone()
    }

    pub fn source(&self, name: &str) -> SourceCheckpoint {
        self.sources.get(name).cloned().unwrap_or_default()
    }

    pub fn set_source(&mut self, name: &str, cp: SourceCheckpoint) {
        if self.sources.get(name) != Some(&cp) {
            self.sources.insert(name.to_string(), cp);
            self.dirty = true;
        }
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn all(&self) -> &BTreeMap<String, SourceCheckpoint> {
        &self.sources
    }

    /// Write the checkpoints atomically if anything changed. After a failed
    /// write, the next attempt waits its backoff ([`PersistError::Backoff`]
    /// until then); the failure is logged and kept in [`WriteHealth`] until a
    /// write succeeds.
    pub fn persist(&mut self) -> Result<(), PersistError> {
        if !self.dirty && self.retry.is_none() {
            return Ok(());
        }
        if let Some(r) = &self.retry
            && Instant::now() < r.next
        {
            return Err(PersistError::Backoff);
        }
        match self.write() {
            Ok(()) => {
                if self.retry.take().is_some() {
                    tracing::info!(dir = %self.dir.display(), "checkpoints are writable again; reading resumes");
                }
                self.health.failing_since_ms.store(0, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                let attempts = self.retry.as_ref().map_or(0, |r| r.attempts) + 1;
                let wait = Duration::from_millis(100)
                    .saturating_mul(1 << attempts.min(6))
                    .min(Duration::from_secs(5));
                self.retry = Some(Retry {
                    attempts,
                    next: Instant::now() + wait,
                });
                let _ = self.health.failing_since_ms.compare_exchange(
                    0,
                    crate::clock::unix_ms().max(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                *self.health.last_error.lock().expect("poisoned") = Some(e.to_string());
                tracing::error!(
                    dir = %self.dir.display(),
                    attempt = attempts,
                    "cannot write checkpoints: {e}; reading is paused, retrying in {} ms",
                    wait.as_millis()
                );
                Err(PersistError::Failed(e))
            }
        }
    }

    fn write(&mut self) -> std::io::Result<()> {
        let tmp = self.dir.join(TMP_NAME);
        let stable = self.dir.join(FILE_NAME);
        let body = serde_json::to_vec_pretty(&StateFile::V1 {
            sources: self.sources.clone(),
        })
        .map_err(std::io::Error::other)?;
        crate::files::replace_atomically(&stable, &tmp, &body)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(off: u64) -> SourceCheckpoint {
        SourceCheckpoint {
            files: vec![FileCheckpoint {
                fingerprint: "abc".into(),
                fingerprint_len: 10,
                dev: 1,
                ino: 2,
                path: "/x".into(),
                offset: off,
                updated: Utc::now(),
            }],
            position: None,
            sessions: None,
        }
    }

    #[test]
    fn sessions_field_is_optional_and_round_trips() {
        // A file written before `sessions` existed still loads.
        let old = r#"{"version":"1","sources":{"pg":{"position":{"x":1}}}}"#;
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(FILE_NAME), old).unwrap();
        let mut s = CheckpointStore::open(d.path()).unwrap();
        assert_eq!(s.source("pg").sessions, None);
        let mut cp = s.source("pg");
        cp.sessions =
            Some(serde_json::json!({"version": 1, "sessions": [["s1", {"actor": "carol"}]]}));
        s.set_source("pg", cp.clone());
        s.persist().unwrap();
        assert_eq!(CheckpointStore::open(d.path()).unwrap().source("pg"), cp);
    }

    #[test]
    fn round_trip_and_versioned() {
        let d = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::open(d.path()).unwrap();
        s.set_source("pg", cp(42));
        s.persist().unwrap();
        let text = fs::read_to_string(d.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("\"version\": \"1\""), "{text}");
        let s2 = CheckpointStore::open(d.path()).unwrap();
        assert_eq!(s2.source("pg").files[0].offset, 42);
    }

    #[test]
    fn interrupted_rename_prefers_complete_temp_and_ignores_torn_one() {
        let d = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::open(d.path()).unwrap();
        s.set_source("pg", cp(1));
        s.persist().unwrap();
        // A complete temp file (crash between fsync and rename).
        let newer = serde_json::to_vec(&StateFile::V1 {
            sources: [("pg".to_string(), cp(2))].into(),
        })
        .unwrap();
        fs::write(d.path().join(TMP_NAME), &newer).unwrap();
        assert_eq!(
            CheckpointStore::open(d.path()).unwrap().source("pg").files[0].offset,
            2
        );
        // A torn temp file (crash during write) is ignored.
        fs::write(d.path().join(TMP_NAME), &newer[..newer.len() / 2]).unwrap();
        assert_eq!(
            CheckpointStore::open(d.path()).unwrap().source("pg").files[0].offset,
            1
        );
    }

    #[test]
    fn unwritable_store_backs_off_reports_and_recovers() {
        let d = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::open(d.path()).unwrap();
        let health = s.health();
        // A directory where the temp file goes: fails for root too.
        fs::create_dir(d.path().join(TMP_NAME)).unwrap();
        s.set_source("pg", cp(1));
        assert!(matches!(s.persist(), Err(PersistError::Failed(_))));
        assert!(health.is_failing());
        assert!(health.failing().unwrap().1.contains("Is a directory"));
        // Within the backoff nothing is attempted (no log line per save).
        assert!(matches!(s.persist(), Err(PersistError::Backoff)));
        fs::remove_dir(d.path().join(TMP_NAME)).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        s.persist().unwrap();
        assert!(!health.is_failing());
        assert_eq!(
            CheckpointStore::open(d.path()).unwrap().source("pg").files[0].offset,
            1
        );
    }

    #[test]
    fn corrupt_stable_file_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(FILE_NAME), b"{nope").unwrap();
        let e = CheckpointStore::open(d.path()).unwrap_err();
        assert!(e.contains("unreadable checkpoint file"), "{e}");
    }
}
