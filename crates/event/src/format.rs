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

/// Frame and parse a complete byte buffer (a whole file) the way the runtime
/// does: [`Flush::No`] while records are proven complete, [`Flush::Final`] for
/// what remains, then [`RecordFormat::release_held`]. With `chunk > 0` the
/// bytes are offered in growing pieces of that size, to exercise framing on
/// partial buffers. The reference driver for parser tests and benchmarks (the
/// agent streams files through its own bounded reader).
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
    let format = f.name();
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
        match f.frame(buf, flush) {
            Some(n) => {
                assert!(
                    n > 0 && n <= buf.len(),
                    "frame returned {n} for {} bytes",
                    buf.len()
                );
                let pos = RecordPos {
                    source_key,
                    path,
                    offset: start as u64,
                    format,
                };
                f.parse(&buf[..n], &pos, &mut out);
                start += n;
            }
            None => {
                assert!(!fin, "frame(Final) returned None on {} bytes", buf.len());
                avail = (avail + chunk.max(1)).min(input.len());
            }
        }
    }
    f.release_held(&mut out);
    assert!(f.held_since().is_none(), "held_since after release_held");
    out
}
