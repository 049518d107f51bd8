//! Reading one whole file through a record format, framed as the tailer does
//! (same ids): `onetrail parse` ([`crate::parse_file`]) and `onetrail import`.

use std::io::Read;
use std::path::Path;

use onetrail_event::{Event, Flush, Framer, RecordFormat, RecordPos};

/// Bytes read from the file at a time.
const READ_CHUNK: usize = 1024 * 1024;
/// `fill` returns once the records behind its events add up to this many
/// bytes, so the events held stay bounded in bytes whatever the records' sizes.
const FILL_BYTES: u64 = 1024 * 1024;

/// Streams a file through a bounded buffer: memory stays flat whatever the
/// file size (a record larger than the buffer grows it, once).
pub(crate) struct FileReader {
    file: std::fs::File,
    format: Box<dyn RecordFormat>,
    format_name: &'static str,
    key: String,
    path: String,
    buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    /// Frames records; cuts those longer than `max_record` bytes.
    framer: Framer,
    /// Bytes read so far.
    pub read: u64,
    eof: bool,
}

impl FileReader {
    /// Open `path`, to be read by `format` (`format_name` in the events'
    /// positions). A record longer than `max_record` bytes is cut as
    /// [`Framer`] documents (`usize::MAX`: never).
    pub fn open(
        path: &Path,
        format: Box<dyn RecordFormat>,
        format_name: &'static str,
        max_record: usize,
    ) -> Result<FileReader, String> {
        // Never blocks on a FIFO, never reads a device: regular files only.
        let file = onetrail_core::files::open_regular(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let key =
            crate::tail::source_key_of(&file).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(FileReader {
            file,
            format,
            format_name,
            key,
            path: path.to_string_lossy().into_owned(),
            buf: Vec::with_capacity(2 * READ_CHUNK),
            start: 0,
            buf_offset: 0,
            framer: Framer::new(max_record),
            read: 0,
            eof: false,
        })
    }

    /// Up to about `max` events; true once the whole file is consumed.
    pub fn next_events(&mut self, max: usize) -> Result<(Vec<Event>, bool), String> {
        let mut events = Vec::new();
        let eof = self.fill(max, &mut events)?;
        Ok((events, eof))
    }

    /// Parse into `events` until it holds at least `max` events or the file
    /// is consumed (then true, with the events the format held back).
    pub fn fill(&mut self, max: usize, events: &mut Vec<Event>) -> Result<bool, String> {
        let from = self.buf_offset + self.start as u64;
        let full = |r: &FileReader, events: &Vec<Event>| {
            events.len() >= max
                || (!events.is_empty() && r.buf_offset + r.start as u64 - from >= FILL_BYTES)
        };
        loop {
            let flush = if self.eof { Flush::Final } else { Flush::No };
            while !full(self, events) && self.start < self.buf.len() {
                let pos = RecordPos {
                    source_key: &self.key,
                    path: Some(&self.path),
                    offset: self.buf_offset + self.start as u64,
                    format: self.format_name,
                };
                let rest = &self.buf[self.start..];
                match self
                    .framer
                    .step(&mut *self.format, rest, &pos, flush, events)
                {
                    0 => break,
                    n => self.start += n,
                }
            }
            if full(self, events) {
                return Ok(false);
            }
            if self.eof {
                let pos = RecordPos {
                    source_key: &self.key,
                    path: Some(&self.path),
                    offset: self.buf_offset + self.start as u64,
                    format: self.format_name,
                };
                self.framer
                    .flush(&mut *self.format, &pos, Flush::Final, events);
                return Ok(true);
            }
            // Need more bytes: drop the consumed ones, then read.
            self.buf.drain(..self.start);
            self.buf_offset += self.start as u64;
            self.start = 0;
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let n = loop {
                match self.file.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("{}: {e}", self.path)),
                }
            };
            self.buf.truncate(old + n);
            self.read += n as u64;
            self.eof = n == 0;
        }
    }
}
