//! SQL Server Audit: polls `sys.fn_get_audit_file` over TDS (tiberius, rustls).
//!
//! Each poll runs one parameterised statement (RPC `sp_executesql`):
//!
//! ```sql
//! SELECT TOP (@P1) * FROM sys.fn_get_audit_file(@P2, @P3, @P4)
//! ```
//!
//! with `@P2` = `file_pattern`, and `@P3`/`@P4` = the position
//! `{file_name, audit_file_offset}` of the last buffer whose rows were all
//! delivered (NULL at the very first start: every file, oldest first).
//!
//! **Exact resume.** The function resumes at the buffer *after* the given
//! offset, and all rows of one buffer share its offset, so the position may
//! only name a buffer whose rows were *all* read. A result is cut into groups
//! (runs of rows with one `(file_name, audit_file_offset)`); every group but
//! the last is complete because a later one follows it. The last group is held
//! back (not emitted, position not moved past it) when the result was cut by
//! `TOP` (`batch_rows`), or when it has not yet been seen unchanged by two
//! consecutive polls (guards against reading a buffer while it is written);
//! the next poll returns it again from its first row. So nothing is skipped
//! and nothing is emitted twice. A single buffer larger than `batch_rows` is
//! read with a doubled limit.
//!
//! **Records split across buffers.** A statement longer than 4000 characters
//! comes in several rows (`sequence_number` 1, 2, …), and SQL Server may
//! start a new buffer between two of them. A buffer whose last record
//! continues into a held-back buffer is held back with it, so the record is
//! read whole from its first row by a later poll (the limit doubles when the
//! rows returned hold no complete record). When the trail ends on a part of
//! exactly 4000 characters, its buffer waits up to [`SPLIT_WAIT`] for the next
//! buffer before it is emitted as it is. Each record is emitted once, with
//! the id of its first row.
//!
//! **Rollover.** When the resume file is gone (MAX_ROLLOVER_FILES deleted it)
//! the call fails; the poller reads from the oldest file instead and filters
//! rows at or before the delivered position (kept in the checkpoint as
//! `delivered_through` until passed, so a crash meanwhile re-emits nothing).
//! Files are ordered by the timestamp SQL Server puts at the end of their
//! names (`<audit>_<guid>_<n>_<timestamp>.sqlaudit`). When the oldest file
//! left is newer than the resume file, records were lost: an `agent` `GAP`
//! event (alert) names the files.
//!
//! Events are mapped by `onetrail-mssql-audit`; their ids depend only on
//! `server_instance_name`, `file_name`, `audit_file_offset` and the row's
//! place in the buffer, so re-reading yields the same ids.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use futures_util::TryStreamExt;
use onetrail_event::{Category, Engine, Event, Outcome, RecordPos};
use onetrail_mssql_audit::{Cell, Mapper, POLLED_FORMAT, Row, continues_into, may_continue};
use serde::{Deserialize, Serialize};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, FromSql, Query};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::pipeline::{Page, Poller};
use crate::settings::SourceConfig;
use onetrail_core::secrets::{Secret, read_secret_file};

/// Default TDS port.
const DEFAULT_PORT: u16 = 1433;
/// Default `batch_rows`.
const DEFAULT_BATCH_ROWS: u32 = 5000;
/// Largest limit a single oversized buffer may push a query to.
const MAX_LIMIT: u32 = 1_000_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a trail ending on a 4000-character part waits for the rest.
pub const SPLIT_WAIT: Duration = Duration::from_secs(30);
const STATEMENT: &str = "SELECT TOP (@P1) * FROM sys.fn_get_audit_file(@P2, @P3, @P4)";

/// Checked settings of an `mssql` source.
#[derive(Debug, Clone)]
struct Settings {
    source: String,
    host: String,
    port: u16,
    user: String,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
    database: String,
    pattern: String,
    encryption: EncryptionLevel,
    trust_cert: bool,
    ca_file: Option<PathBuf>,
    batch_rows: u32,
    instance_key: String,
}

