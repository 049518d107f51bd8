//! "Who, why, and nothing leaked" against a real MariaDB + `server_audit`
//! (the MariaDB counterpart of `trust_e2e.rs`): a private server runs a small
//! workload through `mysql_async` while `onetrail run` tails
//! `server_audit.log` into a file sink, with identity rules configured. Then:
//!
//! - **static_map**: the statements of `svc_batch` name "Dana Ops"
//!   (`actor.via = static_map`); nobody else is mapped;
//! - **sqlcommenter**: one `svc_batch` statement carries
//!   `/*user='carol%40corp',ticket='OPS-7'*/`: it names `carol@corp` (the
//!   comment wins over the static map) with `context.ticket = OPS-7`, and only
//!   that statement (the next one is Dana Ops again, without a ticket);
//! - **session** (`SET @onetrail_actor = 'dave'`): server_audit logs that SET
//!   *unmasked* (its masking only covers `PASSWORD(…)` / `IDENTIFIED BY …`;
//!   checked against the real log below, so a server that starts masking it
//!   fails the test with a message saying so). The SET and every later
//!   statement of that session name `dave` (`via = session`), statements
//!   before it name nobody, `SET @onetrail_actor = NULL` forgets it again,
//!   and another session of the same user is not affected;
//! - `SET GLOBAL server_audit_logging=OFF` / `ON` (by dave) are
//!   `audit_config` events with `alert: true`, and they are the only alerts;
//! - no password the workload used appears anywhere in the sink file (one of
//!   them, in `SELECT PASSWORD('…')`, is in the server's log unmasked: only
//!   onetrail's redaction keeps it out).
//!
//! Needs root (or a user that can run `mariadbd`) and the Debian package
//! `mariadb-server`; fails with a message naming it otherwise.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use onetrail_testkit::mariadb::MariaDb;
use serde_json::Value;

mod common;
use common::{Agent, run_command, tail};

const INSTANCE: &str = "mariadb-trust";
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

const BATCH_USER: &str = "svc_batch";
const BATCH_ACTOR: &str = "Dana Ops";
const APP_USER: &str = "app";

const BATCH_PW: &str = "Bt7-batch-Pa55w0rd";
const APP_PW: &str = "Ap4-app-S3cret-xy";
const WRONG_PW: &str = "Wrong-Guess-42q";
/// In `SELECT PASSWORD('…')`, which server_audit does not mask.
const PROBE_PW: &str = "Pr9-probe-literal";
const SECRETS: &[&str] = &[BATCH_PW, APP_PW, WRONG_PW, PROBE_PW];

const COMMENTED: &str = "UPDATE trust.ledger SET note = 'approved' WHERE id = 1 \
                         /*user='carol%40corp',ticket='OPS-7'*/";
const SET_DAVE: &str = "SET @onetrail_actor = 'dave'";
const UNSET: &str = "SET @onetrail_actor = NULL";
const AUDIT_OFF: &str = "SET GLOBAL server_audit_logging=OFF";
const AUDIT_ON: &str = "SET GLOBAL server_audit_logging=ON";
const UNAUDITED: &str = "SELECT 'onetrail-trust: not audited while logging is off'";

/// One statement sent, and who it must be attributed to.
struct Sent {
    label: &'static str,
    conn: u32,
    sql: String,
    /// Delivered text when it differs from what was sent (masked by the
    /// server, or redacted by onetrail).
    delivered: Option<String>,
    /// onetrail's redaction must have changed it (`redacted: true`).
    redacted: bool,
    /// `(actor.name, actor.via)`, or `None`: no actor.
    actor: Option<(&'static str, &'static str)>,
    ticket: Option<&'static str>,
    audit_config: bool,
}

#[derive(Default)]
struct Workload {
    sent: Vec<Sent>,
    /// Every session: connection id, and who its LOGOUT must name (the
    /// session's state as it ends; `None`: nobody).
    conns: Vec<(u32, Option<&'static str>)>,
}

struct Client<'a> {
    db: &'a MariaDb,
}

