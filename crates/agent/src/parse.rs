//! `onetrail parse`: files read once, offline, through the same parser and
//! enrichment as the running agent; and which formats recognise a file.

use std::io::Write;
use std::path::Path;

use onetrail_core::files;
use onetrail_enrich::Enricher;

use crate::{formats, reader};

/// Options of `onetrail parse`.
pub struct ParseOptions {
    pub format: String,
    pub log_line_prefix: Option<String>,
    pub instance: Option<String>,
    pub forward_other: bool,
    pub mask_literals: bool,
    /// Records longer than this are cut ([`onetrail_event::Framer`]).
    pub max_record_bytes: usize,
}

/// Counts of what `parse_file` emitted.
#[derive(Debug, Default, Clone)]
pub struct ParseStats {
    pub events: u64,
    pub unparsed: u64,
    pub bytes: u64,
}

impl ParseStats {
    /// The file has content but not one record of it was recognised (no
    /// event, or only `unparsed` ones): it is not in the format it was read as.
    pub fn nothing_recognised(&self) -> bool {
        self.bytes > 0 && self.unparsed == self.events
    }
}

/// The first 64 KiB of `path` (empty when it cannot be read).
fn file_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(f) = files::open_regular(path)
        && f.take(64 * 1024).read_to_end(&mut head).is_err()
    {
        head.clear();
    }
    head
}

/// Whether format `name` recognises at least one record in `head`: an event
/// that is not `unparsed` (and, with `strict`, not `other` either: some
/// formats read almost any text as `other` records, no evidence of a match).
fn recognises(head: &[u8], name: &str, fopts: &formats::FormatOptions, strict: bool) -> bool {
    let Ok((mut format, _)) = formats::by_name(name, fopts) else {
        return false;
    };
    let Some(name) = formats::static_name(name) else {
        return false;
    };
    let mut framer = onetrail_event::Framer::new(onetrail_event::DEFAULT_MAX_RECORD_BYTES);
    let mut events = Vec::new();
    let mut at = 0;
    while at < head.len() && events.len() < 64 {
        let pos = onetrail_event::RecordPos {
            source_key: "sniff",
            path: None,
            offset: at as u64,
            format: name,
        };
        match framer.step(
            &mut *format,
            &head[at..],
            &pos,
            onetrail_event::Flush::Final,
            &mut events,
        ) {
            0 => break,
            n => at += n,
        }
    }
    events.iter().any(|e| match e.category {
        onetrail_event::Category::Unparsed => false,
        onetrail_event::Category::Other => !strict,
        _ => true,
    })
}

/// The formats (other than `except`) that recognise records in the first
/// 64 KiB of `path`: what the file looks like, for a message when it was read
/// in the wrong format. pgaudit stderr is tried with its default prefix.
pub fn formats_recognising(path: &Path, except: &str) -> Vec<&'static str> {
    let head = file_head(path);
    if head.is_empty() {
        return Vec::new();
    }
    let fopts = formats::FormatOptions {
        log_line_prefix: None,
        forward_other: false,
    };
    formats::all_formats()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| *name != except && recognises(&head, name, &fopts, true))
        .collect()
}

/// `Some(message)` when `path` has content but not one record of its first
/// 64 KiB is recognised as `format` (only `unparsed` ones, the rule `parse`
/// applies to the whole file): the file is in another format (the
/// message says which it looks like). `None` when it is recognised, empty or
/// unreadable (reading it reports that). Used before `import` sends anything.
pub fn wrong_format(path: &Path, format: &str, fopts: &formats::FormatOptions) -> Option<String> {
    let head = file_head(path);
    if head.is_empty() || recognises(&head, format, fopts, false) {
        return None;
    }
    let looks = formats_recognising(path, format);
    let like = if looks.is_empty() {
        "no format onetrail knows recognises it either".to_string()
    } else {
        format!("it looks like {}", looks.join(" or "))
    };
    Some(format!(
        "{}: not one record of its first 64 KiB is recognised as {format} ({like})",
        path.display()
    ))
}

/// Parse one whole file offline and write one JSON event per line to `out`.
/// Ids are the same as `run` gives for the same file (same fingerprint).
pub fn parse_file(
    path: &Path,
    opts: &ParseOptions,
    out: &mut dyn Write,
) -> Result<ParseStats, String> {
    let fopts = formats::FormatOptions {
        log_line_prefix: opts.log_line_prefix.clone(),
        forward_other: opts.forward_other,
    };
    let (format, _engine) = formats::by_name(&opts.format, &fopts)?;
    let fmt_name = formats::static_name(&opts.format).unwrap_or("unknown");
    let mut reader = reader::FileReader::open(path, format, fmt_name, opts.max_record_bytes)?;
    let mut enricher = Enricher::new(
        opts.instance.clone(),
        Default::default(),
        opts.mask_literals,
    );
    let mut stats = ParseStats::default();
    let mut events = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut emit =
        |events: &mut Vec<onetrail_event::Event>, stats: &mut ParseStats| -> Result<(), String> {
            for mut ev in events.drain(..) {
                enricher.apply(&mut ev);
                stats.events += 1;
                if ev.category == onetrail_event::Category::Unparsed {
                    stats.unparsed += 1;
                }
                line.clear();
                // Same bytes as serde_json::to_writer, faster (BENCHMARKS.md).
                ev.write_json(&mut line);
                line.push(b'\n');
                out.write_all(&line)
                    .map_err(|e| format!("writing output: {e}"))?;
            }
            Ok(())
        };
    // Streamed through a bounded buffer (see `reader`), 256 events at a time.
    loop {
        let eof = reader.fill(256, &mut events)?;
        emit(&mut events, &mut stats)?;
        if eof {
            break;
        }
    }
    stats.bytes = reader.read;
    Ok(stats)
}
