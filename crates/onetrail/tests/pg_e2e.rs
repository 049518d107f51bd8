//! End to end against a real PostgreSQL 15 + pgaudit: for each log format a
//! private server runs the testkit workload while `onetrail run` tails its
//! logs into a file sink; then every event is checked field by field against
//! what the workload did, and the four formats must agree with each other.
//!
//! Needs root (or a user that can run PostgreSQL) and the Debian packages
//! `postgresql-15 postgresql-15-pgaudit postgresql-15-pgauditlogtofile`. When
//! they are missing the tests fail with a message naming the package; they
//! never pass silently.
//!
//! Runs are serialized (one server + one agent at a time, for 2-core machines)
//! and memoized: the cross-format test reuses the per-format runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use onetrail_testkit::pg_workload::{
    self, APP_DATABASE, ExpectedAudit, FAILING_DO_BLOCK, UNAUDITED_SELECT, WorkloadReport,
};
use onetrail_testkit::postgres::{
    DEFAULT_LOG_LINE_PREFIX, PgInstance, PgLogFormat, PgOptions, RDS_LOG_LINE_PREFIX,
};
use serde_json::Value;

mod common;
use common::{Agent, run_command, tail};

const INSTANCE: &str = "pg-test";
/// How long the agent gets to deliver the workload's events.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the agent gets to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// One log setup under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Case {
    name: &'static str,
    format: PgLogFormat,
    prefix: &'static str,
    timezone: &'static str,
}

const STDERR: Case = Case {
    name: "stderr",
    format: PgLogFormat::Stderr,
    prefix: DEFAULT_LOG_LINE_PREFIX,
    timezone: "UTC",
};
const CSVLOG: Case = Case {
    name: "csvlog",
    format: PgLogFormat::Csvlog,
    prefix: DEFAULT_LOG_LINE_PREFIX,
    timezone: "UTC",
};
const JSONLOG: Case = Case {
    name: "jsonlog",
    format: PgLogFormat::Jsonlog,
    prefix: DEFAULT_LOG_LINE_PREFIX,
    timezone: "UTC",
};
const LOGTOFILE: Case = Case {
    name: "pgauditlogtofile",
    format: PgLogFormat::PgAuditLogToFile,
    prefix: DEFAULT_LOG_LINE_PREFIX,
    timezone: "UTC",
};
/// RDS prefix (seconds, no session id) in a non-UTC zone with DST.
const STDERR_RDS_BERLIN: Case = Case {
    name: "stderr-rds-berlin",
    format: PgLogFormat::Stderr,
    prefix: RDS_LOG_LINE_PREFIX,
    timezone: "Europe/Berlin",
};

impl Case {
    /// Whether the server log carries SQLSTATEs (stderr only with `%e`).
    fn has_sqlstate(&self) -> bool {
        match self.format {
            PgLogFormat::Csvlog | PgLogFormat::Jsonlog => true,
            PgLogFormat::Stderr | PgLogFormat::PgAuditLogToFile => self.prefix.contains("%e"),
        }
    }

    /// Whether a failed login with this SQLSTATE is logged with its code.
    /// pgauditlogtofile takes password failures into its own file (with the
    /// SQLSTATE); other FATALs stay in the stderr server log.
    fn login_failure_has_sqlstate(&self, code: &str) -> bool {
        self.has_sqlstate() || (self.format == PgLogFormat::PgAuditLogToFile && code == "28P01")
    }

    /// Whether records carry PostgreSQL's session id (`%c` / session_id).
    fn has_session_id(&self) -> bool {
        self.format != PgLogFormat::Stderr || self.prefix.contains("%c")
    }

    /// Timestamp precision slack: `%t` has whole seconds.
    fn time_slack(&self) -> Duration {
        if self.format == PgLogFormat::Stderr && !self.prefix.contains("%m") {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(500)
        }
    }
}

/// What one run produced.
struct Run {
    report: WorkloadReport,
    events: Vec<Value>,
    /// Raw sink lines that were not JSON objects.
    bad_lines: Vec<String>,
    exit: ExitStatus,
    started: SystemTime,
    finished: SystemTime,
    log_root: PathBuf,
    agent_stderr: String,
}

type RunResult = Result<Arc<Run>, String>;

