//! The Oracle poller against the in-process fake `UNIFIED_AUDIT_TRAIL`
//! (same `AuditTrailReader` trait as the `oracle`-crate reader): look-back
//! window, de-duplication, pagination, checkpoint/restart, late arrivals,
//! bounded memory, flush and archive-timestamp calls, errors; plus the
//! `oracle`-crate reader's missing-client path.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use onetrail_agent::config::ReadFrom;
use onetrail_agent::pipeline::{Page, Poller};
use onetrail_agent::pollers::oracle::{
    AuditTrailReader, OracleCrateReader, OraclePoller, PollSettings,
};
use onetrail_event::{Category, Outcome};
use onetrail_oracle_audit::{UnifiedAuditRow, client_identifier};
use serde_json::Value;

mod oracle_fake;
use oracle_fake::FakeTrail;

fn t(secs: i64, micros: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_714_557_600 + secs, micros * 1000)
        .unwrap()
}

fn ts_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// A minimal row: session `sess`, entry `entry`, at `at`.
fn row(at: DateTime<Utc>, sess: i64, entry: i64, action: &str) -> UnifiedAuditRow {
    let mut r = UnifiedAuditRow::new();
    r.set_text("EVENT_TIMESTAMP_UTC", ts_text(at))
        .set_int("DBID", 2809789491)
        .set_text("CON_ID", "3")
        .set_int("INSTANCE_ID", 1)
        .set_int("SESSIONID", sess)
        .set_int("ENTRY_ID", entry)
        .set_int("STATEMENT_ID", entry)
        .set_text("ACTION_NAME", action)
        .set_int("RETURN_CODE", 0)
        .set_text("DBUSERNAME", "APP");
    r
}

/// A row with every column the mapping reads.
fn full_row() -> UnifiedAuditRow {
    let mut r = UnifiedAuditRow::new();
    for (c, v) in [
        ("EVENT_TIMESTAMP_UTC", "2024-05-01 10:00:00.123456"),
        ("AUDIT_TYPE", "Standard"),
        ("ACTION_NAME", "UPDATE"),
        ("DBUSERNAME", "HR_APP"),
        ("DBPROXY_USERNAME", "PROXY_U"),
        ("EXTERNAL_USERID", "cn=ext"),
        ("GLOBAL_USERID", "G1"),
        ("OS_USERNAME", "tomcat"),
        ("USERHOST", "app01.example.com"),
        ("TERMINAL", "pts/3"),
        ("CLIENT_PROGRAM_NAME", "JDBC Thin Client"),
        (
            "AUTHENTICATION_TYPE",
            "(TYPE=(DATABASE));(CLIENT ADDRESS=((ADDRESS=(PROTOCOL=tcp)(HOST=10.0.0.5)(PORT=51234))));",
        ),
        ("CLIENT_IDENTIFIER", "alice@example.com"),
        ("CURRENT_USER", "HR"),
        ("OS_PROCESS", "4242"),
        ("TRANSACTION_ID", "0A001B0003000000"),
        ("EXECUTION_ID", "exec-1"),
        ("OBJECT_SCHEMA", "HR"),
        ("OBJECT_NAME", "EMPLOYEES"),
        ("NEW_SCHEMA", "HR2"),
        ("NEW_NAME", "EMP2"),
        (
            "SQL_TEXT",
            "UPDATE hr.employees SET salary = :1 WHERE id = :2",
        ),
        ("SQL_BINDS", " #1(4):5000 #2(2):42"),
        ("SYSTEM_PRIVILEGE_USED", "UPDATE ANY TABLE"),
        ("SYSTEM_PRIVILEGE", "UPDATE ANY TABLE"),
        ("OBJECT_PRIVILEGES", "UPDATE"),
        ("ROLE", "HR_ROLE"),
        ("TARGET_USER", "BOB"),
        ("AUDIT_OPTION", "UPDATE"),
        ("UNIFIED_AUDIT_POLICIES", "HR_POL, ORA_SECURECONFIG"),
        ("FGA_POLICY_NAME", "SAL_FGA"),
        ("ADDITIONAL_INFO", "info"),
        ("APPLICATION_CONTEXTS", "(CTX,ATTR=V)"),
        ("DBLINK_INFO", "SOURCE_GLOBAL_NAME=X"),
        ("CON_NAME", "ORCLPDB1"),
    ] {
        r.set_text(c, v);
    }
    r.set_int("DBID", 1234)
        .set_text("CON_ID", "3")
        .set_int("INSTANCE_ID", 2)
        .set_int("SESSIONID", 77)
        .set_int("ENTRY_ID", 5)
        .set_int("STATEMENT_ID", 9)
        .set_int("RETURN_CODE", 1031)
        .set_int("SCN", 99)
        .set_int("PROXY_SESSIONID", 76);
    r
}

