//! A fixed, deterministic workload that exercises everything onetrail must get
//! right from a pgaudit-enabled PostgreSQL 15 server, and a description of the
//! audit records it is known to produce.
//!
//! [`run_workload`] drives a [`PgInstance`] through tokio-postgres: DDL, DML
//! with row counts, object-audited reads of a sensitive table, GRANT/REVOKE,
//! role passwords, a user mapping with a password, a DO block, an extended
//! protocol statement with parameters, failing statements, an audit config
//! change, `ALTER SYSTEM` + reload, multi-line and unicode statement texts, and
//! four kinds of failed TCP login. The returned [`WorkloadReport`] lists every
//! AUDIT record the server writes for it (checked against real server output by
//! this crate's tests), with the session each came from, so tests can assert on
//! normalized events field by field.
//!
//! Statement texts are given exactly as pgaudit logs them. PostgreSQL 15 /
//! pgaudit 1.7 logs the whole query string of a simple-protocol call for every
//! record of that call; the workload therefore sends one statement per call,
//! except for one deliberate two-statement call.

use std::time::Duration;

use crate::postgres::{HBA_REJECTED_USER, HarnessError, PgInstance, SUPERUSER_PASSWORD};

/// The database the workload creates and works in.
pub const APP_DATABASE: &str = "appdb";
/// The login role the workload creates (`CREATE ROLE … PASSWORD`).
pub const APP_USER: &str = "app_admin";
/// Its first password (`CREATE ROLE`).
pub const APP_PASSWORD_INITIAL: &str = "S3cr3t-pw!";
/// Its password after `ALTER ROLE … PASSWORD` (used for its logins).
pub const APP_PASSWORD: &str = "N3w-S3cr3t-pw!";
/// The password stored in the postgres_fdw user mapping.
pub const FDW_PASSWORD: &str = "Fdw-S3cr3t-pw";
/// The role named in `pgaudit.role` (object auditing).
pub const AUDITOR_ROLE: &str = "auditor";
/// A user that does not exist.
pub const UNKNOWN_USER: &str = "ghost";
/// A database that does not exist.
pub const UNKNOWN_DATABASE: &str = "no_such_db";
/// The application_name every workload session sets.
pub const APPLICATION_NAME: &str = "onetrail-workload";

/// One client session the workload opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// `setup`, `admin` or `app`.
    pub label: &'static str,
    pub db_user: String,
    pub database: String,
    /// Server backend pid (`%p`, last part of the `%c` session id in hex).
    pub backend_pid: i32,
    /// Client TCP port as the server saw it (`%r`); the client ip is 127.0.0.1.
    pub client_port: u16,
}

impl SessionInfo {
    /// The suffix of PostgreSQL's session id (`%c` = `<start time hex>.<pid hex>`).
    pub fn session_id_suffix(&self) -> String {
        format!(".{:x}", self.backend_pid)
    }
}

/// An AUDIT record the server writes for the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAudit {
    /// Label of the [`SessionInfo`] it belongs to.
    pub session: &'static str,
    /// `SESSION` or `OBJECT`.
    pub audit_type: &'static str,
    pub statement_id: i64,
    pub substatement_id: i64,
    /// pgaudit class: READ, WRITE, FUNCTION, ROLE, DDL, MISC.
    pub class: &'static str,
    /// Command tag, e.g. `CREATE TABLE`.
    pub command: &'static str,
    /// pgaudit object type (`TABLE`, `INDEX`, `SCHEMA`, …), when logged.
    pub object_type: Option<&'static str>,
    /// Fully-qualified object name as logged (`secret.patients`), when logged.
    pub object_name: Option<&'static str>,
    /// Statement text exactly as logged (before any redaction by onetrail).
    pub statement: String,
    /// pgaudit's PARAMETER field as logged (`<none>` when there are none).
    pub parameter: String,
    /// ROWS field (`pgaudit.log_rows`).
    pub rows: i64,
    /// SQLSTATE of the ERROR the statement failed with, if it failed.
    pub error_code: Option<&'static str>,
}

impl ExpectedAudit {
    /// Schema part of `object_name`.
    pub fn object_schema(&self) -> Option<&'static str> {
        self.object_name
            .and_then(|n| n.split_once('.').map(|(s, _)| s))
    }

    /// Unqualified part of `object_name`.
    pub fn object_short_name(&self) -> Option<&'static str> {
        self.object_name
            .map(|n| n.split_once('.').map_or(n, |(_, o)| o))
    }
}

/// A statement that failed with an ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedError {
    pub session: &'static str,
    pub statement: String,
    /// SQLSTATE.
    pub code: &'static str,
    /// Statement id of its AUDIT records, if pgaudit logged it before it failed.
    pub audit_statement_id: Option<i64>,
}

/// A login the server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLogin {
    pub user: &'static str,
    pub database: &'static str,
    /// The password the client sent (may be wrong on purpose).
    pub password: &'static str,
    /// SQLSTATE of the FATAL message.
    pub code: &'static str,
    /// Why it failed, in words.
    pub reason: &'static str,
    /// The FATAL message text the server logged.
    pub message: String,
}

