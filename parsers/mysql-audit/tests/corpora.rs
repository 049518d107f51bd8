//! Every audit record in the peer corpora (real records from other projects'
//! test suites, /work/shared/corpora, read at test time and never copied into
//! the repository) must parse without an `unparsed` event.
//!
//! ## How audit lines are extracted from mysqltest `.result` transcripts
//! The `.result` files interleave the SQL transcript with the audit log that
//! the test `cat`s at the end. A line is taken as an audit line when, split on
//! commas, it has the server_audit header shape at field 4:
//! `<conn>,<qid>,<OP>` where `<conn>` is digits or a harness mask (`ID`,
//! `CONNECTION_ID`), `<qid>` digits or a mask (`ID`, `QUERY_ID`) and `<OP>` a
//! server_audit operation. The harness masks are then replaced by numbers
//! (connection `7 + n` for the n-th distinct user; query ids from a counter that advances after every
//! non-TABLE line, so TABLE lines share the id of the QUERY they precede, as in
//! a real log; a masked non-zero retcode `ID` becomes `1`). The timestamp
//! masks (`TIME`, `TIMESTAMP`, `CUSTOM-DATE TIMESTAMP`, ...) are kept: they
//! exercise the free-text timestamp path (custom `server_audit_timestamp_format`).
//! The number of extracted lines is checked against the counts in SOURCES.md.
//!
//! Percona CSV records sit between the `=====` lines (`*****` lines separate
//! test phases); `<ID>`, `<DATETIME>` and `<CONN_ID>` masks are replaced by
//! well-formed values. The Percona XML record is the `<?xml` … `</AUDIT>`
//! block; its `[masked]` values are replaced likewise.

mod common;

use std::collections::BTreeMap;

use common::{run, run_chunked, unparsed};
use onetrail_event::{Category, Event, Outcome};
use serde_json::Value;

const OPS: &[&str] = &[
    "CONNECT",
    "FAILED_CONNECT",
    "DISCONNECT",
    "CHANGEUSER",
    "PROXY_CONNECT",
    "QUERY",
    "READ",
    "WRITE",
    "CREATE",
    "ALTER",
    "DROP",
    "RENAME",
    "AUDIT_CONFIG",
];
const TABLE_OPS: &[&str] = &["READ", "WRITE", "CREATE", "ALTER", "DROP", "RENAME"];

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// Extract and de-mask the server_audit lines of a `.result` transcript.
fn extract_mariadb(text: &str) -> Vec<String> {
    let mut qid = 1000u64;
    let mut users: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f: Vec<&str> = line.split(',').collect();
        if f.len() < 10 {
            continue;
        }
        let conn_ok = |s: &str| is_digits(s) || s == "ID" || s == "CONNECTION_ID";
        let qid_ok = |s: &str| is_digits(s) || s == "ID" || s == "QUERY_ID";
        if !(conn_ok(f[4]) && qid_ok(f[5]) && OPS.contains(&f[6])) {
            continue;
        }
        let q = qid.to_string();
        // one connection id per user, so different sessions do not merge
        let u = match users.iter().position(|x| x == f[2]) {
            Some(i) => i,
            None => {
                users.push(f[2].to_string());
                users.len() - 1
            }
        };
        let c = (7 + u).to_string();
        if !is_digits(f[4]) {
            f[4] = &c;
        }
        if !is_digits(f[5]) {
            f[5] = &q;
        }
        if f.last() == Some(&"ID") {
            *f.last_mut().unwrap() = "1";
        }
        if !TABLE_OPS.contains(&f[6]) {
            qid += 1;
        }
        out.push(f.join(","));
    }
    out
}

struct MariaCase {
    path: &'static str,
    format: &'static str,
    lines: usize,
}