impl Client<'_> {
    fn opts(&self, user: &str, pass: Option<&str>, tcp: bool) -> OptsBuilder {
        let base = OptsBuilder::default().user(Some(user)).pass(pass);
        if tcp {
            base.ip_or_hostname("127.0.0.1")
                .tcp_port(self.db.port)
                .prefer_socket(false)
        } else {
            base.socket(Some(self.db.socket.to_string_lossy().into_owned()))
        }
    }

    async fn connect(
        &self,
        w: &mut Workload,
        user: &str,
        pass: Option<&str>,
        tcp: bool,
        logout_actor: Option<&'static str>,
    ) -> Result<Conn, String> {
        let c = Conn::new(self.opts(user, pass, tcp))
            .await
            .map_err(|e| format!("connect as {user}: {e}"))?;
        w.conns.push((c.id(), logout_actor));
        Ok(c)
    }
}

fn sent(label: &'static str, sql: impl Into<String>) -> Sent {
    Sent {
        label,
        conn: 0,
        sql: sql.into(),
        delivered: None,
        redacted: false,
        actor: None,
        ticket: None,
        audit_config: false,
    }
}

impl Sent {
    fn actor(mut self, name: &'static str, via: &'static str) -> Sent {
        self.actor = Some((name, via));
        self
    }
    fn ticket(mut self, t: &'static str) -> Sent {
        self.ticket = Some(t);
        self
    }
    fn delivered(mut self, t: impl Into<String>) -> Sent {
        self.delivered = Some(t.into());
        self
    }
    fn redacted(mut self) -> Sent {
        self.redacted = true;
        self
    }
    fn audit_config(mut self) -> Sent {
        self.audit_config = true;
        self
    }
}

async fn exec(w: &mut Workload, conn: &mut Conn, mut s: Sent) -> Result<(), String> {
    conn.query_drop(s.sql.as_str())
        .await
        .map_err(|e| format!("{} {:?}: {e}", s.label, s.sql))?;
    s.conn = conn.id();
    w.sent.push(s);
    Ok(())
}

async fn bye(conn: Conn) -> Result<(), String> {
    conn.disconnect().await.map_err(|e| e.to_string())
}

