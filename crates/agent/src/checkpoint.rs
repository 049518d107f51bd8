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

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

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

/// The checkpoint file of one agent.
#[derive(Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
    sources: BTreeMap<String, SourceCheckpoint>,
    dirty: bool,
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
        })
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

    /// Write the checkpoints atomically if anything changed.
    pub fn persist(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
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
    fn corrupt_stable_file_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(FILE_NAME), b"{nope").unwrap();
        let e = CheckpointStore::open(d.path()).unwrap_err();
        assert!(e.contains("unreadable checkpoint file"), "{e}");
    }
}