fn settings() -> PollSettings {
    PollSettings {
        lookback: Duration::from_secs(60),
        batch_rows: 5,
        ..PollSettings::default()
    }
}

fn poller(trail: &FakeTrail, s: PollSettings) -> OraclePoller {
    OraclePoller::new("ora", Box::new(trail.clone()), s)
}

async fn fetch(p: &mut OraclePoller, after: Option<&Value>) -> Page {
    p.fetch(after).await.expect("fetch")
}

/// Fetch until `more` is false, feeding each position back as the runner does.
async fn drain(p: &mut OraclePoller, after: &mut Option<Value>) -> Vec<onetrail_event::Event> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = fetch(p, after.as_ref()).await;
        out.extend(page.events);
        *after = Some(page.position);
        if !page.more {
            return out;
        }
    }
    panic!("poller never settled");
}

fn ids(evs: &[onetrail_event::Event]) -> Vec<String> {
    evs.iter().map(|e| e.id.clone()).collect()
}

#[tokio::test]
async fn every_mapped_column_reaches_the_event() {
    let trail = FakeTrail::new();
    trail.push(full_row());
    let mut p = poller(&trail, settings());
    let page = fetch(&mut p, None).await;
    assert_eq!(page.events.len(), 1);
    let e = &page.events[0];
    assert_eq!(e.time.to_rfc3339(), "2024-05-01T10:00:00.123456+00:00");
    assert_eq!((e.category, e.action.as_str()), (Category::Dml, "UPDATE"));
    assert_eq!(e.outcome, Outcome::Failure);
    let err = e.error.as_ref().unwrap();
    assert_eq!(err.code.as_deref(), Some("ORA-01031"));
    assert_eq!(err.message.as_deref(), Some("insufficient privileges"));
    assert_eq!(e.db_user.as_deref(), Some("HR_APP"));
    assert_eq!(e.database.as_deref(), Some("ORCLPDB1"));
    assert_eq!(e.client.ip.as_deref(), Some("10.0.0.5"));
    assert_eq!(e.client.port, Some(51234));
    assert_eq!(e.client.host.as_deref(), Some("app01.example.com"));
    assert_eq!(e.client.application.as_deref(), Some("JDBC Thin Client"));
    assert_eq!(e.session.id.as_deref(), Some("77"));
    assert_eq!(e.session.statement_id, Some(9));
    assert_eq!(e.objects.len(), 1);
    assert_eq!(e.objects[0].schema.as_deref(), Some("HR"));
    assert_eq!(e.objects[0].name.as_deref(), Some("EMPLOYEES"));
    assert!(
        e.statement
            .as_deref()
            .unwrap()
            .starts_with("UPDATE hr.employees")
    );
    assert_eq!(client_identifier(e), Some("alice@example.com"));
    assert_eq!(e.source.format, "oracle-unified-trail");
    assert_eq!(e.source.offset, None);
    let x = &e.extra;
    for (k, v) in [
        ("os_user", "tomcat"),
        ("terminal", "pts/3"),
        ("current_user", "HR"),
        ("proxy_user", "PROXY_U"),
        ("sql_binds", " #1(4):5000 #2(2):42"),
        ("system_privilege_used", "UPDATE ANY TABLE"),
        ("system_privilege", "UPDATE ANY TABLE"),
        ("object_privileges", "UPDATE"),
        ("role", "HR_ROLE"),
        ("target_user", "BOB"),
        ("new_schema", "HR2"),
        ("new_name", "EMP2"),
        ("fga_policy_name", "SAL_FGA"),
        ("transaction_id", "0A001B0003000000"),
        ("os_process", "4242"),
        ("audit_type", "Standard"),
        ("container", "ORCLPDB1"),
        ("action_name", "UPDATE"),
    ] {
        assert_eq!(x[k], v, "extra.{k}");
    }
    for (k, v) in [
        ("dbid", 1234),
        ("con_id", 3),
        ("instance_id", 2),
        ("entry_id", 5),
        ("return_code", 1031),
        ("scn", 99),
        ("proxy_session_id", 76),
    ] {
        assert_eq!(x[k], v, "extra.{k}");
    }
    assert_eq!(
        x["unified_audit_policies"],
        serde_json::json!(["HR_POL", "ORA_SECURECONFIG"])
    );
    // the id is the de-dup key's
    assert_eq!(e.id, full_row().dedup_key().event_id());
}

