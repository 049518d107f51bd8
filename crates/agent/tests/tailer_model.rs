//! Model-based test of the file tailer.
//!
//! Random sequences of file operations (write a line, write half a line,
//! rename-rotate, copytruncate, truncate, delete, recreate, agent restart) are
//! applied to a real directory while the real tailer polls it. A simple model
//! of what was written is checked against what the tailer emitted:
//! - nothing is emitted that was not written (no invented or torn lines);
//! - every line that is still on disk at the end has been emitted;
//! - within one file, lines are emitted in the order they were written.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use onetrail_agent::checkpoint::FileCheckpoint;
use onetrail_agent::tail::{Chunk, FileTailer, TailOptions};
use onetrail_event::{Category, Engine, Event, Flush, RecordFormat, RecordPos};
use proptest::prelude::*;

/// One line = one record; the event's statement is the line.
struct LineFormat;

impl RecordFormat for LineFormat {
    fn name(&self) -> &'static str {
        "lines"
    }
    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        match memchr(buf) {
            Some(i) => Some(i + 1),
            None if flush == Flush::Final && !buf.is_empty() => Some(buf.len()),
            None => None,
        }
    }
    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let mut ev = Event::new(Engine::Postgresql, Utc::now(), pos, 0);
        ev.category = Category::Other;
        ev.statement = Some(String::from_utf8_lossy(record).trim_end().to_string());
        ev.extra.insert("key".into(), pos.source_key.into());
        out.push(ev);
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[derive(Debug, Clone)]
enum Op {
    Line,
    HalfLine,
    RotateRename,
    CopyTruncate,
    Truncate,
    Delete,
    Restart,
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Line),
        2 => Just(Op::HalfLine),
        1 => Just(Op::RotateRename),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::Truncate),
        1 => Just(Op::Delete),
        1 => Just(Op::Restart),
        5 => Just(Op::Poll),
    ]
}

struct Harness {
    dir: PathBuf,
    live: PathBuf,
    tailer: Option<FileTailer>,
    clock: Instant,
    next_line: u64,
    /// Text of the half-written line at the end of the live file, if any
    /// (the part still to write), and the part already written.
    half: Option<String>,
    half_written: String,
    /// Half lines whose file was deleted: the writer never finished them, and
    /// the tailer may emit them as they are (a torn last record, flagged by the
    /// parser) rather than drop them.
    torn_ok: BTreeSet<String>,
    /// Lines that sat half-written through a poll: after the quiet period the
    /// tailer emits the written half as the last record, and the rest as a
    /// record of its own once it comes (both pieces are in `torn_ok`).
    split: BTreeSet<u64>,
    rotations: u32,
    /// Line number → the content written (full lines only).
    written: BTreeSet<u64>,
    /// Lines emitted, in emission order, per source key (file identity).
    emitted: Vec<(String, u64)>,
    gaps: usize,
    saved: Vec<FileCheckpoint>,
}

impl Harness {
    fn new(dir: &Path) -> Harness {
        let mut h = Harness {
            dir: dir.to_path_buf(),
            live: dir.join("audit.log"),
            tailer: None,
            clock: Instant::now(),
            next_line: 0,
            half: None,
            half_written: String::new(),
            torn_ok: BTreeSet::new(),
            split: BTreeSet::new(),
            rotations: 0,
            written: BTreeSet::new(),
            emitted: Vec::new(),
            gaps: 0,
            saved: Vec::new(),
        };
        h.start();
        h
    }

    fn start(&mut self) {
        let mut o = TailOptions::new(
            vec![format!("{}/audit.log*", self.dir.display())],
            Engine::Postgresql,
            "lines",
        );
        o.scan_interval = Duration::ZERO;
        o.quiet_flush = Duration::from_millis(50);
        o.max_chunk_events = 3;
        o.read_chunk = 64;
        self.tailer = Some(FileTailer::new(
            o,
            self.saved.clone(),
            Box::new(|| Box::new(LineFormat)),
        ));
    }