impl Settings {
    fn from_config(s: &SourceConfig, name: &str) -> Result<Settings, String> {
        if !s.paths.is_empty() || !s.exclude.is_empty() {
            return Err("`paths`/`exclude` are for file sources; `type: mssql` reads `file_pattern` through the server".into());
        }
        if s.connect_string.is_some() {
            return Err("`connect_string` is an oracle key; use `host` and `port`".into());
        }
        let host = s
            .host
            .clone()
            .filter(|h| !h.trim().is_empty())
            .ok_or("`host` is required for `type: mssql`")?;
        match s.auth.as_deref().unwrap_or("sql") {
            "sql" => {}
            "integrated" | "windows" => {
                return Err("`auth: integrated` is not supported by this build (it would need Kerberos/GSSAPI system libraries); create a SQL login for the agent and use `auth: sql`".into());
            }
            other => return Err(format!("`auth: {other}` is unknown; expected `sql`")),
        }
        let user = s
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or("`username` is required (a SQL login with CONTROL SERVER, or VIEW SERVER SECURITY AUDIT on SQL Server 2022+)")?;
        if s.password.is_none() && s.password_file.is_none() {
            return Err("set `password: ${MSSQL_PASSWORD}` or `password_file:`".into());
        }
        if s.password.is_some() && s.password_file.is_some() {
            return Err("set only one of `password` and `password_file`".into());
        }
        let pattern = s
            .file_pattern
            .clone()
            .filter(|p| !p.trim().is_empty())
            .ok_or("`file_pattern` is required, e.g. `/var/opt/mssql/audit/*.sqlaudit` or `D:\\Audit\\*.sqlaudit`")?;
        if pattern.ends_with('/') || pattern.ends_with('\\') {
            return Err(format!(
                "`file_pattern: {pattern}` is a directory; add a file name pattern such as `*.sqlaudit`"
            ));
        }
        let encryption = match s.encryption.as_deref().unwrap_or("required") {
            "required" => EncryptionLevel::Required,
            "off" => EncryptionLevel::Off,
            "not_supported" => EncryptionLevel::NotSupported,
            other => {
                return Err(format!(
                    "`encryption: {other}` is unknown; expected `required` (default), `off` (login only) or `not_supported` (no TLS at all)"
                ));
            }
        };
        let batch_rows = s.batch_rows.unwrap_or(DEFAULT_BATCH_ROWS);
        if batch_rows == 0 {
            return Err("`batch_rows` must be > 0".into());
        }
        let trust_cert = s.trust_server_certificate == Some(true);
        if trust_cert && s.ca_file.is_some() {
            return Err("set only one of `trust_server_certificate: true` and `ca_file`".into());
        }
        Ok(Settings {
            source: name.to_string(),
            host,
            port: s.port.unwrap_or(DEFAULT_PORT),
            user,
            password: s.password.clone(),
            password_file: s.password_file.clone(),
            database: s.database.clone().unwrap_or_else(|| "master".into()),
            pattern,
            encryption,
            trust_cert,
            ca_file: s.ca_file.clone(),
            batch_rows,
            instance_key: s.instance.clone().unwrap_or_else(|| name.to_string()),
        })
    }

    fn password(&self) -> Result<Secret, String> {
        match (&self.password, &self.password_file) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(f)) => read_secret_file(f),
            (None, None) => Err("no password configured".into()),
        }
    }
}

/// Check a source's keys without connecting.
pub fn validate(s: &SourceConfig) -> Result<(), String> {
    Settings::from_config(s, "validate").map(|_| ())
}

/// Build the poller (connects lazily, in `fetch`).
pub fn build(s: &SourceConfig, name: &str) -> Result<Box<dyn Poller>, String> {
    let settings = Settings::from_config(s, name)?;
    settings.password()?;
    if settings.trust_cert {
        tracing::warn!(
            source = name,
            "trust_server_certificate is true: the SQL Server certificate is NOT verified; anyone on the path can read the audit trail and the password (set `ca_file` instead)"
        );
    }
    if settings.encryption == EncryptionLevel::NotSupported {
        tracing::warn!(
            source = name,
            "encryption: not_supported: the login and the audit rows travel in clear text"
        );
    }
    Ok(Box::new(MssqlPoller::new(settings)))
}