const MARIADB_CASES: &[MariaCase] = &[
    MariaCase {
        path: "mariadb-server-audit/debian-mariadb-test-data-10.11.19/mysql-test/suite/plugins/r/server_audit.result",
        format: "mariadb-server-audit",
        lines: 256,
    },
    MariaCase {
        path: "mariadb-server-audit/debian-mariadb-test-data-10.11.19/mysql-test/suite/plugins/r/thread_pool_server_audit.result",
        format: "mariadb-server-audit",
        lines: 149,
    },
    MariaCase {
        path: "mariadb-server-audit/debian-mariadb-test-data-10.11.19/mysql-test/suite/plugins/r/server_audit_query_id.result",
        format: "mariadb-server-audit",
        lines: 28,
    },
    MariaCase {
        path: "mariadb-server-audit/debian-mariadb-test-data-10.11.19/mysql-test/suite/rpl/r/rpl_auditing.result",
        format: "mariadb-server-audit",
        lines: 18,
    },
    MariaCase {
        path: "mariadb-server-audit/debian-mariadb-test-data-10.11.19/mysql-test/suite/galera/r/MDEV-35511.result",
        format: "mariadb-server-audit",
        lines: 8,
    },
    MariaCase {
        path: "mariadb-server-audit/github-MariaDB-server/mysql-test/suite/plugins/r/server_audit_port.result",
        format: "mariadb-server-audit",
        lines: 230,
    },
    MariaCase {
        path: "mariadb-server-audit/github-MariaDB-server/mysql-test/suite/plugins/r/server_audit_timestamp.result",
        format: "mariadb-server-audit",
        lines: 19,
    },
    MariaCase {
        path: "mariadb-server-audit/github-MariaDB-server/mysql-test/suite/plugins/r/MDEV-37434-server_audit_query_id.result",
        format: "mariadb-server-audit",
        lines: 28,
    },
    MariaCase {
        path: "aws-audit-plugin-for-mysql/mysql-test/suite/server_audit/r/server_audit.result",
        format: "mariadb-server-audit",
        lines: 111,
    },
];

fn op(e: &Event) -> &str {
    e.extra
        .get("audit_operation")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A corpus file; only called by tests that checked `onetrail_corpora::dir()`.
fn read_corpus(rel: &str) -> Vec<u8> {
    onetrail_corpora::read(rel).expect("corpora checked present by the test")
}

fn parse_mariadb_case(c: &MariaCase) -> (Vec<String>, Vec<Event>) {
    let text = String::from_utf8(read_corpus(c.path)).expect("utf-8 corpus");
    let lines = extract_mariadb(&text);
    assert_eq!(lines.len(), c.lines, "{}: extracted audit lines", c.path);
    let mut input = lines.join("\n");
    input.push('\n');
    let evs = run(c.format, input.as_bytes());
    // byte-by-byte feeding frames identically
    let evs_chunked = run_chunked(c.format, input.as_bytes(), "test", 7);
    assert_eq!(evs, evs_chunked, "{}: chunked feeding differs", c.path);
    (lines, evs)
}

#[test]
fn mariadb_family_corpora_parse_without_unparsed() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    for c in MARIADB_CASES {
        let (lines, evs) = parse_mariadb_case(c);
        let bad = unparsed(&evs);
        assert!(bad.is_empty(), "{}: unparsed: {:#?}", c.path, bad);
        // every non-TABLE line is exactly one event; TABLE lines are either
        // merged into their QUERY (objects) or standalone events
        let non_table_lines = lines
            .iter()
            .filter(|l| !TABLE_OPS.contains(&l.split(',').nth(6).unwrap()))
            .count();
        let non_table_events = evs.iter().filter(|e| !TABLE_OPS.contains(&op(e))).count();
        assert_eq!(non_table_lines, non_table_events, "{}", c.path);
        for e in &evs {
            assert_eq!(e.engine.as_str(), "mariadb");
            assert!(
                !e.action.is_empty() || e.category == Category::Other,
                "{e:?}"
            );
            assert!(e.session.id.is_some());
        }
    }
}

fn find<'a>(evs: &'a [Event], stmt_prefix: &str) -> &'a Event {
    evs.iter()
        .find(|e| {
            e.statement
                .as_deref()
                .is_some_and(|s| s.starts_with(stmt_prefix))
        })
        .unwrap_or_else(|| panic!("no event with statement {stmt_prefix:?}"))
}