/// Runs `case` once per test binary; later callers get the same result.
fn run(case: Case) -> Arc<Run> {
    static RUNS: OnceLock<Mutex<HashMap<&'static str, RunResult>>> = OnceLock::new();
    let runs = RUNS.get_or_init(|| Mutex::new(HashMap::new()));
    // Holding the lock while running keeps one server at a time.
    let mut guard = runs.lock().unwrap_or_else(|p| p.into_inner());
    let res = guard
        .entry(case.name)
        .or_insert_with(|| run_uncached(case).map(Arc::new))
        .clone();
    drop(guard);
    res.unwrap_or_else(|e| panic!("[{}] {e}", case.name))
}

fn run_uncached(case: Case) -> Result<Run, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run_async(case))
}

async fn run_async(case: Case) -> Result<Run, String> {
    let mut pg = PgInstance::start(
        PgOptions::new(case.format)
            .log_line_prefix(case.prefix)
            .log_timezone(case.timezone),
    )
    .map_err(|e| format!("cannot start PostgreSQL 15 + pgaudit: {e}"))?;

    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sink = work.path().join("events.jsonl");
    let config = work.path().join("onetrail.yaml");
    fs::write(&config, agent_config(case, &pg, work.path(), &sink)).map_err(|e| e.to_string())?;
    let agent_log = work.path().join("agent.stderr");

    let started = SystemTime::now();
    let mut agent = Agent::spawn(&mut run_command(&config), &agent_log)?;
    // Let the agent find the (already existing) files before the workload.
    std::thread::sleep(Duration::from_millis(500));
    agent.check_alive()?;

    let report = pg_workload::run_workload(&pg)
        .await
        .map_err(|e| format!("workload: {e}"))?;
    let finished = SystemTime::now();

    // Wait until the last things the workload did have arrived.
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let (events, _) = read_sink(&sink);
        if delivered(&report, &events) {
            break;
        }
        agent.check_alive()?;
        if Instant::now() > deadline {
            let _ = agent.terminate_within(SHUTDOWN_TIMEOUT);
            return Err(format!(
                "the agent did not deliver the workload's events within {DELIVERY_TIMEOUT:?}: \
                 {} events in {}; last app-session audit or the {} failed logins missing\n\
                 --- agent stderr ---\n{}",
                events.len(),
                sink.display(),
                report.failed_logins.len(),
                tail(&fs::read_to_string(&agent_log).unwrap_or_default(), 4000),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let exit = agent.terminate_within(SHUTDOWN_TIMEOUT)?;
    let (events, bad_lines) = read_sink(&sink);
    let agent_stderr = fs::read_to_string(&agent_log).unwrap_or_default();
    let log_root = pg.socket_dir().to_path_buf();
    pg.stop().map_err(|e| e.to_string())?;
    Ok(Run {
        report,
        events,
        bad_lines,
        exit,
        started,
        finished,
        log_root,
        agent_stderr,
    })
}

fn agent_config(case: Case, pg: &PgInstance, work: &Path, sink: &Path) -> String {
    let source = |name: &str, glob: &str, format: &str| {
        // The prefix only means something to stderr-format sources.
        let prefix = if format == "stderr" {
            format!("    log_line_prefix: {}\n", yaml_str(case.prefix))
        } else {
            String::new()
        };
        format!(
            "  {name}:\n    type: pgaudit\n    paths: [{glob}]\n    log_format: {format}\n\
             {prefix}    instance: {INSTANCE}\n    context: {{ environment: test }}\n",
            glob = yaml_str(glob),
        )
    };
    let mut sources = source("pg", &pg.audit_glob(), case.format.as_str());
    if case.format == PgLogFormat::PgAuditLogToFile {
        // Server log: FATALs that pgauditlogtofile leaves there, ERRORs.
        sources.push_str(&source("pg_server", &pg.server_log_glob(), "stderr"));
    }
    format!(
        "data_dir: {state}\nsources:\n{sources}sinks:\n  out: {{ type: file, path: {sink} }}\n",
        state = yaml_str(&work.join("state").to_string_lossy()),
        sink = yaml_str(&sink.to_string_lossy()),
    )
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn read_sink(path: &Path) -> (Vec<Value>, Vec<String>) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => events.push(v),
            _ => bad.push(line.to_string()),
        }
    }
    (events, bad)
}

/// The workload's last audited statement and all failed logins are in.
fn delivered(report: &WorkloadReport, events: &[Value]) -> bool {
    let Some(last) = report.audits.last() else {
        return false;
    };
    let last_in = events.iter().any(|e| {
        e["session"]["statement_id"] == last.statement_id
            && e["statement"].as_str() == Some(last.statement.as_str())
    });
    let failed = events
        .iter()
        .filter(|e| e["category"] == "auth" && e["action"] == "LOGIN FAILED")
        .count();
    last_in && failed >= report.failed_logins.len()
}

// ---------------------------------------------------------------- assertions

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

/// The categories a pgaudit record may map to (docs of `Category`).
fn expected_category(a: &ExpectedAudit) -> &'static str {
    let stmt = a.statement.to_ascii_lowercase();
    let audit_config = (a.command == "SET" && stmt.starts_with("set pgaudit."))
        || (a.command == "ALTER SYSTEM" && stmt.contains("pgaudit."))
        || (a.command == "CREATE EXTENSION" && stmt.starts_with("create extension pgaudit"));
    if audit_config {
        return "audit_config";
    }
    match (a.class, a.command) {
        ("DDL", "ALTER SYSTEM") => "admin",
        ("DDL", "CREATE USER MAPPING") => "dcl",
        ("DDL", _) => "ddl",
        ("ROLE", _) => "dcl",
        ("WRITE", _) => "dml",
        ("READ", _) => "read",
        ("FUNCTION", _) => "function",
        ("MISC", "SET") => "session",
        _ => "other",
    }
}