async fn workload(c: &Client<'_>, w: &mut Workload) -> Result<(), String> {
    // Setup by root (not mapped, no hints): nobody named.
    let mut root = c.connect(w, "root", None, false, None).await?;
    for sql in [
        "CREATE DATABASE trust".to_string(),
        "CREATE TABLE trust.ledger (id INT PRIMARY KEY, note VARCHAR(100))".to_string(),
        format!("CREATE USER '{BATCH_USER}'@'%' IDENTIFIED BY '{BATCH_PW}'"),
        format!("CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PW}'"),
        format!("GRANT SELECT, INSERT, UPDATE ON trust.* TO '{BATCH_USER}'@'%'"),
        format!("GRANT SELECT, UPDATE ON trust.* TO '{APP_USER}'@'%'"),
    ] {
        let delivered = sql
            .split_once(" IDENTIFIED BY ")
            .map(|(a, _)| format!("{a} IDENTIFIED BY *****"));
        let mut s = sent("setup", sql);
        s.delivered = delivered;
        exec(w, &mut root, s).await?;
    }
    bye(root).await?;

    // A failed login (its password must not leak either).
    match Conn::new(c.opts(BATCH_USER, Some(WRONG_PW), true)).await {
        Err(mysql_async::Error::Server(e)) if e.code == 1045 => {}
        other => {
            return Err(format!(
                "login with a wrong password: want 1045, got {other:?}"
            ));
        }
    }

    // svc_batch: static_map, except the one statement with a comment.
    let mut batch = c
        .connect(w, BATCH_USER, Some(BATCH_PW), true, Some(BATCH_ACTOR))
        .await?;
    exec(
        w,
        &mut batch,
        sent("batch", "INSERT INTO trust.ledger VALUES (1, 'nightly')")
            .actor(BATCH_ACTOR, "static_map"),
    )
    .await?;
    exec(
        w,
        &mut batch,
        sent("batch", COMMENTED)
            .actor("carol@corp", "sqlcommenter")
            .ticket("OPS-7"),
    )
    .await?;
    exec(
        w,
        &mut batch,
        sent(
            "batch",
            "INSERT INTO trust.ledger VALUES (2, 'after the comment')",
        )
        .actor(BATCH_ACTOR, "static_map"),
    )
    .await?;
    exec(
        w,
        &mut batch,
        sent("batch", format!("SELECT PASSWORD('{PROBE_PW}') AS h"))
            .delivered("SELECT PASSWORD('<redacted>') AS h")
            .redacted()
            .actor(BATCH_ACTOR, "static_map"),
    )
    .await?;
    bye(batch).await?;

    // app: nobody until `SET @onetrail_actor`, dave until it is unset.
    let mut app = c.connect(w, APP_USER, Some(APP_PW), true, None).await?;
    exec(
        w,
        &mut app,
        sent("app", "SELECT note FROM trust.ledger WHERE id = 1"),
    )
    .await?;
    exec(w, &mut app, sent("app", SET_DAVE).actor("dave", "session")).await?;
    exec(
        w,
        &mut app,
        sent(
            "app",
            "UPDATE trust.ledger SET note = 'by dave' WHERE id = 2",
        )
        .actor("dave", "session"),
    )
    .await?;
    exec(
        w,
        &mut app,
        sent("app", "SELECT id, note FROM trust.ledger").actor("dave", "session"),
    )
    .await?;
    // Another session of the same user meanwhile: not dave.
    let mut app2 = c.connect(w, APP_USER, Some(APP_PW), true, None).await?;
    exec(
        w,
        &mut app2,
        sent("app-other", "SELECT COUNT(*) FROM trust.ledger"),
    )
    .await?;
    exec(w, &mut app, sent("app", UNSET)).await?;
    exec(
        w,
        &mut app,
        sent("app", "SELECT note FROM trust.ledger WHERE id = 2"),
    )
    .await?;
    bye(app2).await?;
    bye(app).await?;

    // root as dave switches auditing off and on again.
    let mut admin = c.connect(w, "root", None, false, Some("dave")).await?;
    exec(
        w,
        &mut admin,
        sent("admin", SET_DAVE).actor("dave", "session"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        sent("admin", AUDIT_OFF)
            .actor("dave", "session")
            .audit_config(),
    )
    .await?;
    admin
        .query_drop(UNAUDITED)
        .await
        .map_err(|e| format!("{UNAUDITED}: {e}"))?;
    exec(
        w,
        &mut admin,
        sent("admin", AUDIT_ON)
            .actor("dave", "session")
            .audit_config(),
    )
    .await?;
    exec(
        w,
        &mut admin,
        sent(
            "admin",
            format!("DROP USER '{BATCH_USER}'@'%', '{APP_USER}'@'%'"),
        )
        .actor("dave", "session"),
    )
    .await?;
    bye(admin).await
}

// ------------------------------------------------------------------ helpers

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn agent_config(audit_log: &Path, work: &Path, sink: &Path) -> String {
    format!(
        r#"data_dir: {state}
sources:
  mariadb:
    type: mysql_audit
    format: mariadb-server-audit
    paths: [{log}]
    instance: {INSTANCE}
    context: {{ environment: test }}
    identity:
      static_map:
        - {{ db_user: {BATCH_USER}, actor: "{BATCH_ACTOR}" }}
sinks:
  out: {{ type: file, path: {sink} }}
"#,
        state = yaml_str(&work.join("state").to_string_lossy()),
        log = yaml_str(&audit_log.to_string_lossy()),
        sink = yaml_str(&sink.to_string_lossy()),
    )
}

fn read_sink(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `(operation, connection id)` of every line of the audit log.
fn raw_lines(audit_log: &Path) -> Vec<(String, String)> {
    fs::read_to_string(audit_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(8, ',').collect();
            (f.len() == 8).then(|| (f[6].to_string(), f[4].to_string()))
        })
        .collect()
}

fn counted(op: &str) -> bool {
    matches!(op, "CONNECT" | "FAILED_CONNECT" | "DISCONNECT" | "QUERY")
}

/// Wait until the server logged every DISCONNECT and the sink holds one
/// event per CONNECT/FAILED_CONNECT/DISCONNECT/QUERY line.
async fn wait_delivered(audit_log: &Path, sink: &Path, agent: &mut Agent) -> Result<(), String> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let raw = raw_lines(audit_log);
        let opened = raw
            .iter()
            .filter(|(op, _)| op == "CONNECT" || op == "FAILED_CONNECT")
            .count();
        let closed = raw.iter().filter(|(op, _)| op == "DISCONNECT").count();
        let want = raw.iter().filter(|(op, _)| counted(op)).count();
        let got = read_sink(sink)
            .iter()
            .filter(|e| e["extra"]["audit_operation"].as_str().is_some_and(counted))
            .count();
        if opened == closed && got >= want {
            return Ok(());
        }
        agent.check_alive()?;
        if Instant::now() > deadline {
            return Err(format!(
                "not delivered within {DELIVERY_TIMEOUT:?}: {want} audit lines \
                 ({opened} logins, {closed} logouts), {got} events\n--- agent stderr ---\n{}",
                tail(&agent.log(), 4000)
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn brief(e: &Value) -> String {
    format!(
        "{{cat:{} action:{} user:{} sess:{} actor:{} context:{} alert:{} stmt:{:?}}}",
        e["category"],
        e["action"],
        e["db_user"],
        e["session"]["id"],
        e["actor"],
        e["context"],
        e["alert"],
        e["statement"].as_str().map(|s| tail(s, 100)),
    )
}

// --------------------------------------------------------------------- test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_trust_identity_alerts_redaction() {
    let db = MariaDb::start().unwrap_or_else(|e| {
        panic!(
            "cannot start a private MariaDB with server_audit (Debian package `mariadb-server`): {e}"
        )
    });
    let work = tempfile::tempdir().unwrap();
    let sink = work.path().join("events.jsonl");
    let config = work.path().join("onetrail.yaml");
    fs::write(&config, agent_config(&db.audit_log, work.path(), &sink)).unwrap();
    let agent_log = work.path().join("agent.stderr");
    let mut agent = Agent::spawn(&mut run_command(&config), &agent_log).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.check_alive().unwrap();

    let mut w = Workload::default();
    workload(&Client { db: &db }, &mut w).await.unwrap();
    wait_delivered(&db.audit_log, &sink, &mut agent)
        .await
        .unwrap();
    let exit = agent.terminate_within(SHUTDOWN_TIMEOUT).unwrap();

    let raw_log = fs::read_to_string(&db.audit_log).unwrap();
    let sink_text = fs::read_to_string(&sink).unwrap();
    let ev = read_sink(&sink);
    let mut problems: Vec<String> = Vec::new();
    let mut check = |ok: bool, msg: String| {
        if !ok {
            problems.push(msg);
        }
    };
    check(exit.success(), format!("agent exit status {exit}"));

    // ---- ground truth: what the server wrote
    check(
        raw_log.contains(r",QUERY,,'SET @onetrail_actor = \'dave\'',0"),
        "server_audit did not log `SET @onetrail_actor = 'dave'` with its value visible \
         (masked?): the session mechanism cannot work on this server\n"
            .to_string()
            + tail(&raw_log, 3000),
    );
    check(
        raw_log.contains(PROBE_PW),
        "server_audit masked SELECT PASSWORD('…'): the redaction check proves less".to_string(),
    );
    check(
        !raw_log.contains("not audited while logging is off"),
        "the statement sent while logging was OFF was logged".to_string(),
    );

    // ---- every statement: exactly one event, attributed as expected
    for s in &w.sent {
        let conn = s.conn.to_string();
        let text = s.delivered.as_deref().unwrap_or(&s.sql);
        let found: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["extra"]["audit_operation"] == "QUERY"
                    && e["session"]["id"] == conn.as_str()
                    && e["statement"] == text
            })
            .collect();
        let what = format!("{} {:?} (conn {conn})", s.label, s.sql);
        if found.len() != 1 {
            check(
                false,
                format!("{what}: want one event, got {}", found.len()),
            );
            continue;
        }
        let e = found[0];
        match s.actor {
            Some((name, via)) => check(
                e["actor"]["name"] == name && e["actor"]["via"] == via,
                format!("{what}: want actor {name} via {via}: {}", brief(e)),
            ),
            None => check(
                e["actor"].is_null(),
                format!("{what}: want no actor: {}", brief(e)),
            ),
        }
        check(
            e["context"]["ticket"].as_str() == s.ticket,
            format!("{what}: want ticket {:?}: {}", s.ticket, brief(e)),
        );
        check(
            e["context"]["environment"] == "test",
            format!("{what}: static context lost: {}", brief(e)),
        );
        if s.audit_config {
            check(
                e["category"] == "audit_config" && e["alert"] == true,
                format!("{what}: want audit_config with alert: {}", brief(e)),
            );
        }
        check(
            (e["redacted"] == true) == s.redacted,
            format!("{what}: want redacted {}: {}", s.redacted, brief(e)),
        );
    }

    // ---- alerts: every audit_config event, and only the two switches
    let audit_config: Vec<&Value> = ev
        .iter()
        .filter(|e| e["category"] == "audit_config")
        .collect();
    check(
        audit_config.len() == 2 && audit_config.iter().all(|e| e["alert"] == true),
        format!(
            "want two audit_config events, both alerts: {:?}",
            audit_config.iter().map(|e| brief(e)).collect::<Vec<_>>()
        ),
    );
    // ... plus the one hole the OFF…ON span left on record.
    let gaps: Vec<&Value> = ev
        .iter()
        .filter(|e| e["action"] == "GAP" && e["extra"]["gap_kind"] == "audit_off")
        .collect();
    check(
        gaps.len() == 1 && gaps[0]["alert"] == true,
        format!("want one audit-off GAP alert: {gaps:?}"),
    );
    let alerts: Vec<String> = ev
        .iter()
        .filter(|e| {
            e["alert"] == true
                && e["category"] != "audit_config"
                && e["extra"]["gap_kind"] != "audit_off"
        })
        .map(brief)
        .collect();
    check(
        alerts.is_empty(),
        format!("alerts on other events: {alerts:?}"),
    );

    // ---- identity never leaks into events it does not belong to
    let named: Vec<String> = ev
        .iter()
        .filter(|e| e["actor"]["name"] == "carol@corp" || !e["context"]["ticket"].is_null())
        .map(brief)
        .collect();
    check(
        named.len() == 1,
        format!("carol@corp / OPS-7 must be on exactly one event: {named:?}"),
    );
    for e in &ev {
        if e["category"] == "agent" {
            continue;
        }
        check(
            e["instance"] == INSTANCE && e["engine"] == "mariadb",
            format!("instance/engine: {}", brief(e)),
        );
        // Logins (and the failed one) of svc_batch are Dana Ops too, of
        // others nobody: a login comes before any SET.
        if e["category"] == "auth" && e["action"] != "LOGOUT" {
            let want: Option<&str> = (e["db_user"] == BATCH_USER).then_some(BATCH_ACTOR);
            check(
                e["actor"]["name"].as_str() == want,
                format!("auth event: want actor {want:?}: {}", brief(e)),
            );
        }
    }
    for (c, want) in &w.conns {
        let conn = c.to_string();
        let out: Vec<&Value> = ev
            .iter()
            .filter(|e| e["action"] == "LOGOUT" && e["session"]["id"] == conn.as_str())
            .collect();
        check(
            out.len() == 1 && out[0]["actor"]["name"].as_str() == *want,
            format!(
                "session {conn}: want one LOGOUT naming {want:?}, got {:?}",
                out.iter().map(|e| brief(e)).collect::<Vec<_>>()
            ),
        );
    }
    check(
        ev.iter()
            .any(|e| e["action"] == "LOGIN FAILED" && e["db_user"] == BATCH_USER),
        "the failed login was not delivered".to_string(),
    );

    // ---- nothing leaked
    for secret in SECRETS {
        check(
            !sink_text.contains(secret),
            format!("password {secret:?} found in the sink file"),
        );
    }
    check(
        !sink_text.contains("not audited while logging is off"),
        "the statement sent while logging was OFF was delivered".to_string(),
    );

    if !problems.is_empty() {
        panic!(
            "{} problems:\n- {}\n--- agent stderr (tail) ---\n{}",
            problems.len(),
            problems.join("\n- "),
            tail(&fs::read_to_string(&agent_log).unwrap_or_default(), 3000)
        );
    }
}