/// A checkpointed position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The last buffer whose rows were all delivered.
    pub file_name: String,
    pub audit_file_offset: i64,
    /// After a restart from the oldest file: rows at or before this buffer were
    /// already delivered and are skipped. Dropped once passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_through: Option<Box<Position>>,
}

impl Position {
    fn at(file: &str, offset: i64) -> Position {
        Position {
            file_name: file.to_string(),
            audit_file_offset: offset,
            delivered_through: None,
        }
    }

    /// Order of two buffer positions (files by their name's timestamp).
    fn cmp_buffer(&self, other: &Position) -> Ordering {
        cmp_files(&self.file_name, &other.file_name)
            .then(self.audit_file_offset.cmp(&other.audit_file_offset))
    }
}

/// The name's trailing `_<digits>` before the extension, as a number.
fn file_stamp(path: &str) -> Option<u128> {
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let last = stem.rsplit('_').next()?;
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        .then(|| last.parse().ok())
        .flatten()
}

/// Order of audit files: by the timestamp in their names, else by name.
pub fn cmp_files(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (file_stamp(a), file_stamp(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => a.cmp(b),
    }
}

type TdsClient = Client<Compat<TcpStream>>;

struct MssqlPoller {
    s: Settings,
    client: Option<TdsClient>,
    mapper: Mapper,
    /// The last result's trailing group, held back: its position and row count.
    trailing: Option<(Position, usize)>,
    /// A stable trailing group ending on a part that may continue: since when
    /// it waits for the next buffer.
    split_wait: Option<(Position, usize, std::time::Instant)>,
    /// Resume files found unreadable (GAP already reported this run).
    gap_reported: Option<Position>,
}

impl MssqlPoller {
    fn new(s: Settings) -> MssqlPoller {
        let mapper = Mapper::new(POLLED_FORMAT, s.instance_key.clone());
        MssqlPoller {
            s,
            client: None,
            mapper,
            trailing: None,
            split_wait: None,
            gap_reported: None,
        }
    }

    async fn connect(&self) -> Result<TdsClient, String> {
        let mut cfg = Config::new();
        cfg.host(&self.s.host);
        cfg.port(self.s.port);
        cfg.database(&self.s.database);
        cfg.application_name("onetrail");
        cfg.authentication(AuthMethod::sql_server(
            &self.s.user,
            self.s.password()?.expose(),
        ));
        cfg.encryption(self.s.encryption);
        if self.s.trust_cert {
            cfg.trust_cert();
        } else if let Some(ca) = &self.s.ca_file {
            cfg.trust_cert_ca(ca.to_string_lossy());
        }
        // One redirect (Azure SQL gateway routing) is followed.
        for _ in 0..2 {
            let addr = cfg.get_addr();
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
                .await
                .map_err(|_| format!("cannot connect to {addr}: timed out"))?
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            match tokio::time::timeout(
                LOGIN_TIMEOUT,
                Client::connect(cfg.clone(), tcp.compat_write()),
            )
            .await
            {
                Ok(Ok(c)) => return Ok(c),
                Ok(Err(tiberius::error::Error::Routing { host, port })) => {
                    cfg.host(host);
                    cfg.port(port);
                }
                Ok(Err(e)) => {
                    return Err(format!("cannot log in to {addr} as {}: {e}", self.s.user));
                }
                Err(_) => return Err(format!("cannot log in to {addr}: timed out")),
            }
        }
        Err("the server redirected the connection twice".into())
    }

    /// One call of the function; `Err((server_error, message))`.
    async fn query(
        client: &mut TdsClient,
        pattern: &str,
        from: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Row>, (bool, String)> {
        let mut q = Query::new(STATEMENT);
        q.bind(i64::from(limit));
        q.bind(pattern.to_string());
        q.bind(from.map(|p| p.file_name.clone()));
        q.bind(from.map(|p| p.audit_file_offset));
        let run = async {
            let stream = q.query(client).await?;
            let mut rows = stream.into_row_stream();
            let mut out = Vec::new();
            while let Some(r) = rows.try_next().await? {
                out.push(convert_row(&r));
            }
            Ok::<_, tiberius::error::Error>(out)
        };
        match tokio::time::timeout(QUERY_TIMEOUT, run).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err((
                matches!(e, tiberius::error::Error::Server(_)),
                format!("sys.fn_get_audit_file failed: {e}"),
            )),
            Err(_) => Err((
                false,
                format!("sys.fn_get_audit_file timed out after {QUERY_TIMEOUT:?}"),
            )),
        }
    }

    fn gap_event(&self, from: &Position, first: Option<&str>) -> Event {
        let key = format!("mssql-gap:{}:{}", self.s.instance_key, from.file_name);
        let pos = RecordPos {
            source_key: &key,
            path: Some(&from.file_name),
            offset: from.audit_file_offset.max(0) as u64,
            format: "onetrail",
        };
        let mut ev = Event::new(Engine::Sqlserver, Utc::now(), &pos, 0);
        ev.category = Category::Agent;
        ev.action = "GAP".into();
        ev.outcome = Outcome::Success;
        ev.alert = true;
        let x = &mut ev.extra;
        x.insert("source_name".into(), self.s.source.clone().into());
        x.insert(
            "detail".into(),
            "SQL Server rolled audit files over before they were read: records after the resume position, and any file between it and the oldest file left, are lost".into(),
        );
        x.insert("resume_file".into(), from.file_name.clone().into());
        x.insert("resume_offset".into(), from.audit_file_offset.into());
        x.insert(
            "first_available_file".into(),
            first.map_or(serde_json::Value::Null, |f| f.into()),
        );
        x.insert("file_pattern".into(), self.s.pattern.clone().into());
        x.insert("agent_version".into(), env!("CARGO_PKG_VERSION").into());
        ev
    }

    async fn fetch_page(&mut self, after: Option<Position>) -> Result<Page, String> {
        let mut client = match self.client.take() {
            Some(c) => c,
            None => {
                let c = self.connect().await?;
                tracing::info!(source = %self.s.source, host = %self.s.host, "connected to SQL Server");
                c
            }
        };
        let mut events = Vec::new();
        let mut through = after
            .as_ref()
            .and_then(|p| p.delivered_through.as_deref().cloned());
        let mut from_oldest = false;
        let mut limit = self.s.batch_rows;
        let rows = loop {
            let from = if from_oldest { None } else { after.as_ref() };
            match Self::query(&mut client, &self.s.pattern, from, limit).await {
                Ok(rows) => {
                    let truncated = rows.len() >= limit as usize;
                    if truncated && limit < MAX_LIMIT && no_complete_record(&rows) {
                        limit = limit.saturating_mul(2).min(MAX_LIMIT);
                        continue;
                    }
                    break (rows, truncated);
                }
                Err((true, msg)) if after.is_some() && !from_oldest => {
                    let a = after.as_ref().expect("checked");
                    tracing::warn!(
                        source = %self.s.source,
                        file = %a.file_name,
                        "cannot resume in the last file read ({msg}); reading from the oldest file and skipping what was delivered"
                    );
                    from_oldest = true;
                    let resume = Position::at(&a.file_name, a.audit_file_offset);
                    through = Some(match through {
                        Some(t) if t.cmp_buffer(&resume) == Ordering::Greater => t,
                        _ => resume,
                    });
                }
                Err((server, msg)) => {
                    if server {
                        self.client = Some(client);
                    }
                    return Err(msg);
                }
            }
        };
        self.client = Some(client);
        let (rows, truncated) = rows;

        if from_oldest {
            let a = after.as_ref().expect("from_oldest implies a position");
            let resume = Position::at(&a.file_name, a.audit_file_offset);
            let first = rows.first().and_then(|r| r.text("file_name"));
            // Rollover deletes the oldest files first: when the oldest file
            // left is newer than the resume file, or the whole trail was read
            // without meeting it, its unread buffers (and any file between)
            // are gone.
            let seen = rows
                .iter()
                .any(|r| r.text("file_name").as_deref() == Some(resume.file_name.as_str()));
            let lost = first
                .as_deref()
                .is_none_or(|f| cmp_files(f, &resume.file_name) == Ordering::Greater)
                || (!truncated && !seen);
            if lost && self.gap_reported.as_ref() != Some(&resume) {
                tracing::error!(
                    source = %self.s.source,
                    resume_file = %resume.file_name,
                    first_available = first.as_deref().unwrap_or("(none)"),
                    "audit records lost: the files were rolled over before they were read"
                );
                events.push(self.gap_event(&resume, first.as_deref()));
                self.gap_reported = Some(resume);
            }
        }

        // Cut into groups of one buffer each.
        let mut groups: Vec<(Position, Vec<Row>)> = Vec::new();
        for r in rows {
            let p = Position::at(
                &r.text("file_name").unwrap_or_default(),
                r.int("audit_file_offset").unwrap_or(0),
            );
            match groups.last_mut() {
                Some((gp, g)) if *gp == p => g.push(r),
                _ => groups.push((p, vec![r])),
            }
        }
        // Hold the trailing group back unless it is proven complete.
        let mut held_first: Option<Row> = None;
        if let Some((p, g)) = groups.last() {
            let stable = self.trailing.as_ref() == Some(&(p.clone(), g.len()));
            let waits_for_rest = !truncated
                && stable
                && g.last().is_some_and(may_continue)
                && match &self.split_wait {
                    Some((wp, n, since)) if wp == p && *n == g.len() => {
                        since.elapsed() < SPLIT_WAIT
                    }
                    _ => {
                        self.split_wait = Some((p.clone(), g.len(), std::time::Instant::now()));
                        true
                    }
                };
            if truncated || !stable || waits_for_rest {
                self.trailing = Some((p.clone(), g.len()));
                held_first = groups.pop().and_then(|(_, g)| g.into_iter().next());
            } else {
                self.trailing = None;
                self.split_wait = None;
            }
        } else {
            self.trailing = None;
        }
        // A record running into a held-back buffer: hold its buffer back too,
        // so the record is read whole, from its first row, next time.
        while let (Some(next), Some((_, g))) = (&held_first, groups.last()) {
            if !g.last().is_some_and(|last| continues_into(last, next)) {
                break;
            }
            held_first = groups.pop().and_then(|(_, g)| g.into_iter().next());
        }

        let mut position = after.clone().map(|mut p| {
            p.delivered_through = through.clone().map(Box::new);
            p
        });
        let mut emit: Vec<(&[Row], &[onetrail_mssql_audit::Origin])> = Vec::new();
        for (p, g) in &groups {
            let skip = through
                .as_ref()
                .is_some_and(|t| p.cmp_buffer(t) != Ordering::Greater);
            if !skip {
                emit.push((g, &[]));
            }
            let mut np = p.clone();
            np.delivered_through = through
                .as_ref()
                .filter(|t| t.cmp_buffer(p) == Ordering::Greater)
                .cloned()
                .map(Box::new);
            position = Some(np);
        }
        // One call over all buffers: records running from one into the next
        // are joined.
        self.mapper.map_groups(&emit, &mut events);
        Ok(Page {
            events,
            position: position.map_or(serde_json::Value::Null, |p| {
                serde_json::to_value(p).expect("position serializes")
            }),
            more: truncated,
        })
    }
}

/// Does a cut result hold no record that is complete for sure? True when it
/// is one buffer, or when every buffer boundary falls inside a record.
fn no_complete_record(rows: &[Row]) -> bool {
    let key = |r: &Row| (r.text("file_name"), r.int("audit_file_offset"));
    rows.windows(2)
        .all(|w| key(&w[0]) == key(&w[1]) || continues_into(&w[0], &w[1]))
}

/// A tiberius row as the mapper's [`Row`].
fn convert_row(r: &tiberius::Row) -> Row {
    let mut row = Row::new();
    for (col, data) in r.cells() {
        let cell = match data {
            ColumnData::U8(v) => v.map(|x| Cell::Int(i64::from(x))),
            ColumnData::I16(v) => v.map(|x| Cell::Int(i64::from(x))),
            ColumnData::I32(v) => v.map(|x| Cell::Int(i64::from(x))),
            ColumnData::I64(v) => v.map(Cell::Int),
            ColumnData::F32(v) => v.map(|x| Cell::Float(f64::from(x))),
            ColumnData::F64(v) => v.map(Cell::Float),
            ColumnData::Bit(v) => v.map(Cell::Bool),
            ColumnData::String(v) => v.as_ref().map(|s| Cell::Text(s.to_string())),
            ColumnData::Guid(v) => v.map(|g| Cell::Text(g.to_string().to_ascii_uppercase())),
            ColumnData::Binary(v) => v.as_ref().map(|b| Cell::Bytes(b.to_vec())),
            ColumnData::Numeric(v) => v.map(|n| Cell::Text(n.to_string())),
            ColumnData::Xml(v) => v.as_ref().map(|x| Cell::Text(x.to_string())),
            ColumnData::DateTimeOffset(_) => chrono::DateTime::<Utc>::from_sql(data)
                .ok()
                .flatten()
                .map(Cell::Time),
            ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
                chrono::NaiveDateTime::from_sql(data)
                    .ok()
                    .flatten()
                    .map(|t| Cell::Time(t.and_utc()))
            }
            ColumnData::Date(_) | ColumnData::Time(_) => None,
        };
        row.push(col.name(), cell.unwrap_or(Cell::Null));
    }
    row
}

