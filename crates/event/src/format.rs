//! The boundary between the runtime and the pure parsers.
//!
//! The runtime reads bytes (a tailed file, `onetrail parse` reading a file, a
//! benchmark reading memory) and asks the format where the next complete record
//! ends ([`RecordFormat::frame`]); it then hands that record's bytes to
//! [`RecordFormat::parse`]. Framing is format-specific (a pgaudit statement
//! spans TAB-continued lines, a csvlog record may contain quoted newlines), so
//! it lives with the parser; the runtime only owns positions and time.

use crate::Event;

/// How eagerly [`RecordFormat::frame`] may decide that the bytes it has form a
/// complete record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// More bytes may follow: only return a record whose end is proven by what
    /// comes after it (e.g. the next line starts a new message).
    No,
    /// The file has been quiet for a while: a record made of complete lines
    /// (ending in `\n`) may be returned even though a continuation line could in
    /// theory still follow. A partial last line is never returned.
    Quiet,
    /// Nothing more will ever be appended (end of a rotated file, end of an
    /// offline import): whatever bytes remain form the last record.
    Final,
}

/// Where a record sits in its source. Used to build deterministic event ids
/// and the `source` field of the event.
#[derive(Debug, Clone, Copy)]
pub struct RecordPos<'a> {
    /// Stable identity of the source (for files: a fingerprint of the file's
    /// first bytes), independent of the path, so a renamed file keeps its ids.
    pub source_key: &'a str,
    pub path: Option<&'a str>,
    /// Byte offset of the record's first byte.
    pub offset: u64,
    /// The format name, e.g. `pgaudit-stderr`.
    pub format: &'a str,
}

/// A log format: frames records out of a byte stream and normalizes each one.
///
/// Implementations are pure (no I/O, no clock) and may keep bounded state
/// across records (e.g. a session's connection details, to enrich its later
/// records).
pub trait RecordFormat: Send {
    /// The format's name as used in config and `onetrail parse --format`.
    fn name(&self) -> &'static str;

    /// Length in bytes of the first complete record at the start of `buf`
    /// (always at a record boundary), or `None` when more bytes are needed.
    /// With [`Flush::Final`] and a non-empty `buf` it must return `Some`.
    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize>;

    /// Normalize one framed record (the exact bytes `frame` delimited) into
    /// zero or more events appended to `out`. Never panics; a record that
    /// cannot be understood becomes one `unparsed` event carrying its raw text.
    /// Zero events is allowed only for records the format deliberately folds
    /// into others or skips by configuration.
    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>);

    /// Whether `line` — the bytes that follow a newline, possibly only the
    /// first few of a line — starts a new record; `None` when more bytes are
    /// needed to tell. Used only to find where a record that outgrew the size
    /// limit ends, while the rest of it is skipped rather than buffered (see
    /// [`Framer`]). The default, every line starts a record, is right for
    /// formats of one record per line; formats whose records span lines
    /// override it. A few dozen bytes must always suffice to decide.
    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        let _ = line;
        Some(true)
    }

    /// Offset of the oldest record whose events the format still holds back
    /// (e.g. a pgaudit record waiting to learn whether its statement failed).
    /// The runtime never checkpoints at or past this offset, so a restart
    /// re-reads the record and yields the same events with the same ids.
    fn held_since(&self) -> Option<u64> {
        None
    }

    /// Emit every held-back event (quiet period, end of a rotated file,
    /// shutdown). After this, `held_since` returns `None`.
    fn release_held(&mut self, out: &mut Vec<Event>) {
        let _ = out;
    }
}

/// For [`RecordFormat::starts_record`]: decide with `f` on the line's first
/// `look` bytes, or on the whole line (newline included) when it is shorter;
/// `None` while neither is there yet.
pub fn decide_on_line(line: &[u8], look: usize, f: impl FnOnce(&[u8]) -> bool) -> Option<bool> {
    let window = &line[..line.len().min(look)];
    match memchr::memchr(b'\n', window) {
        Some(i) => Some(f(&window[..=i])),
        None if line.len() >= look => Some(f(window)),
        None => None,
    }
}