#[test]
fn mariadb_corpus_semantics() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[0]);
    // failed login with the masked errno
    let failed: Vec<_> = evs.iter().filter(|e| e.action == "LOGIN FAILED").collect();
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|e| e.outcome == Outcome::Failure && e.category == Category::Auth)
    );
    // statements and their table objects
    let ins = find(&evs, "insert into t1 values (1), (2)");
    assert_eq!(ins.category, Category::Dml);
    let names: Vec<_> = ins
        .objects
        .iter()
        .map(|o| o.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["t1", "table_stats", "column_stats", "index_stats"]);
    let ren = find(&evs, "alter table t1 rename renamed_t1");
    assert!(ren.objects.iter().any(|o| o.schema.as_deref() == Some("test") && o.name.as_deref() == Some("renamed_t1")));
    assert_eq!(
        find(&evs, "select 1,\n2,\n# comment\n3").category,
        Category::Read
    );
    assert_eq!(
        find(&evs, "CREATE USER u1 IDENTIFIED BY *****").category,
        Category::Dcl
    );
    assert_eq!(
        find(&evs, "set global server_audit_logging= off").category,
        Category::AuditConfig
    );
    assert_eq!(
        find(&evs, "uninstall plugin server_audit").category,
        Category::AuditConfig
    );
    let err = find(&evs, "select * from t_doesnt_exist");
    assert_eq!(err.outcome, Outcome::Failure);
    // escaped quotes
    find(&evs, "set global server_audit_incl_users='odin, dva, tri'");
    // the 1024-byte statement is flagged truncated; short complete ones are not
    let long = find(&evs, "select length('0123456789");
    assert_eq!(long.extra["truncated"], true, "{:?}", long.extra);
    assert_eq!(long.extra["truncation_rule"], "length_at_limit");
    // 1024 escaped bytes: the statement has one `\'`
    assert_eq!(long.statement.as_ref().unwrap().len(), 1023);
    assert!(!find(&evs, "select 2").extra.contains_key("truncated"));
    // proxy login
    let proxy = evs.iter().find(|e| e.action == "PROXY LOGIN").unwrap();
    assert_eq!(proxy.extra["proxy_user"], "`plug_dest`@`%`");
    // TABLE lines without a QUERY (user1 is not in incl_users) are standalone
    assert!(
        evs.iter()
            .any(|e| e.action == "CREATE" && e.db_user.as_deref() == Some("user1"))
    );
    // masked timestamps fall back, and say so
    assert_eq!(evs[0].extra["time_fallback"], "epoch");
    assert_eq!(evs[0].extra["timestamp_raw"], "TIME");
}

/// docs/schema.md: `database` of a `QUERY` is the session's default
/// database, not the database of the tables it touched (those are `objects`).
#[test]
fn mariadb_query_database_is_the_sessions_default_database() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[0]);
    let create = find(&evs, "CREATE USER u1 IDENTIFIED BY");
    // The server wrote `WRITE,mysql,global_priv` for it, `QUERY,sa_db,...` itself.
    assert_eq!(create.database.as_deref(), Some("sa_db"));
    assert!(
        create
            .objects
            .iter()
            .any(|o| o.schema.as_deref() == Some("mysql")
                && o.name.as_deref() == Some("global_priv")),
        "{:?}",
        create.objects
    );
}

#[test]
fn mariadb_newer_and_rds_variants() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    // host:port form
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[5]);
    assert!(
        evs.iter()
            .all(|e| e.client.host.as_deref() == Some("localhost") && e.client.port.is_none())
    );
    // custom timestamp formats: free text, never unparsed
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[6]);
    assert!(
        evs.iter()
            .any(|e| e.extra["timestamp_raw"] == "CUSTOM-TZ TIMESTAMP")
    );
    assert_eq!(
        find(&evs, "set global server_audit_timestamp_format='AAAA")
            .error
            .as_ref()
            .unwrap()
            .code
            .as_deref(),
        Some("1231")
    );
    // unmasked query ids: trigger statements are logged out of order
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[7]);
    assert!(
        evs.iter()
            .any(|e| e.extra.get("query_id_out_of_order") == Some(&Value::Bool(true)))
    );
    assert_eq!(
        find(&evs, "CALL test_procedure(NULL)").category,
        Category::Function
    );
    // AUDIT_CONFIG records and internal users
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[3]);
    let cfg: Vec<_> = evs.iter().filter(|e| e.action == "AUDIT_CONFIG").collect();
    assert_eq!(cfg.len(), 10);
    assert!(cfg.iter().all(|e| e.category == Category::AuditConfig));
    assert!(
        evs.iter()
            .any(|e| e.db_user.as_deref() == Some("<replication_slave>"))
    );
    // RDS/AWS trailing connection type, real errnos
    let (_, evs) = parse_mariadb_case(&MARIADB_CASES[8]);
    let fc = evs.iter().find(|e| e.action == "LOGIN FAILED").unwrap();
    assert_eq!(fc.error.as_ref().unwrap().code.as_deref(), Some("1045"));
    assert_eq!(fc.extra["connection_type"], "SOCKET");
    assert_eq!(
        find(&evs, "syntax_error_query")
            .error
            .as_ref()
            .unwrap()
            .code
            .as_deref(),
        Some("1064")
    );
}