/// What [`run_workload`] did, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadReport {
    pub sessions: Vec<SessionInfo>,
    /// Every AUDIT record, in the order the server writes them.
    pub audits: Vec<ExpectedAudit>,
    pub failed_logins: Vec<FailedLogin>,
    /// Statements that failed, in order.
    pub errors: Vec<ExpectedError>,
    /// Statements that were executed while `pgaudit.log = 'none'` and so must
    /// not appear as AUDIT records.
    pub unaudited: Vec<&'static str>,
}

impl WorkloadReport {
    pub fn session(&self, label: &str) -> &SessionInfo {
        self.sessions
            .iter()
            .find(|s| s.label == label)
            .unwrap_or_else(|| panic!("no workload session {label}"))
    }

    /// Successful logins (one per session).
    pub fn logins(&self) -> &[SessionInfo] {
        &self.sessions
    }
}

/// How a step is sent.
enum Send {
    /// Simple query protocol (`batch_execute`).
    Simple,
    /// Extended protocol with parameters `(2_i32, NAME_PARAM)`.
    Params,
}

struct Step {
    sql: &'static str,
    send: Send,
    /// SQLSTATE the step must fail with.
    fails_with: Option<&'static str>,
    /// The AUDIT records it produces, in log order.
    audits: Vec<Audit>,
}

/// Shorthand for an expected record, see [`Step::audits`].
#[derive(Clone, Copy)]
struct Audit {
    audit_type: &'static str,
    sub: i64,
    class: &'static str,
    command: &'static str,
    object_type: Option<&'static str>,
    object_name: Option<&'static str>,
    /// Text when it differs from the step's SQL (DO sub-statements).
    statement: Option<&'static str>,
    parameter: &'static str,
    rows: i64,
    /// 1 for the second statement of a multi-statement call.
    next_stmt: i64,
}

fn a(
    class: &'static str,
    command: &'static str,
    object: Option<(&'static str, &'static str)>,
) -> Audit {
    let (object_type, object_name) = match object {
        Some((t, "")) => (Some(t), None),
        Some((t, n)) => (Some(t), Some(n)),
        None => (None, None),
    };
    Audit {
        audit_type: "SESSION",
        sub: 1,
        class,
        command,
        object_type,
        object_name,
        statement: None,
        parameter: "<none>",
        rows: 0,
        next_stmt: 0,
    }
}

impl Audit {
    fn rows(mut self, rows: i64) -> Self {
        self.rows = rows;
        self
    }
    fn sub(mut self, sub: i64) -> Self {
        self.sub = sub;
        self
    }
    fn object(mut self) -> Self {
        self.audit_type = "OBJECT";
        self
    }
    fn text(mut self, statement: &'static str) -> Self {
        self.statement = Some(statement);
        self
    }
    fn next_stmt(mut self) -> Self {
        self.next_stmt += 1;
        self
    }
    fn param(mut self, parameter: &'static str) -> Self {
        self.parameter = parameter;
        self
    }
}

fn step(sql: &'static str, audits: Vec<Audit>) -> Step {
    Step {
        sql,
        send: Send::Simple,
        fails_with: None,
        audits,
    }
}

const PATIENTS: Option<(&str, &str)> = Some(("TABLE", "secret.patients"));
const NOTES: Option<(&str, &str)> = Some(("TABLE", "public.notes"));

/// Literal with a comma, double quotes, an embedded newline and a non-ASCII letter.
pub const TRICKY_NAME: &str = "Zoë, \"quoted\", line1\nline2";
/// Literal with a quote (doubled in SQL), an emoji and a check mark.
pub const EMOJI_NAME: &str = "O'Brien 🦀 ✓";
/// The text parameter of the extended-protocol statement.
pub const NAME_PARAM: &str = "Zoë, \"quoted\"";

const INSERT_PATIENTS: &str = "INSERT INTO secret.patients (id, name, diagnosis)\n\
VALUES (1, 'Zoë, \"quoted\", line1\nline2', 'flu'),\n       (2, 'O''Brien 🦀 ✓', 'cold'),\n       (3, 'Plain', NULL)";

const DO_BLOCK: &str = "DO $$\nBEGIN\n  INSERT INTO public.notes (body) VALUES ('from do block');\n  \
PERFORM count(*) FROM secret.patients;\nEND\n$$";

const CREATE_PATIENTS: &str = "CREATE TABLE secret.patients (\n    id integer PRIMARY KEY,\n    name text NOT NULL UNIQUE,\n    diagnosis text\n)";
const CREATE_NOTES: &str = "CREATE TABLE public.notes (id serial PRIMARY KEY, body text)";
const UPDATE_PATIENTS: &str =
    "UPDATE secret.patients\n   SET diagnosis = 'healthy'\n WHERE id IN (1, 2)";
const PARAM_SELECT: &str = "SELECT id, name FROM secret.patients WHERE id = $1 OR name = $2";
/// pgaudit's PARAMETER field for [`PARAM_SELECT`] (a CSV list of the values).
pub const PARAM_SELECT_PARAMETER: &str = "2,\"Zoë, \"\"quoted\"\"\"";
const TWO_SELECTS: &str = "SELECT 'emoji 🦀', 'tab\there', 'back\\slash' AS odd; SELECT 2 AS two";

