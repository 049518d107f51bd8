//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use onetrail_event::{Event, Flush, RecordFormat, RecordPos};

/// /work/shared/corpora, located from the crate directory. Panics with a
/// clear message when it is missing: the corpus tests must not pass silently.
pub fn corpora_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    assert!(
        dir.is_dir(),
        "third-party corpora not found at {} (expected /work/shared/corpora; see SOURCES.md there)",
        dir.display()
    );
    dir
}

/// Frame and parse a whole buffer the way the runtime does for a finished
/// file: `Flush::No` while records remain, `Flush::Final` at the end, then
/// `release_held`. Returns the events and the offsets of every record.
pub fn run(format: &mut dyn RecordFormat, buf: &[u8], source_key: &str) -> (Vec<Event>, Vec<u64>) {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let rest = &buf[at..];
        let n = format
            .frame(rest, Flush::No)
            .or_else(|| format.frame(rest, Flush::Final))
            .expect("Flush::Final must frame a non-empty buffer");
        assert!(
            n > 0 && n <= rest.len(),
            "frame returned {n} for {} bytes",
            rest.len()
        );
        let pos = RecordPos {
            source_key,
            path: None,
            offset: at as u64,
            format: format.name(),
        };
        offsets.push(at as u64);
        format.parse(&rest[..n], &pos, &mut out);
        at += n;
    }
    format.release_held(&mut out);
    assert_eq!(format.held_since(), None);
    (out, offsets)
}
