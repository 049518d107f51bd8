//! Inputs found by the fuzz targets (`scripts/fuzz.sh`, `fuzz/`), each kept
//! as the smallest input that showed the bug.

use onetrail_event::{Event, parse_complete};
use onetrail_pgaudit::{PgOptions, format_by_name};

/// The events of `input` read as one buffer, and read in pieces of every size
/// from 1 to 40 bytes; framing must not depend on how the bytes arrive.
fn same_events_in_any_pieces(format: &str, prefix: &str, input: &[u8]) -> Vec<Event> {
    let opts = PgOptions {
        log_line_prefix: prefix.to_string(),
        ..PgOptions::default()
    };
    let run = |chunk| {
        let mut f = format_by_name(format, &opts).unwrap();
        parse_complete(&mut *f, input, "fuzz", None, chunk)
    };
    let whole = run(0);
    for chunk in 1..=40 {
        assert_eq!(run(chunk), whole, "{format} {prefix:?}: pieces of {chunk}");
    }
    whole
}

/// A last line without its newline was glued to the record before it under
/// `Flush::Final`, but framed as a record of its own when bytes were still
/// coming (the tailer's view).
#[test]
fn stderr_last_line_without_newline_is_framed_alike() {
    let input = b"0\n2026-11-26 07:16:04 CT::posre@ap323]:LOG:  AUDIT:E";
    let evs = same_events_in_any_pieces("pgaudit-stderr", "%t:%r:%u@%d:", input);
    assert_eq!(evs.len(), 2, "{evs:?}");
    let input = b"2024-05-01 12:00:00.123 UTC [42] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\n2024-05-01 12:00:00.123 UTC [43] LOG:  disconnection";
    let evs = same_events_in_any_pieces("pgaudit-stderr", "%m [%p] ", input);
    assert_eq!(evs.len(), 2, "{evs:?}");
}

#[test]
fn logtofile_last_line_without_newline_is_framed_alike() {
    let input = b"202618,ALd\n2026-11-26 06:16:01.ROL,REVOKE,TABLE,,REVOTU,3/22,742,001,ROLE,REV,TE,,REVOKE TED a pT";
    let evs = same_events_in_any_pieces("pgauditlogtofile", "%m [%p] ", input);
    assert_eq!(evs.len(), 2, "{evs:?}");
}
