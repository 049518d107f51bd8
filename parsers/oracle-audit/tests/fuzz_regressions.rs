//! Inputs found by the fuzz targets (`scripts/fuzz.sh`, `fuzz/`), each kept
//! as the smallest input that showed the bug.

mod common;

use common::run;

/// An `&` followed by multi-byte characters within the 12 bytes searched for
/// the entity's `;` sliced a `str` inside a character and panicked.
#[test]
fn xml_entity_search_stops_inside_a_multibyte_char() {
    let input = "<Audit>\n<AuditRecord><Audit_Type>1</Audit_Type><Extended_Timestamp>2024-05-01T08:00:00Z</Extended_Timestamp><Sql_Text>&apos;a &a\u{FFFD}\u{FFFD}; b&apos;</Sql_Text></AuditRecord>\n</Audit>\n";
    let evs = run("oracle-audit-xml", input.as_bytes());
    let stmt = evs.iter().find_map(|e| e.statement.as_deref());
    assert_eq!(stmt, Some("'a &a\u{FFFD}\u{FFFD}; b'"), "{evs:?}");
}

/// Noise ending in a `</Audit>` line was framed on its own while the bytes
/// were arriving (the line looked like the file's end), but together with
/// what followed when the whole buffer was there.
#[test]
fn xml_audit_close_line_ends_noise_whatever_follows() {
    let input = b"a</Audit>\n>";
    let whole = common::run_chunked("oracle-audit-xml", input, "test", 0);
    for chunk in 1..=12 {
        assert_eq!(
            common::run_chunked("oracle-audit-xml", input, "test", chunk),
            whole,
            "pieces of {chunk}"
        );
    }
    let raws: Vec<_> = whole.iter().map(|e| e.raw.as_deref()).collect();
    assert_eq!(raws, [Some("a</Audit>"), Some(">")]);
}
