//! "Who, why, and nothing leaked", end to end against a real PostgreSQL 15 +
//! pgaudit: a private server runs the testkit workload and the trust workload
//! (`pg_workload::run_trust_workload`) while `onetrail run` tails its stderr
//! log into two file sinks (native with a hash chain, and OCSF). Then:
//!
//! - no cleartext password the workloads used appears in any sink, the
//!   checkpoint file or the agent's own log (while the server log does hold
//!   some of them, so the check means something);
//! - each identity mechanism names the right person (`application_name`
//!   pattern, sqlcommenter comment, `SET onetrail.actor`, `set_config`,
//!   static map), with the ticket in `context`;
//! - switching auditing off and on raises `alert: true` events, and every
//!   `audit_config` event is an alert; with `pgaudit_log: all` declared, the
//!   real workload yields no false `GAP`;
//! - compliance tags and sensitivity labels are set;
//! - `onetrail verify` accepts the chained file and finds a deleted, an
//!   altered and a reordered line at the right position.
//!
//! Needs root (or a user that can run PostgreSQL) and `postgresql-15
//! postgresql-15-pgaudit`; fails with a message naming them otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use onetrail_testkit::pg_workload::{
    self, APP_PASSWORD, APP_PASSWORD_INITIAL, FDW_PASSWORD, TRUST_AUDIT_OFF, TRUST_STATIC_ACTOR,
    TRUST_USER, TrustReport, WorkloadReport,
};
use onetrail_testkit::postgres::{
    DEFAULT_LOG_LINE_PREFIX, PgInstance, PgLogFormat, PgOptions, SUPERUSER_PASSWORD,
};
use serde_json::Value;

mod common;
use common::{Agent, run_command, tail};

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(40);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

struct Run {
    report: WorkloadReport,
    trust: TrustReport,
    events: Vec<Value>,
    native: PathBuf,
    ocsf: PathBuf,
    state_dir: PathBuf,
    agent_stderr: String,
    server_log: String,
    exit: ExitStatus,
    _work: tempfile::TempDir,
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn agent_config(pg: &PgInstance, work: &Path, native: &Path, ocsf: &Path) -> String {
    format!(
        r#"data_dir: {state}
sources:
  pg:
    type: pgaudit
    paths: [{glob}]
    log_format: stderr
    log_line_prefix: {prefix}
    instance: pg-trust
    context: {{ environment: test }}
    pgaudit_log: all
    identity:
      static_map:
        - {{ db_user: {user}, actor: "{static_actor}" }}
      application_name:
        - '^jira-(?P<user>[a-z]+)$'
    sensitivity:
      "secret.patients*": phi
      "public.trust_ledger": [pci]
sinks:
  chained: {{ type: file, path: {native}, chain: true }}
  ocsf: {{ type: file, path: {ocsf}, encoding: ocsf }}
"#,
        state = yaml_str(&work.join("state").to_string_lossy()),
        glob = yaml_str(&pg.audit_glob()),
        prefix = yaml_str(DEFAULT_LOG_LINE_PREFIX),
        user = TRUST_USER,
        static_actor = TRUST_STATIC_ACTOR,
        native = yaml_str(&native.to_string_lossy()),
        ocsf = yaml_str(&ocsf.to_string_lossy()),
    )
}

fn read_events(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn delivered(report: &WorkloadReport, trust: &TrustReport, events: &[Value]) -> bool {
    let last_note = trust
        .attributions
        .last()
        .map(|a| a.note)
        .unwrap_or_default();
    let last_in = events.iter().any(|e| {
        e["action"] == "INSERT"
            && e["statement"]
                .as_str()
                .is_some_and(|s| s.contains(last_note))
    });
    let failed = events
        .iter()
        .filter(|e| e["category"] == "auth" && e["action"] == "LOGIN FAILED")
        .count();
    last_in && failed >= report.failed_logins.len()
}

fn run() -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut pg = PgInstance::start(PgOptions::new(PgLogFormat::Stderr))
            .unwrap_or_else(|e| panic!("cannot start PostgreSQL 15 + pgaudit (apt-get install postgresql-15 postgresql-15-pgaudit): {e}"));
        let work = tempfile::tempdir().unwrap();
        let native = work.path().join("events.jsonl");
        let ocsf = work.path().join("ocsf.jsonl");
        let config = work.path().join("onetrail.yaml");
        fs::write(&config, agent_config(&pg, work.path(), &native, &ocsf)).unwrap();
        let agent_log = work.path().join("agent.stderr");
        let mut agent = spawn_agent(&config, &agent_log);
        std::thread::sleep(Duration::from_millis(500));
        check_alive(&mut agent);

        let report = pg_workload::run_workload(&pg).await.expect("workload");
        let trust = pg_workload::run_trust_workload(&pg).await.expect("trust workload");

        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let events = read_events(&native);
            if delivered(&report, &trust, &events) {
                break;
            }
            check_alive(&mut agent);
            assert!(
                Instant::now() < deadline,
                "the agent did not deliver the workloads' events within {DELIVERY_TIMEOUT:?} ({} events)\n--- agent stderr ---\n{}",
                events.len(),
                tail(&fs::read_to_string(&agent_log).unwrap_or_default(), 4000)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let exit = terminate(&mut agent);
        let server_log = pg.read_server_logs();
        pg.stop().unwrap();
        Run {
            report,
            trust,
            events: read_events(&native),
            native,
            ocsf,
            state_dir: work.path().join("state"),
            agent_stderr: fs::read_to_string(&agent_log).unwrap_or_default(),
            server_log,
            exit,
            _work: work,
        }
    })
}