/// Does `line` start with `YYYY-MM-DD HH:MM` (how the records of many
/// multi-line formats begin: csvlog, SQL Server's CSV export)?
pub fn starts_with_date_time(line: &[u8]) -> bool {
    const SHAPE: &[u8; 16] = b"0000-00-00 00:00";
    line.len() >= SHAPE.len()
        && SHAPE.iter().zip(line).all(|(&p, &c)| {
            if p == b'0' {
                c.is_ascii_digit()
            } else {
                c == p
            }
        })
}

/// Bytes kept from the end of an over-long record (the fields after the
/// statement: return codes, row counts, the closing of a JSON or XML record).
const TAIL_KEEP: usize = 4096;

/// The smallest `max_record` a [`Framer`] accepts (room for a head and a tail).
pub const MIN_MAX_RECORD: usize = 4 * TAIL_KEEP;

/// Default `max_record_bytes`: records up to 1 MiB are kept whole.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// The one framing driver: frames records out of a byte stream with a
/// [`RecordFormat`], parses them, and bounds the memory any single record can
/// take.
///
/// A record longer than `max_record` bytes is **cut, not buffered**: its first
/// `max_record - 4 KiB` bytes (ending at a separator near the cut, so an escape
/// or entity is not split) and its last 4 KiB are kept and parsed as one
/// record, and every byte in between is skipped as it streams by, while
/// [`RecordFormat::starts_record`] watches for the line that starts the next
/// record. So a statement of any size costs at most `max_record` bytes of
/// buffer; the event still carries the record's leading fields (time, user,
/// session) and its trailing ones (return code), and is flagged
/// `extra.truncated: true` with `extra.original_bytes`, the record's real size.
/// The cut is a pure function of the record's bytes, so a re-read yields the
/// same events with the same ids.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    over: Option<Overlong>,
    /// Truncated records (offset, original size) whose events the format may
    /// still hold back; their events are flagged as they come out.
    truncated: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct Overlong {
    offset: u64,
    head: Vec<u8>,
    /// The last bytes seen (at most `2 * TAIL_KEEP`, trimmed to `TAIL_KEEP`).
    tail: Vec<u8>,
    total: u64,
    at_line_start: bool,
}

impl Framer {
    /// `max_record`: the largest record kept whole (`usize::MAX`: no limit);
    /// values below [`MIN_MAX_RECORD`] are raised to it.
    pub fn new(max_record: usize) -> Framer {
        Framer {
            max: max_record.max(MIN_MAX_RECORD),
            over: None,
            truncated: Vec::new(),
        }
    }

    /// An over-long record is being skipped (its end not seen yet).
    pub fn is_skipping(&self) -> bool {
        self.over.is_some()
    }

    /// Frame the next record at the start of `buf` (whose first byte is at
    /// `pos.offset`), parse it into `out`, and return how many bytes of `buf`
    /// were consumed: 0 when more bytes are needed. Bytes of an over-long
    /// record are consumed (skipped) before its events appear.
    pub fn step(
        &mut self,
        f: &mut dyn RecordFormat,
        buf: &[u8],
        pos: &RecordPos<'_>,
        flush: Flush,
        out: &mut Vec<Event>,
    ) -> usize {
        if self.over.is_some() {
            return self.skip(f, buf, pos, flush, out);
        }
        if buf.is_empty() {
            return 0;
        }
        match f.frame(buf, flush) {
            Some(n) if n > 0 && n <= self.max => {
                self.parse(f, &buf[..n], pos, out);
                n
            }
            Some(n) if n > 0 => {
                let n = n.min(buf.len());
                let head = &buf[..head_cut(buf, self.max - TAIL_KEEP)];
                let tail = &buf[n - TAIL_KEEP..n];
                let record = [head, &tail[tail_start(tail)..]].concat();
                self.emit(f, &record, pos, pos.offset, n as u64, out);
                n
            }
            _ if buf.len() > self.max => {
                let keep = self.max - TAIL_KEEP;
                self.over = Some(Overlong {
                    offset: pos.offset,
                    head: buf[..head_cut(buf, keep)].to_vec(),
                    tail: Vec::with_capacity(2 * TAIL_KEEP),
                    total: keep as u64,
                    at_line_start: buf[keep - 1] == b'\n',
                });
                keep
            }
            _ if flush == Flush::Final => {
                // A format that breaks the contract still loses nothing.
                self.parse(f, buf, pos, out);
                buf.len()
            }
            _ => 0,
        }
    }