// ---------------------------------------------------------------------------
// Percona
// ---------------------------------------------------------------------------

fn demask_percona(s: &str) -> String {
    s.replace("\"<ID>\"", "\"4_2021-06-29T19:33:00\"")
        .replace("\"<DATETIME>\"", "\"2021-06-29T19:33:34Z\"")
        .replace("\"<CONN_ID>\"", "\"12\"")
}

fn extract_percona_csv(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("=====") {
            inside = !inside;
            continue;
        }
        if inside && !line.starts_with("*****") {
            out.push_str(&demask_percona(line));
        }
    }
    out
}

#[test]
fn percona_csv_corpora() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    for (path, records) in [
        (
            "percona-server-audit-log/plugin/audit_log/tests/mtr/audit_log_default_db.result",
            31,
        ),
        (
            "percona-server-audit-log/plugin/audit_log/tests/mtr/audit_log_filter_users.result",
            48,
        ),
    ] {
        let text = String::from_utf8(read_corpus(path)).unwrap();
        let input = extract_percona_csv(&text);
        let evs = run("percona-audit-csv", input.as_bytes());
        assert!(unparsed(&evs).is_empty(), "{path}: {:#?}", unparsed(&evs));
        assert_eq!(evs.len(), records, "{path}");
        assert_eq!(
            evs,
            run_chunked("percona-audit-csv", input.as_bytes(), "test", 5)
        );
        for e in &evs {
            assert_eq!(e.time.to_rfc3339(), "2021-06-29T19:33:34+00:00");
            assert_eq!(e.session.id.as_deref(), Some("12"));
            assert!(!e.extra.contains_key("time_zone_assumed"));
        }
        if path.ends_with("default_db.result") {
            let denied: Vec<_> = evs.iter().filter(|e| e.action == "LOGIN FAILED").collect();
            assert_eq!(denied.len(), 3);
            assert!(
                denied
                    .iter()
                    .any(|e| e.error.as_ref().unwrap().code.as_deref() == Some("1045"))
            );
            let cu = evs
                .iter()
                .find(|e| e.action == "CHANGE USER" && e.outcome == Outcome::Failure)
                .unwrap();
            assert_eq!(cu.error.as_ref().unwrap().code.as_deref(), Some("1044"));
            let tab = evs
                .iter()
                .find(|e| e.statement.as_deref() == Some("use \t`db1`"))
                .unwrap();
            assert_eq!(
                (tab.category, tab.action.as_str()),
                (Category::Session, "USE")
            );
            assert!(evs.iter().any(|e| e.database.as_deref() == Some("ąžąžąžą")));
            let init = evs
                .iter()
                .find(|e| e.extra["record_name"] == "Init DB")
                .unwrap();
            assert_eq!(init.statement, None);
            let inst = &evs[0];
            assert_eq!(
                (inst.category, inst.db_user.as_deref()),
                (Category::AuditConfig, Some("root"))
            );
            assert_eq!(inst.extra["priv_user"], "root");
        } else {
            assert!(
                evs.iter()
                    .any(|e| e.db_user.as_deref() == Some("us,er1") && e.action == "LOGIN")
            );
            assert!(
                evs.iter()
                    .any(|e| e.client.ip.as_deref() == Some("127.0.0.1"))
            );
            assert!(
                evs.iter()
                    .filter(|e| e.category == Category::AuditConfig)
                    .count()
                    >= 10
            );
        }
    }
}

