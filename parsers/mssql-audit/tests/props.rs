//! Random input never panics, and framing always makes progress.

mod common;

use onetrail_mssql_audit::{Cell, Mapper, Row, winlog};
use proptest::prelude::*;

const COLS: &[&str] = &[
    "event_time",
    "sequence_number",
    "action_id",
    "succeeded",
    "class_type",
    "session_id",
    "statement",
    "file_name",
    "audit_file_offset",
    "client_ip",
    "server_principal_name",
    "is_column_permission",
    "permission_bitmask",
    "object_name",
    "server_instance_name",
];

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        Just(Cell::Null),
        any::<bool>().prop_map(Cell::Bool),
        any::<i64>().prop_map(Cell::Int),
        any::<f64>().prop_map(Cell::Float),
        ".{0,40}".prop_map(Cell::Text),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Cell::Bytes),
        prop::sample::select(vec!["SL  ", "AUSC", "CR  ", "LGIF", "BCM ", "x"])
            .prop_map(|s| Cell::Text(s.into())),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    prop::collection::vec((prop::sample::select(COLS), cell()), 0..12).prop_map(|cells| Row {
        cells: cells.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_rows_map_without_panic(rows in prop::collection::vec(row(), 0..20)) {
        let mut out = Vec::new();
        Mapper::new("mssql-audit", "p").map_group(&rows, &[], &mut out);
        prop_assert!(out.len() <= rows.len());
        prop_assert!(rows.is_empty() || !out.is_empty());
        for e in &out {
            prop_assert!(serde_json::to_string(e).is_ok());
        }
    }

    #[test]
    fn random_csv_never_panics(body in prop::collection::vec(prop_oneof![
        Just("\"".to_string()), Just(",".to_string()), Just("\n".to_string()), Just("\r\n".to_string()),
        Just("NULL".to_string()), Just("SL  ".to_string()), "[a-z0-9 .:-]{0,12}".prop_map(|s| s),
    ], 0..80)) {
        let header = "event_time,sequence_number,action_id,statement,file_name,audit_file_offset\n";
        let text = format!("{header}{}", body.concat());
        let _ = common::parse_all("mssql-audit-csv", text.as_bytes(), "p");
        let _ = common::parse_all("mssql-audit-csv", body.concat().as_bytes(), "p");
    }

    #[test]
    fn random_json_never_panics(s in ".{0,300}", objs in prop::collection::vec(
        prop::collection::btree_map(prop::sample::select(COLS), prop_oneof![
            Just(serde_json::Value::Null), any::<i64>().prop_map(Into::into), ".{0,10}".prop_map(Into::into),
            any::<bool>().prop_map(Into::into),
        ], 0..8), 0..6)) {
        let _ = common::parse_all("mssql-audit-json", s.as_bytes(), "p");
        let arr = serde_json::to_string(&objs).unwrap();
        let ev = common::parse_all("mssql-audit-json", arr.as_bytes(), "p");
        prop_assert!(ev.len() <= objs.len());
        // Truncated input: still no panic.
        for cut in [1usize, arr.len() / 2, arr.len().saturating_sub(1)] {
            if cut <= arr.len() && arr.is_char_boundary(cut) {
                let _ = common::parse_all("mssql-audit-json", &arr.as_bytes()[..cut], "p");
            }
        }
    }

    #[test]
    fn random_event_text_never_panics(s in "(.{0,30}\n){0,20}") {
        let r = winlog::row_from_event_text(&s);
        let mut out = Vec::new();
        Mapper::new("w", "p").map_group(&[r], &[], &mut out);
        prop_assert_eq!(out.len(), 1);
    }
}