fn fails(sql: &'static str, code: &'static str, audits: Vec<Audit>) -> Step {
    Step {
        sql,
        send: Send::Simple,
        fails_with: Some(code),
        audits,
    }
}

fn admin_steps() -> Vec<Step> {
    // Before `CREATE EXTENSION pgaudit` no event triggers exist, so that DDL has no object.
    vec![
        step(
            "CREATE EXTENSION pgaudit",
            vec![a("DDL", "CREATE EXTENSION", None)],
        ),
        // Logged twice: once before execution, once from the event trigger.
        step(
            "CREATE EXTENSION postgres_fdw",
            vec![
                a("DDL", "CREATE EXTENSION", None),
                a(
                    "DDL",
                    "CREATE EXTENSION",
                    Some(("EXTENSION", "postgres_fdw")),
                ),
            ],
        ),
        step(
            "CREATE SCHEMA secret",
            vec![a("DDL", "CREATE SCHEMA", Some(("SCHEMA", "secret")))],
        ),
        step(
            CREATE_PATIENTS,
            vec![
                a("DDL", "CREATE TABLE", PATIENTS),
                a(
                    "DDL",
                    "CREATE INDEX",
                    Some(("INDEX", "secret.patients_pkey")),
                ),
                a(
                    "DDL",
                    "CREATE INDEX",
                    Some(("INDEX", "secret.patients_name_key")),
                ),
            ],
        ),
        step(
            "CREATE INDEX patients_diagnosis_idx ON secret.patients (diagnosis)",
            vec![a(
                "DDL",
                "CREATE INDEX",
                Some(("INDEX", "secret.patients_diagnosis_idx")),
            )],
        ),
        step(
            CREATE_NOTES,
            vec![
                a(
                    "DDL",
                    "CREATE SEQUENCE",
                    Some(("SEQUENCE", "public.notes_id_seq")),
                ),
                a("DDL", "CREATE TABLE", NOTES),
                a("DDL", "CREATE INDEX", Some(("INDEX", "public.notes_pkey"))),
                a(
                    "DDL",
                    "ALTER SEQUENCE",
                    Some(("SEQUENCE", "public.notes_id_seq")),
                ),
            ],
        ),
        step(
            "CREATE VIEW public.patient_names AS SELECT id, name FROM secret.patients",
            vec![a(
                "DDL",
                "CREATE VIEW",
                Some(("VIEW", "public.patient_names")),
            )],
        ),
        step(
            "ALTER TABLE public.notes ADD COLUMN created_at timestamptz DEFAULT now()",
            vec![a("DDL", "ALTER TABLE", NOTES)],
        ),
        step(
            "CREATE ROLE auditor NOLOGIN",
            vec![a("ROLE", "CREATE ROLE", None)],
        ),
        step(
            "GRANT SELECT ON secret.patients TO auditor",
            vec![a("ROLE", "GRANT", Some(("TABLE", "")))],
        ),
        step(
            "CREATE ROLE app_admin LOGIN PASSWORD 'S3cr3t-pw!'",
            vec![
                a("ROLE", "CREATE ROLE", None)
                    .text("CREATE ROLE app_admin LOGIN PASSWORD <REDACTED>"),
            ],
        ),
        step(
            "ALTER ROLE app_admin PASSWORD 'N3w-S3cr3t-pw!'",
            vec![a("ROLE", "ALTER ROLE", None).text("ALTER ROLE app_admin PASSWORD <REDACTED>")],
        ),
        step(
            "GRANT USAGE ON SCHEMA secret TO app_admin",
            vec![a("ROLE", "GRANT", Some(("SCHEMA", "")))],
        ),
        step(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON secret.patients TO app_admin",
            vec![a("ROLE", "GRANT", Some(("TABLE", "")))],
        ),
        step(
            "GRANT SELECT, INSERT ON public.notes TO app_admin",
            vec![a("ROLE", "GRANT", Some(("TABLE", "")))],
        ),
        step(
            "GRANT USAGE ON SEQUENCE public.notes_id_seq TO app_admin",
            vec![a("ROLE", "GRANT", Some(("SEQUENCE", "")))],
        ),
        step(
            "REVOKE DELETE ON secret.patients FROM app_admin",
            vec![a("ROLE", "REVOKE", Some(("TABLE", "")))],
        ),
        step(
            "CREATE SERVER remote_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', dbname 'remote')",
            vec![a("DDL", "CREATE SERVER", Some(("SERVER", "remote_srv")))],
        ),
        // pgaudit 1.7 (PG 15) does NOT redact user mapping passwords (16+ does).
        step(
            "CREATE USER MAPPING FOR app_admin SERVER remote_srv OPTIONS (user 'remote_user', password 'Fdw-S3cr3t-pw')",
            vec![a(
                "DDL",
                "CREATE USER MAPPING",
                Some(("USER MAPPING", "app_admin on server remote_srv")),
            )],
        ),
        step(
            "SET search_path = public, secret",
            vec![a("MISC", "SET", None)],
        ),
        step(
            INSERT_PATIENTS,
            vec![a("WRITE", "INSERT", PATIENTS).rows(3)],
        ),
        // UPDATE reads columns the auditor may SELECT: an OBJECT record too.
        step(
            UPDATE_PATIENTS,
            vec![
                a("WRITE", "UPDATE", PATIENTS).object().rows(2),
                a("WRITE", "UPDATE", PATIENTS).rows(2),
            ],
        ),
        step(
            "INSERT INTO public.notes (body) VALUES ('a'), ('b')",
            vec![a("WRITE", "INSERT", NOTES).rows(2)],
        ),
        step(
            "DELETE FROM public.notes WHERE body = 'a'",
            vec![a("WRITE", "DELETE", NOTES).rows(1)],
        ),
        step(
            DO_BLOCK,
            vec![
                a("FUNCTION", "DO", None),
                a("WRITE", "INSERT", NOTES)
                    .sub(2)
                    .rows(1)
                    .text("INSERT INTO public.notes (body) VALUES ('from do block')"),
                a("READ", "SELECT", PATIENTS)
                    .object()
                    .sub(3)
                    .rows(1)
                    .text("SELECT count(*) FROM secret.patients"),
                a("READ", "SELECT", PATIENTS)
                    .sub(3)
                    .rows(1)
                    .text("SELECT count(*) FROM secret.patients"),
            ],
        ),
        Step {
            sql: PARAM_SELECT,
            send: Send::Params,
            fails_with: None,
            audits: vec![
                a("READ", "SELECT", PATIENTS)
                    .object()
                    .rows(1)
                    .param(PARAM_SELECT_PARAMETER),
                a("READ", "SELECT", PATIENTS)
                    .rows(1)
                    .param(PARAM_SELECT_PARAMETER),
            ],
        },
        // A DO block is logged before it runs, its sub-statements as they
        // finish: the ERROR follows the AUDIT lines of statements 1 and 2.
        fails(
            FAILING_DO_BLOCK,
            "22012",
            vec![
                a("FUNCTION", "DO", None),
                a("WRITE", "INSERT", NOTES)
                    .sub(2)
                    .rows(1)
                    .text("INSERT INTO public.notes (body) VALUES ('before failure')"),
            ],
        ),
        // Everything else is logged after it succeeded (SELECT/DML at executor
        // end because of pgaudit.log_rows): these leave an ERROR, no AUDIT line.
        fails(UNAUDITED_FAILURE, "22012", vec![]),
        fails(
            "INSERT INTO secret.patients (id, name) VALUES (1, 'duplicate id')",
            "23505",
            vec![],
        ),
        fails("CREATE ROLE auditor NOLOGIN", "42710", vec![]),
        // SET is logged after it takes effect: switching off is not logged,
        // switching back on is.
        step(SET_AUDIT_NONE, vec![]),
        step(UNAUDITED_SELECT, vec![]),
        step("SET pgaudit.log = 'all'", vec![a("MISC", "SET", None)]),
        step(
            "ALTER SYSTEM SET pgaudit.log_catalog = off",
            vec![a("DDL", "ALTER SYSTEM", None)],
        ),
        step(
            "SELECT pg_reload_conf()",
            vec![a("READ", "SELECT", None).rows(1)],
        ),
        // Two statements in one simple-protocol call: PG 15 logs the whole
        // string for each, under two statement ids.
        step(
            TWO_SELECTS,
            vec![
                a("READ", "SELECT", None).rows(1),
                a("READ", "SELECT", None).rows(1).next_stmt(),
            ],
        ),
        step(
            "DROP VIEW public.patient_names",
            vec![a(
                "DDL",
                "DROP VIEW",
                Some(("VIEW", "public.patient_names")),
            )],
        ),
        step(
            "CREATE TABLE public.scratch (x integer)",
            vec![a("DDL", "CREATE TABLE", Some(("TABLE", "public.scratch")))],
        ),
        step(
            "DROP TABLE public.scratch",
            vec![a("DDL", "DROP TABLE", Some(("TABLE", "public.scratch")))],
        ),
    ]
}