/// Statement equality that tolerates redaction of secrets: the text must be
/// identical up to and including the first `password` token.
fn statement_matches(expected: &str, got: Option<&str>) -> bool {
    let Some(got) = got else {
        return false;
    };
    match expected.to_ascii_lowercase().find("password") {
        Some(i) => got.starts_with(&expected[..i + "password".len()]),
        None => got == expected,
    }
}

/// Collects assertion failures so one run reports all of them.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }

    fn finish(self, case: Case, run: &Run) {
        if !self.0.is_empty() {
            let n = self.0.len();
            let shown: Vec<&String> = self.0.iter().take(40).collect();
            panic!(
                "[{}] {n} problems:\n- {}\n--- agent stderr (tail) ---\n{}",
                case.name,
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n- "),
                tail(&run.agent_stderr, 3000)
            );
        }
    }
}

fn brief(e: &Value) -> String {
    format!(
        "{{category:{} action:{} user:{} db:{} stmt:{}/{} outcome:{} error:{} statement:{:?}}}",
        e["category"],
        e["action"],
        e["db_user"],
        e["database"],
        e["session"]["statement_id"],
        e["session"]["substatement_id"],
        e["outcome"],
        e["error"],
        e["statement"].as_str().map(|s| tail(s, 80)),
    )
}

