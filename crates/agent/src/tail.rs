//! Tailing a set of log files matched by globs, without losing or inventing records.
//!
//! Files are identified by a **fingerprint** (SHA-256 of their first bytes, up
//! to 1 KiB) together with device and inode — never by path alone (paths are
//! reused by rotation) nor by inode alone (inodes are reused after deletion).
//! The fingerprint is also the source identity that goes into event ids, so a
//! renamed file keeps producing the same ids.
//!
//! What happens on each kind of rotation:
//! - **rename** (`x.log` → `x.log.1`, PostgreSQL's time-based names): the open
//!   descriptor keeps following the renamed file, which is read to its end; the
//!   new `x.log` is a new fingerprint, read from its first byte.
//! - **copytruncate**: the original shrinks below our read position. If the copy
//!   is matched by `paths`, it has the same fingerprint and is resumed where the
//!   original was left; bytes we had seen but not read that no copy holds are
//!   reported as an `agent` `GAP` event.
//! - **truncate in place** (`log_truncate_on_rotation`), **delete + recreate**,
//!   **inode reuse**: the size or fingerprint no longer matches; the file is
//!   treated as new and read from its first byte (with a `GAP` if unread bytes
//!   of the old content were lost).
//! - a file that appears while the agent is down: found by the next scan; if a
//!   checkpoint's fingerprint matches it resumes there, otherwise it is read
//!   from the beginning.
//! - a file truncated or replaced while the agent was down, so that its saved
//!   checkpoint lies beyond its end (same first bytes, or the same inode at the
//!   same path when it is now too short to compare): a `GAP` event
//!   (`from_offset` = the checkpoint, `to_offset` unknown, `checkpoint_offset`,
//!   `file_size`) and a warning, then the file is read from its first byte.
//! - compressed rotations (`.gz`, `.zst`, `.lz4`, `.xz`, `.bz2`) are skipped:
//!   their content was read before compression when the uncompressed file was
//!   tailed (documented limitation: include the uncompressed rotation step).
//!
//! A file that is no longer reachable through `paths` (renamed away, deleted)
//! stays open until it has been read to its end **and** every event from it has
//! been acknowledged, however long the sinks are down.
//!
//! The tailer is synchronous and step-driven ([`FileTailer::poll`]) so that the
//! model-based tests can drive it deterministically.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use onetrail_event::{Category, Engine, Event, Flush, Framer, RecordFormat, RecordPos};
use sha2::{Digest, Sha256};

use onetrail_core::checkpoint::FileCheckpoint;
use serde::Deserialize;

/// Bytes hashed for a file's fingerprint.
pub const FINGERPRINT_BYTES: u64 = 1024;
/// Extensions of compressed rotations, which are not tailed.
const COMPRESSED: &[&str] = &["gz", "zst", "lz4", "xz", "bz2", "zip"];

pub type FormatFactory = Box<dyn Fn() -> Box<dyn RecordFormat> + Send>;

/// `read_from:` — where a file without a checkpoint is first read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Files without a checkpoint are read from their first byte (default:
    /// an audit trail should not start with a hole).
    #[default]
    Beginning,
    /// Files present at the first start are read from their end; files that
    /// appear later are still read from their beginning.
    End,
}

/// Settings of one tailer.
pub struct TailOptions {
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub read_from: ReadFrom,
    pub engine: Engine,
    pub format_name: &'static str,
    /// After this long without new bytes, flush the last complete record.
    pub quiet_flush: Duration,
    /// How often globs are re-expanded and files re-identified.
    pub scan_interval: Duration,
    /// Bytes read per file per poll.
    pub read_chunk: usize,
    /// Most events per emitted chunk.
    pub max_chunk_events: usize,
    /// A chunk is emitted once the records behind its events add up to this
    /// many bytes, so the events queued for the sinks stay bounded in bytes,
    /// not only in number, whatever the records' sizes.
    pub max_chunk_bytes: usize,
    /// A record larger than this is cut and emitted as it is (flagged by its parser).
    pub max_record_bytes: usize,
    /// Remembered positions of files not seen for this long are forgotten.
    pub forget_after: Duration,
}

