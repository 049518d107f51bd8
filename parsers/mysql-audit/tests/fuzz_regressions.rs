//! Inputs found by the fuzz targets (`scripts/fuzz.sh`, `fuzz/`), each kept
//! as the smallest input that showed the bug.

mod common;

use std::collections::HashSet;

use common::run;

/// A first line that frames as a TABLE line but does not parse became an
/// `unparsed` event with id (record offset, 0), and the QUERY line of the same
/// record got (record offset, 0) too: one event would overwrite the other
/// wherever ids deduplicate.
#[test]
fn unparsable_first_line_of_a_table_run_keeps_ids_unique() {
    let input = b",15,25,WRITE,\n2o',',,,15,25,QUERY,R,,0\nl";
    let evs = run("mariadb-server-audit", input);
    assert!(evs.len() >= 2, "{evs:?}");
    let ids: HashSet<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), evs.len(), "{evs:#?}");
}

/// The events of `input` read as one buffer must be those read in pieces of
/// every size from 1 to 40 bytes: framing must not depend on how bytes arrive.
fn same_events_in_any_pieces(format: &str, input: &[u8]) -> Vec<onetrail_event::Event> {
    let whole = run(format, input);
    for chunk in 1..=40 {
        assert_eq!(
            common::run_chunked(format, input, "test", chunk),
            whole,
            "{format}: pieces of {chunk}"
        );
    }
    whole
}

/// Blank lines before a record were framed with the record when the whole
/// buffer was there, but on their own when they arrived first: the record's
/// offset, and so its event ids, depended on read timing.
#[test]
fn xml_blank_lines_before_a_record_do_not_move_it() {
    let input = b"<AUDIT>\n \n\n<AUDIT_RECORD>\n  <NAME>Query</NAME>\n  <TIMESTAMP>2024-05-03T09:00:10 UTC</TIMESTAMP>\n  <CONNECTION_ID>21</CONNECTION_ID>\n  <STATUS>0</STATUS>\n  <SQLTEXT>select 1</SQLTEXT>\n</AUDIT_RECORD>\n\n\n<AUDIT_RECORD TIMESTAMP=\"2012-0<8-02?x";
    let evs = same_events_in_any_pieces("percona-audit-xml", input);
    assert_eq!(evs[0].source.offset, Some(11), "{evs:?}");
    let evs = same_events_in_any_pieces("mysql-enterprise-xml", input);
    assert_eq!(evs[0].source.offset, Some(11), "{evs:?}");
}
