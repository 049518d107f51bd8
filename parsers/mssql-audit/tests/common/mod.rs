//! Shared helpers: run an offline format over bytes like `onetrail parse` does.

#![allow(dead_code)]

use std::path::PathBuf;

use onetrail_event::{Event, Flush, RecordPos};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Frame and parse `data` as one whole file (Flush::Final), then release.
pub fn parse_all(format: &str, data: &[u8], source_key: &str) -> Vec<Event> {
    let mut f = onetrail_mssql_audit::format_by_name(format).expect("format");
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < data.len() {
        let n = match f.frame(&data[off..], Flush::Final) {
            Some(n) if n > 0 => n,
            _ => data.len() - off,
        };
        let pos = RecordPos {
            source_key,
            path: Some("export"),
            offset: off as u64,
            format: f.name(),
        };
        f.parse(&data[off..off + n], &pos, &mut out);
        off += n;
    }
    f.release_held(&mut out);
    out
}