#[test]
fn percona_component_xml_new_corpus() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    let text = String::from_utf8(read_corpus(
        "percona-server-audit-log/mysql-test/suite/component_audit_log_filter/r/message_internal_xml_new.result",
    ))
    .unwrap();
    let start = text.find("<?xml").unwrap();
    let end = text.find("</AUDIT>").unwrap() + "</AUDIT>\n".len();
    let xml = text[start..end]
        .replacen(
            "<TIMESTAMP>[masked]",
            "<TIMESTAMP>2024-03-01T10:00:00 UTC",
            1,
        )
        .replacen("<RECORD_ID>[masked]", "<RECORD_ID>1_2024-03-01T10:00:00", 1)
        .replacen("<CONNECTION_ID>[masked]", "<CONNECTION_ID>9", 1);
    for format in ["mysql-enterprise-xml", "percona-audit-xml"] {
        let evs = run(format, xml.as_bytes());
        assert_eq!(evs.len(), 1, "{evs:#?}");
        let e = &evs[0];
        assert_eq!(e.category, Category::Other);
        assert_eq!(e.action, "MESSAGE");
        assert_eq!(e.db_user.as_deref(), Some("root"));
        assert_eq!(e.session.id.as_deref(), Some("9"));
        assert_eq!(e.time.to_rfc3339(), "2024-03-01T10:00:00+00:00");
        assert_eq!(e.extra["message"], "test_audit_api_message_internal");
        assert_eq!(e.outcome, Outcome::Success);
    }
}

// ---------------------------------------------------------------------------
// MySQL Enterprise Audit JSON, compared with Elastic's expected parse
// ---------------------------------------------------------------------------