impl Poller for MssqlPoller {
    fn fetch<'a>(
        &'a mut self,
        after: Option<&'a serde_json::Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Page, String>> + Send + 'a>>
    {
        Box::pin(async move {
            let after = match after {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(
                    serde_json::from_value::<Position>(v.clone())
                        .map_err(|e| format!("unreadable checkpoint position {v}: {e}"))?,
                ),
            };
            self.fetch_page(after).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_order_by_their_timestamp() {
        let a = "/a/Audit_6F9619FF-8B86-D011-B42D-00C04FC964FF_0_133500000000000000.sqlaudit";
        let b = "/a/Other_0000AAAA-8B86-D011-B42D-00C04FC964FF_0_133600000000000000.sqlaudit";
        assert_eq!(cmp_files(a, b), Ordering::Less);
        assert_eq!(cmp_files("x_2.sqlaudit", "x_10.sqlaudit"), Ordering::Less);
        assert_eq!(cmp_files("b.sqlaudit", "a.sqlaudit"), Ordering::Greater);
    }

    fn check(source: &str) -> Result<(), String> {
        let text = format!(
            "sources:\n  sql1:\n    type: mssql\n{source}sinks:\n  out: {{ type: stdout }}\n"
        );
        crate::config::Config::from_str_at(&text, std::path::Path::new("/etc/onetrail.yaml"))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn config_is_checked_without_connecting() {
        let good = "    host: db1\n    username: reader\n    password: x\n    file_pattern: /a/*.sqlaudit\n";
        check(good).unwrap();
        let e = check(&format!("{good}    auth: integrated\n")).unwrap_err();
        assert!(
            e.contains("auth: integrated") && e.contains("auth: sql"),
            "{e}"
        );
        let e = check(&good.replace("    file_pattern: /a/*.sqlaudit\n", "")).unwrap_err();
        assert!(e.contains("file_pattern"), "{e}");
        let e = check(&good.replace("/a/*.sqlaudit", "/a/")).unwrap_err();
        assert!(e.contains("directory"), "{e}");
        let e = check(&format!("{good}    encryption: maybe\n")).unwrap_err();
        assert!(e.contains("not_supported"), "{e}");
        let e = check(&good.replace("    password: x\n", "")).unwrap_err();
        assert!(e.contains("password_file"), "{e}");
        let e = check(&format!(
            "{good}    trust_server_certificate: true\n    ca_file: /ca.pem\n"
        ))
        .unwrap_err();
        assert!(e.contains("ca_file"), "{e}");
        let e = check(&format!("{good}    read_from: end\n")).unwrap_err();
        assert!(
            e.contains("/etc/onetrail.yaml") && e.contains("sources.sql1.read_from"),
            "{e}"
        );
        check(&format!("{good}    read_from: beginning\n")).unwrap();
    }

    #[test]
    fn position_round_trips() {
        let mut p = Position::at("f", 4096);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"file_name":"f","audit_file_offset":4096}"#
        );
        p.delivered_through = Some(Box::new(Position::at("g", 1)));
        let back: Position = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
