//! The public SQL Server audit record of the elastic/integrations corpus (a
//! Windows event 33205 carrying the record as `key:value` text) goes through
//! the same mapping; where the peer's expected output and onetrail's event
//! say the same thing, they must agree. Read at test time from
//! `../shared/corpora` (or `$ONETRAIL_CORPORA`; see onetrail-corpora); never copied into the repo.

use std::path::Path;

use onetrail_event::{Category, Outcome};
use onetrail_mssql_audit::{Mapper, winlog};
use serde_json::Value;

const DIR: &str = "elastic-integrations-microsoft-sqlserver-audit/packages/microsoft_sqlserver/data_stream/audit/_dev/test/pipeline";

fn load(root: &Path, name: &str) -> Value {
    let p = root.join(DIR).join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set ONETRAIL_CORPORA to the corpora directory)",
            p.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn event_33205_agrees_with_the_peer_where_they_overlap() {
    let Some(root) = onetrail_corpora::dir() else {
        return;
    };
    let input = load(&root, "test-events.json");
    let expected = load(&root, "test-events.json-expected.json");
    let events = input["events"].as_array().unwrap();
    let wants = expected["expected"].as_array().unwrap();
    assert_eq!(events.len(), wants.len());
    assert!(!events.is_empty());
    for (e, want) in events.iter().zip(wants) {
        let text = e["winlog"]["event_data"]["param1"].as_str().unwrap();
        let row = winlog::row_from_event_text(text);
        let mut out = Vec::new();
        Mapper::new("mssql-winlog", "corpus").map_group(&[row], &[], &mut out);
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        let a = &want["sqlserver"]["audit"];

        // Time: @timestamp comes from event_time (ms precision in the peer).
        let ts = want["@timestamp"].as_str().unwrap();
        assert_eq!(ev.time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), ts);
        // Trimmed codes.
        assert_eq!(ev.extra["action_id"], a["action_id"]);
        assert_eq!(ev.extra["class_type"], a["class_type"]);
        // Outcome.
        let peer_outcome = want["event"]["outcome"].as_str().unwrap();
        assert_eq!(ev.outcome == Outcome::Success, peer_outcome == "success");
        // event.action "SELECT on TABLE" = our action + object type.
        assert_eq!(
            format!(
                "{} on {}",
                ev.action,
                ev.extra["class_desc"].as_str().unwrap()
            ),
            want["event"]["action"].as_str().unwrap()
        );
        assert_eq!(ev.category, Category::Read);
        // Names, statement, client.
        assert_eq!(ev.db_user.as_deref(), a["server_principal_name"].as_str());
        assert_eq!(
            ev.extra["session_server_principal_name"],
            a["session_server_principal_name"]
        );
        assert_eq!(
            ev.extra["database_principal_name"],
            a["database_principal_name"]
        );
        assert_eq!(ev.database.as_deref(), a["database_name"].as_str());
        assert_eq!(ev.objects[0].schema.as_deref(), a["schema_name"].as_str());
        assert_eq!(ev.objects[0].name.as_deref(), a["object_name"].as_str());
        assert_eq!(ev.statement.as_deref(), a["statement"].as_str());
        assert_eq!(
            ev.client.application.as_deref(),
            a["application_name"].as_str()
        );
        assert_eq!(ev.client.host.as_deref(), a["host_name"].as_str());
        assert_eq!(a["client_ip"], "local machine");
        assert_eq!(
            (ev.client.ip.as_deref(), &ev.extra["client_local"]),
            (None, &Value::Bool(true))
        );
        assert_eq!(ev.session.id.as_deref(), a["session_id"].as_str());
        assert_eq!(ev.extra["connection_id"], a["connection_id"]);
        assert_eq!(ev.extra["sequence_number"], a["sequence_number"]);
        assert_eq!(ev.extra["server_instance_name"], a["server_instance_name"]);
        // Numbers the peer keeps as strings are numbers here.
        for k in ["object_id", "transaction_id", "server_principal_id"] {
            assert_eq!(ev.extra[k].to_string(), a[k].as_str().unwrap(), "{k}");
        }
        assert_eq!(ev.extra["is_column_permission"], a["is_column_permission"]);
        assert_eq!(ev.extra["permission_bitmask"], a["permission_bitmask"]);
        assert_eq!(ev.extra["server_principal_sid"], a["server_principal_sid"]);
        assert_eq!(ev.rows, a["affected_rows"].as_i64());
        assert_eq!(ev.extra["response_rows"], a["response_rows"]);
        assert_eq!(
            ev.extra["duration_milliseconds"],
            a["duration_milliseconds"]
        );
    }
}