fn check_case(case: Case) {
    let run = run(case);
    let r = &run.report;
    let ev = &run.events;
    let mut p = Problems::default();

    p.check(run.exit.success(), || {
        format!("onetrail exited with {} after SIGTERM, want 0", run.exit)
    });
    p.check(run.bad_lines.is_empty(), || {
        format!("sink lines that are not JSON objects: {:?}", run.bad_lines)
    });

    // Every event: contract keys, identity, time, source.
    let mut ids = HashSet::new();
    for e in ev {
        for key in onetrail_event::KEYS {
            p.check(e.get(*key).is_some(), || {
                format!("event lacks key {key}: {e}")
            });
        }
        p.check(
            s(&e["id"]).is_some_and(|id| ids.insert(id.to_string())),
            || format!("duplicate or missing id: {}", brief(e)),
        );
        if e["category"] == "agent" {
            continue;
        }
        p.check(e["engine"] == "postgresql", || {
            format!("engine: {}", brief(e))
        });
        p.check(e["instance"] == INSTANCE, || {
            format!("instance {}: {}", e["instance"], brief(e))
        });
        p.check(e["context"]["environment"] == "test", || {
            format!("context {}: {}", e["context"], brief(e))
        });
        p.check(
            e["category"] != "unparsed" && e["parse_error"].is_null(),
            || {
                format!(
                    "unparsed record: raw={} error={}",
                    e["raw"], e["parse_error"]
                )
            },
        );
        p.check(
            s(&e["source"]["path"])
                .is_some_and(|path| path.starts_with(&*run.log_root.to_string_lossy())),
            || {
                format!(
                    "source.path {} not under {}",
                    e["source"]["path"],
                    run.log_root.display()
                )
            },
        );
        p.check(e["source"]["offset"].is_u64(), || {
            format!("source.offset: {}", e["source"])
        });
        if let Some(t) = s(&e["time"]) {
            let ok = chrono_in_window(t, run.started, run.finished, case.time_slack());
            p.check(ok, || {
                format!(
                    "time {t} outside the run ({:?}..{:?}, log_timezone {}): {}",
                    run.started,
                    run.finished,
                    case.timezone,
                    brief(e)
                )
            });
        } else {
            p.check(false, || format!("no time: {}", brief(e)));
        }
    }

    // Agent lifecycle.
    let agent_actions: Vec<String> = ev
        .iter()
        .filter(|e| e["category"] == "agent")
        .filter_map(|e| s(&e["action"]).map(str::to_ascii_uppercase))
        .collect();
    p.check(agent_actions.iter().any(|a| a.contains("START")), || {
        format!("no agent START event (agent events: {agent_actions:?})")
    });
    p.check(agent_actions.iter().any(|a| a.contains("STOP")), || {
        format!("no agent STOP event after SIGTERM (agent events: {agent_actions:?})")
    });

    // Successful logins, one per workload session.
    for ses in &r.sessions {
        let found = ev.iter().any(|e| {
            e["category"] == "auth"
                && e["action"] == "LOGIN"
                && e["outcome"] == "success"
                && e["db_user"] == ses.db_user.as_str()
                && e["database"] == ses.database.as_str()
                && e["client"]["ip"] == "127.0.0.1"
                && e["client"]["port"] == ses.client_port
        });
        p.check(found, || {
            format!(
                "no auth/LOGIN success for {}@{} from 127.0.0.1:{}",
                ses.db_user, ses.database, ses.client_port
            )
        });
    }

    // Failed logins.
    for f in &r.failed_logins {
        let candidates: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["category"] == "auth"
                    && e["action"] == "LOGIN FAILED"
                    && e["db_user"] == f.user
                    && e["database"] == f.database
            })
            .collect();
        p.check(!candidates.is_empty(), || {
            format!(
                "no auth/LOGIN FAILED for {}@{} ({})",
                f.user, f.database, f.reason
            )
        });
        for e in candidates {
            p.check(e["outcome"] == "failure", || {
                format!("failed login outcome: {}", brief(e))
            });
            p.check(e["client"]["ip"] == "127.0.0.1", || {
                format!("failed login client.ip {}: {}", e["client"]["ip"], brief(e))
            });
            let code = s(&e["error"]["code"]);
            let message = s(&e["error"]["message"]).unwrap_or_default();
            let ok = code == Some(f.code)
                || (!case.login_failure_has_sqlstate(f.code)
                    && code.is_none()
                    && message.contains(&f.message));
            p.check(ok, || {
                format!(
                    "failed login {} ({}): want error code {} (or, without SQLSTATE in the log, \
                     message {:?}), got {}",
                    f.user, f.reason, f.code, f.message, e["error"]
                )
            });
        }
    }

    // Every AUDIT record.
    for a in &r.audits {
        let ses = r.session(a.session);
        let matching: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["db_user"] == ses.db_user.as_str()
                    && e["database"] == ses.database.as_str()
                    && e["session"]["statement_id"] == a.statement_id
                    && e["session"]["substatement_id"] == a.substatement_id
                    && e["action"] == a.command
                    && statement_matches(&a.statement, s(&e["statement"]))
            })
            .collect();
        let what = || {
            format!(
                "{} {}/{} {} {} {:?} in session {}",
                a.audit_type,
                a.statement_id,
                a.substatement_id,
                a.class,
                a.command,
                a.statement,
                a.session
            )
        };
        if matching.is_empty() {
            let near: Vec<String> = ev
                .iter()
                .filter(|e| {
                    e["session"]["statement_id"] == a.statement_id
                        && e["db_user"] == ses.db_user.as_str()
                })
                .map(brief)
                .collect();
            p.check(false, || {
                format!("no event for {}; same statement id: {near:?}", what())
            });
            continue;
        }
        let want_cat = expected_category(a);
        let failed_stmt = r
            .errors
            .iter()
            .any(|x| x.session == a.session && x.audit_statement_id == Some(a.statement_id));
        for e in &matching {
            p.check(e["category"] == want_cat, || {
                format!("category {} want {want_cat} for {}", e["category"], what())
            });
            p.check(e["client"]["ip"] == "127.0.0.1", || {
                format!("client.ip {} for {}", e["client"]["ip"], what())
            });
            p.check(e["client"]["port"] == ses.client_port, || {
                format!(
                    "client.port {} want {} for {}",
                    e["client"]["port"],
                    ses.client_port,
                    what()
                )
            });
            if case.has_session_id() {
                let suffix = ses.session_id_suffix();
                p.check(
                    s(&e["session"]["id"]).is_some_and(|id| id.ends_with(&suffix)),
                    || {
                        format!(
                            "session.id {} want *{suffix} for {}",
                            e["session"]["id"],
                            what()
                        )
                    },
                );
            }
            if !failed_stmt {
                p.check(e["outcome"] != "failure", || {
                    format!("outcome failure for {}", what())
                });
            }
            if matches!(a.class, "READ" | "WRITE") {
                p.check(e["rows"] == a.rows, || {
                    format!("rows {} want {} for {}", e["rows"], a.rows, what())
                });
            }
        }
        if let (Some(name), Some(kind)) = (a.object_short_name(), a.object_type) {
            let has = matching.iter().any(|e| {
                e["objects"].as_array().is_some_and(|objs| {
                    objs.iter().any(|o| {
                        o["name"] == name
                            && o["schema"].as_str() == a.object_schema()
                            && s(&o["type"])
                                .is_some_and(|t| t.replace('_', " ").eq_ignore_ascii_case(kind))
                    })
                })
            });
            p.check(has, || {
                format!(
                    "no object {{type:{kind}, schema:{:?}, name:{name}}} for {}; got {:?}",
                    a.object_schema(),
                    what(),
                    matching
                        .iter()
                        .map(|e| e["objects"].to_string())
                        .collect::<Vec<_>>()
                )
            });
        }
    }

    // The audit config change is there as such.
    p.check(
        ev.iter().any(|e| {
            e["category"] == "audit_config" && e["statement"] == "SET pgaudit.log = 'all'"
        }),
        || "no audit_config event for SET pgaudit.log = 'all'".to_string(),
    );
    // Nothing sent while auditing was off shows up.
    p.check(
        !ev.iter()
            .any(|e| s(&e["statement"]).is_some_and(|t| t.contains(UNAUDITED_SELECT))),
        || format!("{UNAUDITED_SELECT:?} was audited although pgaudit.log = 'none'"),
    );

    // The audited statement that failed: outcome failure with its SQLSTATE.
    for x in r.errors.iter().filter(|x| x.audit_statement_id.is_some()) {
        let ses = r.session(x.session);
        let failures: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["outcome"] == "failure"
                    && e["db_user"] == ses.db_user.as_str()
                    && e["database"] == APP_DATABASE
                    && e["statement"] == x.statement.as_str()
            })
            .collect();
        p.check(!failures.is_empty(), || {
            format!(
                "no event with outcome failure for the failing statement {:?}; events with that text: {:?}",
                x.statement,
                ev.iter()
                    .filter(|e| e["statement"] == x.statement.as_str())
                    .map(brief)
                    .collect::<Vec<_>>()
            )
        });
        let coded = failures.iter().any(|e| {
            e["error"]["code"] == x.code
                || (!case.has_sqlstate()
                    && e["error"]["code"].is_null()
                    && s(&e["error"]["message"]).is_some_and(|m| m.contains("division by zero")))
        });
        p.check(coded, || {
            format!(
                "failing statement {:?}: want error code {}, got {:?}",
                x.statement,
                x.code,
                failures
                    .iter()
                    .map(|e| e["error"].to_string())
                    .collect::<Vec<_>>()
            )
        });
    }
    assert_eq!(
        r.errors
            .iter()
            .find(|x| x.audit_statement_id.is_some())
            .map(|x| x.statement.as_str()),
        Some(FAILING_DO_BLOCK),
        "the workload's audited failing statement changed; update this test"
    );

    p.finish(case, &run);
}