impl TailOptions {
    pub fn new(paths: Vec<String>, engine: Engine, format_name: &'static str) -> TailOptions {
        TailOptions {
            paths,
            exclude: Vec::new(),
            read_from: ReadFrom::Beginning,
            engine,
            format_name,
            quiet_flush: Duration::from_millis(500),
            scan_interval: Duration::from_secs(1),
            read_chunk: 256 * 1024,
            max_chunk_events: 500,
            max_chunk_bytes: 1 << 20,
            max_record_bytes: onetrail_event::DEFAULT_MAX_RECORD_BYTES,
            forget_after: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// Events read from one file, and the file position that may be committed once
/// they (and every earlier chunk of the file) are delivered.
#[derive(Debug)]
pub struct Chunk {
    pub file_id: u64,
    pub end_offset: u64,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    hex: String,
    len: u64,
}

struct Tracked {
    id: u64,
    fp: Fingerprint,
    source_key: String,
    path: PathBuf,
    path_str: String,
    dev: u64,
    ino: u64,
    file: File,
    /// Unconsumed bytes, starting at file offset `buf_offset`.
    buf: Vec<u8>,
    buf_offset: u64,
    format: Box<dyn RecordFormat>,
    /// Frames records, cutting those over `max_record_bytes`.
    framer: Framer,
    last_data: Instant,
    quiet_flushed: bool,
    /// Not reachable through `paths` any more: read to the end, then drop.
    gone: bool,
    /// Its content was truncated or replaced: never read again; dropped once
    /// what was emitted from it is acknowledged.
    dead: bool,
    /// Largest size seen (to report what a truncation lost).
    last_size: u64,
    committed: u64,
    /// When `committed` last moved (the checkpoint's `updated`): a quiet file
    /// keeps an identical checkpoint, so nothing is rewritten or fsynced
    /// while idle (BENCHMARKS.md).
    committed_at: chrono::DateTime<Utc>,
    emitted_end: u64,
}

impl Tracked {
    fn read_pos(&self) -> u64 {
        self.buf_offset + self.buf.len() as u64
    }
}

/// Position of a file that is not open right now (from a checkpoint, or left
/// behind by a truncated original for its copy to resume from).
#[derive(Clone, Debug)]
struct Remembered {
    cp: FileCheckpoint,
    seen: Instant,
    /// Bytes of the original that were never read; reported as a GAP unless a
    /// copy resumes from `cp.offset` before the deadline.
    pending_gap: Option<PendingGap>,
    /// Loaded from the checkpoint store at start (not left by a rotation
    /// seen while running).
    saved: bool,
}

#[derive(Clone, Debug)]
struct PendingGap {
    from: u64,
    to: u64,
    deadline: Instant,
    reason: &'static str,
}

/// Tails every file matched by a set of globs.
pub struct FileTailer {
    opts: TailOptions,
    make_format: FormatFactory,
    files: Vec<Tracked>,
    remembered: Vec<Remembered>,
    next_id: u64,
    last_scan: Option<Instant>,
    first_scan_done: bool,
    /// Paths that had no fingerprint yet (too short): retried every scan.
    pending_paths: HashSet<PathBuf>,
    /// Matched paths that are no regular file (already warned about).
    special_paths: HashSet<PathBuf>,
    /// Problems worth a log line (unreadable files...), drained by the caller.
    pub warnings: Vec<String>,
    /// Why some paths give nothing, as of the last scan (metrics, `/health`).
    problems: Vec<SourceProblem>,
    /// Problems found by the scan under way.
    scanning: Vec<SourceProblem>,
    /// When each current problem was last logged.
    warned: HashMap<String, Instant>,
    /// `agent` events found while scanning, emitted with the scan's chunks.
    notices: Vec<Event>,
}

pub use onetrail_core::metrics::SourceProblem;

/// A problem that lasts is logged again this often.
const PROBLEM_REPEAT: Duration = Duration::from_secs(600);

/// The literal directory a glob lists: its components before the first one
/// with a glob character (for a plain path: its parent).
fn literal_dir(pattern: &str) -> PathBuf {
    let mut dir = PathBuf::new();
    let p = Path::new(pattern);
    let comps: Vec<_> = p.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) || i + 1 == comps.len() {
            break;
        }
        dir.push(c);
    }
    dir
}

/// The directory that keeps `pattern` from finding files because the agent
/// may not enter or list it, with who the agent is and the directory's mode.
pub fn denied_dir_of(pattern: &str) -> Option<(PathBuf, String)> {
    onetrail_core::files::first_denied_dir(&literal_dir(pattern))
}

impl FileTailer {
    pub fn new(opts: TailOptions, saved: Vec<FileCheckpoint>, make_format: FormatFactory) -> Self {
        let now = Instant::now();
        FileTailer {
            opts,
            make_format,
            files: Vec::new(),
            remembered: saved
                .into_iter()
                .map(|cp| Remembered {
                    cp,
                    seen: now,
                    pending_gap: None,
                    saved: true,
                })
                .collect(),
            notices: Vec::new(),
            next_id: 1,
            last_scan: None,
            first_scan_done: false,
            pending_paths: HashSet::new(),
            special_paths: HashSet::new(),
            warnings: Vec::new(),
            problems: Vec::new(),
            scanning: Vec::new(),
            warned: HashMap::new(),
        }
    }

