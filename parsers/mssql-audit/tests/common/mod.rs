//! Shared helpers: run an offline format over bytes like `onetrail parse` does.

#![allow(dead_code)]

use std::path::PathBuf;

use onetrail_event::{Event, parse_complete};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Frame and parse `data` as one whole file, then release.
pub fn parse_all(format: &str, data: &[u8], source_key: &str) -> Vec<Event> {
    let mut f = onetrail_mssql_audit::format_by_name(format).expect("format");
    parse_complete(&mut *f, data, source_key, Some("export"), 0)
}