/// Parses RFC 3339 `t` and checks it lies in [start - slack, end + slack].
fn chrono_in_window(t: &str, start: SystemTime, end: SystemTime, slack: Duration) -> bool {
    let Some(ts) = parse_rfc3339_utc(t) else {
        return false;
    };
    ts + slack >= start && ts <= end + slack + Duration::from_secs(1)
}

/// Minimal `YYYY-MM-DDTHH:MM:SS[.frac]Z` parser (the contract writes UTC with `Z`).
fn parse_rfc3339_utc(t: &str) -> Option<SystemTime> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (h.next()?.ok()?, h.next()?.ok()?, h.next()?.ok()?);
    let nanos: u32 = format!("{:0<9}", frac).get(..9)?.parse().ok()?;
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// The comparable core of the AUDIT-derived events of one run.
fn audit_tuples(run: &Run) -> Vec<(String, String, String, String, i64, i64, String)> {
    let mut v: Vec<_> = run
        .events
        .iter()
        .filter(|e| e["session"]["statement_id"].is_i64() && e["category"] != "agent")
        .map(|e| {
            (
                e["category"].as_str().unwrap_or_default().to_string(),
                e["action"].as_str().unwrap_or_default().to_string(),
                e["db_user"].as_str().unwrap_or_default().to_string(),
                e["database"].as_str().unwrap_or_default().to_string(),
                e["session"]["statement_id"].as_i64().unwrap_or_default(),
                e["session"]["substatement_id"].as_i64().unwrap_or(-1),
                e["statement"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn time_parser_and_statement_matching() {
    let t = parse_rfc3339_utc("2024-05-01T12:00:00.123456Z").unwrap();
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    assert_eq!(d.as_secs(), 1_714_564_800);
    assert_eq!(d.subsec_micros(), 123_456);
    assert_eq!(
        parse_rfc3339_utc("1970-01-01T00:00:00Z"),
        Some(SystemTime::UNIX_EPOCH)
    );
    assert_eq!(parse_rfc3339_utc("2024-05-01T12:00:00+02:00"), None);
    assert!(statement_matches("SELECT 1", Some("SELECT 1")));
    assert!(!statement_matches("SELECT 1", Some("SELECT 2")));
    assert!(!statement_matches("SELECT 1", None));
    let um = "CREATE USER MAPPING FOR a SERVER s OPTIONS (user 'u', password 'x')";
    assert!(statement_matches(
        um,
        Some("CREATE USER MAPPING FOR a SERVER s OPTIONS (user 'u', password ***)")
    ));
    assert!(!statement_matches(
        um,
        Some("CREATE USER MAPPING FOR b SERVER s OPTIONS (user 'u', password 'x')")
    ));
}

#[test]
fn pg_e2e_stderr() {
    check_case(STDERR);
}

#[test]
fn pg_e2e_csvlog() {
    check_case(CSVLOG);
}

#[test]
fn pg_e2e_jsonlog() {
    check_case(JSONLOG);
}

#[test]
fn pg_e2e_pgauditlogtofile() {
    check_case(LOGTOFILE);
}

#[test]
fn pg_e2e_stderr_rds_prefix_berlin_time() {
    check_case(STDERR_RDS_BERLIN);
}

#[test]
fn pg_e2e_formats_agree() {
    let cases = [STDERR, CSVLOG, JSONLOG, LOGTOFILE, STDERR_RDS_BERLIN];
    let tuples: BTreeMap<&str, _> = cases
        .iter()
        .map(|c| (c.name, audit_tuples(&run(*c))))
        .collect();
    let reference = &tuples["jsonlog"];
    assert!(
        reference.len() >= run(JSONLOG).report.audits.len() / 2,
        "too few AUDIT-derived events in the jsonlog run: {}",
        reference.len()
    );
    for (name, t) in &tuples {
        if t == reference {
            continue;
        }
        let a: HashSet<_> = reference.iter().collect();
        let b: HashSet<_> = t.iter().collect();
        panic!(
            "{name} and jsonlog disagree ({} vs {} AUDIT events)\nonly in jsonlog: {:#?}\nonly in {name}: {:#?}",
            reference.len(),
            t.len(),
            a.difference(&b).collect::<Vec<_>>(),
            b.difference(&a).collect::<Vec<_>>()
        );
    }
}

/// The README's sample event ("What you get") is what the agent delivers for
/// the same statement: pgaudit masks the password itself (`<REDACTED>`), so
/// onetrail redacts nothing (`redacted: false`).
#[test]
fn the_readme_sample_event_is_what_the_agent_delivers() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("README.md");
    let start = readme
        .find("```json\n{\"id\"")
        .expect("README sample event")
        + 8;
    let end = start + readme[start..].find("```").expect("end of the sample");
    let sample: Value = serde_json::from_str(&readme[start..end]).expect("sample is JSON");
    let r = run(STDERR);
    let got = r
        .events
        .iter()
        .find(|e| e["statement"] == sample["statement"])
        .unwrap_or_else(|| panic!("no delivered event with statement {}", sample["statement"]));
    for key in [
        "engine",
        "category",
        "action",
        // Not `outcome`: it depends on what the server logged after the record.
        "statement",
        "objects",
        "redacted",
        "redacted_count",
        "alert",
        "compliance",
    ] {
        assert_eq!(got[key], sample[key], "README sample `{key}`");
    }
    assert_eq!(
        got["extra"]["pgaudit"]["class"],
        sample["extra"]["pgaudit"]["class"]
    );
    assert_eq!(got["source"]["format"], sample["source"]["format"]);
}
