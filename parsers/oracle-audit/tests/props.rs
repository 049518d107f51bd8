//! Robustness: random and mutated inputs never panic the file parsers,
//! `frame(Flush::Final)` always consumes a non-empty buffer, and every event
//! serializes.

use onetrail_event::{Flush, RecordPos};
use onetrail_oracle_audit::{FORMATS, OracleOptions, format_by_name};
use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    "Nov 13 15:52:56 db journal: Oracle Unified Audit[1]: LENGTH: '215' TYPE:\"4\" DBID:\"1\" SESID:\"2\" CLIENTID:\"a \"b\" ENTRYID:\"1\" STMTID:\"9\" DBUSER:\"U\" ACTION:\"1\" RETCODE:\"0\"\n",
    "Audit file /x.aud\nInstance name: ORCL\n\nWed Oct  7 10:52:45 2020 -04:00\nLENGTH : '228'\nACTION :[7] 'CONNECT'\nDATABASE USER:[1] '/'\nSTATUS:[1] '0'\nACTION NUMBER:[3] '100'\n\nThu May 13 23:20:32 2021 -04:00\nLENGTH: \"385\"\nSESSIONID:[10] \"12354\" ENTRYID:[1] \"1\" USERID:[11] \"TEST_USER\" ACTION:[3] \"103\"\n",
    "<?xml version=\"1.0\"?>\n<Audit>\n<AuditRecord><Session_Id>1</Session_Id><Sql_Text>a &lt; b</Sql_Text></AuditRecord>\n</Audit>\n",
    "\"EVENT_TIMESTAMP_UTC\",\"ACTION_NAME\",\"SQL_TEXT\"\n\"2024-05-01 10:00:00\",\"SELECT\",\"select \"\"x\"\"\n from t\"\n",
];

fn drive(format: &str, input: &[u8]) {
    let mut f = format_by_name(format, &OracleOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let buf = &input[start..];
        for flush in [Flush::No, Flush::Quiet] {
            if let Some(n) = f.frame(buf, flush) {
                assert!(n > 0 && n <= buf.len());
            }
        }
        let n = f
            .frame(buf, Flush::Final)
            .expect("Final must consume a non-empty buffer");
        assert!(n > 0 && n <= buf.len());
        let pos = RecordPos {
            source_key: "prop",
            path: None,
            offset: start as u64,
            format,
        };
        f.parse(&buf[..n], &pos, &mut out);
        start += n;
    }
    f.release_held(&mut out);
    for e in &out {
        serde_json::to_string(e).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for f in FORMATS {
            drive(f, &bytes);
        }
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0..SAMPLES.len(),
        cut in 0usize..400,
        edits in proptest::collection::vec((0usize..400, any::<u8>()), 0..8),
    ) {
        let mut b = SAMPLES[which].as_bytes().to_vec();
        for (i, v) in edits {
            if !b.is_empty() {
                let i = i % b.len();
                b[i] = v;
            }
        }
        b.truncate(cut.min(b.len()));
        for f in FORMATS {
            drive(f, &b);
        }
    }

    #[test]
    fn text_of_oracle_tokens_never_panics(s in "([A-Z$ ]{0,8}:\\[[0-9]{0,3}\\] ?['\"][a-z'\" \n]{0,10}|LENGTH|<AuditRecord>|</AuditRecord>|<[A-Za-z_]{1,6}>|&[a-z#0-9]{0,5};?|\"|,|\n|Wed Oct  7 10:52:45 2020 -04:00\n){0,30}") {
        for f in FORMATS {
            drive(f, s.as_bytes());
        }
    }
}
