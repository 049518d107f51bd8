//! The framing driver's rule for over-long records: cut, flagged, delivered,
//! with memory bounded by the limit whatever the record's size, and the same
//! events whatever the pieces the bytes arrive in.

use chrono::DateTime;
use onetrail_event::{
    Engine, Event, Flush, Framer, MIN_MAX_RECORD, RecordFormat, RecordPos, parse_complete_limited,
};

/// A test format: a record is a line plus its TAB-continued lines; each
/// record becomes one event whose `raw` is the record.
struct Lines;

impl RecordFormat for Lines {
    fn name(&self) -> &'static str {
        "test-lines"
    }
    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        let mut at = 0;
        loop {
            let Some(i) = buf[at..].iter().position(|&c| c == b'\n') else {
                return (flush == Flush::Final && !buf.is_empty()).then_some(buf.len());
            };
            at += i + 1;
            match buf.get(at) {
                Some(b'\t') => continue,
                Some(_) => return Some(at),
                None => return (flush != Flush::No).then_some(at),
            }
        }
    }
    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        line.first().map(|&c| c != b'\t')
    }
    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let mut ev = Event::new(Engine::Postgresql, DateTime::UNIX_EPOCH, pos, 0);
        ev.raw = Some(String::from_utf8_lossy(record).into_owned());
        out.push(ev);
    }
}

const MAX: usize = MIN_MAX_RECORD; // 16 KiB

fn input() -> (Vec<u8>, usize) {
    let mut v = b"LOG first\n".to_vec();
    let big_at = v.len();
    v.extend_from_slice(b"LOG INSERT INTO t VALUES ('");
    for i in 0..20_000 {
        v.extend_from_slice(if i % 7 == 0 {
            b"\n\t a://b"
        } else {
            b" a://b'"
        });
    }
    v.extend_from_slice(b"') RETURNING 0\n");
    v.extend_from_slice(b"LOG last\n");
    (v, big_at)
}

#[test]
fn an_over_long_record_is_cut_flagged_and_delivered() {
    let (v, big_at) = input();
    let evs = parse_complete_limited(&mut Lines, &v, "k", None, 0, MAX);
    assert_eq!(
        evs.len(),
        3,
        "{:?}",
        evs.iter().map(|e| e.source.offset).collect::<Vec<_>>()
    );
    assert_eq!(evs[0].raw.as_deref(), Some("LOG first\n"));
    assert_eq!(evs[2].raw.as_deref(), Some("LOG last\n"));
    assert!(!evs[0].extra.contains_key("truncated"));
    assert!(!evs[2].extra.contains_key("truncated"));
    let big = &evs[1];
    let original = v.len() - big_at - b"LOG last\n".len();
    assert_eq!(big.source.offset, Some(big_at as u64));
    assert_eq!(big.extra["truncated"], true);
    assert_eq!(big.extra["original_bytes"], original as u64);
    let raw = big.raw.as_deref().unwrap();
    assert!(raw.len() <= MAX, "{}", raw.len());
    assert!(raw.len() > MAX - 4096 - 600, "{}", raw.len());
    assert!(raw.starts_with("LOG INSERT INTO t VALUES ('"));
    assert!(raw.ends_with("') RETURNING 0\n"));
    // The same record, id for id, as the uncut one would have.
    assert_eq!(big.id, onetrail_event::event_id("k", big_at as u64, 0));
}

#[test]
fn pieces_of_any_size_give_the_same_events() {
    let (v, _) = input();
    let whole = parse_complete_limited(&mut Lines, &v, "k", None, 0, MAX);
    for chunk in [1, 7, 4096, 5000, MAX, MAX + 1, 3 * MAX] {
        let pieces = parse_complete_limited(&mut Lines, &v, "k", None, chunk, MAX);
        assert_eq!(pieces, whole, "chunk {chunk}");
    }
}

#[test]
fn memory_held_is_bounded_by_the_limit_not_the_record() {
    // Stream a 20 MB record through the framer in 64 KiB reads, as the tailer
    // does, and watch how many bytes the driver has to keep unconsumed.
    let mut f = Lines;
    let mut framer = Framer::new(MAX);
    let mut out = Vec::new();
    let mut pending: Vec<u8> = b"LOG ".to_vec();
    let mut offset = 0u64;
    let mut worst = 0usize;
    let piece = vec![b'x'; 64 * 1024];
    for i in 0..320 {
        pending.extend_from_slice(&piece);
        if i == 319 {
            pending.extend_from_slice(b"\nLOG next\n");
        }
        loop {
            let pos = RecordPos {
                source_key: "k",
                path: None,
                offset,
                format: "test-lines",
            };
            let n = framer.step(&mut f, &pending, &pos, Flush::No, &mut out);
            if n == 0 {
                break;
            }
            pending.drain(..n);
            offset += n as u64;
        }
        worst = worst.max(pending.len());
    }
    let pos = RecordPos {
        source_key: "k",
        path: None,
        offset,
        format: "test-lines",
    };
    let n = framer.step(&mut f, &pending, &pos, Flush::Final, &mut out);
    assert_eq!(n, pending.len());
    framer.flush(&mut f, &pos, Flush::Final, &mut out);
    assert!(worst <= MAX + piece.len(), "held {worst} bytes");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].extra["original_bytes"], 4 + 320 * 64 * 1024 + 1);
    assert_eq!(out[1].raw.as_deref(), Some("LOG next\n"));
}

#[test]
fn a_quiet_stream_ends_an_over_long_record_at_a_line_end() {
    let mut f = Lines;
    let mut framer = Framer::new(MAX);
    let mut out = Vec::new();
    let mut rec = b"LOG ".to_vec();
    rec.extend(std::iter::repeat_n(b'y', 3 * MAX));
    rec.push(b'\n');
    let pos = RecordPos {
        source_key: "k",
        path: None,
        offset: 0,
        format: "test-lines",
    };
    let mut at = 0;
    while at < rec.len() {
        let p = RecordPos {
            offset: at as u64,
            ..pos
        };
        match framer.step(&mut f, &rec[at..], &p, Flush::No, &mut out) {
            0 => break,
            n => at += n,
        }
    }
    assert_eq!(at, rec.len(), "the skipped bytes are consumed");
    assert!(out.is_empty(), "not over until the next line or quiet");
    assert_eq!(
        framer.held_since(&f),
        Some(0),
        "its offset holds the checkpoint back"
    );
    framer.flush(&mut f, &pos, Flush::Quiet, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].extra["truncated"], true);
    assert_eq!(framer.held_since(&f), None);
}
