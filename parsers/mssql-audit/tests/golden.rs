//! Golden files: every fixture of `fixtures/sqlserver/` (one per documented
//! column set: 2016, 2017, 2019, 2022/Azure SQL, plus a CSV export) parsed
//! offline must equal its `*.golden.jsonl` line for line.
//!
//! `UPDATE_GOLDEN=1 cargo test -p onetrail-mssql-audit --test golden`
//! rewrites the golden files; review the diff before committing it.

mod common;

use std::fs;

use onetrail_event::{Category, Event, Outcome};

const CASES: &[(&str, &str)] = &[
    ("rows-2016.json", "mssql-audit-json"),
    ("rows-2017.json", "mssql-audit-json"),
    ("rows-2019.json", "mssql-audit-json"),
    ("rows-2022-azure.json", "mssql-audit-json"),
    ("export-2019.csv", "mssql-audit-csv"),
];

fn events_of(file: &str, format: &str) -> Vec<Event> {
    let path = common::repo_root().join("fixtures/sqlserver").join(file);
    let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    common::parse_all(format, &data, &format!("fixture:{file}"))
}

#[test]
fn fixtures_match_their_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (file, format) in CASES {
        let events = events_of(file, format);
        let mut text = String::new();
        for ev in &events {
            text.push_str(&serde_json::to_string(ev).unwrap());
            text.push('\n');
        }
        let golden = common::repo_root()
            .join("fixtures/sqlserver")
            .join(format!("{file}.golden.jsonl"));
        if update {
            fs::write(&golden, &text).unwrap();
            continue;
        }
        let want = fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                golden.display()
            )
        });
        for (i, (got, want)) in text.lines().zip(want.lines()).enumerate() {
            assert_eq!(
                got,
                want,
                "{file}: event {i} differs from {}",
                golden.display()
            );
        }
        assert_eq!(
            text.lines().count(),
            want.lines().count(),
            "{file}: event count"
        );
    }
}

/// What every fixture must say, independently of the golden files.
#[test]
fn every_column_set_maps_the_same_way() {
    let mut ids_2019_json = Vec::new();
    for (file, format) in CASES {
        let ev = events_of(file, format);
        // 14 rows (15 with 2022), the 3 rows of the long INSERT joined into one event.
        assert_eq!(
            ev.len(),
            if file.contains("2022") { 13 } else { 12 },
            "{file}"
        );
        assert!(
            ev.iter().all(|e| e.category != Category::Unparsed),
            "{file}"
        );

        let ausc = &ev[0];
        assert_eq!(
            (ausc.category, ausc.action.as_str(), ausc.alert),
            (Category::AuditConfig, "AUDIT SESSION CHANGED", true)
        );
        assert_eq!(ausc.extra["action_id"], "AUSC");

        let login = &ev[1];
        assert_eq!(
            (login.category, login.action.as_str(), login.outcome),
            (Category::Auth, "LOGIN", Outcome::Success)
        );
        assert_eq!(login.db_user.as_deref(), Some("app_user"));
        let failed = &ev[2];
        assert_eq!(
            (failed.action.as_str(), failed.outcome),
            ("LOGIN FAILED", Outcome::Failure)
        );
        assert_eq!(failed.db_user.as_deref(), Some("mallory"));

        let select = &ev[3];
        assert_eq!(
            (select.category, select.action.as_str()),
            (Category::Read, "SELECT")
        );
        assert_eq!(select.objects[0].kind.as_deref(), Some("table"));
        assert_eq!(select.objects[0].schema.as_deref(), Some("dbo"));
        assert_eq!(select.objects[0].name.as_deref(), Some("customers"));
        assert_eq!(select.database.as_deref(), Some("Sales"));
        assert_eq!(select.session.id.as_deref(), Some("55"));
        assert_eq!(
            select.time.to_rfc3339(),
            "2024-05-01T09:01:00.000000100+00:00"
        );

        assert_eq!(ev[4].category, Category::Dml);
        assert_eq!(ev[5].outcome, Outcome::Failure);
        // Impersonation: the session's original login is kept.
        assert_eq!(ev[6].category, Category::Function);
        assert_eq!(
            ev[6].extra["session_server_principal_name"],
            "DOMAIN\\alice"
        );
        assert_eq!(ev[6].extra["impersonation"], true);
        assert_eq!(
            (ev[7].category, ev[7].action.as_str()),
            (Category::Dcl, "CREATE SQL LOGIN")
        );

        let long = &ev[8];
        assert_eq!(long.extra["sequence_rows"], 3);
        let stmt = long.statement.as_deref().unwrap();
        assert!(
            stmt.starts_with("INSERT INTO dbo.import_log") && stmt.ends_with("')"),
            "{file}"
        );
        assert_eq!(stmt.len(), 9008);

        assert_eq!(
            (ev[9].category, ev[9].action.as_str()),
            (Category::Dcl, "GRANT")
        );
        assert_eq!(
            (ev[10].category, ev[10].alert),
            (Category::AuditConfig, true)
        );
        assert_eq!(ev[10].action, "ALTER SERVER AUDIT SPECIFICATION");
        assert_eq!(
            (ev[11].category, ev[11].action.as_str()),
            (Category::Auth, "LOGOUT")
        );

        // Columns that only some versions have.
        let has = |k: &str| select.extra.contains_key(k);
        let v2017 = !file.contains("2016");
        assert_eq!(select.client.application.is_some(), v2017, "{file}");
        assert_eq!(select.client.ip.as_deref(), v2017.then_some("10.20.30.40"));
        if v2017 {
            assert_eq!(ausc.client.ip, None);
            assert_eq!(ausc.extra["client_local"], true);
        }
        let v2019 = file.contains("2019") || file.contains("2022");
        assert_eq!(select.client.host.is_some(), v2019, "{file}");
        assert_eq!(has("connection_id"), v2019, "{file}");
        assert_eq!(has("client_tls_version"), file.contains("2022"), "{file}");
        if file.contains("2022") {
            assert_eq!(ev[12].action, "BATCH COMPLETED");
            assert_eq!(ev[12].category, Category::Read);
        }
        if *file == "rows-2019.json" {
            ids_2019_json = ev.iter().map(|e| e.id.clone()).collect();
        }
        if *file == "export-2019.csv" {
            // The same rows exported as CSV get the same ids as from JSON (and from polling).
            let ids: Vec<String> = ev.iter().map(|e| e.id.clone()).collect();
            assert_eq!(ids, ids_2019_json);
        }
    }
}