    /// Why some paths give nothing, as of the last scan.
    pub fn problems(&self) -> &[SourceProblem] {
        &self.problems
    }

    /// Make the scan's problems current; log new ones, and lasting ones again
    /// every [`PROBLEM_REPEAT`].
    fn settle_problems(&mut self, now: Instant) {
        let found = std::mem::take(&mut self.scanning);
        self.warned
            .retain(|d, _| found.iter().any(|p| &p.detail == d));
        for p in &found {
            let due = self
                .warned
                .get(&p.detail)
                .is_none_or(|t| now.duration_since(*t) >= PROBLEM_REPEAT);
            if due {
                self.warned.insert(p.detail.clone(), now);
                self.warnings.push(p.detail.clone());
            }
        }
        self.problems = found;
    }

    /// One step: re-scan if due, read what is new, emit chunks. Returns true
    /// when any bytes were read (the caller polls again at once instead of sleeping).
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Chunk>) -> bool {
        if self
            .last_scan
            .is_none_or(|t| now.duration_since(t) >= self.opts.scan_interval)
        {
            self.scan(now, out);
            self.last_scan = Some(now);
        }
        let mut progressed = false;
        for i in 0..self.files.len() {
            progressed |= self.read_file(i, now, out);
        }
        self.retire_finished(now);
        progressed
    }

    /// Force a re-scan at the next poll (e.g. after a filesystem notification).
    pub fn rescan_soon(&mut self) {
        self.last_scan = None;
    }

    /// Everything before `end_offset` of file `file_id` has been delivered.
    pub fn ack(&mut self, file_id: u64, end_offset: u64) {
        // A file is only retired once fully acknowledged, so an ack always
        // finds its file.
        if let Some(t) = self.files.iter_mut().find(|t| t.id == file_id)
            && end_offset > t.committed
        {
            t.committed = end_offset;
            t.committed_at = Utc::now();
        }
    }

    /// The positions to persist: open files and remembered ones.
    pub fn checkpoints(&self) -> Vec<FileCheckpoint> {
        let mut v: Vec<FileCheckpoint> = self
            .files
            .iter()
            .map(|t| FileCheckpoint {
                fingerprint: t.fp.hex.clone(),
                fingerprint_len: t.fp.len,
                dev: t.dev,
                ino: t.ino,
                path: t.path_str.clone(),
                offset: t.committed,
                updated: t.committed_at,
            })
            .collect();
        // A copy resumed from a truncated original shares its fingerprint:
        // keep one entry per fingerprint, the furthest.
        v.sort_by(|a, b| {
            a.fingerprint
                .cmp(&b.fingerprint)
                .then(b.offset.cmp(&a.offset))
        });
        v.dedup_by(|a, b| a.fingerprint == b.fingerprint);
        for r in &self.remembered {
            if !v.iter().any(|c| c.fingerprint == r.cp.fingerprint) {
                v.push(r.cp.clone());
            }
        }
        v
    }

    /// True when every emitted chunk of every file has been acknowledged.
    pub fn all_acked(&self) -> bool {
        self.files.iter().all(|t| t.committed >= t.emitted_end)
    }

    /// Emit every record still buffered or held back (shutdown): only complete
    /// lines are flushed, exactly as after a quiet period.
    pub fn flush_quiet(&mut self, out: &mut Vec<Chunk>) {
        for i in 0..self.files.len() {
            if self.files[i].dead {
                continue;
            }
            self.frame_and_parse(i, Flush::Quiet, out);
        }
    }

    /// Paths currently open, with their read position (for status/metrics).
    pub fn open_files(&self) -> Vec<(String, u64, u64)> {
        self.files
            .iter()
            .map(|t| (t.path_str.clone(), t.read_pos(), t.last_size))
            .collect()
    }