/// A DO block whose second statement divides by zero.
pub const FAILING_DO_BLOCK: &str = "DO $$\nBEGIN\n  INSERT INTO public.notes (body) VALUES ('before failure');\n  PERFORM 1/0;\nEND\n$$";
/// Fails in the executor, so pgaudit never logs it.
pub const UNAUDITED_FAILURE: &str = "SELECT 1/0 AS boom";

/// Sent while `pgaudit.log = 'none'`: must produce no AUDIT record.
pub const UNAUDITED_SELECT: &str = "SELECT 'not audited' AS hidden";
/// Turns session auditing off (itself not logged, see [`admin_steps`]).
pub const SET_AUDIT_NONE: &str = "SET pgaudit.log = 'none'";

fn app_steps() -> Vec<Step> {
    vec![
        step(
            "SELECT name, diagnosis FROM secret.patients WHERE id = 1",
            vec![
                a("READ", "SELECT", PATIENTS).object().rows(1),
                a("READ", "SELECT", PATIENTS).rows(1),
            ],
        ),
        step(
            "UPDATE secret.patients SET diagnosis = 'checked' WHERE id = 3",
            vec![
                a("WRITE", "UPDATE", PATIENTS).object().rows(1),
                a("WRITE", "UPDATE", PATIENTS).rows(1),
            ],
        ),
        step(
            "INSERT INTO public.notes (body) VALUES ('by app')",
            vec![a("WRITE", "INSERT", NOTES).rows(1)],
        ),
        step(
            "SELECT count(*) FROM public.notes",
            vec![a("READ", "SELECT", NOTES).rows(1)],
        ),
    ]
}