    fn append(&mut self, s: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.live)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn line_text(n: u64) -> String {
        // Lines long enough to make fingerprints (first line) unique.
        format!("line-{n:06} {}\n", "x".repeat((n % 7) as usize))
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Line => {
                let n = self.next_line;
                self.next_line += 1;
                let text = Self::line_text(n);
                if let Some(h) = self.half.take() {
                    // Complete the half line first: it was line n-1.
                    self.append(&h);
                    self.written.insert(n - 1);
                }
                self.append(&text);
                self.written.insert(n);
            }
            Op::HalfLine => {
                if self.half.is_some() {
                    return;
                }
                let n = self.next_line;
                self.next_line += 1;
                let text = Self::line_text(n);
                let (a, b) = text.split_at(text.len() / 2);
                self.append(a);
                self.half = Some(b.to_string());
                self.half_written = a.to_string();
            }
            Op::RotateRename => {
                if self.half.is_some() || !self.live.exists() {
                    return;
                }
                self.rotations += 1;
                let to = self.dir.join(format!("audit.log.{}", self.rotations));
                fs::rename(&self.live, to).unwrap();
            }
            Op::CopyTruncate => {
                if self.half.is_some() || !self.live.exists() {
                    return;
                }
                self.rotations += 1;
                let to = self.dir.join(format!("audit.log.{}", self.rotations));
                fs::copy(&self.live, &to).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(&self.live)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            Op::Truncate => {
                if !self.live.exists() {
                    return;
                }
                self.half = None;
                OpenOptions::new()
                    .write(true)
                    .open(&self.live)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            Op::Delete => {
                if !self.live.exists() {
                    return;
                }
                if self.half.take().is_some() {
                    self.torn_ok
                        .insert(self.half_written.trim_end().to_string());
                }
                fs::remove_file(&self.live).unwrap();
            }
            Op::Restart => {
                if let Some(t) = self.tailer.take() {
                    self.saved = t.checkpoints();
                }
                self.start();
            }
            Op::Poll => self.poll(),
        }
    }

    fn poll(&mut self) {
        if let Some(rest) = &self.half {
            self.torn_ok
                .insert(self.half_written.trim_end().to_string());
            self.torn_ok.insert(rest.trim_end().to_string());
            self.split.insert(self.next_line - 1);
        }
        self.clock += Duration::from_millis(200);
        let mut chunks: Vec<Chunk> = Vec::new();
        let t = self.tailer.as_mut().unwrap();
        for _ in 0..50 {
            if !t.poll(self.clock, &mut chunks) {
                break;
            }
        }
        for c in chunks {
            for e in &c.events {
                if e.category == Category::Agent {
                    self.gaps += 1;
                    continue;
                }
                let s = e.statement.clone().unwrap();
                if self.torn_ok.contains(&s) {
                    continue;
                }
                let n: u64 = s
                    .strip_prefix("line-")
                    .and_then(|r| r.get(..6))
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_else(|| panic!("emitted something never written: {s:?}"));
                assert_eq!(
                    format!("{s}\n").trim_end(),
                    Self::line_text(n).trim_end(),
                    "torn or altered line emitted"
                );
                self.emitted
                    .push((e.extra["key"].as_str().unwrap().to_string(), n));
            }
            if c.file_id != 0 {
                t.ack(c.file_id, c.end_offset);
            }
        }
        // Persist what a real agent would persist.
        self.saved = t.checkpoints();
    }

    fn lines_on_disk(&self) -> BTreeSet<u64> {
        let mut on_disk = BTreeSet::new();
        for e in fs::read_dir(&self.dir).unwrap() {
            let p = e.unwrap().path();
            let text = fs::read_to_string(&p).unwrap();
            for l in text.split_inclusive('\n') {
                if !l.ends_with('\n') {
                    continue; // half line: not a record yet
                }
                if let Some(n) = l
                    .strip_prefix("line-")
                    .and_then(|r| r.get(..6))
                    .and_then(|d| d.parse().ok())
                {
                    on_disk.insert(n);
                }
            }
        }
        on_disk
    }
}

fn check_run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path());
    for op in &ops {
        h.apply(op);
    }
    // Let everything settle: several polls past the quiet period.
    for _ in 0..5 {
        h.poll();
    }
    let emitted: BTreeSet<u64> = h.emitted.iter().map(|(_, n)| *n).collect();
    // 1. Nothing emitted that was not written (also checked per line in poll).
    for n in &emitted {
        assert!(
            h.written.contains(n),
            "line {n} emitted but never completely written; ops={ops:?}"
        );
    }
    // 2. Every line still on disk was emitted.
    let on_disk = h.lines_on_disk();
    let missing: Vec<_> = on_disk
        .difference(&emitted)
        .filter(|n| !h.split.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "lines on disk never emitted: {missing:?}; ops={ops:?}"
    );
    // 3. Order within a file (file = identity key, which a copytruncate copy
    //    shares with its original): first emissions of lines increase.
    let mut seen = BTreeSet::new();
    let mut last: HashMap<&str, u64> = HashMap::new();
    for (key, n) in &h.emitted {
        if !seen.insert(*n) {
            continue;
        }
        if let Some(prev) = last.get(key.as_str()) {
            assert!(
                n > prev,
                "line {n} emitted after line {prev} of the same file; ops={ops:?}"
            );
        }
        last.insert(key, *n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    #[test]
    fn tailer_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        check_run(ops);
    }
}

