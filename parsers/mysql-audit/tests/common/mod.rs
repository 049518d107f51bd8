//! Test harness shared by the integration tests: a miniature runtime that
//! frames and parses a byte stream the way `onetrail` does.
#![allow(dead_code)]

use std::path::PathBuf;

use onetrail_event::{Category, Event, RecordFormat, parse_complete};
use onetrail_mysql_audit::{MysqlOptions, format_by_name};

/// Run `input` through `format` as one complete file: frame with `Flush::No`
/// while records are proven complete, then `Flush::Final` for the rest, then
/// `release_held`. `chunk` > 0 feeds the bytes in pieces of that size to
/// exercise framing on partial buffers.
pub fn run_chunked(format: &str, input: &[u8], source_key: &str, chunk: usize) -> Vec<Event> {
    let mut f = format_by_name(format, &MysqlOptions::default()).expect("format");
    run_with(&mut *f, format, input, source_key, chunk)
}

pub fn run_with(
    f: &mut dyn RecordFormat,
    format: &str,
    input: &[u8],
    source_key: &str,
    chunk: usize,
) -> Vec<Event> {
    assert_eq!(f.name(), format);
    parse_complete(f, input, source_key, None, chunk)
}

pub fn run(format: &str, input: &[u8]) -> Vec<Event> {
    run_chunked(format, input, "test", 0)
}

pub fn unparsed(evs: &[Event]) -> Vec<&Event> {
    evs.iter()
        .filter(|e| e.category == Category::Unparsed)
        .collect()
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mysql")
}