/// Runs the workload against `pg` (which must be freshly started) and
/// describes what the server audited.
pub async fn run_workload(pg: &PgInstance) -> Result<WorkloadReport, HarnessError> {
    let mut report = WorkloadReport {
        sessions: Vec::new(),
        audits: Vec::new(),
        failed_logins: Vec::new(),
        errors: Vec::new(),
        unaudited: vec![SET_AUDIT_NONE, UNAUDITED_SELECT],
    };

    // setup: create the database from the maintenance db.
    let (setup, info) =
        open_session(pg, "setup", "postgres", SUPERUSER_PASSWORD, "postgres").await?;
    report.sessions.push(info);
    report.audits.push(identify_audit(
        report.sessions.last().map_or("", |s| s.label),
    ));
    run_steps(
        &setup,
        "setup",
        2,
        vec![step(
            "CREATE DATABASE appdb",
            vec![a("DDL", "CREATE DATABASE", None)],
        )],
        &mut report,
    )
    .await?;
    drop(setup);

    let (admin, info) =
        open_session(pg, "admin", "postgres", SUPERUSER_PASSWORD, APP_DATABASE).await?;
    report.sessions.push(info);
    report.audits.push(identify_audit(
        report.sessions.last().map_or("", |s| s.label),
    ));
    run_steps(&admin, "admin", 2, admin_steps(), &mut report).await?;
    drop(admin);

    let (app, info) = open_session(pg, "app", APP_USER, APP_PASSWORD, APP_DATABASE).await?;
    report.sessions.push(info);
    report.audits.push(identify_audit(
        report.sessions.last().map_or("", |s| s.label),
    ));
    run_steps(&app, "app", 2, app_steps(), &mut report).await?;
    drop(app);

    failed_logins(pg, &mut report).await?;
    Ok(report)
}

/// Statement 1 of every workload session.
pub const IDENTIFY_SQL: &str = "SELECT pg_backend_pid(), inet_client_port()";

fn identify_audit(session: &'static str) -> ExpectedAudit {
    ExpectedAudit {
        session,
        audit_type: "SESSION",
        statement_id: 1,
        substatement_id: 1,
        class: "READ",
        command: "SELECT",
        object_type: None,
        object_name: None,
        statement: IDENTIFY_SQL.to_string(),
        parameter: "<none>".to_string(),
        rows: 1,
        error_code: None,
    }
}

/// Opens a TCP session and runs the identifying query (statement 1 of the session).
async fn open_session(
    pg: &PgInstance,
    label: &'static str,
    user: &str,
    password: &str,
    database: &str,
) -> Result<(tokio_postgres::Client, SessionInfo), HarnessError> {
    let mut cfg = pg.tcp_config(user, password, database);
    cfg.application_name(APPLICATION_NAME);
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let rows = client.simple_query(IDENTIFY_SQL).await?;
    let row = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| HarnessError("identifying query returned no row".into()))?;
    let pid: i32 = row.get(0).unwrap_or_default().parse().unwrap_or_default();
    let port: u16 = row.get(1).unwrap_or_default().parse().unwrap_or_default();
    Ok((
        client,
        SessionInfo {
            label,
            db_user: user.to_string(),
            database: database.to_string(),
            backend_pid: pid,
            client_port: port,
        },
    ))
}

