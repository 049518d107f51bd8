//! End to end against a real MariaDB + `server_audit`: a private server with a
//! small `server_audit_file_rotate_size` (several rotations during the
//! workload) runs a workload driven through `mysql_async` while `onetrail run`
//! tails `server_audit.log*` into a file sink.
//!
//! 1. First agent: schema, users, grants, failed logins, DML, reads; the
//!    workload goes on until a rotation falls *inside* a statement (its TABLE
//!    lines end one file, its QUERY line starts the next). The agent must
//!    deliver all of it while the server is idle. Then a burst, and SIGTERM
//!    at once (work in flight).
//! 2. No agent: a password change, a forced rotation, more statements.
//! 3. Second agent (from the checkpoints): `server_audit_logging=OFF`/`ON`,
//!    REVOKE, RENAME, TRUNCATE, DROP.
//!
//! Then every workload statement, login, failed login and logout is checked
//! field by field against the workload *and* against the raw audit lines the
//! server wrote (the ground truth: all rotated files, read after the run):
//! nothing lost, nothing duplicated, TABLE lines merged into their statement's
//! `objects` (or, across a rotation, delivered as standalone events), no
//! cleartext password of the workload anywhere in the sink file.
//!
//! Needs root (or a user that can run `mariadbd`) and the Debian package
//! `mariadb-server` (it ships `server_audit.so`). When it is missing the test
//! fails with a message naming the package; it never passes silently.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use onetrail_testkit::mariadb::{MariaDb, MariaDbOptions};
use serde_json::Value;

mod common;
use common::{Agent, run_command, tail};

const INSTANCE: &str = "mariadb-test";
/// How long the agent gets to deliver the workload's events.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the agent gets to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// `server_audit_file_rotate_size`: the workload writes ~20 KB of audit lines.
const ROTATE_SIZE: u64 = 3000;
/// `server_audit_file_rotations`: enough that no rotated file is deleted.
const ROTATIONS: u32 = 99;
/// MariaDB's default `server_audit_query_log_limit` (the server runs with it).
const QUERY_LOG_LIMIT: usize = 1024;

// Every secret the workload uses. None may appear in the sink file.
const APP_PW: &str = "Vx9-app-Pa55w0rd";
const APP_PW2: &str = "Qk7-rotated-S3cret";
const AUDITOR_PW: &str = "Zr4-auditor-Hunter2";
const WRONG_PW: &str = "Wrong-Guess-77x";
const NOBODY_PW: &str = "Nb5-nobody-pw";
/// Used in `SELECT PASSWORD('…')`, which server_audit does not mask: only
/// onetrail's redaction keeps it out of the sink.
const PROBE_PW: &str = "Lm3-probe-literal";
const SECRETS: &[&str] = &[APP_PW, APP_PW2, AUDITOR_PW, WRONG_PW, NOBODY_PW, PROBE_PW];

/// Sent while `server_audit_logging=OFF`: must be nowhere.
const UNAUDITED: &str = "SELECT 'onetrail-e2e: not audited while logging is off'";

// ------------------------------------------------------------------ workload

/// One client session of the workload.
#[derive(Debug, Clone)]
struct Sess {
    label: &'static str,
    conn_id: u32,
    user: &'static str,
    /// TCP from 127.0.0.1 (else the Unix socket: host `localhost`).
    tcp: bool,
    /// Default database given at connect time.
    db: Option<&'static str>,
}

/// What onetrail must deliver for one statement.
#[derive(Debug, Clone)]
struct Want {
    category: &'static str,
    action: &'static str,
    /// Delivered text when it differs from what was sent (masked by the
    /// server, redacted by onetrail).
    statement: Option<String>,
    /// (schema, table, TABLE operation) that must be among `objects`.
    objects: Vec<(&'static str, &'static str, &'static str)>,
    /// MySQL errno the statement fails with.
    error: Option<&'static str>,
    truncated: bool,
    redacted: bool,
}

fn want(category: &'static str, action: &'static str) -> Want {
    Want {
        category,
        action,
        statement: None,
        objects: Vec::new(),
        error: None,
        truncated: false,
        redacted: false,
    }
}

impl Want {
    fn obj(mut self, schema: &'static str, name: &'static str, op: &'static str) -> Want {
        self.objects.push((schema, name, op));
        self
    }
    fn err(mut self, code: &'static str) -> Want {
        self.error = Some(code);
        self
    }
    fn text(mut self, s: impl Into<String>) -> Want {
        self.statement = Some(s.into());
        self
    }
    fn truncated(mut self) -> Want {
        self.truncated = true;
        self
    }
    fn redacted(mut self) -> Want {
        self.redacted = true;
        self
    }
}

#[derive(Debug, Clone)]
struct Stmt {
    sess: usize,
    sql: String,
    want: Want,
}

#[derive(Debug, Clone)]
struct FailedLogin {
    user: &'static str,
}

#[derive(Default)]
struct Workload {
    sessions: Vec<Sess>,
    stmts: Vec<Stmt>,
    failed_logins: Vec<FailedLogin>,
}

struct Client<'a> {
    db: &'a MariaDb,
}