    /// Open files with their size, read and delivered positions (for `/metrics`).
    pub fn file_lags(&self) -> Vec<onetrail_core::metrics::FileLag> {
        self.files
            .iter()
            .filter(|t| !t.dead)
            .map(|t| onetrail_core::metrics::FileLag {
                path: t.path_str.clone(),
                size: t.last_size.max(t.read_pos()),
                read: t.read_pos(),
                delivered: t.committed,
            })
            .collect()
    }

    fn scan(&mut self, now: Instant, out: &mut Vec<Chunk>) {
        let paths = self.expand();
        // A deleted file keeps its inode while we hold it open; once its link
        // count is 0, the inode number at a path belongs to someone else.
        let mut live: HashMap<(u64, u64), usize> = HashMap::new();
        for (i, t) in self.files.iter().enumerate() {
            if t.gone {
                continue;
            }
            if let Ok(m) = t.file.metadata()
                && m.nlink() > 0
            {
                live.insert((t.dev, t.ino), i);
            }
        }
        let mut seen_ids: HashSet<u64> = HashSet::new();
        for path in paths {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                // A FIFO, device or directory: never opened (it would block or
                // never end). Said once per path.
                if meta.is_dir() {
                    self.scanning.push(SourceProblem {
                        kind: "directory",
                        detail: format!(
                            "{} is a directory, not a regular file: not tailed (to tail the files in it use a glob such as \"{}/*.log\")",
                            path.display(),
                            path.display()
                        ),
                    });
                } else if self.special_paths.insert(path.clone()) {
                    let kind = onetrail_core::files::special_kind(&path)
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| onetrail_core::files::kind_of(meta.file_type()).into());
                    self.warnings.push(format!(
                        "{} is a {kind}, not a regular file: not tailed",
                        path.display()
                    ));
                }
                continue;
            }
            let key = (meta.dev(), meta.ino());
            if let Some(&i) = live.get(&key) {
                let t = &mut self.files[i];
                // Same inode, but the content may have been replaced in place.
                if self::fingerprint_matches(&t.file, &t.fp) {
                    seen_ids.insert(t.id);
                    if t.path != path {
                        t.path_str = path.to_string_lossy().into_owned();
                        t.path = path;
                    }
                    continue;
                }
                // Truncated and rewritten: the old content ends here.
                self.lose_file(
                    i,
                    "file content replaced in place (truncated and rewritten)",
                );
                self.files[i].gone = true;
            }
            self.open_new(path, &meta, now, &mut seen_ids);
        }
        for t in &mut self.files {
            if !seen_ids.contains(&t.id) {
                t.gone = true;
            }
        }
        self.first_scan_done = true;
        self.settle_problems(now);
        if !self.notices.is_empty() {
            out.push(Chunk {
                file_id: 0,
                end_offset: 0,
                events: std::mem::take(&mut self.notices),
            });
        }
        self.report_gaps(now, out);
        let forget = self.opts.forget_after;
        self.remembered
            .retain(|r| now.duration_since(r.seen) < forget || r.pending_gap.is_some());
    }

    fn expand(&mut self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for pat in &self.opts.paths {
            match glob::glob(pat) {
                Ok(it) => {
                    let mut any = false;
                    for p in it.flatten() {
                        any = true;
                        if self.is_excluded(&p) || !seen.insert(p.clone()) {
                            continue;
                        }
                        out.push(p);
                    }
                    if !any {
                        let problem = match denied_dir_of(pat) {
                            Some((dir, why)) => SourceProblem {
                                kind: "permission",
                                detail: format!(
                                    "cannot list {}: permission denied{why}, so {pat:?} finds no file (add the agent's user to the logs' group and make the directory group-readable)",
                                    dir.display()
                                ),
                            },
                            None => SourceProblem {
                                kind: "no_file",
                                detail: format!(
                                    "{pat:?} matches no file: nothing is collected from it (check the path and the server's log settings; the agent keeps looking)"
                                ),
                            },
                        };
                        self.scanning.push(problem);
                    }
                }
                Err(e) => self.warnings.push(format!("bad glob {pat:?}: {e}")),
            }
        }
        // Oldest first, so rotated files are read before their successors.
        out.sort_by_key(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .unwrap_or(std::time::UNIX_EPOCH)
        });
        out
    }

    fn is_excluded(&self, p: &Path) -> bool {
        if let Some(ext) = p.extension().and_then(|e| e.to_str())
            && COMPRESSED.contains(&ext)
        {
            return true;
        }
        self.opts.exclude.iter().any(|pat| {
            glob::Pattern::new(pat)
                .map(|g| g.matches_path(p))
                .unwrap_or(false)
        })
    }

    fn open_new(
        &mut self,
        path: PathBuf,
        meta: &std::fs::Metadata,
        now: Instant,
        seen_ids: &mut HashSet<u64>,
    ) {
        let file = match onetrail_core::files::open_regular(&path) {
            Ok(f) => f,
            Err(onetrail_core::files::NotRegular::Io(e))
                if e.kind() == io::ErrorKind::PermissionDenied =>
            {
                self.scanning.push(SourceProblem {
                    kind: "permission",
                    detail: format!(
                        "cannot open {}: permission denied{}: not tailed",
                        path.display(),
                        onetrail_core::files::access_detail(&path)
                    ),
                });
                return;
            }
            Err(e) => {
                if self.pending_paths.insert(path.clone()) {
                    self.warnings
                        .push(format!("cannot open {}: {e}", path.display()));
                }
                return;
            }
        };
        let size = meta.len();
        let fp = match compute_fingerprint(&file, size) {
            Ok(Some(fp)) => fp,
            Ok(None) => {
                // Too short to identify yet (no complete first line).
                self.pending_paths.insert(path);
                return;
            }
            Err(e) => {
                self.warnings
                    .push(format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        self.pending_paths.remove(&path);
        // A copy of a file we are still reading intact (first half of a
        // copytruncate): ignore it; if the original is then truncated, the copy
        // is picked up at the next scan from where the original was left.
        if let Some(t) = self.files.iter().find(|t| {
            !t.dead
                && t.fp.hex == fp.hex
                && t.fp.len == fp.len
                && fingerprint_matches(&t.file, &t.fp)
                && t.file.metadata().map(|m| m.len()).unwrap_or(0) >= t.read_pos()
        }) {
            seen_ids.insert(t.id);
            return;
        }
        // Resume from a remembered position with the same content prefix.
        let mut start = None;
        let mut ri = None;
        // A saved checkpoint of this very file beyond its end.
        let mut beyond = None;
        for (i, r) in self.remembered.iter().enumerate() {
            if r.saved && r.cp.offset > size && beyond.is_none() {
                let same = if r.cp.fingerprint_len <= size {
                    hash_prefix(&file, r.cp.fingerprint_len)
                        .map(|h| h == r.cp.fingerprint)
                        .unwrap_or(false)
                } else {
                    // Too short to compare contents: the same inode at the same path.
                    r.cp.dev == meta.dev()
                        && r.cp.ino == meta.ino()
                        && Path::new(&r.cp.path) == path
                };
                if same {
                    beyond = Some(i);
                }
            }
            if r.cp.fingerprint_len > size || r.cp.offset > size {
                continue;
            }
            let ok = if r.cp.fingerprint_len == fp.len {
                r.cp.fingerprint == fp.hex
            } else {
                hash_prefix(&file, r.cp.fingerprint_len)
                    .map(|h| h == r.cp.fingerprint)
                    .unwrap_or(false)
            };
            if ok {
                start = Some(r.cp.offset);
                ri = Some(i);
                break;
            }
        }
        if ri.is_none()
            && let Some(i) = beyond
        {
            // Truncated or replaced while the agent was down: what was written
            // after the checkpoint before that is lost, and what the file
            // holds now is read from its start (ids of bytes read before repeat).
            let r = self.remembered.remove(i);
            let path_str = path.to_string_lossy();
            let mut ev = gap_event(
                self.opts.engine,
                self.opts.format_name,
                &format!("fp:{}", r.cp.fingerprint),
                &path_str,
                r.cp.offset,
                None,
                "checkpoint beyond the end of the file: truncated or replaced while the agent was down; anything written after the checkpoint before that is lost; the file is read again from offset 0",
            );
            ev.extra
                .insert("checkpoint_offset".into(), r.cp.offset.into());
            ev.extra.insert("file_size".into(), size.into());
            self.warnings.push(format!(
                "{}: checkpoint at byte {} but the file has {size} bytes (truncated or replaced while the agent was down): reading it from the start, GAP event sent",
                path.display(),
                r.cp.offset
            ));
            self.notices.push(ev);
        }
        let fp = match ri {
            Some(i) => {
                let r = self.remembered.remove(i);
                Fingerprint {
                    hex: r.cp.fingerprint,
                    len: r.cp.fingerprint_len,
                }
            }
            None => fp,
        };
        let start = start.unwrap_or(match self.opts.read_from {
            ReadFrom::End if !self.first_scan_done => size,
            _ => 0,
        });
        let id = self.next_id;
        self.next_id += 1;
        seen_ids.insert(id);
        let path_str = path.to_string_lossy().into_owned();
        self.files.push(Tracked {
            id,
            source_key: format!("fp:{}", fp.hex),
            fp,
            path,
            path_str,
            dev: meta.dev(),
            ino: meta.ino(),
            file,
            buf: Vec::new(),
            buf_offset: start,
            format: (self.make_format)(),
            framer: Framer::new(self.opts.max_record_bytes),
            last_data: now,
            quiet_flushed: true,
            gone: false,
            dead: false,
            last_size: size,
            committed: start,
            committed_at: Utc::now(),
            emitted_end: start,
        });
    }

    /// The content of file `i` is gone (truncated, replaced): remember where a
    /// copy could resume, and report bytes we knew of but never read unless a
    /// copy turns up within two scans.
    fn lose_file(&mut self, i: usize, why: &'static str) {
        let scan = self.opts.scan_interval;
        let t = &mut self.files[i];
        // Resume a copy from what was delivered, not from what was read: events
        // in flight may still fail, and re-reading them only yields duplicates
        // with the same ids.
        let resume_at = t.committed;
        let pending_gap = (t.last_size > t.read_pos()).then(|| PendingGap {
            from: t.read_pos(),
            to: t.last_size,
            deadline: Instant::now() + scan * 2 + Duration::from_millis(100),
            reason: why,
        });
        self.remembered.retain(|r| r.cp.fingerprint != t.fp.hex);
        self.remembered.push(Remembered {
            cp: FileCheckpoint {
                fingerprint: t.fp.hex.clone(),
                fingerprint_len: t.fp.len,
                dev: t.dev,
                ino: t.ino,
                path: t.path_str.clone(),
                offset: resume_at,
                updated: Utc::now(),
            },
            seen: Instant::now(),
            pending_gap,
            saved: false,
        });
        // Nothing more will be read from this descriptor: it now shows other content.
        t.buf.clear();
        t.last_size = t.buf_offset;
        t.dead = true;
        t.gone = true;
    }

    /// Report pending gaps whose copy never appeared.
    fn report_gaps(&mut self, now: Instant, out: &mut Vec<Chunk>) {
        for r in &mut self.remembered {
            let due = r.pending_gap.as_ref().is_some_and(|g| now >= g.deadline);
            if !due {
                continue;
            }
            let g = r.pending_gap.take().expect("checked");
            let ev = gap_event(
                self.opts.engine,
                self.opts.format_name,
                &format!("fp:{}", r.cp.fingerprint),
                &r.cp.path,
                g.from,
                Some(g.to),
                g.reason,
            );
            out.push(Chunk {
                file_id: 0,
                end_offset: 0,
                events: vec![ev],
            });
        }
    }

    fn read_file(&mut self, i: usize, now: Instant, out: &mut Vec<Chunk>) -> bool {
        if self.files[i].dead {
            return false;
        }
        let size = match self.files[i].file.metadata() {
            Ok(m) => m.len(),
            Err(_) => return false,
        };
        let t = &mut self.files[i];
        if size < t.read_pos() {
            if t.gone {
                return false;
            }
            // Truncated under us (copytruncate, log_truncate_on_rotation).
            self.lose_file(i, "file truncated below the read position");
            self.files[i].gone = true;
            self.rescan_soon();
            return false;
        }
        // Truncated and rewritten past our position between two looks: the
        // size alone cannot tell, the first bytes can.
        if size > t.read_pos() && !fingerprint_matches(&t.file, &t.fp) {
            self.lose_file(i, "file content replaced (truncated and rewritten)");
            self.rescan_soon();
            return false;
        }
        let t = &mut self.files[i];
        t.last_size = t.last_size.max(size);
        let mut progressed = false;
        if size > t.read_pos() {
            let at = t.read_pos();
            let want = ((size - at) as usize).min(self.opts.read_chunk);
            let old = t.buf.len();
            t.buf.resize(old + want, 0);
            match t.file.read_at(&mut t.buf[old..], at) {
                Ok(n) => {
                    t.buf.truncate(old + n);
                    if n > 0 {
                        progressed = true;
                        t.last_data = now;
                        t.quiet_flushed = false;
                    }
                }
                Err(e) => {
                    t.buf.truncate(old);
                    self.warnings
                        .push(format!("read error on {}: {e}", t.path_str));
                    return false;
                }
            }
        }
        let t = &self.files[i];
        let at_end = t.read_pos() >= size;
        let flush = if t.gone && at_end {
            Flush::Final
        } else if at_end
            && !t.quiet_flushed
            && now.duration_since(t.last_data) >= self.opts.quiet_flush
        {
            Flush::Quiet
        } else {
            Flush::No
        };
        if progressed || flush != Flush::No {
            self.frame_and_parse(i, flush, out);
            if flush != Flush::No {
                self.files[i].quiet_flushed = true;
            }
        }
        progressed
    }

    fn frame_and_parse(&mut self, i: usize, flush: Flush, out: &mut Vec<Chunk>) {
        let max_events = self.opts.max_chunk_events;
        let max_bytes = self.opts.max_chunk_bytes;
        let format_name = self.opts.format_name;
        let t = &mut self.files[i];
        // Quiet, and the bytes end without a newline (the writer stopped
        // mid-line, or the file's last record has none): read them as the end
        // of the file for now, exactly as `onetrail parse` does. Should the
        // writer go on later, the rest comes as a record of its own.
        let flush = if flush == Flush::Quiet
            && t.buf.last().is_some_and(|&b| b != b'\n')
            && !t.framer.is_skipping()
        {
            Flush::Final
        } else {
            flush
        };
        let mut events = Vec::new();
        let mut consumed = 0usize;
        let mut chunk_from = 0usize;
        loop {
            let pos = RecordPos {
                source_key: &t.source_key,
                path: Some(&t.path_str),
                offset: t.buf_offset + consumed as u64,
                format: format_name,
            };
            let n = t
                .framer
                .step(&mut *t.format, &t.buf[consumed..], &pos, flush, &mut events);
            if n == 0 {
                break;
            }
            consumed += n;
            if events.len() >= max_events
                || (!events.is_empty() && consumed - chunk_from >= max_bytes)
            {
                chunk_from = consumed;
                let end = t.buf_offset + consumed as u64;
                let end = t.framer.held_since(&*t.format).map_or(end, |h| h.min(end));
                out.push(Chunk {
                    file_id: t.id,
                    end_offset: end.max(t.emitted_end),
                    events: std::mem::take(&mut events),
                });
                t.emitted_end = t.emitted_end.max(end);
            }
        }
        t.buf.drain(..consumed);
        t.buf_offset += consumed as u64;
        if flush != Flush::No {
            let pos = RecordPos {
                source_key: &t.source_key,
                path: Some(&t.path_str),
                offset: t.buf_offset,
                format: format_name,
            };
            t.framer.flush(&mut *t.format, &pos, flush, &mut events);
        }
        let end = t
            .framer
            .held_since(&*t.format)
            .map_or(t.buf_offset, |h| h.min(t.buf_offset));
        if !events.is_empty() || end > t.emitted_end {
            out.push(Chunk {
                file_id: t.id,
                end_offset: end.max(t.emitted_end),
                events,
            });
            t.emitted_end = t.emitted_end.max(end);
        }
    }

    /// Drop files that are gone, fully read and fully acknowledged; remember
    /// their position in case they come back (renamed into `paths` again).
    fn retire_finished(&mut self, now: Instant) {
        let mut k = 0;
        while k < self.files.len() {
            let t = &self.files[k];
            let size = t.file.metadata().map(|m| m.len()).unwrap_or(0);
            let drained = t.dead || (t.gone && t.read_pos() >= size && t.buf.is_empty());
            if drained && t.committed >= t.emitted_end {
                let t = self.files.swap_remove(k);
                let pending_gap = self
                    .remembered
                    .iter()
                    .position(|r| r.cp.fingerprint == t.fp.hex)
                    .and_then(|j| self.remembered.swap_remove(j).pending_gap);
                self.remembered.push(Remembered {
                    pending_gap,
                    saved: false,
                    cp: FileCheckpoint {
                        fingerprint: t.fp.hex,
                        fingerprint_len: t.fp.len,
                        dev: t.dev,
                        ino: t.ino,
                        path: t.path_str,
                        offset: t.committed,
                        updated: Utc::now(),
                    },
                    seen: now,
                });
            } else {
                k += 1;
            }
        }
    }
}

/// An `agent` event saying bytes of a file were lost before they could be read.
pub fn gap_event(
    engine: Engine,
    format: &'static str,
    source_key: &str,
    path: &str,
    from: u64,
    to: Option<u64>,
    why: &str,
) -> Event {
    let pos = RecordPos {
        source_key,
        path: Some(path),
        offset: from,
        format,
    };
    let mut ev = Event::new(engine, Utc::now(), &pos, u32::MAX);
    ev.category = Category::Agent;
    ev.action = "GAP".into();
    ev.outcome = onetrail_event::Outcome::Failure;
    ev.extra.insert("file".into(), path.into());
    ev.extra.insert("from_offset".into(), from.into());
    ev.extra.insert(
        "to_offset".into(),
        to.map_or(serde_json::Value::Null, Into::into),
    );
    ev.extra.insert("reason".into(), why.into());
    ev.alert = true;
    ev
}

/// Fingerprint of a file: SHA-256 of its first `min(size, 1 KiB)` bytes, once
/// it holds at least one complete line or 1 KiB. `None`: not identifiable yet.
fn compute_fingerprint(file: &File, size: u64) -> io::Result<Option<Fingerprint>> {
    let len = size.min(FINGERPRINT_BYTES);
    if len == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; len as usize];
    let n = file.read_at(&mut buf, 0)?;
    buf.truncate(n);
    if (buf.len() as u64) < FINGERPRINT_BYTES && !buf.contains(&b'\n') {
        return Ok(None);
    }
    Ok(Some(Fingerprint {
        hex: hex16(&buf),
        len: buf.len() as u64,
    }))
}

fn hash_prefix(file: &File, len: u64) -> io::Result<String> {
    let mut buf = vec![0u8; len as usize];
    let n = file.read_at(&mut buf, 0)?;
    if (n as u64) < len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short file"));
    }
    Ok(hex16(&buf))
}