/// Runs steps, numbering statements from `first_id`; returns the next id.
///
/// pgaudit 1.7 advances the statement id only for statements it logs (not for
/// those failing in the executor, nor while `pgaudit.log = 'none'`).
async fn run_steps(
    client: &tokio_postgres::Client,
    session: &'static str,
    first_id: i64,
    steps: Vec<Step>,
    report: &mut WorkloadReport,
) -> Result<i64, HarnessError> {
    let mut id = first_id;
    for s in steps {
        let res = match s.send {
            Send::Simple => client.batch_execute(s.sql).await.map(|_| ()),
            Send::Params => client
                .query(s.sql, &[&2_i32, &NAME_PARAM])
                .await
                .map(|_| ()),
        };
        match (res, s.fails_with) {
            (Ok(()), None) => {}
            (Err(e), Some(code)) if e.code().map(|c| c.code()) == Some(code) => {}
            (Ok(()), Some(code)) => {
                return Err(HarnessError(format!(
                    "workload step should have failed with {code}: {}",
                    s.sql
                )));
            }
            (Err(e), _) => {
                return Err(HarnessError(format!(
                    "workload step failed: {}\n{}",
                    s.sql,
                    crate::postgres::pg_error_text(&e)
                )));
            }
        }
        if let Some(code) = s.fails_with {
            report.errors.push(ExpectedError {
                session,
                statement: s.sql.to_string(),
                code,
                audit_statement_id: (!s.audits.is_empty()).then_some(id),
            });
        }
        for au in &s.audits {
            report.audits.push(ExpectedAudit {
                session,
                audit_type: au.audit_type,
                statement_id: id + au.next_stmt,
                substatement_id: au.sub,
                class: au.class,
                command: au.command,
                object_type: au.object_type,
                object_name: au.object_name,
                statement: au.statement.unwrap_or(s.sql).to_string(),
                parameter: au.parameter.to_string(),
                rows: au.rows,
                error_code: s.fails_with,
            });
        }
        if let Some(last) = s.audits.iter().map(|a| a.next_stmt).max() {
            id += last + 1;
        }
    }
    Ok(id)
}

async fn failed_logins(pg: &PgInstance, report: &mut WorkloadReport) -> Result<(), HarnessError> {
    let attempts: [(&str, &str, &str, &str, &str); 4] = [
        (
            APP_USER,
            APP_DATABASE,
            "wrong-password",
            "28P01",
            "wrong password",
        ),
        (
            UNKNOWN_USER,
            APP_DATABASE,
            "whatever",
            "28P01",
            "unknown user",
        ),
        (
            APP_USER,
            UNKNOWN_DATABASE,
            APP_PASSWORD,
            "3D000",
            "unknown database",
        ),
        (
            HBA_REJECTED_USER,
            APP_DATABASE,
            "whatever",
            "28000",
            "rejected by pg_hba.conf",
        ),
    ];
    for (user, database, password, code, reason) in attempts {
        let mut cfg = pg.tcp_config(user, password, database);
        cfg.application_name(APPLICATION_NAME);
        match cfg.connect(tokio_postgres::NoTls).await {
            Ok(_) => {
                return Err(HarnessError(format!(
                    "login as {user} to {database} should have failed ({reason})"
                )));
            }
            Err(e) => {
                let db = e.as_db_error().ok_or_else(|| {
                    HarnessError(format!("login as {user}: not a server error: {e}"))
                })?;
                if db.code().code() != code {
                    return Err(HarnessError(format!(
                        "login as {user} to {database}: expected SQLSTATE {code}, got {}: {}",
                        db.code().code(),
                        db.message()
                    )));
                }
                report.failed_logins.push(FailedLogin {
                    user,
                    database,
                    password,
                    code,
                    reason,
                    message: db.message().to_string(),
                });
            }
        }
    }
    // Give the syslogger a moment; callers usually poll anyway.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// An AUDIT record read back from a jsonlog file (test oracle, not a parser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedAudit {
    pub pid: i64,
    pub user: String,
    pub dbname: String,
    pub audit_type: String,
    pub statement_id: i64,
    pub substatement_id: i64,
    pub class: String,
    pub command: String,
    pub object_type: String,
    pub object_name: String,
    pub statement: String,
    pub parameter: String,
    pub rows: String,
}

/// Reads the AUDIT records out of jsonlog text (one JSON object per line).
pub fn audits_from_jsonlog(text: &str) -> Result<Vec<LoggedAudit>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("jsonlog line {}: {e}", n + 1))?;
        let Some(msg) = v["message"].as_str() else {
            continue;
        };
        let Some(payload) = msg.strip_prefix("AUDIT: ") else {
            continue;
        };
        let f = split_pgaudit_csv(payload);
        if f.len() != 10 {
            return Err(format!(
                "jsonlog line {}: {} AUDIT fields in {payload:?}",
                n + 1,
                f.len()
            ));
        }
        let num = |i: usize| f[i].parse::<i64>().map_err(|e| format!("{}: {e}", f[i]));
        out.push(LoggedAudit {
            pid: v["pid"].as_i64().unwrap_or_default(),
            user: v["user"].as_str().unwrap_or_default().to_string(),
            dbname: v["dbname"].as_str().unwrap_or_default().to_string(),
            audit_type: f[0].clone(),
            statement_id: num(1)?,
            substatement_id: num(2)?,
            class: f[3].clone(),
            command: f[4].clone(),
            object_type: f[5].clone(),
            object_name: f[6].clone(),
            statement: f[7].clone(),
            parameter: f[8].clone(),
            rows: f[9].clone(),
        });
    }
    Ok(out)
}

/// Splits pgaudit's payload: fields quoted only when they hold `,` `"` CR or LF.
fn split_pgaudit_csv(s: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    fields.push(cur);
    fields
}