fn spawn_agent(config: &Path, stderr_path: &Path) -> Agent {
    Agent::spawn(&mut run_command(config), stderr_path).expect("start onetrail")
}

fn check_alive(agent: &mut Agent) {
    if let Ok(Some(status)) = agent.try_wait() {
        panic!(
            "`onetrail run` exited early ({status})\n--- agent stderr ---\n{}",
            tail(&agent.log(), 4000)
        );
    }
}

fn terminate(agent: &mut Agent) -> ExitStatus {
    agent
        .terminate_within(SHUTDOWN_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn brief(e: &Value) -> String {
    format!(
        "{{category:{} action:{} user:{} actor:{} alert:{} statement:{:?}}}",
        e["category"],
        e["action"],
        e["db_user"],
        e["actor"],
        e["alert"],
        e["statement"].as_str().map(|s| tail(s, 100)),
    )
}

fn verify(args: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .arg("verify")
        .args(args)
        .output()
        .expect("run onetrail verify");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn trust_e2e_postgresql() {
    let run = run();
    let mut problems: Vec<String> = Vec::new();
    let mut check = |ok: bool, msg: String| {
        if !ok {
            problems.push(msg);
        }
    };
    check(
        run.exit.success(),
        format!("agent exit status {}", run.exit),
    );
    let ev = &run.events;

    // ---- nothing leaked
    let mut passwords: Vec<&str> = vec![
        APP_PASSWORD_INITIAL,
        APP_PASSWORD,
        FDW_PASSWORD,
        SUPERUSER_PASSWORD,
    ];
    passwords.extend(
        run.report
            .failed_logins
            .iter()
            .map(|f| f.password)
            .filter(|p| p.len() >= 8),
    );
    passwords.extend(run.trust.passwords.iter().copied());
    // The test means something: the server log holds secrets in clear text.
    for p in [FDW_PASSWORD, "Fail-Dup-pw2", "D0-Block-pw3", "Map-Pw4"] {
        check(
            run.server_log.contains(p),
            format!("server log should hold {p:?} in clear text (workload changed?)"),
        );
    }
    let checkpoints =
        fs::read_to_string(run.state_dir.join("checkpoints.json")).unwrap_or_default();
    let outputs = [
        (
            "native sink",
            fs::read_to_string(&run.native).unwrap_or_default(),
        ),
        (
            "ocsf sink",
            fs::read_to_string(&run.ocsf).unwrap_or_default(),
        ),
        ("checkpoints", checkpoints),
        ("agent log", run.agent_stderr.clone()),
    ];
    for (what, text) in &outputs {
        for p in &passwords {
            // Doubled quotes as written in SQL, too.
            let sql_form = p.replace('\'', "''");
            for form in [p.to_string(), sql_form] {
                check(!text.contains(&form), format!("{what} leaks {form:?}"));
            }
        }
    }
    check(
        outputs[1].1.lines().count() >= ev.len().saturating_sub(5),
        "ocsf sink has too few events".into(),
    );
    check(
        ev.iter().any(|e| e["redacted"] == true),
        "no event marked redacted".into(),
    );

    // ---- who
    for a in &run.trust.attributions {
        let found: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["action"] == "INSERT"
                    && e["db_user"] == TRUST_USER
                    && e["statement"].as_str().is_some_and(|s| s.contains(a.note))
            })
            .collect();
        check(
            found.len() == 1,
            format!("{}: {} INSERT events", a.note, found.len()),
        );
        for e in found {
            check(
                e["actor"]["name"] == a.actor && e["actor"]["via"] == a.via,
                format!(
                    "{}: expected {} via {}, got {}",
                    a.note,
                    a.actor,
                    a.via,
                    brief(e)
                ),
            );
            check(
                e["context"]["ticket"].as_str() == a.ticket,
                format!("{}: ticket {:?}, got {}", a.note, a.ticket, e["context"]),
            );
            check(
                e["context"]["environment"] == "test",
                format!("{}: static context {}", a.note, e["context"]),
            );
            check(
                e["sensitivity"] == serde_json::json!(["pci"])
                    && e["compliance"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|t| t == "pci-dss:10.2.1.1")),
                format!(
                    "{}: sensitivity/compliance {} {}",
                    a.note, e["sensitivity"], e["compliance"]
                ),
            );
        }
    }
    // The login of the jira-alice session is attributed too.
    check(
        ev.iter().any(|e| {
            e["action"] == "LOGIN"
                && e["client"]["application"] == "jira-alice"
                && e["actor"]["name"] == "alice"
        }),
        "LOGIN of jira-alice not attributed to alice".into(),
    );

    // ---- tamper
    let off = ev
        .iter()
        .find(|e| e["statement"].as_str() == Some(TRUST_AUDIT_OFF));
    check(
        off.is_some_and(|e| e["category"] == "audit_config" && e["alert"] == true),
        format!(
            "ALTER SYSTEM SET pgaudit.log = 'none': {:?}",
            off.map(brief)
        ),
    );
    let changes: Vec<&Value> = ev
        .iter()
        .filter(|e| e["action"] == "SET PARAMETER" && e["extra"]["parameter"] == "pgaudit.log")
        .collect();
    check(
        changes
            .iter()
            .any(|e| e["extra"]["value"] == "none" && e["alert"] == true),
        format!(
            "no alert for pgaudit.log changed to none: {:?}",
            changes.iter().map(|e| brief(e)).collect::<Vec<_>>()
        ),
    );
    check(
        changes
            .iter()
            .any(|e| e["extra"]["value"] != "none" && e["alert"] == true),
        format!(
            "no alert for pgaudit.log switched back on: {:?}",
            changes
                .iter()
                .map(|e| e["extra"].to_string())
                .collect::<Vec<_>>()
        ),
    );
    check(
        ev.iter()
            .any(|e| e["statement"] == "SET pgaudit.log = 'all'" && e["alert"] == true),
        "SET pgaudit.log = 'all' not an alert".into(),
    );
    for e in ev.iter().filter(|e| e["category"] == "audit_config") {
        check(
            e["alert"] == true,
            format!("audit_config without alert: {}", brief(e)),
        );
        check(
            e["compliance"]
                .as_array()
                .is_some_and(|c| c.iter().any(|t| t == "pci-dss:10.2.1.6")),
            format!("audit_config without pci-dss:10.2.1.6: {}", brief(e)),
        );
    }
    let hidden = ev
        .iter()
        .any(|e| e["statement"].as_str() == Some(pg_workload::TRUST_UNAUDITED));
    check(
        !hidden,
        "a statement sent while auditing was off was audited".into(),
    );
    // The reload to 'none' and back is one hole on record.
    let off_gaps: Vec<&Value> = ev
        .iter()
        .filter(|e| e["action"] == "GAP" && e["extra"]["gap_kind"] == "audit_off")
        .collect();
    check(
        off_gaps.len() == 1
            && off_gaps[0]["alert"] == true
            && off_gaps[0]["extra"]["scope"] == "pgaudit.log"
            && off_gaps[0]["extra"]["off_since"].as_str()
                < off_gaps[0]["extra"]["off_until"].as_str(),
        format!("want one audit-off GAP for the reload: {off_gaps:?}"),
    );
    // pgaudit 1.7 numbers only logged statements: declared `all`, no false
    // statement-id GAP.
    let gaps: Vec<&Value> = ev
        .iter()
        .filter(|e| e["action"] == "GAP" && e["extra"]["gap_kind"] != "audit_off")
        .collect();
    check(
        gaps.is_empty(),
        format!(
            "unexpected GAP events: {:?}",
            gaps.iter()
                .map(|g| g["extra"].to_string())
                .collect::<Vec<_>>()
        ),
    );

    // ---- compliance and sensitivity elsewhere
    for e in ev.iter().filter(|e| e["action"] == "LOGIN FAILED") {
        check(
            e["compliance"]
                .as_array()
                .is_some_and(|c| c.iter().any(|t| t == "pci-dss:10.2.1.4")),
            format!("LOGIN FAILED without pci-dss:10.2.1.4: {}", brief(e)),
        );
    }
    check(
        ev.iter().any(|e| {
            e["category"] == "read"
                && e["sensitivity"] == serde_json::json!(["phi"])
                && e["compliance"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|t| t == "hipaa:164.312(b)"))
        }),
        "no phi-labelled read of secret.patients with the HIPAA tag".into(),
    );
    check(
        ev.iter().any(|e| {
            e["action"] == "CREATE ROLE"
                && e["compliance"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|t| t == "pci-dss:10.2.1.5"))
        }),
        "CREATE ROLE without pci-dss:10.2.1.5".into(),
    );

    // ---- the chain
    let state = run.state_dir.join("chain").join("chained.json");
    let (code, out) = verify(&[&run.native]);
    check(
        code == 0 && out.contains("chain intact"),
        format!("verify of the intact file: exit {code}\n{out}"),
    );
    let (code, out) = verify(&[Path::new("--state"), &state, &run.native]);
    check(
        code == 0,
        format!("verify --state of the intact file: exit {code}\n{out}"),
    );
    let lines: Vec<String> = fs::read_to_string(&run.native)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    check(
        lines.len() > 20,
        format!("only {} chained lines", lines.len()),
    );
    let write = |name: &str, l: &[String]| {
        let p = run.native.with_file_name(name);
        fs::write(&p, l.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
        p
    };
    let n = lines.len() / 2;
    let mut deleted = lines.clone();
    deleted.remove(n);
    let (code, out) = verify(&[&write("deleted.jsonl", &deleted)]);
    check(
        code == 3
            && out.contains(&format!(
                "line {}: DELETED: event seq {} is missing",
                n + 1,
                n + 1
            )),
        format!("deleted line {}: exit {code}\n{out}", n + 1),
    );
    let mut altered = lines.clone();
    altered[n] = altered[n]
        .replacen("\"outcome\":\"success\"", "\"outcome\":\"failure\"", 1)
        .replacen("\"engine\":\"postgresql\"", "\"engine\":\"mysql\"", 1);
    let (code, out) = verify(&[&write("altered.jsonl", &altered)]);
    check(
        code == 3 && out.contains(&format!("line {}: ALTERED", n + 1)),
        format!("altered line {}: exit {code}\n{out}", n + 1),
    );
    let mut reordered = lines.clone();
    reordered.swap(n, n + 1);
    let (code, out) = verify(&[&write("reordered.jsonl", &reordered)]);
    check(
        code == 3 && out.contains(&format!("line {}: REORDERED", n + 1)),
        format!("reordered lines: exit {code}\n{out}"),
    );
    let mut truncated = lines.clone();
    truncated.pop();
    let t = write("truncated.jsonl", &truncated);
    let (code, out) = verify(&[Path::new("--state"), &state, &t]);
    check(
        code == 3 && out.contains("DELETED"),
        format!("truncated file with --state: exit {code}\n{out}"),
    );

    if !problems.is_empty() {
        panic!(
            "{} problems:\n- {}\n--- agent stderr (tail) ---\n{}",
            problems.len(),
            problems.join("\n- "),
            tail(&run.agent_stderr, 3000)
        );
    }
}