impl Client<'_> {
    async fn connect(
        &self,
        w: &mut Workload,
        label: &'static str,
        user: &'static str,
        pass: Option<&str>,
        tcp: bool,
        db: Option<&'static str>,
    ) -> Result<(Conn, usize), String> {
        let conn = self
            .try_connect(user, pass, tcp, db)
            .await
            .map_err(|e| format!("connect {label} ({user}, tcp={tcp}): {e}"))?;
        w.sessions.push(Sess {
            label,
            conn_id: conn.id(),
            user,
            tcp,
            db,
        });
        Ok((conn, w.sessions.len() - 1))
    }

    async fn try_connect(
        &self,
        user: &str,
        pass: Option<&str>,
        tcp: bool,
        db: Option<&str>,
    ) -> Result<Conn, mysql_async::Error> {
        let base = OptsBuilder::default()
            .user(Some(user))
            .pass(pass)
            .db_name(db);
        let opts = if tcp {
            base.ip_or_hostname("127.0.0.1")
                .tcp_port(self.db.port)
                .prefer_socket(false)
        } else {
            base.socket(Some(self.db.socket.to_string_lossy().into_owned()))
        };
        Conn::new(opts).await
    }

    /// A login that must fail with 1045.
    async fn failed_login(
        &self,
        w: &mut Workload,
        user: &'static str,
        pass: &str,
    ) -> Result<(), String> {
        match self.try_connect(user, Some(pass), true, Some("shop")).await {
            Ok(_) => Err(format!("login as {user} with a wrong password succeeded")),
            Err(mysql_async::Error::Server(e)) if e.code == 1045 => {
                w.failed_logins.push(FailedLogin { user });
                Ok(())
            }
            Err(e) => Err(format!("login as {user}: want error 1045, got {e}")),
        }
    }
}

async fn exec(
    w: &mut Workload,
    conn: &mut Conn,
    sess: usize,
    sql: impl Into<String>,
    want: Want,
) -> Result<(), String> {
    let sql = sql.into();
    let res = conn.query_drop(sql.as_str()).await;
    match (&res, want.error) {
        (Ok(()), None) => {}
        (Err(mysql_async::Error::Server(e)), Some(code)) if e.code.to_string() == code => {}
        _ => {
            return Err(format!(
                "{sql:?} as {}: want error {:?}, got {res:?}",
                w.sessions[sess].label, want.error
            ));
        }
    }
    w.stmts.push(Stmt { sess, sql, want });
    Ok(())
}

async fn bye(conn: Conn) -> Result<(), String> {
    conn.disconnect().await.map_err(|e| e.to_string())
}