    /// The stream is quiet ([`Flush::Quiet`]) or over ([`Flush::Final`]):
    /// finish an over-long record whose end is now known, then release what
    /// the format holds back.
    pub fn flush(
        &mut self,
        f: &mut dyn RecordFormat,
        pos: &RecordPos<'_>,
        flush: Flush,
        out: &mut Vec<Event>,
    ) {
        if let Some(o) = &self.over
            && (flush == Flush::Final || (flush == Flush::Quiet && o.at_line_start))
        {
            self.finish(f, pos, out);
        }
        if flush != Flush::No {
            let before = out.len();
            f.release_held(out);
            self.flag(f, out, before);
        }
    }

    /// The oldest offset whose events are not out yet: the format's held
    /// record, or an over-long record being skipped. A checkpoint must stay
    /// at or before it.
    pub fn held_since(&self, f: &dyn RecordFormat) -> Option<u64> {
        let own = self.over.as_ref().map(|o| o.offset);
        match (f.held_since(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn skip(
        &mut self,
        f: &mut dyn RecordFormat,
        buf: &[u8],
        pos: &RecordPos<'_>,
        flush: Flush,
        out: &mut Vec<Event>,
    ) -> usize {
        let o = self
            .over
            .as_mut()
            .expect("skip without an over-long record");
        let mut i = 0;
        while i < buf.len() {
            if o.at_line_start {
                let verdict = match f.starts_record(&buf[i..]) {
                    // A format that cannot decide on a whole line's worth of
                    // bytes: the line continues the record.
                    None if buf.len() - i > TAIL_KEEP => Some(false),
                    v => v,
                };
                match verdict {
                    Some(true) => {
                        self.finish(f, pos, out);
                        return i;
                    }
                    Some(false) => o.at_line_start = false,
                    None if flush == Flush::Final => o.at_line_start = false,
                    None => return i,
                }
            }
            let end = match memchr::memchr(b'\n', &buf[i..]) {
                Some(j) => {
                    o.at_line_start = true;
                    i + j + 1
                }
                None => buf.len(),
            };
            o.keep_tail(&buf[i..end]);
            i = end;
        }
        i
    }

    fn finish(&mut self, f: &mut dyn RecordFormat, pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let Some(o) = self.over.take() else { return };
        let tail = o.tail_bytes();
        let record = [&o.head[..], &tail[tail_start(tail)..]].concat();
        self.emit(f, &record, pos, o.offset, o.total, out);
    }

    fn emit(
        &mut self,
        f: &mut dyn RecordFormat,
        record: &[u8],
        pos: &RecordPos<'_>,
        offset: u64,
        total: u64,
        out: &mut Vec<Event>,
    ) {
        self.truncated.push((offset, total));
        self.parse(f, record, &RecordPos { offset, ..*pos }, out);
    }

    /// Parse one framed record and flag what it yields.
    fn parse(
        &mut self,
        f: &mut dyn RecordFormat,
        record: &[u8],
        pos: &RecordPos<'_>,
        out: &mut Vec<Event>,
    ) {
        let before = out.len();
        f.parse(record, pos, out);
        self.flag(f, out, before);
    }

    /// Flag the events of truncated records among `out[before..]`, then
    /// forget the records none of whose events can still be held back.
    fn flag(&mut self, f: &dyn RecordFormat, out: &mut [Event], before: usize) {
        if self.truncated.is_empty() {
            return;
        }
        for ev in &mut out[before..] {
            if let Some(&(_, total)) = self
                .truncated
                .iter()
                .find(|(o, _)| ev.source.offset == Some(*o))
            {
                ev.extra
                    .insert("truncated".into(), serde_json::Value::Bool(true));
                ev.extra.insert("original_bytes".into(), total.into());
            }
        }
        let held = f.held_since();
        self.truncated
            .retain(|&(o, _)| held.is_some_and(|h| h <= o));
    }
}

impl Overlong {
    fn keep_tail(&mut self, b: &[u8]) {
        self.total += b.len() as u64;
        if b.len() >= TAIL_KEEP {
            self.tail.clear();
            self.tail.extend_from_slice(&b[b.len() - TAIL_KEEP..]);
            return;
        }
        if self.tail.len() + b.len() > 2 * TAIL_KEEP {
            let drop = self.tail.len() - TAIL_KEEP;
            self.tail.drain(..drop);
        }
        self.tail.extend_from_slice(b);
    }

    fn tail_bytes(&self) -> &[u8] {
        &self.tail[self.tail.len().saturating_sub(TAIL_KEEP)..]
    }
}

/// Bytes that never sit inside an escape sequence (`\'`, `\u00e9`, `&apos;`,
/// `""`) of the formats' quoting: cutting next to one keeps the kept parts
/// well-formed.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b',')
}

/// Where the kept head of an over-long record ends, at most `keep` (<
/// `buf.len()`): just after the last separator among the 256 bytes before
/// `keep`, else at the UTF-8 character boundary at or before it.
fn head_cut(buf: &[u8], keep: usize) -> usize {
    let from = keep.saturating_sub(256);
    if let Some(i) = buf[from..keep].iter().rposition(|&c| is_separator(c)) {
        return from + i + 1;
    }
    let mut n = keep;
    while n > 0 && buf[n] & 0xC0 == 0x80 {
        n -= 1;
    }
    n
}

/// Where the kept tail of an over-long record starts: just after the first
/// separator among its first 256 bytes, else at a UTF-8 character boundary.
fn tail_start(b: &[u8]) -> usize {
    let upto = b.len().min(256);
    if let Some(i) = b[..upto].iter().position(|&c| is_separator(c)) {
        return i + 1;
    }
    b.iter().position(|&c| c & 0xC0 != 0x80).unwrap_or(b.len())
}

/// Frame and parse a complete byte buffer (a whole file) the way the runtime
/// does: [`Flush::No`] while records are proven complete, [`Flush::Final`] for
/// what remains, then [`RecordFormat::release_held`]. With `chunk > 0` the
/// bytes are offered in growing pieces of that size, to exercise framing on
/// partial buffers. The reference driver for parser tests and benchmarks (the
/// agent streams files through the same [`Framer`]); no record size limit.
///
/// Panics when the format breaks the framing contract: a zero-length or
/// too-long frame, `None` from `Flush::Final` on a non-empty buffer, or a held
/// record left after `release_held`.
pub fn parse_complete(
    f: &mut dyn RecordFormat,
    input: &[u8],
    source_key: &str,
    path: Option<&str>,
    chunk: usize,
) -> Vec<Event> {
    parse_complete_limited(f, input, source_key, path, chunk, usize::MAX)
}

/// [`parse_complete`] with a record size limit (see [`Framer`]).
pub fn parse_complete_limited(
    f: &mut dyn RecordFormat,
    input: &[u8],
    source_key: &str,
    path: Option<&str>,
    chunk: usize,
    max_record: usize,
) -> Vec<Event> {
    let format = f.name();
    let mut framer = Framer::new(max_record);
    let mut out = Vec::new();
    let mut start = 0usize; // offset of the unconsumed bytes in `input`
    let mut avail = if chunk == 0 {
        input.len()
    } else {
        chunk.min(input.len())
    };
    while start < input.len() {
        let buf = &input[start..avail];
        let fin = avail == input.len();
        let flush = if fin { Flush::Final } else { Flush::No };
        let pos = RecordPos {
            source_key,
            path,
            offset: start as u64,
            format,
        };
        let n = framer.step(f, buf, &pos, flush, &mut out);
        assert!(n <= buf.len(), "frame returned {n} for {} bytes", buf.len());
        if n > 0 {
            start += n;
        } else {
            assert!(!fin, "frame(Final) returned None on {} bytes", buf.len());
            avail = (avail + chunk.max(1)).min(input.len());
        }
    }
    let pos = RecordPos {
        source_key,
        path,
        offset: start as u64,
        format,
    };
    framer.flush(f, &pos, Flush::Final, &mut out);
    assert!(f.held_since().is_none(), "held_since after release_held");
    out
}
