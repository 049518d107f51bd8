//! Helpers shared by the integration tests.
#![allow(dead_code)]

use onetrail_event::{Event, Flush, RecordFormat, RecordPos};

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
