//! Reading one whole file through a record format, framed as the tailer does
//! (same ids): `onetrail parse` ([`crate::parse_file`]) and `onetrail import`.

use std::io::Read;
use std::path::Path;

use onetrail_event::{Event, Flush, RecordFormat, RecordPos};

/// Bytes read from the file at a time.
const READ_CHUNK: usize = 1024 * 1024;

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
    /// A record longer than this is cut here.
    max_record: usize,
    /// Bytes read so far.
    pub read: u64,
    eof: bool,
}

impl FileReader {
    /// Open `path`, to be read by `format` (`format_name` in the events'
    /// positions). A record longer than `max_record` bytes is cut there
    /// (`usize::MAX`: never).
    pub fn open(
        path: &Path,
        format: Box<dyn RecordFormat>,
        format_name: &'static str,
        max_record: usize,
    ) -> Result<FileReader, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
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
            max_record,
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
        loop {
            let flush = if self.eof { Flush::Final } else { Flush::No };
            while events.len() < max && self.start < self.buf.len() {
                let rest = &self.buf[self.start..];
                let n = match self.format.frame(rest, flush) {
                    Some(n) if n > 0 => n,
                    _ if rest.len() > self.max_record => self.max_record,
                    _ if self.eof => rest.len(),
                    _ => break,
                };
                let pos = RecordPos {
                    source_key: &self.key,
                    path: Some(&self.path),
                    offset: self.buf_offset + self.start as u64,
                    format: self.format_name,
                };
                self.format.parse(&rest[..n], &pos, events);
                self.start += n;
            }
            if events.len() >= max {
                return Ok(false);
            }
            if self.eof {
                self.format.release_held(events);
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