/// Checks that the AUDIT records in `jsonlog` are exactly `report.audits`, in
/// order, with the right session. The error lists both sides.
pub fn check_report_against_jsonlog(report: &WorkloadReport, jsonlog: &str) -> Result<(), String> {
    // Only the workload's sessions: other clients may have used the server.
    let logged: Vec<LoggedAudit> = audits_from_jsonlog(jsonlog)?
        .into_iter()
        .filter(|l| {
            report
                .sessions
                .iter()
                .any(|s| i64::from(s.backend_pid) == l.pid)
        })
        .collect();
    let mut problems = Vec::new();
    for (i, (exp, got)) in report.audits.iter().zip(&logged).enumerate() {
        let s = report.session(exp.session);
        let want = LoggedAudit {
            pid: i64::from(s.backend_pid),
            user: s.db_user.clone(),
            dbname: s.database.clone(),
            audit_type: exp.audit_type.to_string(),
            statement_id: exp.statement_id,
            substatement_id: exp.substatement_id,
            class: exp.class.to_string(),
            command: exp.command.to_string(),
            object_type: exp.object_type.unwrap_or_default().to_string(),
            object_name: exp.object_name.unwrap_or_default().to_string(),
            statement: exp.statement.clone(),
            parameter: exp.parameter.clone(),
            rows: exp.rows.to_string(),
        };
        if &want != got {
            problems.push(format!(
                "record {i}:\n  expected {want:?}\n  logged   {got:?}"
            ));
        }
    }
    if report.audits.len() != logged.len() {
        problems.push(format!(
            "{} records expected, {} logged; extra logged:\n{}",
            report.audits.len(),
            logged.len(),
            logged
                .iter()
                .skip(report.audits.len())
                .map(|l| format!("  {l:?}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

// ------------------------------------------------------------------ trust

/// The login role of [`run_trust_workload`].
pub const TRUST_USER: &str = "trust_svc";
/// Its password (`CREATE ROLE … PASSWORD`).
pub const TRUST_PASSWORD: &str = "Tr-Svc-pw1";
/// The person `identity.static_map` should map [`TRUST_USER`] to.
pub const TRUST_STATIC_ACTOR: &str = "Erin Static";
/// Passwords [`run_trust_workload`] puts into statements; none may reach a sink.
pub const TRUST_PASSWORDS: [&str; 6] = [
    TRUST_PASSWORD,
    "Fail-Dup-pw2",
    "D0-Block-pw3",
    "Map-Pw4",
    "It's-Quoted-pw5",
    "Dbl'Fail-pw6",
];

/// Statements of [`run_trust_workload`] that carry passwords, as sent.
pub const TRUST_SECRET_STATEMENTS: [&str; 6] = [
    "CREATE ROLE trust_svc LOGIN PASSWORD 'Tr-Svc-pw1'",
    // Fails (duplicate role): the ERROR's STATEMENT line has it in clear text.
    "CREATE ROLE trust_svc LOGIN PASSWORD 'Fail-Dup-pw2'",
    // A DO block: pgaudit logs the block's text (password in doubled quotes).
    "DO $$BEGIN EXECUTE 'CREATE ROLE trust_do LOGIN PASSWORD ''D0-Block-pw3'''; END$$",
    // pgaudit < 16 logs user mappings in clear text.
    "CREATE USER MAPPING FOR trust_svc SERVER trust_srv OPTIONS (user 'remote', password 'Map-Pw4')",
    // Doubled quote inside the secret.
    "ALTER USER MAPPING FOR trust_svc SERVER trust_srv OPTIONS (SET password 'It''s-Quoted-pw5')",
    // Fails (no such role), doubled quote inside the secret.
    "ALTER ROLE no_such_role PASSWORD 'Dbl''Fail-pw6'",
];

/// Switches auditing off server-wide (logged, then a reload line).
pub const TRUST_AUDIT_OFF: &str = "ALTER SYSTEM SET pgaudit.log = 'none'";
/// Switches it back on (not logged by pgaudit: auditing is off; the reload line shows it).
pub const TRUST_AUDIT_ON: &str = "ALTER SYSTEM RESET pgaudit.log";
/// Sent while auditing is off.
pub const TRUST_UNAUDITED: &str = "SELECT 'while auditing was off' AS hidden";

/// One row the trust workload inserts, and who should be named for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAttribution {
    /// The inserted note; the INSERT's statement contains it.
    pub note: &'static str,
    /// `application_name` of the session.
    pub application_name: &'static str,
    /// Expected `actor.name` and `actor.via`.
    pub actor: &'static str,
    pub via: &'static str,
    /// Expected `context.ticket`, if any.
    pub ticket: Option<&'static str>,
}

/// What [`run_trust_workload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustReport {
    /// Every cleartext password it used in a statement.
    pub passwords: Vec<&'static str>,
    pub attributions: Vec<TrustAttribution>,
}

/// A second workload, for identity, redaction and tamper checks; run it after
/// [`run_workload`] on the same server (it uses `appdb`, `pgaudit` and
/// `postgres_fdw` from there). Leaves `pgaudit.log` as configured.
///
/// As `postgres`: a role, a table, statements carrying passwords
/// ([`TRUST_SECRET_STATEMENTS`]: a failing one, a DO block, a user mapping,
/// doubled quotes), then auditing switched off and on with `ALTER SYSTEM` +
/// `pg_reload_conf()`, and `SET pgaudit.log`. Then five [`TRUST_USER`]
/// sessions insert one row each, naming the person through a different
/// mechanism: an `application_name` (`jira-alice`), a sqlcommenter comment,
/// `SET onetrail.actor`, `set_config('onetrail.actor', …)`, and none (static map).
pub async fn run_trust_workload(pg: &PgInstance) -> Result<TrustReport, HarnessError> {
    let connect = |user: &str, password: &str, app: &str| {
        let mut cfg = pg.tcp_config(user, password, APP_DATABASE);
        cfg.application_name(app);
        async move {
            let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, HarnessError>(client)
        }
    };
    let admin = connect("postgres", SUPERUSER_PASSWORD, "onetrail-trust-admin").await?;
    let ok = |sql: &'static str| {
        let admin = &admin;
        async move {
            admin.batch_execute(sql).await.map_err(|e| {
                HarnessError(format!(
                    "trust workload: {sql}: {}",
                    crate::postgres::pg_error_text(&e)
                ))
            })
        }
    };
    let fails = |sql: &'static str, code: &'static str| {
        let admin = &admin;
        async move {
            match admin.batch_execute(sql).await {
                Err(e) if e.code().map(|c| c.code()) == Some(code) => Ok(()),
                Err(e) => Err(HarnessError(format!(
                    "trust workload: {sql}: expected {code}, got {}",
                    crate::postgres::pg_error_text(&e)
                ))),
                Ok(()) => Err(HarnessError(format!(
                    "trust workload: {sql} should fail with {code}"
                ))),
            }
        }
    };
    let [
        create_role,
        dup_role,
        do_block,
        mapping,
        alter_mapping,
        bad_role,
    ] = TRUST_SECRET_STATEMENTS;
    ok(create_role).await?;
    ok("CREATE TABLE public.trust_ledger (id serial PRIMARY KEY, note text)").await?;
    ok("GRANT SELECT, INSERT ON public.trust_ledger TO trust_svc").await?;
    ok("GRANT USAGE ON SEQUENCE public.trust_ledger_id_seq TO trust_svc").await?;
    fails(dup_role, "42710").await?;
    ok(do_block).await?;
    ok("CREATE SERVER trust_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', dbname 'remote')").await?;
    ok(mapping).await?;
    ok(alter_mapping).await?;
    fails(bad_role, "42704").await?;

    // Auditing off and on again, server-wide, then per session.
    let reload = || async {
        ok("SELECT pg_reload_conf()").await?;
        // Backends apply the new configuration at their next command.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, HarnessError>(())
    };
    ok(TRUST_AUDIT_OFF).await?;
    reload().await?;
    ok(TRUST_UNAUDITED).await?;
    ok(TRUST_AUDIT_ON).await?;
    reload().await?;
    ok("SET pgaudit.log = 'none'").await?;
    ok("SET pgaudit.log = 'all'").await?;
    drop(admin);

    let attributions = vec![
        TrustAttribution {
            note: "by application name",
            application_name: "jira-alice",
            actor: "alice",
            via: "application_name",
            ticket: None,
        },
        TrustAttribution {
            note: "by sqlcommenter",
            application_name: "onetrail-trust",
            actor: "bob@corp",
            via: "sqlcommenter",
            ticket: Some("OPS-42"),
        },
        TrustAttribution {
            note: "by set onetrail.actor",
            application_name: "onetrail-trust",
            actor: "carol",
            via: "session",
            ticket: Some("OPS-7"),
        },
        TrustAttribution {
            note: "by set_config",
            application_name: "onetrail-trust",
            actor: "dave",
            via: "session",
            ticket: None,
        },
        TrustAttribution {
            note: "by static map",
            application_name: "onetrail-trust",
            actor: TRUST_STATIC_ACTOR,
            via: "static_map",
            ticket: None,
        },
    ];
    for a in &attributions {
        let c = connect(TRUST_USER, TRUST_PASSWORD, a.application_name).await?;
        let mut sqls: Vec<String> = Vec::new();
        match a.note {
            "by set onetrail.actor" => {
                sqls.push("SET onetrail.actor = 'carol'".into());
                sqls.push("SET onetrail.ticket = 'OPS-7'".into());
            }
            "by set_config" => {
                sqls.push("SELECT set_config('onetrail.actor', 'dave', false)".into())
            }
            _ => {}
        }
        let comment = if a.via == "sqlcommenter" {
            " /*user='bob%40corp',ticket='OPS-42'*/"
        } else {
            ""
        };
        sqls.push(format!(
            "INSERT INTO public.trust_ledger (note) VALUES ('{}'){comment}",
            a.note
        ));
        for sql in sqls {
            c.batch_execute(&sql).await.map_err(|e| {
                HarnessError(format!(
                    "trust workload: {sql}: {}",
                    crate::postgres::pg_error_text(&e)
                ))
            })?;
        }
        drop(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(TrustReport {
        passwords: TRUST_PASSWORDS.to_vec(),
        attributions,
    })
}