/// Per input record, in order: (`@timestamp`, `server.user.name`,
/// `event.action`, `event.outcome`) as Elastic's filebeat module expects them
/// (elastic/beats `x-pack/filebeat/module/mysqlenterprise/audit/test/mysql_audit_test.log-expected.json`
/// @ 1d835f9a100d93708e9063827922579814f382ab; facts restated, file not copied).
const ELASTIC: &[(&str, Option<&str>, &str, &str)] = &[
    (
        "2020-10-19T19:21:33Z",
        Some("skip-grants user"),
        "mysql-startup",
        "unknown",
    ),
    (
        "2020-10-19T19:25:51Z",
        Some("root"),
        "mysql-connect",
        "success",
    ),
    (
        "2020-10-19T19:25:51Z",
        Some("root"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:25:52Z",
        Some("root"),
        "mysql-disconnect",
        "unknown",
    ),
    (
        "2020-10-19T19:27:45Z",
        Some("root"),
        "mysql-connect",
        "success",
    ),
    (
        "2020-10-19T19:27:45Z",
        Some("root"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:27:50Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:28:04Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:28:27Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:28:54Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:29:36Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:30:00Z",
        Some("root"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:30:18Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:30:32Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:30:49Z",
        Some("root"),
        "mysql-status",
        "failure",
    ),
    (
        "2020-10-19T19:31:01Z",
        Some("root"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:25Z",
        Some("audit_test_user2"),
        "mysql-connect",
        "success",
    ),
    (
        "2020-10-19T19:31:25Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:31Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:40Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:40Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:40Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:40Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:47Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:31:57Z",
        Some("audit_test_user2"),
        "mysql-insert",
        "unknown",
    ),
    (
        "2020-10-19T19:31:57Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:32:05Z",
        Some("audit_test_user2"),
        "mysql-read",
        "unknown",
    ),
    (
        "2020-10-19T19:32:05Z",
        Some("audit_test_user2"),
        "mysql-status",
        "success",
    ),
    (
        "2020-10-19T19:32:10Z",
        Some("audit_test_user2"),
        "mysql-disconnect",
        "unknown",
    ),
    (
        "2020-10-19T19:32:12Z",
        Some("root"),
        "mysql-disconnect",
        "unknown",
    ),
    ("2020-10-19T19:32:16Z", None, "mysql-shutdown", "unknown"),
];

#[test]
fn mysql_enterprise_json_agrees_with_elastic() {
    if onetrail_corpora::dir().is_none() {
        return;
    }
    let input = read_corpus(
        "elastic-beats-mysqlenterprise-audit/x-pack/filebeat/module/mysqlenterprise/audit/test/mysql_audit_test.log",
    );
    let evs = run("mysql-enterprise-json", &input);
    assert!(unparsed(&evs).is_empty(), "{:#?}", unparsed(&evs));
    assert_eq!(evs.len(), ELASTIC.len());
    assert_eq!(
        evs,
        run_chunked("mysql-enterprise-json", &input, "test", 11)
    );
    // the same bytes inside the array brackets the server writes
    let mut wrapped = b"[\n".to_vec();
    wrapped.extend_from_slice(&input);
    wrapped.extend_from_slice(b"\n]\n");
    assert_eq!(run("mysql-enterprise-json", &wrapped).len(), ELASTIC.len());

    let lines: Vec<&[u8]> = input
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for (i, (e, (ts, user, action, outcome))) in evs.iter().zip(ELASTIC).enumerate() {
        let raw: Value =
            serde_json::from_slice(lines[i].strip_suffix(b",").unwrap_or(lines[i])).unwrap();
        assert_eq!(
            e.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            *ts,
            "record {i} time"
        );
        assert_eq!(e.db_user.as_deref(), *user, "record {i} user");
        let want_outcome = match *outcome {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure,
            _ => Outcome::Unknown,
        };
        assert_eq!(e.outcome, want_outcome, "record {i} outcome");
        match *action {
            "mysql-startup" => assert_eq!(
                (e.category, e.action.as_str()),
                (Category::AuditConfig, "AUDIT START")
            ),
            "mysql-shutdown" => assert_eq!(
                (e.category, e.action.as_str()),
                (Category::AuditConfig, "AUDIT STOP")
            ),
            "mysql-connect" => {
                assert_eq!((e.category, e.action.as_str()), (Category::Auth, "LOGIN"))
            }
            "mysql-disconnect" => {
                assert_eq!((e.category, e.action.as_str()), (Category::Auth, "LOGOUT"))
            }
            "mysql-insert" => {
                assert_eq!((e.category, e.action.as_str()), (Category::Dml, "INSERT"))
            }
            "mysql-read" => assert_eq!((e.category, e.action.as_str()), (Category::Read, "READ")),
            "mysql-status" => {
                assert_ne!(e.category, Category::Auth, "record {i}");
                let status = raw["general_data"]["status"].as_i64().unwrap();
                if status != 0 {
                    assert_eq!(
                        e.error.as_ref().unwrap().code.as_deref(),
                        Some(status.to_string().as_str())
                    );
                }
                assert_eq!(
                    e.statement.as_deref(),
                    raw["general_data"]["query"].as_str(),
                    "record {i}"
                );
            }
            other => panic!("unexpected action {other}"),
        }
        // db: Elastic keeps table_access_data.db; connection_data.db is empty here
        if let Some(db) = raw["table_access_data"]["db"].as_str() {
            assert_eq!(e.objects[0].schema.as_deref(), Some(db));
            assert_eq!(
                e.objects[0].name.as_deref(),
                raw["table_access_data"]["table"].as_str()
            );
        }
        assert_eq!(e.database, None, "record {i}");
    }
    // a few category checks on top of Elastic's
    let by_stmt: BTreeMap<_, _> = evs
        .iter()
        .filter_map(|e| Some((e.statement.clone()?, e)))
        .collect();
    assert_eq!(
        by_stmt["create database audit_test"].category,
        Category::Ddl
    );
    assert_eq!(by_stmt["show databases"].category, Category::Read);
    assert_eq!(evs[6].category, Category::Dcl); // failed GRANT with a cleartext password
    assert_eq!(evs[16].client.ip.as_deref(), Some("192.168.2.5"));
    assert_eq!(evs[16].client.host.as_deref(), Some("hades.home"));
    assert_eq!(evs[16].extra["connection_type"], "ssl");
}