#[tokio::test]
async fn failed_logons_and_audit_policy_changes() {
    let trail = FakeTrail::new();
    let mut r = row(t(0, 0), 1, 1, "LOGON");
    r.set_int("RETURN_CODE", 28000);
    trail.push(r);
    let mut r = row(t(1, 0), 2, 1, "CREATE AUDIT POLICY");
    r.set_text("SQL_TEXT", "CREATE AUDIT POLICY p ACTIONS SELECT ON hr.emp");
    trail.push(r);
    let mut r = row(t(2, 0), 2, 2, "EXECUTE");
    r.set_text("OBJECT_SCHEMA", "SYS")
        .set_text("OBJECT_NAME", "DBMS_AUDIT_MGMT");
    trail.push(r);
    trail.push(row(t(3, 0), 2, 3, "NOAUDIT"));
    let mut p = poller(&trail, settings());
    let evs = fetch(&mut p, None).await.events;
    assert_eq!(evs[0].action, "LOGIN FAILED");
    assert_eq!(
        evs[0].error.as_ref().unwrap().message.as_deref(),
        Some("the account is locked")
    );
    for e in &evs[1..] {
        assert_eq!(e.category, Category::AuditConfig, "{}", e.action);
        assert!(e.alert);
    }
}

#[tokio::test]
async fn a_huge_late_window_does_not_overflow() {
    let trail = FakeTrail::new();
    trail.push(row(t(100, 0), 1, 1, "SELECT"));
    let s = PollSettings {
        late_sweep: Duration::ZERO,
        late_window: Duration::from_secs(u64::MAX),
        ..settings()
    };
    let mut p = poller(&trail, s);
    let mut after = None;
    assert_eq!(drain(&mut p, &mut after).await.len(), 1);
    trail.push(row(t(0, 0), 2, 1, "SELECT"));
    assert_eq!(sessions_of(&drain(&mut p, &mut after).await), vec!["2"]);
}