fn fingerprint_matches(file: &File, fp: &Fingerprint) -> bool {
    hash_prefix(file, fp.len)
        .map(|h| h == fp.hex)
        .unwrap_or(false)
}

fn hex16(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::with_capacity(32);
    for b in &d[..16] {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Fingerprint-based source key of a whole file (used by `onetrail parse`, so
/// offline parsing yields the same ids as tailing the same file).
pub fn source_key_of(file: &File) -> io::Result<String> {
    let size = file.metadata()?.len();
    let len = size.min(FINGERPRINT_BYTES);
    Ok(format!("fp:{}", hash_prefix(file, len)?))
}

#[cfg(test)]
mod problem_tests {
    use super::*;

    fn tailer(paths: Vec<String>) -> FileTailer {
        let mut o = TailOptions::new(paths, Engine::Postgresql, "pgaudit-stderr");
        o.scan_interval = Duration::ZERO;
        let factory: FormatFactory = Box::new(|| {
            crate::formats::by_name("pgaudit-stderr", &Default::default())
                .unwrap()
                .0
        });
        FileTailer::new(o, Vec::new(), factory)
    }

    #[test]
    fn paths_matching_nothing_and_directories_are_problems_said_once() {
        let d = tempfile::tempdir().unwrap();
        let logdir = d.path().join("log");
        std::fs::create_dir(&logdir).unwrap();
        let none = format!("{}/*.nomatch", d.path().display());
        let dir = logdir.to_string_lossy().into_owned();
        let mut t = tailer(vec![none.clone(), dir.clone()]);
        let mut out = Vec::new();
        let now = Instant::now();
        t.poll(now, &mut out);
        let kinds: Vec<&str> = t.problems().iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["no_file", "directory"], "{:?}", t.problems());
        let w: Vec<String> = t.warnings.drain(..).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains(&none) && w[0].contains("matches no file"),
            "{w:?}"
        );
        assert!(
            w[1].contains("is a directory") && w[1].contains("/*.log"),
            "{w:?}"
        );
        // Lasting problems are not logged at every scan...
        t.poll(now + Duration::from_secs(1), &mut out);
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        // ...but again after a while.
        t.poll(now + PROBLEM_REPEAT, &mut out);
        assert_eq!(t.warnings.len(), 2);
        t.warnings.clear();
        // Fixed: gone from the problems.
        std::fs::write(
            d.path().join("a.nomatch"),
            "2026-12-03 10:00:00.000 UTC [1] LOG:  x\n",
        )
        .unwrap();
        t.poll(now + PROBLEM_REPEAT * 2, &mut out);
        let kinds: Vec<&str> = t.problems().iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["directory"]);
    }
}