/// Phase 1, agent running: schema, users, grants, failed logins, DML, reads.
async fn phase1(c: &Client<'_>, w: &mut Workload) -> Result<(), String> {
    let (mut admin, a) = c.connect(w, "admin", "root", None, false, None).await?;
    exec(
        w,
        &mut admin,
        a,
        "CREATE DATABASE shop",
        want("ddl", "CREATE DATABASE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "CREATE TABLE shop.cards (\n  id INT PRIMARY KEY,\n  holder VARCHAR(100) NOT NULL,\n  pan CHAR(16) NOT NULL\n) DEFAULT CHARSET=utf8mb4",
        want("ddl", "CREATE TABLE").obj("shop", "cards", "CREATE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "CREATE TABLE shop.orders (\n\tid INT PRIMARY KEY,\n\tnote VARCHAR(200)\n) DEFAULT CHARSET=utf8mb4",
        want("ddl", "CREATE TABLE").obj("shop", "orders", "CREATE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "INSERT INTO shop.cards VALUES (1, 'Zoë Ångström', '4111111111111111')",
        want("dml", "INSERT").obj("shop", "cards", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        format!("CREATE USER 'app'@'%' IDENTIFIED BY '{APP_PW}'"),
        want("dcl", "CREATE USER")
            .text("CREATE USER 'app'@'%' IDENTIFIED BY *****")
            .obj("mysql", "global_priv", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        format!("CREATE USER 'auditor'@'%' IDENTIFIED BY '{AUDITOR_PW}'"),
        want("dcl", "CREATE USER")
            .text("CREATE USER 'auditor'@'%' IDENTIFIED BY *****")
            .obj("mysql", "global_priv", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "GRANT SELECT, INSERT, UPDATE, DELETE ON shop.orders TO 'app'@'%'",
        want("dcl", "GRANT").obj("mysql", "tables_priv", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "GRANT SELECT ON shop.cards TO 'auditor'@'%'",
        want("dcl", "GRANT").obj("mysql", "tables_priv", "WRITE"),
    )
    .await?;

    c.failed_login(w, "app", WRONG_PW).await?;
    c.failed_login(w, "nobody", NOBODY_PW).await?;

    let (mut app, p) = c
        .connect(w, "app", "app", Some(APP_PW), true, Some("shop"))
        .await?;
    exec(
        w,
        &mut app,
        p,
        r#"INSERT INTO orders (id, note) VALUES (1, 'Crème brûlée — 日本語 🍮'), (2, 'it''s "quoted" and back\\slash')"#,
        want("dml", "INSERT").obj("shop", "orders", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut app,
        p,
        "/* app=billing, owner='ops' */ SELECT id,\n\tnote\n  FROM orders\n WHERE note LIKE '%é%'",
        want("read", "SELECT").obj("shop", "orders", "READ"),
    )
    .await?;
    exec(
        w,
        &mut app,
        p,
        "UPDATE orders SET note = CONCAT(note, ' (paid)') WHERE id = 1",
        want("dml", "UPDATE").obj("shop", "orders", "WRITE"),
    )
    .await?;
    for i in 3..=22 {
        exec(
            w,
            &mut app,
            p,
            format!(
                r"INSERT INTO orders (id, note) VALUES ({i}, 'row {i}: ''quoted'', \\ back, ✓')"
            ),
            want("dml", "INSERT").obj("shop", "orders", "WRITE"),
        )
        .await?;
    }
    // Go on until a rotation falls between a statement's TABLE lines and its
    // QUERY line (the server checks the size before each line it writes).
    let mut i = 100;
    while split_statements(&read_raw(c.db.dir())?) == 0 {
        if i > 400 {
            return Err("no statement was split across a rotation after 300 INSERTs".into());
        }
        exec(
            w,
            &mut app,
            p,
            format!("INSERT INTO orders (id, note) VALUES ({i}, 'until split')"),
            want("dml", "INSERT").obj("shop", "orders", "WRITE"),
        )
        .await?;
        i += 1;
    }
    exec(
        w,
        &mut app,
        p,
        "SELECT * FROM cards",
        want("read", "SELECT").err("1142"),
    )
    .await?;
    exec(
        w,
        &mut app,
        p,
        "DELETE FROM orders WHERE id = 3",
        want("dml", "DELETE").obj("shop", "orders", "WRITE"),
    )
    .await?;

    let (mut aud, q) = c
        .connect(w, "auditor", "auditor", Some(AUDITOR_PW), true, None)
        .await?;
    exec(
        w,
        &mut aud,
        q,
        "SELECT holder, pan FROM shop.cards WHERE id = 1",
        want("read", "SELECT").obj("shop", "cards", "READ"),
    )
    .await?;

    bye(aud).await?;
    bye(app).await?;
    bye(admin).await
}

/// Phase 1b: a burst of statements right before the agent is stopped.
async fn phase1b(c: &Client<'_>, w: &mut Workload) -> Result<(), String> {
    let (mut app, p) = c
        .connect(w, "app-burst", "app", Some(APP_PW), true, Some("shop"))
        .await?;
    for i in 500..520 {
        exec(
            w,
            &mut app,
            p,
            format!(
                "UPDATE orders SET note = 'burst {i}' WHERE id = {}",
                i - 400
            ),
            want("dml", "UPDATE").obj("shop", "orders", "WRITE"),
        )
        .await?;
    }
    bye(app).await
}

/// Phase 2, agent stopped: password change, a forced rotation, more DML, an
/// unmasked secret, a statement over the query log limit, DDL.
async fn phase2(c: &Client<'_>, w: &mut Workload) -> Result<(), String> {
    let (mut admin, a) = c.connect(w, "admin2", "root", None, false, None).await?;
    exec(
        w,
        &mut admin,
        a,
        format!("ALTER USER 'app'@'%' IDENTIFIED BY '{APP_PW2}'"),
        want("dcl", "ALTER USER").text("ALTER USER 'app'@'%' IDENTIFIED BY *****"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "SET GLOBAL server_audit_file_rotate_now=ON",
        want("audit_config", "SET"),
    )
    .await?;

    let (mut app, p) = c
        .connect(w, "app2", "app", Some(APP_PW2), true, Some("shop"))
        .await?;
    for i in 23..=30 {
        exec(
            w,
            &mut app,
            p,
            format!("INSERT INTO orders (id, note) VALUES ({i}, 'after restart {i}')"),
            want("dml", "INSERT").obj("shop", "orders", "WRITE"),
        )
        .await?;
    }
    exec(
        w,
        &mut app,
        p,
        "SELECT COUNT(*) AS n FROM orders",
        want("read", "SELECT").obj("shop", "orders", "READ"),
    )
    .await?;
    bye(app).await?;

    exec(
        w,
        &mut admin,
        a,
        format!("SELECT PASSWORD('{PROBE_PW}') AS h"),
        want("read", "SELECT")
            .text("SELECT PASSWORD('<redacted>') AS h")
            .redacted(),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        long_statement(),
        want("read", "SELECT").truncated(),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "ALTER TABLE shop.orders ADD COLUMN created DATETIME NULL",
        want("ddl", "ALTER TABLE").obj("shop", "orders", "ALTER"),
    )
    .await?;
    bye(admin).await
}

/// Phase 3, second agent running: audit logging OFF/ON, REVOKE, RENAME,
/// TRUNCATE, DROP.
async fn phase3(c: &Client<'_>, w: &mut Workload) -> Result<(), String> {
    let (mut admin, a) = c.connect(w, "admin3", "root", None, false, None).await?;
    exec(
        w,
        &mut admin,
        a,
        "SET GLOBAL server_audit_logging=OFF",
        want("audit_config", "SET"),
    )
    .await?;
    admin
        .query_drop(UNAUDITED)
        .await
        .map_err(|e| format!("{UNAUDITED}: {e}"))?;
    exec(
        w,
        &mut admin,
        a,
        "SET GLOBAL server_audit_logging=ON",
        want("audit_config", "SET"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "REVOKE DELETE ON shop.orders FROM 'app'@'%'",
        want("dcl", "REVOKE").obj("mysql", "tables_priv", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "RENAME TABLE shop.orders TO shop.orders_archive",
        want("ddl", "RENAME TABLE")
            .obj("shop", "orders", "RENAME")
            .obj("shop", "orders_archive", "RENAME"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "TRUNCATE TABLE shop.orders_archive",
        want("dml", "TRUNCATE").obj("shop", "orders_archive", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "DROP USER 'app'@'%', 'auditor'@'%'",
        want("dcl", "DROP USER").obj("mysql", "global_priv", "WRITE"),
    )
    .await?;
    exec(
        w,
        &mut admin,
        a,
        "DROP DATABASE shop",
        want("ddl", "DROP DATABASE")
            .obj("shop", "orders_archive", "DROP")
            .obj("shop", "cards", "DROP"),
    )
    .await?;
    bye(admin).await
}

fn long_statement() -> String {
    format!("SELECT '{}' AS long_literal", "0123456789".repeat(150))
}

// --------------------------------------------------------------- raw audit

/// One line of the server's audit files, split the simple way (no field of
/// this workload contains a comma before the object).
#[derive(Debug, Clone)]
struct RawLine {
    file: String,
    ts: String,
    user: String,
    host: String,
    conn: u64,
    qid: u64,
    op: String,
    db: String,
    object: String,
    retcode: String,
}

fn parse_raw(file: &str, line: &str) -> Option<RawLine> {
    let mut it = line.splitn(9, ',');
    let ts = it.next()?.to_string();
    let _server = it.next()?;
    let user = it.next()?.to_string();
    let host = it.next()?.to_string();
    let conn = it.next()?.parse().ok()?;
    let qid = it.next()?.parse().ok()?;
    let op = it.next()?.to_string();
    let db = it.next()?.to_string();
    let (object, retcode) = it.next()?.rsplit_once(',')?;
    Some(RawLine {
        file: file.to_string(),
        ts,
        user,
        host,
        conn,
        qid,
        op,
        db,
        object: object.to_string(),
        retcode: retcode.to_string(),
    })
}

/// server_audit's escaping of QUERY text (`escape_string`).
fn audit_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\'' => o.push_str("\\'"),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            c => o.push(c),
        }
    }
    o
}

/// `YYYYMMDD HH:MM:SS` → the event's `time` (read as UTC, microseconds).
fn raw_ts_to_rfc3339(ts: &str) -> Option<String> {
    let b = ts.as_bytes();
    if b.len() != 17 || b[8] != b' ' {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}.000000Z",
        &ts[0..4],
        &ts[4..6],
        &ts[6..8],
        &ts[9..17]
    ))
}

/// All audit files of the instance, oldest first (`.NN` highest = oldest).
fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter_map(|p| {
                    let name = p.file_name()?.to_str()?.to_string();
                    let rest = name.strip_prefix("server_audit.log")?;
                    let n = if rest.is_empty() {
                        0
                    } else {
                        rest.strip_prefix('.')?.parse().ok()?
                    };
                    Some((n, p))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    v.into_iter().map(|(_, p)| p).collect()
}

/// All lines of all audit files. A rotation renames every file; when one
/// disappears between listing and reading, read everything again.
fn read_raw(dir: &Path) -> Result<Vec<RawLine>, String> {
    let mut attempt = 0;
    loop {
        match read_raw_once(dir) {
            Err(e) if e.contains("No such file") && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

fn read_raw_once(dir: &Path) -> Result<Vec<RawLine>, String> {
    let mut out = Vec::new();
    for p in audit_files(dir) {
        let bytes = fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // Complete lines only: the server may be writing the last one.
        for line in bytes
            .split_inclusive(|c| *c == b'\n')
            .filter(|l| l.ends_with(b"\n"))
        {
            let line =
                std::str::from_utf8(&line[..line.len() - 1]).map_err(|e| format!("{name}: {e}"))?;
            out.push(
                parse_raw(&name, line)
                    .ok_or_else(|| format!("{name}: not a server_audit line: {line:?}"))?,
            );
        }
    }
    Ok(out)
}

/// A rotation between `a` (last line of a file) and `b` (first of the next)
/// splits a statement: TABLE lines (no retcode) in one file, the rest of the
/// statement in the next.
fn splits_statement(a: &RawLine, b: &RawLine) -> bool {
    a.file != b.file && a.retcode.is_empty() && a.conn == b.conn && a.qid == b.qid
}

fn split_statements(raw: &[RawLine]) -> usize {
    raw.windows(2)
        .filter(|w| splits_statement(&w[0], &w[1]))
        .count()
}

/// Where the rotations fell, and which statements they split.
fn rotation_summary(raw: &[RawLine]) -> String {
    let mut out = String::from("rotation boundaries:");
    let mut split = 0;
    for pair in raw.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.file == b.file {
            continue;
        }
        let is_split = splits_statement(a, b);
        split += usize::from(is_split);
        out.push_str(&format!(
            "\n  {} ends {} {}/{}; {} starts {} {}/{}{}",
            a.file,
            a.op,
            a.conn,
            a.qid,
            b.file,
            b.op,
            b.conn,
            b.qid,
            if is_split { "  <- statement split" } else { "" }
        ));
    }
    out.push_str(&format!("\n  statements split across files: {split}"));
    out
}

/// `TABLE` operations of server_audit.
fn is_table_op(op: &str) -> bool {
    matches!(
        op,
        "READ" | "WRITE" | "CREATE" | "ALTER" | "DROP" | "RENAME"
    )
}

/// The tables a TABLE line names (`old|newdb.new` for RENAME).
fn table_names(r: &RawLine) -> Vec<(&str, &str)> {
    match r.object.split_once('|') {
        Some((old, new)) => {
            let (ns, nn) = new.split_once('.').unwrap_or((&r.db, new));
            vec![(r.db.as_str(), old), (ns, nn)]
        }
        None => vec![(r.db.as_str(), r.object.as_str())],
    }
}

/// Does `e` carry table `schema.name` with TABLE operation `op`?
fn has_object(e: &Value, schema: &str, name: &str, op: &str) -> bool {
    let objs = e["objects"].as_array().cloned().unwrap_or_default();
    let ops = e["extra"]["table_ops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    objs.iter().zip(ops.iter()).any(|(o, o_op)| {
        o["type"] == "table" && o["schema"] == schema && o["name"] == name && o_op == op
    })
}

/// Every TABLE line must be delivered: merged into the `objects` of its
/// statement's QUERY event when both are in the same file, else (a rotation
/// fell between them; the files are parsed separately) as a standalone event
/// of the same session and statement id. Returns what is missing.
fn table_lines_missing(raw: &[RawLine], ev: &[&Value]) -> Vec<String> {
    let query_file: HashMap<(u64, u64), &str> = raw
        .iter()
        .filter(|r| r.op == "QUERY")
        .map(|r| ((r.conn, r.qid), r.file.as_str()))
        .collect();
    let mut missing = Vec::new();
    for r in raw.iter().filter(|r| is_table_op(&r.op)) {
        let (conn, qid) = (r.conn.to_string(), r.qid as i64);
        let same_statement = |e: &&&Value| {
            e["session"]["id"] == conn.as_str() && e["session"]["statement_id"] == qid
        };
        let split = query_file.get(&(r.conn, r.qid)) != Some(&r.file.as_str());
        let carriers: Vec<&&Value> = ev
            .iter()
            .filter(same_statement)
            .filter(|e| {
                if split {
                    op_of(e) == Some(r.op.as_str()) && e["action"] == r.op.as_str()
                } else {
                    op_of(e) == Some("QUERY")
                }
            })
            .collect();
        for (schema, name) in table_names(r) {
            if !carriers.iter().any(|e| has_object(e, schema, name, &r.op)) {
                missing.push(format!(
                    "TABLE line {} {schema}.{name} ({}, conn {} query {}, {}) not delivered {}; events of the statement: {:?}",
                    r.op,
                    r.file,
                    r.conn,
                    r.qid,
                    if split { "QUERY line in another file" } else { "QUERY line in the same file" },
                    if split { "as a standalone event" } else { "in the QUERY event's objects" },
                    ev.iter().filter(same_statement).map(|e| brief(e)).collect::<Vec<_>>()
                ));
            }
        }
    }
    missing
}

// ------------------------------------------------------------------- agent

fn agent_config(log_dir: &Path, work: &Path, sink: &Path) -> String {
    format!(
        "data_dir: {state}\n\
         sources:\n  mariadb:\n    type: mysql_audit\n    format: mariadb-server-audit\n    \
         paths: [{glob}]\n    instance: {INSTANCE}\n    context: {{ environment: test }}\n\
         sinks:\n  out: {{ type: file, path: {sink} }}\n",
        state = yaml_str(&work.join("state").to_string_lossy()),
        glob = yaml_str(&log_dir.join("server_audit.log*").to_string_lossy()),
        sink = yaml_str(&sink.to_string_lossy()),
    )
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Wait until the server has logged a DISCONNECT for every session (the
/// files are then final), then until the agent has delivered one event per
/// non-TABLE audit line and every TABLE line. Returns the audit lines.
async fn wait_delivered(
    log_dir: &Path,
    sink: &Path,
    agent: &mut Agent,
) -> Result<Vec<RawLine>, String> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    let raw = loop {
        let raw = read_raw(log_dir)?;
        let opened = raw
            .iter()
            .filter(|r| r.op == "CONNECT" || r.op == "FAILED_CONNECT")
            .count();
        let closed = raw.iter().filter(|r| r.op == "DISCONNECT").count();
        if opened == closed {
            break raw;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not log every DISCONNECT within {DELIVERY_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let want_counts = raw_op_counts(&raw);
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let (events, _) = read_sink(sink);
        let evs = distinct(&events);
        let got = event_op_counts(&evs);
        let missing = table_lines_missing(&raw, &evs);
        if missing.is_empty()
            && want_counts
                .iter()
                .all(|(op, n)| got.get(op).copied().unwrap_or(0) >= *n)
        {
            return Ok(raw);
        }
        agent.check_alive()?;
        if Instant::now() > deadline {
            let stderr = agent.log();
            let _ = agent.terminate_within(SHUTDOWN_TIMEOUT);
            return Err(format!(
                "the agent did not deliver the workload's events within {DELIVERY_TIMEOUT:?}: \
                 audit lines per operation {want_counts:?}, events {got:?}; TABLE lines missing: \
                 {missing:#?}\n{}\n--- agent stderr ---\n{}",
                rotation_summary(&raw),
                tail(&stderr, 4000)
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sink lines as JSON (with their line number), and lines that are not JSON objects.
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

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

fn op_of(e: &Value) -> Option<&str> {
    s(&e["extra"]["audit_operation"])
}

/// Distinct events by id (first occurrence wins).
fn distinct(events: &[Value]) -> Vec<&Value> {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| seen.insert(e["id"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Raw lines per operation, for the non-TABLE operations (one event each).
fn raw_op_counts(raw: &[RawLine]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in raw {
        if matches!(
            r.op.as_str(),
            "CONNECT" | "FAILED_CONNECT" | "DISCONNECT" | "QUERY"
        ) {
            *m.entry(r.op.clone()).or_insert(0) += 1;
        }
    }
    m
}

fn event_op_counts(events: &[&Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        if let Some(op) = op_of(e)
            && matches!(op, "CONNECT" | "FAILED_CONNECT" | "DISCONNECT" | "QUERY")
        {
            *m.entry(op.to_string()).or_insert(0) += 1;
        }
    }
    m
}

fn brief(e: &Value) -> String {
    format!(
        "{{id:{} op:{} cat:{} action:{} user:{} db:{} sess:{}/{} outcome:{} error:{} objects:{} stmt:{:?} path:{}@{}}}",
        e["id"],
        e["extra"]["audit_operation"],
        e["category"],
        e["action"],
        e["db_user"],
        e["database"],
        e["session"]["id"],
        e["session"]["statement_id"],
        e["outcome"],
        e["error"],
        e["objects"],
        e["statement"].as_str().map(|s| tail(s, 80)),
        e["source"]["path"],
        e["source"]["offset"],
    )
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
}

// -------------------------------------------------------------------- test

#[test]
fn audit_escape_and_raw_lines() {
    assert_eq!(audit_escape("a'b\\c\nd\te"), r"a\'b\\c\nd\te");
    let r = parse_raw(
        "f",
        r"20240501 12:00:00,db1,app,127.0.0.1,12,19,QUERY,shop,'SELECT 1, \'a,b\'',0",
    )
    .unwrap();
    assert_eq!((r.conn, r.qid, r.op.as_str()), (12, 19, "QUERY"));
    assert_eq!(r.object, r"'SELECT 1, \'a,b\''");
    assert_eq!(r.retcode, "0");
    let r = parse_raw(
        "f",
        "20240501 12:00:00,db1,root,localhost,5,7,WRITE,shop,orders,",
    )
    .unwrap();
    assert_eq!((r.object.as_str(), r.retcode.as_str()), ("orders", ""));
    let r = parse_raw(
        "f",
        "20240501 12:00:00,db1,app,127.0.0.1,8,0,DISCONNECT,shop,,0",
    )
    .unwrap();
    assert_eq!((r.db.as_str(), r.object.as_str()), ("shop", ""));
    assert_eq!(
        raw_ts_to_rfc3339("20240501 12:00:07").as_deref(),
        Some("2024-05-01T12:00:07.000000Z")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_e2e_rotation_restart_field_by_field() {
    let opts = MariaDbOptions {
        rotate_size: ROTATE_SIZE,
        extra_args: vec![format!("--server-audit-file-rotations={ROTATIONS}")],
        ..MariaDbOptions::default()
    };
    let db = MariaDb::start_with(&opts).unwrap_or_else(|e| {
        panic!(
            "cannot start a private MariaDB with server_audit (Debian package `mariadb-server`): {e}"
        )
    });
    let log_dir = db.dir().to_path_buf();
    let work = tempfile::tempdir().unwrap();
    let sink = work.path().join("events.jsonl");
    let config = work.path().join("onetrail.yaml");
    fs::write(&config, agent_config(&log_dir, work.path(), &sink)).unwrap();
    let agent_log = work.path().join("agent.stderr");
    let agent_stderr = || fs::read_to_string(&agent_log).unwrap_or_default();

    // -- phase 1 with the first agent, which must deliver all of it (also
    // the TABLE lines a rotation separated from their statement) while the
    // server is idle: no later rotation or restart may help it along
    let mut agent = Agent::spawn_appending(&mut run_command(&config), &agent_log).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.check_alive().unwrap();
    let client = Client { db: &db };
    let mut w = Workload::default();
    phase1(&client, &mut w).await.unwrap();
    wait_delivered(&log_dir, &sink, &mut agent)
        .await
        .unwrap_or_else(|e| panic!("after phase 1: {e}"));
    // a burst, then SIGTERM at once: the agent stops with work in flight
    phase1b(&client, &mut w).await.unwrap();
    let exit1 = agent.terminate_within(SHUTDOWN_TIMEOUT).unwrap();
    let run1_lines = read_sink(&sink).0.len();
    let files_before_phase2 = audit_files(&log_dir).len();

    // -- phase 2 while no agent runs (includes a forced rotation)
    phase2(&client, &mut w).await.unwrap();
    let files_after_phase2 = audit_files(&log_dir).len();

    // -- phase 3 with the second agent
    let mut agent = Agent::spawn_appending(&mut run_command(&config), &agent_log).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.check_alive().unwrap();
    phase3(&client, &mut w).await.unwrap();
    let raw = wait_delivered(&log_dir, &sink, &mut agent)
        .await
        .unwrap_or_else(|e| panic!("after phase 3: {e}"));
    eprintln!("{}", rotation_summary(&raw));
    let exit2 = agent.terminate_within(SHUTDOWN_TIMEOUT).unwrap();

    let (all, bad_lines) = read_sink(&sink);
    let sink_text = fs::read_to_string(&sink).unwrap();
    let ev = distinct(&all);
    let mut p = Problems::default();

    // ---- the run itself
    p.check(exit1.success() && exit2.success(), || {
        format!("onetrail exited with {exit1} / {exit2} after SIGTERM, want 0")
    });
    p.check(bad_lines.is_empty(), || {
        format!("sink lines that are not JSON objects: {bad_lines:?}")
    });
    let files = audit_files(&log_dir);
    p.check(files.len() >= 4, || {
        format!(
            "only {} audit files: want at least 3 rotations during the workload",
            files.len()
        )
    });
    p.check((files.len() as u32) < ROTATIONS, || {
        "rotated files were deleted (server_audit_file_rotations too small)".to_string()
    });
    p.check(split_statements(&raw) > 0, || {
        "no rotation fell inside a statement (TABLE lines and QUERY line in different files)"
            .to_string()
    });
    p.check(files_after_phase2 > files_before_phase2, || {
        format!(
            "no rotation while the agent was down ({files_before_phase2} → {files_after_phase2} files)"
        )
    });

    // ---- ground truth sanity: what the server wrote
    p.check(
        !raw.iter().any(|r| r.object.contains("not audited")),
        || format!("{UNAUDITED:?} was written although server_audit_logging=OFF"),
    );
    p.check(raw.iter().any(|r| r.object.contains(PROBE_PW)), || {
        "server_audit masked SELECT PASSWORD('…'): the redaction check below proves nothing"
            .to_string()
    });

    // ---- duplicates: none within one agent run; across the restart only the same event again
    for (label, part) in [
        ("first", &all[..run1_lines]),
        ("second", &all[run1_lines..]),
    ] {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for e in part {
            *seen.entry(s(&e["id"]).unwrap_or_default()).or_insert(0) += 1;
        }
        let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        p.check(dups.is_empty(), || {
            format!("the {label} agent run delivered ids more than once: {dups:?}")
        });
    }
    let first: HashMap<&str, &Value> = all[..run1_lines]
        .iter()
        .map(|e| (s(&e["id"]).unwrap_or_default(), e))
        .collect();
    for e in &all[run1_lines..] {
        if let Some(prev) = first.get(s(&e["id"]).unwrap_or_default()) {
            let strip = |v: &Value| {
                let mut v = v.clone();
                v["source"]["path"] = Value::Null;
                v
            };
            p.check(strip(prev) == strip(e), || {
                format!(
                    "id {} re-delivered after the restart with different content:\n{}\n{}",
                    e["id"],
                    brief(prev),
                    brief(e)
                )
            });
        }
    }

    // ---- every event: contract, identity, source
    let log_dir_s = log_dir.to_string_lossy().into_owned();
    for e in &ev {
        if e["category"] == "agent" {
            continue;
        }
        p.check(
            e["category"] != "unparsed" && e["category"] != "other",
            || {
                format!(
                    "unexpected {} event: raw={} error={}",
                    e["category"], e["raw"], e["parse_error"]
                )
            },
        );
        p.check(e["engine"] == "mariadb", || format!("engine: {}", brief(e)));
        p.check(e["instance"] == INSTANCE, || {
            format!("instance: {}", brief(e))
        });
        p.check(e["context"]["environment"] == "test", || {
            format!("context: {}", e["context"])
        });
        p.check(e["source"]["format"] == "mariadb-server-audit", || {
            format!("source.format: {}", e["source"])
        });
        p.check(
            s(&e["source"]["path"]).is_some_and(|x| x.starts_with(&log_dir_s)),
            || format!("source.path {} not under {log_dir_s}", e["source"]["path"]),
        );
        p.check(e["extra"]["time_zone_assumed"] == "UTC", || {
            format!("time_zone_assumed: {}", brief(e))
        });
    }
    let agent_actions: Vec<&str> = ev
        .iter()
        .filter(|e| e["category"] == "agent")
        .filter_map(|e| s(&e["action"]))
        .collect();
    for a in ["START", "STOP"] {
        p.check(
            agent_actions.iter().filter(|x| **x == a).count() == 2,
            || format!("want two agent {a} events (one per run), got {agent_actions:?}"),
        );
    }
    // The only hole: phase 3's `server_audit_logging=OFF`…`ON` (nothing was
    // lost in transport).
    let gaps: Vec<&&Value> = ev
        .iter()
        .filter(|e| e["category"] == "agent" && e["action"] == "GAP")
        .collect();
    p.check(
        gaps.len() == 1
            && gaps[0]["extra"]["gap_kind"] == "audit_off"
            && gaps[0]["alert"] == true
            && gaps[0]["extra"]["skipped_query_ids"].as_i64() >= Some(1),
        || format!("want one audit-off GAP, got {gaps:?}"),
    );

    // ---- nothing lost, nothing duplicated: one event per non-TABLE audit line
    let want_counts = raw_op_counts(&raw);
    let got_counts = event_op_counts(&ev);
    p.check(got_counts == want_counts, || {
        format!("audit lines per operation {want_counts:?}, delivered events {got_counts:?}")
    });

    // ---- no secret anywhere
    for secret in SECRETS {
        p.check(!sink_text.contains(secret), || {
            format!("cleartext password {secret:?} found in the sink file")
        });
    }
    p.check(
        !sink_text.contains("not audited while logging is off"),
        || "the statement sent while logging was OFF was delivered".to_string(),
    );

    // ---- every TABLE line: in the objects of its statement's QUERY event, or,
    // when a rotation separated them, a standalone event of its own
    for m in table_lines_missing(&raw, &ev) {
        p.check(false, || m);
    }

    // ---- logins and logouts of every workload session
    for ses in &w.sessions {
        let conn = ses.conn_id.to_string();
        let connect = raw
            .iter()
            .find(|r| r.op == "CONNECT" && r.conn == u64::from(ses.conn_id));
        let want_host = if ses.tcp { "127.0.0.1" } else { "localhost" };
        p.check(connect.is_some_and(|r| r.host == want_host), || {
            format!(
                "session {} ({conn}): want a CONNECT line from {want_host}, got {connect:?}",
                ses.label
            )
        });
        for (action, op) in [("LOGIN", "CONNECT"), ("LOGOUT", "DISCONNECT")] {
            let found: Vec<&&Value> = ev
                .iter()
                .filter(|e| e["session"]["id"] == conn.as_str() && op_of(e) == Some(op))
                .collect();
            p.check(found.len() == 1, || {
                format!(
                    "session {} ({conn}): want one {op} event, got {:?}",
                    ses.label,
                    found.iter().map(|e| brief(e)).collect::<Vec<_>>()
                )
            });
            for e in found {
                p.check(
                    e["category"] == "auth"
                        && e["action"] == action
                        && e["outcome"] == "success"
                        && e["db_user"] == ses.user
                        && e["session"]["statement_id"].is_null(),
                    || format!("session {} {action}: {}", ses.label, brief(e)),
                );
                check_client(&mut p, ses, e);
                if action == "LOGIN" {
                    p.check(e["database"].as_str() == ses.db, || {
                        format!(
                            "session {} LOGIN database, want {:?}: {}",
                            ses.label,
                            ses.db,
                            brief(e)
                        )
                    });
                }
            }
        }
    }

    // ---- failed logins
    let failed_raw: Vec<&RawLine> = raw.iter().filter(|r| r.op == "FAILED_CONNECT").collect();
    p.check(failed_raw.len() == w.failed_logins.len(), || {
        format!(
            "the server wrote {} FAILED_CONNECT lines for {} failed logins",
            failed_raw.len(),
            w.failed_logins.len()
        )
    });
    for f in &w.failed_logins {
        let found: Vec<&&Value> = ev
            .iter()
            .filter(|e| e["action"] == "LOGIN FAILED" && e["db_user"] == f.user)
            .collect();
        p.check(found.len() == 1, || {
            format!(
                "failed login of {}: want one LOGIN FAILED event, got {:?}",
                f.user,
                found.iter().map(|e| brief(e)).collect::<Vec<_>>()
            )
        });
        for e in found {
            p.check(
                e["category"] == "auth"
                    && e["outcome"] == "failure"
                    && e["error"]["code"] == "1045"
                    && e["client"]["ip"] == "127.0.0.1"
                    && op_of(e) == Some("FAILED_CONNECT"),
                || format!("failed login of {}: {}", f.user, brief(e)),
            );
            let conn_raw = failed_raw
                .iter()
                .find(|r| r.user == f.user)
                .map(|r| r.conn.to_string());
            p.check(s(&e["session"]["id"]) == conn_raw.as_deref(), || {
                format!(
                    "failed login of {}: session.id, raw {conn_raw:?}: {}",
                    f.user,
                    brief(e)
                )
            });
        }
    }

    // ---- every workload statement, exactly once, field by field
    for st in &w.stmts {
        let ses = &w.sessions[st.sess];
        let conn = ses.conn_id.to_string();
        let sql_sent = st.sql.as_str();
        let delivered_text = st.want.statement.clone().unwrap_or_else(|| st.sql.clone());
        // What the server wrote for it.
        let raw_hits: Vec<&RawLine> = raw
            .iter()
            .filter(|r| r.op == "QUERY" && r.conn == u64::from(ses.conn_id))
            .filter(|r| {
                if st.want.truncated {
                    let prefix = format!("'{}", audit_escape(&sql_sent[..40]));
                    r.object.starts_with(&prefix)
                } else {
                    let server_text = st
                        .want
                        .statement
                        .as_deref()
                        .filter(|_| !st.want.redacted)
                        .unwrap_or(sql_sent);
                    r.object == format!("'{}'", audit_escape(server_text))
                }
            })
            .collect();
        let what = || format!("{sql_sent:?} ({} {conn})", ses.label);
        if raw_hits.len() != 1 {
            p.check(false, || {
                format!(
                    "{}: want one QUERY line in the audit files, found {}",
                    what(),
                    raw_hits.len()
                )
            });
            continue;
        }
        let r = raw_hits[0];
        let matching: Vec<&&Value> = ev
            .iter()
            .filter(|e| op_of(e) == Some("QUERY") && e["session"]["id"] == conn.as_str())
            .filter(|e| {
                let got = s(&e["statement"]).unwrap_or_default();
                if st.want.truncated {
                    got.len() >= 40 && sql_sent.starts_with(got)
                } else {
                    got == delivered_text
                }
            })
            .collect();
        if matching.len() != 1 {
            let near: Vec<String> = ev
                .iter()
                .filter(|e| {
                    e["session"]["id"] == conn.as_str()
                        && e["session"]["statement_id"] == r.qid as i64
                })
                .map(|e| brief(e))
                .collect();
            p.check(false, || {
                format!(
                    "{}: want exactly one event, got {}; same statement id: {near:?}",
                    what(),
                    matching.len()
                )
            });
            continue;
        }
        let e = matching[0];
        let w8 = &st.want;
        p.check(
            e["category"] == w8.category && e["action"] == w8.action,
            || {
                format!(
                    "{}: want {}/{}: {}",
                    what(),
                    w8.category,
                    w8.action,
                    brief(e)
                )
            },
        );
        p.check(e["db_user"] == ses.user, || {
            format!("{}: db_user: {}", what(), brief(e))
        });
        let raw_db = (!r.db.is_empty()).then_some(r.db.as_str());
        p.check(e["database"].as_str() == raw_db, || {
            format!("{}: database, raw {raw_db:?}: {}", what(), brief(e))
        });
        if let Some(d) = ses.db {
            p.check(e["database"] == d, || {
                format!("{}: database, want {d}: {}", what(), brief(e))
            });
        }
        p.check(e["session"]["statement_id"] == r.qid as i64, || {
            format!("{}: statement_id, raw {}: {}", what(), r.qid, brief(e))
        });
        p.check(s(&e["time"]) == raw_ts_to_rfc3339(&r.ts).as_deref(), || {
            format!("{}: time {} for raw {:?}", what(), e["time"], r.ts)
        });
        check_client(&mut p, ses, e);
        match w8.error {
            None => p.check(
                e["outcome"] == "success" && e["error"].is_null() && r.retcode == "0",
                || {
                    format!(
                        "{}: want success (raw retcode {}): {}",
                        what(),
                        r.retcode,
                        brief(e)
                    )
                },
            ),
            Some(code) => p.check(
                e["outcome"] == "failure" && e["error"]["code"] == code && r.retcode == code,
                || {
                    format!(
                        "{}: want failure {code} (raw {}): {}",
                        what(),
                        r.retcode,
                        brief(e)
                    )
                },
            ),
        }
        let objs = e["objects"].as_array().cloned().unwrap_or_default();
        let ops = e["extra"]["table_ops"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        p.check(objs.len() == ops.len(), || {
            format!(
                "{}: objects and table_ops differ in length: {}",
                what(),
                brief(e)
            )
        });
        // A statement whose TABLE lines a rotation left in the previous file
        // has them as standalone events (checked in detail above).
        let split_off: Vec<&&Value> = ev
            .iter()
            .filter(|x| {
                x["session"]["id"] == conn.as_str()
                    && x["session"]["statement_id"] == r.qid as i64
                    && op_of(x).is_some_and(is_table_op)
            })
            .collect();
        for (schema, name, op) in &w8.objects {
            let found = has_object(e, schema, name, op)
                || split_off.iter().any(|x| has_object(x, schema, name, op));
            p.check(found, || {
                format!(
                    "{}: want object {schema}.{name} ({op}), got {} / {}; split off: {:?}",
                    what(),
                    e["objects"],
                    e["extra"]["table_ops"],
                    split_off.iter().map(|x| brief(x)).collect::<Vec<_>>()
                )
            });
        }
        let truncated = e["extra"]["truncated"] == true;
        p.check(truncated == w8.truncated, || {
            format!(
                "{}: extra.truncated {} (rule {}), want {}",
                what(),
                e["extra"]["truncated"],
                e["extra"]["truncation_rule"],
                w8.truncated
            )
        });
        if w8.truncated {
            let got = s(&e["statement"]).unwrap_or_default();
            p.check(
                got.len() <= QUERY_LOG_LIMIT
                    && got.len() + 16 >= QUERY_LOG_LIMIT
                    && got.len() < sql_sent.len(),
                || {
                    format!(
                        "{}: truncated statement of {} bytes (limit {QUERY_LOG_LIMIT})",
                        what(),
                        got.len()
                    )
                },
            );
            p.check(s(&e["extra"]["truncation_rule"]).is_some(), || {
                format!("{}: no truncation_rule: {}", what(), e["extra"])
            });
        }
        p.check((e["redacted"] == true) == w8.redacted, || {
            format!(
                "{}: redacted {} want {}",
                what(),
                e["redacted"],
                w8.redacted
            )
        });
    }

    if !p.0.is_empty() {
        let n = p.0.len();
        let shown: Vec<&str> = p.0.iter().take(40).map(String::as_str).collect();
        panic!(
            "{n} problems:\n- {}\n--- agent stderr (tail) ---\n{}",
            shown.join("\n- "),
            tail(&agent_stderr(), 3000)
        );
    }
}

fn check_client(p: &mut Problems, ses: &Sess, e: &Value) {
    let ok = if ses.tcp {
        e["client"]["ip"] == "127.0.0.1" && e["client"]["host"].is_null()
    } else {
        e["client"]["host"] == "localhost" && e["client"]["ip"].is_null()
    };
    p.check(ok && e["client"]["port"].is_null(), || {
        format!(
            "session {} (tcp={}): client {}",
            ses.label, ses.tcp, e["client"]
        )
    });
}