#[tokio::test]
async fn a_unified_policy_disabled_and_enabled_is_one_gap() {
    let trail = FakeTrail::new();
    let mut r = row(t(0, 0), 2, 1, "NOAUDIT");
    r.set_text("SQL_TEXT", "NOAUDIT POLICY hr_emp_access");
    trail.push(r);
    trail.push(row(t(5, 0), 3, 1, "SELECT"));
    let mut r = row(t(9, 0), 2, 2, "AUDIT");
    r.set_text("SQL_TEXT", "AUDIT POLICY HR_EMP_ACCESS");
    trail.push(r);
    let mut p = poller(&trail, settings());
    let mut evs = drain(&mut p, &mut None).await;
    let mut en = onetrail_agent::enrich::Enricher::new(
        Some("orcl-prod".into()),
        serde_json::Map::new(),
        false,
    );
    en.process(&mut evs);
    let gaps: Vec<_> = evs.iter().filter(|e| e.action == "GAP").collect();
    assert_eq!(gaps.len(), 1, "{evs:#?}");
    let g = gaps[0];
    assert_eq!((g.category, g.alert), (Category::Agent, true));
    assert_eq!(g.instance.as_deref(), Some("orcl-prod"));
    assert_eq!(g.extra["scope"], "unified audit policy HR_EMP_ACCESS");
    assert_eq!(g.extra["off_since"], "2024-05-01T10:00:00.000000Z");
    assert_eq!(g.extra["off_until"], "2024-05-01T10:00:09.000000Z");
    // Sent before the AUDIT POLICY event that ended the span.
    assert_eq!(
        evs.last().unwrap().statement.as_deref(),
        Some("AUDIT POLICY HR_EMP_ACCESS")
    );
}

#[tokio::test]
async fn pages_cover_everything_once() {
    let trail = FakeTrail::new();
    for i in 0..23 {
        trail.push(row(t(i, 0), 100 + i, 1, "SELECT"));
    }
    let mut p = poller(&trail, settings());
    let mut after = None;
    let evs = drain(&mut p, &mut after).await;
    assert_eq!(evs.len(), 23);
    let uniq: HashSet<_> = ids(&evs).into_iter().collect();
    assert_eq!(uniq.len(), 23);
    // the first page was limited to batch_rows
    let q = trail.state.lock().unwrap().queries.clone();
    assert_eq!(q[0], (None, 5));
    // nothing new → nothing emitted, however often we poll
    for _ in 0..3 {
        let page = fetch(&mut p, after.as_ref()).await;
        assert!(page.events.is_empty());
        assert!(!page.more);
        after = Some(page.position);
    }
    // each later poll re-reads the look-back window below the high-water mark
    let q = trail.state.lock().unwrap().queries.clone();
    let (from, _) = q.last().unwrap();
    assert_eq!(*from, Some(t(22, 0) - chrono::Duration::seconds(60)));
}

#[tokio::test]
async fn rows_tied_on_one_timestamp_are_never_split() {
    let trail = FakeTrail::new();
    for i in 0..12 {
        trail.push(row(t(5, 0), 1, i, "INSERT"));
    }
    trail.push(row(t(6, 0), 2, 1, "INSERT"));
    let mut p = poller(&trail, settings());
    let page = fetch(&mut p, None).await;
    // batch_rows is 5, but all 12 rows at t(5) come together (WITH TIES)
    assert_eq!(page.events.len(), 12);
    assert_eq!(page.position["timestamp"], "2024-05-01T10:00:05.000000Z");
    let mut after = Some(page.position);
    let rest = drain(&mut p, &mut after).await;
    assert_eq!(rest.len(), 1);
}

#[tokio::test]
async fn without_the_late_sweep_rows_older_than_the_window_are_missed() {
    let trail = FakeTrail::new();
    for i in 0..5 {
        trail.push(row(t(100 + i, 0), 1, i, "SELECT"));
    }
    let s = PollSettings {
        late_window: Duration::ZERO,
        ..settings()
    };
    let mut p = poller(&trail, s);
    let mut after = None;
    assert_eq!(drain(&mut p, &mut after).await.len(), 5);
    // a RAC instance / spill-over file delivers rows with older timestamps
    trail.push(row(t(90, 0), 7, 1, "DELETE")); // 14 s below the high-water mark: inside 60 s
    trail.push(row(t(10, 0), 8, 1, "DELETE")); // 94 s below: outside the window
    trail.push(row(t(104, 0), 9, 1, "DELETE")); // same timestamp as the last seen row
    let evs = drain(&mut p, &mut after).await;
    let sessions: Vec<_> = evs.iter().map(|e| e.session.id.clone().unwrap()).collect();
    assert_eq!(sessions, vec!["7", "9"]);
    assert_eq!(trail.state.lock().unwrap().count_queries, 0);
}

