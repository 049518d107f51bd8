//! Property tests: no input makes `frame` or `parse` panic, and
//! `Flush::Final` always consumes a non-empty buffer.

mod common;

use onetrail_event::{Flush, RecordFormat, RecordPos};
use onetrail_pgaudit::{FORMATS, PgOptions, format_by_name};
use proptest::prelude::*;

const PREFIXES: &[&str] = &[
    "%m [%p] ",
    "%t:%r:%u@%d:[%p]:",
    "%m [%p] %q%u@%d %r %a %c ",
    "%n %-8u|%5p ",
];

/// Valid records of every format, to truncate and splice.
const SAMPLES: &[&str] = &[
    "2024-05-01 12:00:00.123 UTC [42] LOG:  AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,\"CREATE TABLE t\n\t(id int, \"\"x\"\" text)\",\"1,,\"\"a\"\"\",3\n",
    "2024-05-01 12:00:00.123 UTC [42] ERROR:  boom\n2024-05-01 12:00:00.123 UTC [42] STATEMENT:  select\n\t1\n",
    "2024-05-01 12:00:00 UTC:10.0.0.1(5):u@d:[42]:FATAL:  password authentication failed for user \"u\"\n",
    "2024-05-01 12:00:00.1 UTC,\"u\",\"d\",42,\"1.2.3.4:5\",66.2a,1,\"SELECT\",2024-05-01 12:00:00 UTC,3/1,0,LOG,00000,\"AUDIT: SESSION,1,1,READ,SELECT,,,\"\"select\n1\"\",<none>\",,,,,,,,,\"psql\",\"client backend\",,0\n",
    "{\"timestamp\":\"2024-05-01 12:00:00.1 UTC\",\"pid\":42,\"error_severity\":\"LOG\",\"message\":\"AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\"}\n",
    "2024-05-01 12:00:00.123 UTC,u,d,42,1.2.3.4:5,66.2a,1,SELECT,2024-05-01 12:00:00 UTC,3/1,0,00000,SESSION,1,1,READ,SELECT,,,\"select\n1\",<none>,1,,,,,ctx\nmore,,,,psql\n",
    "\"2025-09-01 12:00:00.123456789 UTC\",\"u\",\"d\",\"42\",\"\",\"68.2a\",\"SELECT\",\"3/9\",\"0\",\"00000\",\"SESSION\",\"4\",\"1\",\"READ\",\"SELECT\",\"\",\"\",\"select 1,<none>\",,,,,,,,,\"psql\"\n",
];

fn formats() -> Vec<Box<dyn RecordFormat>> {
    let mut v = Vec::new();
    for f in FORMATS {
        if *f == "pgaudit-stderr" {
            for p in PREFIXES {
                let opts = PgOptions {
                    log_line_prefix: (*p).to_string(),
                    ..PgOptions::default()
                };
                v.push(format_by_name(f, &opts).unwrap());
            }
        } else {
            v.push(format_by_name(f, &PgOptions::default()).unwrap());
        }
    }
    v
}

fn exercise(buf: &[u8]) {
    for mut fmt in formats() {
        for flush in [Flush::No, Flush::Quiet] {
            if let Some(n) = fmt.frame(buf, flush) {
                assert!(n > 0 && n <= buf.len());
            }
        }
        let pos = RecordPos {
            source_key: "p",
            path: None,
            offset: 0,
            format: fmt.name(),
        };
        let mut out = Vec::new();
        fmt.parse(buf, &pos, &mut out);
        if !buf.is_empty() {
            assert!(
                !out.is_empty() || fmt.held_since().is_some(),
                "parse dropped a record silently"
            );
        }
        // A whole stream, ending with Final, then release.
        let _ = common::run(fmt.as_mut(), buf, "p");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&buf);
    }

    #[test]
    fn truncated_and_spliced_records_never_panic(
        a in 0..SAMPLES.len(),
        b in 0..SAMPLES.len(),
        cut_a in any::<prop::sample::Index>(),
        cut_b in any::<prop::sample::Index>(),
    ) {
        let sa = SAMPLES[a].as_bytes();
        let sb = SAMPLES[b].as_bytes();
        let mut buf = sa[..cut_a.index(sa.len() + 1)].to_vec();
        buf.extend_from_slice(&sb[cut_b.index(sb.len())..]);
        exercise(&buf);
    }

    #[test]
    fn text_like_input_never_panics(s in "[ -~\t\n\"',%:()\\[\\]@{}]{0,300}") {
        exercise(s.as_bytes());
    }
}

#[test]
fn final_always_consumes() {
    for mut fmt in formats() {
        for buf in [
            &b"x"[..],
            b"\n",
            b"\"",
            b"\t",
            b"2024-05-01 12:00:00.123 UTC [1] LOG:  AUDIT: S,\"",
            b"{",
        ] {
            let n = fmt.frame(buf, Flush::Final).unwrap();
            assert!(n > 0 && n <= buf.len());
        }
        assert_eq!(fmt.frame(b"", Flush::Final), None);
    }
}