#[test]
fn rename_rotation_while_partially_read_loses_nothing() {
    use Op::*;
    check_run(vec![
        Line,
        Line,
        Poll,
        Line,
        HalfLine,
        RotateRename,
        Line,
        Poll,
        Line,
        Restart,
        Line,
        Poll,
    ]);
}

#[test]
fn copytruncate_with_unread_tail_is_resumed_from_the_copy() {
    use Op::*;
    check_run(vec![Line, Poll, Line, Line, CopyTruncate, Line, Poll, Poll]);
}

#[test]
fn restart_resumes_without_loss() {
    use Op::*;
    check_run(vec![
        Line, Line, Poll, Restart, Line, Poll, Restart, Restart, Line, Poll,
    ]);
}

/// A checkpoint beyond the end of its file (truncated while the agent was
/// down) is never a silent re-read: a GAP `agent` event with `alert: true`
/// names the file and the offsets, then the file is read from its start.
#[test]
fn checkpoint_beyond_the_end_is_a_gap_not_a_silent_reread() {
    for shrink_to in [Some(2000u64), None] {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("audit.log");
        let text: String = (0..200).map(Harness::line_text).collect();
        assert!(text.len() > 3000);
        fs::write(&live, &text).unwrap();
        let start = |saved: Vec<FileCheckpoint>| {
            let mut o = TailOptions::new(
                vec![live.display().to_string()],
                Engine::Postgresql,
                "lines",
            );
            o.scan_interval = Duration::ZERO;
            FileTailer::new(o, saved, Box::new(|| Box::new(LineFormat)))
        };
        let poll = |t: &mut FileTailer, clock: Instant| {
            let mut chunks = Vec::new();
            for _ in 0..50 {
                if !t.poll(clock, &mut chunks) {
                    break;
                }
            }
            for c in &chunks {
                if c.file_id != 0 {
                    t.ack(c.file_id, c.end_offset);
                }
            }
            chunks
                .into_iter()
                .flat_map(|c| c.events)
                .collect::<Vec<Event>>()
        };
        let clock = Instant::now();
        let mut t = start(Vec::new());
        let first = poll(&mut t, clock);
        assert_eq!(first.len(), 200);
        let saved = t.checkpoints();
        assert_eq!(saved[0].offset, text.len() as u64);
        drop(t);
        // While the agent is down, the file shrinks below its checkpoint.
        let size = match shrink_to {
            // Same first bytes, shorter (truncated at a line end).
            Some(n) => {
                let cut = text[..n as usize].rfind('\n').unwrap() + 1;
                fs::OpenOptions::new()
                    .write(true)
                    .open(&live)
                    .unwrap()
                    .set_len(cut as u64)
                    .unwrap();
                cut as u64
            }
            // Emptied in place and rewritten with a short new line.
            None => {
                let f = fs::OpenOptions::new().write(true).open(&live).unwrap();
                f.set_len(0).unwrap();
                drop(f);
                let new = "line-999999 new\n";
                fs::OpenOptions::new()
                    .append(true)
                    .open(&live)
                    .unwrap()
                    .write_all(new.as_bytes())
                    .unwrap();
                new.len() as u64
            }
        };
        let mut t = start(saved);
        let after = poll(&mut t, clock + Duration::from_secs(1));
        let gaps: Vec<&Event> = after
            .iter()
            .filter(|e| e.category == Category::Agent)
            .collect();
        assert_eq!(
            gaps.len(),
            1,
            "{shrink_to:?}: {} events, no single GAP",
            after.len()
        );
        let g = gaps[0];
        assert_eq!(g.action, "GAP");
        assert!(g.alert);
        assert_eq!(g.extra["from_offset"], text.len() as u64);
        assert_eq!(g.extra["checkpoint_offset"], text.len() as u64);
        assert_eq!(g.extra["file_size"], size);
        assert_eq!(g.extra["file"], live.display().to_string());
        // Then the file is read again from its start.
        let lines = after
            .iter()
            .filter(|e| e.category != Category::Agent)
            .count();
        assert!(lines >= 1, "{shrink_to:?}: nothing re-read");
        if shrink_to.is_some() {
            assert_eq!(
                lines,
                text[..size as usize].lines().count(),
                "{shrink_to:?}"
            );
        }
    }
}