fn sessions_of(evs: &[onetrail_event::Event]) -> Vec<String> {
    let mut v: Vec<String> = evs.iter().map(|e| e.session.id.clone().unwrap()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn late_rows_below_the_window_are_found_by_the_sweep_once() {
    let trail = FakeTrail::new();
    for i in 0..5 {
        trail.push(row(t(100 + i, 0), 1, i, "SELECT"));
    }
    let s = PollSettings {
        late_sweep: Duration::ZERO,
        ..settings()
    };
    let mut p = poller(&trail, s.clone());
    let mut after = None;
    assert_eq!(drain(&mut p, &mut after).await.len(), 5);
    trail.push(row(t(90, 0), 7, 1, "DELETE")); // inside the 60 s window
    trail.push(row(t(10, 0), 8, 1, "DELETE")); // 94 s below: only the sweep finds it
    trail.push(row(t(104, 0), 9, 1, "DELETE"));
    let evs = drain(&mut p, &mut after).await;
    assert_eq!(sessions_of(&evs), vec!["7", "8", "9"]);
    let e8 = evs
        .iter()
        .find(|e| e.session.id.as_deref() == Some("8"))
        .unwrap();
    assert_eq!(e8.extra["late_row"], true);
    assert!(!e8.extra.contains_key("late_reread"));
    // Nothing twice: the next polls find nothing, and only count.
    let ranges_before = trail.state.lock().unwrap().range_queries.len();
    assert!(drain(&mut p, &mut after).await.is_empty());
    assert!(drain(&mut p, &mut after).await.is_empty());
    assert_eq!(
        trail.state.lock().unwrap().range_queries.len(),
        ranges_before,
        "no minute re-read while Oracle's counts match"
    );
    // Another late row: only its minute is read again.
    trail.push(row(t(20, 0), 10, 1, "UPDATE"));
    let evs = drain(&mut p, &mut after).await;
    assert_eq!(sessions_of(&evs), vec!["10"]);
    let last_range = *trail.state.lock().unwrap().range_queries.last().unwrap();
    assert_eq!(last_range, (t(0, 0), t(60, 0)));

    // While the agent is down a row arrives late; the restarted poller finds
    // it from the counts in the checkpoint. Rows it may emit again keep
    // their ids and say so.
    let before: HashSet<String> = ids(&drain(&mut poller(&trail, s.clone()), &mut None).await)
        .into_iter()
        .collect();
    trail.push(row(t(30, 0), 11, 1, "DELETE"));
    let mut p2 = poller(&trail, s.clone());
    let evs = drain(&mut p2, &mut after).await;
    let e11: Vec<_> = evs
        .iter()
        .filter(|e| e.session.id.as_deref() == Some("11"))
        .collect();
    assert_eq!(e11.len(), 1);
    for e in &evs {
        if e.session.id.as_deref() != Some("11") {
            assert!(before.contains(&e.id), "a re-read row keeps its id");
            assert_eq!(e.extra["late_reread"], true);
        }
    }
    assert!(drain(&mut p2, &mut after).await.is_empty());
}

#[tokio::test]
async fn the_sweep_does_not_reach_past_its_window_or_before_read_from_end() {
    let trail = FakeTrail::new();
    for i in 0..5 {
        trail.push(row(t(1000 + i, 0), 1, i, "SELECT"));
    }
    let s = PollSettings {
        late_sweep: Duration::ZERO,
        late_window: Duration::from_secs(600),
        ..settings()
    };
    let mut p = poller(&trail, s.clone());
    let mut after = None;
    assert_eq!(drain(&mut p, &mut after).await.len(), 5);
    trail.push(row(t(10, 0), 8, 1, "DELETE")); // ~1000 s below: past 600 s
    trail.push(row(t(700, 0), 9, 1, "DELETE")); // ~300 s below: inside
    let evs = drain(&mut p, &mut after).await;
    assert_eq!(sessions_of(&evs), vec!["9"]);

    // read_from: end never sweeps the history it skipped.
    let s = PollSettings {
        read_from: ReadFrom::End,
        ..s
    };
    let mut p = poller(&trail, s);
    let mut after = None;
    assert!(drain(&mut p, &mut after).await.is_empty());
    trail.push(row(t(1010, 0), 12, 1, "SELECT"));
    let evs = drain(&mut p, &mut after).await;
    assert_eq!(sessions_of(&evs), vec!["12"]);
}

#[tokio::test]
async fn restart_from_a_checkpoint_neither_duplicates_nor_loses() {
    let trail = FakeTrail::new();
    for i in 0..8 {
        trail.push(row(t(i, 0), 1, i, "SELECT"));
    }
    let mut p = poller(&trail, settings());
    let page1 = fetch(&mut p, None).await; // 5 rows
    assert_eq!(page1.events.len(), 5);
    let page2 = fetch(&mut p, Some(&page1.position)).await; // 3 rows, not yet delivered
    assert_eq!(page2.events.len(), 3);
    // crash: only page 1 was delivered (committed). A new process starts from it.
    let committed = page1.position.clone();
    let json = serde_json::to_string(&committed).unwrap();
    let restored: Value = serde_json::from_str(&json).unwrap();
    trail.push(row(t(2, 500), 9, 1, "UPDATE")); // arrived late, below the committed mark
    let mut p2 = poller(&trail, settings());
    let mut after = Some(restored);
    let evs = drain(&mut p2, &mut after).await;
    // page 2's rows come again (same ids: receivers de-duplicate), plus the late row;
    // page 1's rows do not.
    let again: HashSet<_> = ids(&evs).into_iter().collect();
    let p1: HashSet<_> = ids(&page1.events).into_iter().collect();
    let p2: HashSet<_> = ids(&page2.events).into_iter().collect();
    assert!(again.is_disjoint(&p1));
    assert!(p2.is_subset(&again));
    assert_eq!(evs.len(), 4);
    assert!(evs.iter().any(|e| e.session.id.as_deref() == Some("9")));
    // the position records the boundary and the keys at or after it
    let pos = after.unwrap();
    assert_eq!(pos["v"], 1);
    assert_eq!(pos["timestamp"], "2024-05-01T10:00:07.000000Z");
    assert!(pos["keys"].as_array().unwrap().len() >= 8);
}

#[tokio::test]
async fn memory_for_the_window_is_bounded() {
    let trail = FakeTrail::new();
    for i in 0..50 {
        trail.push(row(t(i, 0), 1, i, "SELECT"));
    }
    let s = PollSettings {
        max_keys: 10,
        lookback: Duration::from_secs(3600),
        ..settings()
    };
    let mut p = poller(&trail, s);
    let mut after = None;
    let evs = drain(&mut p, &mut after).await;
    assert_eq!(evs.len(), 50);
    let pos = after.unwrap();
    assert!(pos["keys"].as_array().unwrap().len() <= 10);
    // every query asked for at most max_keys + batch_rows rows
    for (_, limit) in trail.state.lock().unwrap().queries.iter() {
        assert!(*limit <= 15, "{limit}");
    }
    // forgotten rows are below the floor: a re-poll emits nothing
    let page = fetch(&mut p, Some(&pos)).await;
    assert!(page.events.is_empty());
}

#[tokio::test]
async fn flush_and_archive_timestamp_follow_delivery() {
    let trail = FakeTrail::new();
    for i in 0..3 {
        trail.push(row(t(100 + i, 0), 1, i, "SELECT"));
    }
    let s = PollSettings {
        flush_before_poll: true,
        set_archive_timestamp: true,
        ..settings()
    };
    let mut p = poller(&trail, s);
    let page = fetch(&mut p, None).await;
    let page2 = fetch(&mut p, Some(&page.position)).await;
    assert_eq!(trail.state.lock().unwrap().flushes, 2);
    // fetched but not delivered: no archive timestamp yet
    assert!(trail.state.lock().unwrap().archive_timestamps.is_empty());
    p.delivered(&page.position);
    let _ = fetch(&mut p, Some(&page2.position)).await;
    let _ = fetch(&mut p, Some(&page2.position)).await;
    let arch = trail.state.lock().unwrap().archive_timestamps.clone();
    // once, at the delivered position's look-back start (high-water mark - 60 s)
    assert_eq!(arch, vec![t(102, 0) - chrono::Duration::seconds(60)]);
}

#[tokio::test]
async fn errors_are_returned_and_the_poller_reconnects() {
    let trail = FakeTrail::new();
    trail.push(row(t(0, 0), 1, 1, "SELECT"));
    trail.state.lock().unwrap().connect_error = Some("ORA-12541: TNS:no listener".into());
    let mut p = poller(&trail, settings());
    let e = p.fetch(None).await.err().unwrap();
    assert!(
        e.contains("oracle source `ora`") && e.contains("ORA-12541"),
        "{e}"
    );
    trail.state.lock().unwrap().connect_error = None;
    trail.state.lock().unwrap().query_error_once =
        Some("ORA-03113: end-of-file on communication channel".into());
    assert!(p.fetch(None).await.is_err());
    let page = fetch(&mut p, None).await;
    assert_eq!(page.events.len(), 1);
    assert_eq!(trail.state.lock().unwrap().connects, 3);
}

#[tokio::test]
async fn read_from_end_skips_history() {
    let trail = FakeTrail::new();
    trail.push(row(t(0, 0), 1, 1, "SELECT"));
    trail.push(row(t(1, 0), 1, 2, "SELECT"));
    let s = PollSettings {
        read_from: ReadFrom::End,
        ..settings()
    };
    let mut p = poller(&trail, s);
    let page = fetch(&mut p, None).await;
    assert!(page.events.is_empty());
    trail.push(row(t(2, 0), 1, 3, "SELECT"));
    let page = fetch(&mut p, Some(&page.position)).await;
    assert_eq!(page.events.len(), 1);
}

/// The `oracle`-crate reader without Instant Client: one clear, actionable error.
#[tokio::test]
async fn oracle_crate_reader_reports_a_missing_client() {
    let mut r = OracleCrateReader::new(
        "audit_reader".into(),
        onetrail_agent::config::Secret::new("secret"),
        "127.0.0.1:1/FREEPDB1".into(),
    );
    let e = r.connect().await.expect_err("no Oracle listens on port 1");
    assert!(!r.is_connected());
    if !e.contains("DPI-1047") {
        // An Oracle client is installed here: the connection itself must be
        // what fails (a TNS/ORA error naming the refused address), and the
        // missing-client wording must not appear.
        assert!(e.contains("ORA-") || e.contains("TNS"), "{e}");
        assert!(!e.contains("Instant Client"), "{e}");
        return;
    }
    assert!(e.contains("Instant Client"), "{e}");
    assert!(e.contains("LD_LIBRARY_PATH"), "{e}");
    assert!(e.contains("ORACLE_HOME"), "{e}");
    assert!(!r.is_connected());
}

#[test]
fn the_example_config_is_valid() {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/oracle.yaml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("${ORACLE_PASSWORD}", "x");
    let cfg = onetrail_agent::config::Config::from_str_at(&text, &p)
        .expect("deploy/examples/oracle.yaml");
    let s = &cfg.sources["orcl_unified"].value;
    let settings = PollSettings::from_config(s);
    assert_eq!(settings.lookback, Duration::from_secs(300));
    assert_eq!(settings.max_keys, 100_000);
    assert!(onetrail_agent::pollers::build(&cfg, "orcl_unified").is_ok());
    assert!(onetrail_agent::formats::build(&cfg, "orcl_adump").is_ok());
}
