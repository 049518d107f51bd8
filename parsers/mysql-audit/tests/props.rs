//! Robustness properties: arbitrary bytes and truncated/mutated real-looking
//! inputs never panic, `frame(Flush::Final)` always consumes a non-empty
//! buffer, and every byte ends up in some record.

mod common;

use onetrail_event::{Flush, RecordPos};
use onetrail_mysql_audit::{FORMATS, MysqlOptions, format_by_name};
use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    "20240501 09:14:31,db1,root,localhost,31,403,WRITE,shop,orders,\n20240501 09:14:31,db1,root,localhost,31,403,READ,mysql,table_stats,\n20240501 09:14:31,db1,root,localhost,31,403,QUERY,shop,'INSERT INTO orders VALUES (1, \\'Crème — 日本語\\')\\n',0\n20240501 09:14:23,db1,app,10.1.2.3:4000,32,0,FAILED_CONNECT,,,1045,SOCKET\n",
    "May  1 14:00:00 dbhost mysql-server_auditing:  dbhost,root,localhost,4,0,CONNECT,test,,0\n",
    "[\n{ \"timestamp\": \"2020-10-19 19:25:51\", \"id\": 0, \"class\": \"connection\", \"event\": \"connect\", \"connection_id\": 13, \"account\": { \"user\": \"root\", \"host\": \"localhost\" }, \"login\": { \"user\": \"root\", \"os\": \"\", \"ip\": \"\", \"proxy\": \"\" }, \"connection_data\": { \"connection_type\": \"socket\", \"status\": 0, \"db\": \"\" } },\n{\"audit_record\":{\"name\":\"Query\",\"record\":\"3_x\",\"timestamp\":\"2024-05-03T07:00:02Z\",\"connection_id\":\"8\",\"status\":0,\"sqltext\":\"select '\\u00e9'\"}}\n",
    "<?xml version=\"1.0\"?>\n<AUDIT>\n <AUDIT_RECORD>\n  <NAME>Query</NAME>\n  <TIMESTAMP>2024-05-02T09:00:06 UTC</TIMESTAMP>\n  <SQLTEXT>a &lt; b</SQLTEXT>\n  <MAP><ELEMENT><KEY>k</KEY></ELEMENT></MAP>\n </AUDIT_RECORD>\n<AUDIT_RECORD NAME=\"Quit\" TIMESTAMP=\"2024-05-02T09:00:06\" STATUS=\"0\"/>\n",
    "\"Query\",\"3_x\",\"2024-05-03T10:00:02Z\",\"select\",\"31\",0,\"SELECT \"\"a\"\",\n b\",\"u[u] @ h []\",\"h\",\"\",\"\",\"db\"\n\"Quit\",\"6_x\",\"2024-05-03T10:00:05Z\",\"31\",0,\"u\",\"u\",\"\",\"\",\"h\",\"\",\"db\"\n",
];

/// Drive a format over `input` and check the framing invariants.
fn drive(format: &str, input: &[u8]) {
    let mut f = format_by_name(format, &MysqlOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let buf = &input[start..];
        // Flush::No / Quiet may wait, but never over-consume
        for flush in [Flush::No, Flush::Quiet] {
            if let Some(n) = f.frame(buf, flush) {
                assert!(n > 0 && n <= buf.len());
            }
        }
        let n = f
            .frame(buf, Flush::Final)
            .expect("Final must consume a non-empty buffer");
        assert!(
            n > 0 && n <= buf.len(),
            "{format}: frame returned {n} of {}",
            buf.len()
        );
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
    assert!(f.held_since().is_none());
    for e in &out {
        serde_json::to_string(e).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for format in FORMATS {
            drive(format, &bytes);
        }
    }

    #[test]
    fn structured_noise_never_panics(s in "[\\[\\]{}<>/\"',\\\\\n a-zA-Z0-9_:=&;#.-]{0,300}") {
        for format in FORMATS {
            drive(format, s.as_bytes());
        }
    }

    #[test]
    fn truncated_and_mutated_samples_never_panic(
        which in 0..SAMPLES.len(),
        cut in 0usize..2000,
        flip in proptest::option::of((0usize..2000, any::<u8>())),
    ) {
        let mut b = SAMPLES[which].as_bytes().to_vec();
        b.truncate(cut.min(b.len()));
        if let Some((i, v)) = flip && !b.is_empty() {
            let i = i % b.len();
            b[i] = v;
        }
        for format in FORMATS {
            drive(format, &b);
        }
    }
}

#[test]
fn samples_parse_cleanly_in_their_format() {
    let pairs = [
        ("mariadb-server-audit", SAMPLES[0]),
        ("mariadb-server-audit", SAMPLES[1]),
        ("mysql-enterprise-json", SAMPLES[2]),
        ("percona-audit-json", SAMPLES[2]),
        ("mysql-enterprise-xml", SAMPLES[3]),
        ("percona-audit-csv", SAMPLES[4]),
    ];
    for (format, s) in pairs {
        let evs = common::run(format, s.as_bytes());
        assert!(!evs.is_empty());
        assert!(
            common::unparsed(&evs).is_empty(),
            "{format}: {:#?}",
            common::unparsed(&evs)
        );
    }
}
