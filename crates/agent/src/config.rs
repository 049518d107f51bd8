//! The agent's one YAML configuration file.
//!
//! Every default lives in this file, next to the key it belongs to. Loading
//! is three passes, each reporting the file, line and key of a problem:
//!
//! 1. [`schema::check`] walks the YAML against the key table [`keys`]: unknown
//!    keys (only the keys of that source or sink type are offered, with "did
//!    you mean" for a near miss), keys of another type, wrong shapes
//!    (`paths: "x"`), duplicate keys and bad globs, every problem once;
//! 2. serde-saphyr fills the structs below, substituting `${ENV}` inside
//!    scalar values (see [`Config::from_str_with_vars`]); secrets can come
//!    from `*_file` keys instead;
//! 3. [`Config::validate`] checks what depends on several keys.
//!
//! **Adding a key**: add the field to its struct here (with its serde
//! default), then one line to the table in `config/keys.rs` (types that
//! take it, shape, type, default, one line of meaning), then regenerate
//! `docs/config.md` with `cargo run -p onetrail -- config-doc > docs/config.md`.
//! `cargo test -p onetrail-agent --lib config` fails when a field has no
//! table line or the doc is stale.
//!
//! Sources and sinks are flat structs with a `type` discriminator rather than
//! internally tagged enums: serde buffers tagged enums and would lose the
//! line/column of errors inside them. Which keys a type takes is the table's
//! job (pass 1); type-specific rules are checked after parsing, against the
//! span of the offending source or sink.

pub mod keys;
mod schema;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

/// A configuration error, always naming the file and, when known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    At {
        path: PathBuf,
        line: u64,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Syntax { path: PathBuf, msg: String },
    /// Problems found while loading, each with its line and the line's text
    /// (secret-looking values masked).
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One problem of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub msg: String,
    /// The offending line of the file, ` 12 | text`, values of secret keys masked.
    pub snippet: Option<String>,
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| render_problem(path, p))
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_problem(path: &Path, p: &Problem) -> String {
    let mut s = format!("{}:{}: {}", path.display(), p.line, p.msg);
    if let Some(snip) = &p.snippet {
        s.push('\n');
        s.push_str(snip);
    }
    s
}

impl ConfigError {
    /// The same error with substituted values and URL credentials taken out
    /// of its message.
    fn scrubbed(self, scrub: &ValueScrubber) -> ConfigError {
        match self {
            ConfigError::At { path, line, msg } => ConfigError::At {
                path,
                line,
                msg: scrub.apply(&msg),
            },
            ConfigError::Syntax { path, msg } => ConfigError::Syntax {
                path,
                msg: scrub.apply(&msg),
            },
            ConfigError::Invalid { path, problems } => ConfigError::Invalid {
                path,
                problems: problems
                    .into_iter()
                    .map(|p| Problem {
                        msg: scrub.apply(&p.msg),
                        snippet: p.snippet.map(|s| scrub.apply(&s)),
                        ..p
                    })
                    .collect(),
            },
            e @ ConfigError::Read { .. } => e,
        }
    }

    /// One message per problem, for the binary to print each after `error: `.
    pub fn messages(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { path, problems } => {
                problems.iter().map(|p| render_problem(path, p)).collect()
            }
            e => vec![e.to_string()],
        }
    }

    /// An [`ConfigError::At`] as [`ConfigError::Invalid`], with the line's text.
    fn with_snippet(self, text: &str) -> ConfigError {
        match self {
            ConfigError::At { path, line, msg } => ConfigError::Invalid {
                path,
                problems: vec![Problem {
                    line,
                    msg,
                    snippet: snippet(text, line),
                }],
            },
            e => e,
        }
    }
}

/// Line `line` of `text` as ` 12 | text`, with the values of keys that look
/// like secrets (`token`, `api_key`, `password`, near misses of them) masked:
/// a literal secret in the file must not reach a terminal or a log.
fn snippet(text: &str, line: u64) -> Option<String> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    Some(format!("{line:>5} | {}", mask_secret_values(l)))
}

fn mask_secret_values(line: &str) -> String {
    static KV: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let kv = KV.get_or_init(|| {
        regex::Regex::new(r#"([A-Za-z_][A-Za-z0-9_]*)(["']?\s*:\s*)([^,}#\s][^,}#]*)"#)
            .expect("valid regex")
    });
    let masked = kv.replace_all(line, |c: &regex::Captures<'_>| {
        let key = c[1].to_ascii_lowercase();
        let value = &c[3];
        let secret = !key.ends_with("_file")
            && (["token", "password", "passwd", "secret", "api_key", "apikey"]
                .iter()
                .any(|s| key.contains(s))
                || schema::suggest(&key, ["token", "password", "api_key"].into_iter()).is_some());
        if secret && !value.trim_start().starts_with("${") {
            let kept = &value[value.trim_end().len()..];
            format!("{}{}****{kept}", &c[1], &c[2])
        } else {
            c[0].to_string()
        }
    });
    mask_url_credentials(&masked).into_owned()
}

/// Check every `${…}` of the values before serde-saphyr substitutes them.
///
/// serde-saphyr substitutes in plain scalars only, unless it follows Docker
/// Compose's rules, which substitute in every scalar (quoted ones too:
/// `password: "${PASS}"`, `{ listen: "${ADDR}" }`) but give an unset
/// `${NAME}` the empty string and read a bare `$NAME` as a reference. This
/// pass keeps onetrail's rules on top of Compose's: an unset `${NAME}`
/// without a default is an error naming it, and a bare `$NAME` must be
/// written `$$NAME` (a literal `$`) or `${NAME}`. It walks the parsed values,
/// so keys and comments are never looked at; a text that does not parse is
/// left to the real parse to report.
fn check_env_references(text: &str, vars: &HashMap<String, String>) -> Result<(), (u64, String)> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    // Per open collection: Some(next node is a key) for mappings, None for sequences.
    let mut stack: Vec<Option<bool>> = Vec::new();
    while let Some(Ok((ev, span))) = parser.next_event() {
        let node = matches!(
            ev,
            Event::Scalar(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Alias(..)
        );
        let is_key = match stack.last_mut() {
            Some(Some(expect_key)) if node => {
                let k = *expect_key;
                *expect_key = !k;
                k
            }
            _ => false,
        };
        match ev {
            Event::MappingStart(..) => stack.push(Some(true)),
            Event::SequenceStart(..) => stack.push(None),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(value, ..) if !is_key && value.contains('$') => {
                check_value_references(&value, vars)
                    .map_err(|msg| (span.start.line() as u64, msg))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`check_env_references`] for one value.
fn check_value_references(value: &str, vars: &HashMap<String, String>) -> Result<(), String> {
    let name_len = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let rest = &value[i + 2..];
                let n = name_len(rest);
                let name = &rest[..n];
                // `${NAME}` alone requires the variable; operators (`:-` …) do not.
                if rest[n..].starts_with('}') && !name.is_empty() && !vars.contains_key(name) {
                    return Err(format!(
                        "environment variable `{name}` is not set (referenced as `${{{name}}}`; use `${{{name}:-default}}` for a default)"
                    ));
                }
                i += 2;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let rest = &value[i + 1..];
                let name = &rest[..name_len(rest)];
                return Err(format!(
                    "`${name}` in a value: write `${{{name}}}` for the environment variable, or `$${name}` for a literal `$`"
                ));
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Replaces, in a message about the config, every value substituted for a
/// `${NAME}` of the file by that `${NAME}`, and masks URL credentials.
///
/// serde-saphyr already does this for its own errors; this covers ours
/// (validation after parsing echoes values such as `metrics.listen`). Values
/// shorter than [`ValueScrubber::MIN_LEN`] are left alone: replacing `1` or
/// `on` would garble line numbers and words, and a secret is never that short.
struct ValueScrubber {
    /// (value, `${NAME}`), longest value first.
    values: Vec<(String, String)>,
}

impl ValueScrubber {
    const MIN_LEN: usize = 4;

    fn new(text: &str, vars: &HashMap<String, String>) -> ValueScrubber {
        let mut values: Vec<(String, String)> = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            rest = &rest[i + 2..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            if let Some(v) = vars.get(name)
                && v.len() >= Self::MIN_LEN
                && !values.iter().any(|(x, _)| x == v)
            {
                values.push((v.clone(), format!("${{{name}}}")));
            }
        }
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        ValueScrubber { values }
    }

    fn apply(&self, msg: &str) -> String {
        let mut out = msg.to_string();
        for (v, name) in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), name);
            }
        }
        mask_url_credentials(&out).into_owned()
    }
}

/// `https://user:pass@host/x` → `https://user:****@host/x` (and
/// `https://token@host` → `https://****@host`), wherever a URL appears in
/// `text`: for every message that may quote an endpoint.
pub fn mask_url_credentials(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment or whitespace; a
        // password may hold quotes or `@`, so the last `@` before it counts.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                match authority[..at].split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":****");
                    }
                    None => out.push_str("****"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A secret (token, API key): never printed, not even in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret's value, for the one place that needs it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/onetrail")
}
fn default_shutdown_timeout() -> u64 {
    10
}
fn default_checkpoint_failure_exit() -> u64 {
    60
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where checkpoints live. Default `/var/lib/onetrail`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Sources by name. The name is part of the checkpoint key: renaming a
    /// source makes it start over.
    #[serde(default)]
    pub sources: BTreeMap<String, Spanned<SourceConfig>>,
    /// Sinks by name. Every event goes to every sink.
    #[serde(default)]
    pub sinks: BTreeMap<String, Spanned<SinkConfig>>,
    /// Credential redaction (always on).
    #[serde(default)]
    pub redaction: RedactionConfig,
    /// Seconds allowed, after SIGTERM, to deliver in-flight batches. Default 10.
    /// systemd's `TimeoutStopSec` should be a little larger.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// Seconds checkpoints may fail to be written (read-only or full
    /// `data_dir`) before the agent exits 1. Meanwhile sources read nothing
    /// new, `/health` answers 503 and writes are retried with backoff.
    /// Default 60.
    #[serde(default = "default_checkpoint_failure_exit")]
    pub checkpoint_failure_exit_secs: u64,
    /// Agent log settings.
    #[serde(default)]
    pub log: LogConfig,
    /// The agent's own HTTP endpoint: `/metrics` (Prometheus), `/health` and
    /// `/status` (read by `onetrail status`). Off unless set; the packaged
    /// `/etc/onetrail/onetrail.yaml` sets `listen: 127.0.0.1:9834`.
    pub metrics: Option<Spanned<MetricsConfig>>,
}

/// `metrics:` — the local observability endpoint.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to listen on, e.g. `127.0.0.1:9834`. Unauthenticated:
    /// keep it on localhost (or behind a firewall).
    pub listen: String,
}

impl MetricsConfig {
    /// The listen address (validated when the file is loaded).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.listen.parse().expect("validated in Config::validate")
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Replace every literal in statements with `?` (privacy). Default false.
    #[serde(default)]
    pub mask_literals: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error|warn|info|debug|trace`. Default `info` (or `RUST_LOG`).
    pub level: Option<String>,
    /// `text` (default) or `json`.
    pub format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// PostgreSQL server logs with pgaudit records.
    Pgaudit,
    /// MySQL-family audit plugin files.
    MysqlAudit,
    /// Oracle audit files tailed from disk (`format:` oracle-unified-syslog,
    /// oracle-aud, oracle-audit-xml, oracle-unified-csv).
    OracleAudit,
    /// SQL Server Audit, polled through `sys.fn_get_audit_file` (tiberius).
    Mssql,
    /// Oracle Unified Auditing, polled from `UNIFIED_AUDIT_TRAIL` (oracle crate).
    Oracle,
}

impl SourceType {
    /// Sources that poll a database rather than tail files.
    pub fn is_poller(self) -> bool {
        matches!(self, SourceType::Mssql | SourceType::Oracle)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Files without a checkpoint are read from their first byte (default:
    /// an audit trail should not start with a hole).
    #[default]
    Beginning,
    /// Files present at the first start are read from their end; files that
    /// appear later are still read from their beginning.
    End,
}

fn default_true() -> bool {
    true
}
fn default_poll_ms() -> u64 {
    250
}
fn default_quiet_ms() -> u64 {
    500
}
fn default_max_record() -> usize {
    onetrail_event::DEFAULT_MAX_RECORD_BYTES
}

/// One source. Which keys apply depends on `type`; keys of another type are
/// rejected by [`Config::validate`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    #[serde(rename = "type")]
    pub kind: SourceType,
    /// Glob patterns of the files to tail (`*`, `?`, `[...]`; no `**`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Glob patterns of files to ignore even though `paths` matches them
    /// (e.g. compressed rotations `*.gz`, which are skipped anyway).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// pgaudit: the former name of `format`, still accepted.
    pub log_format: Option<Spanned<String>>,
    /// pgaudit, stderr only: the server's `log_line_prefix` (`SHOW log_line_prefix`,
    /// or `onetrail detect FILE`); `auto` infers it from the newest file at start.
    /// Default `%m [%p] ` (PostgreSQL's default).
    pub log_line_prefix: Option<Spanned<String>>,
    /// File sources: the file format, a name `onetrail formats` prints
    /// (pgaudit also: `stderr`, `csvlog`, `jsonlog`; default `pgaudit-stderr`).
    pub format: Option<Spanned<String>>,
    /// Name of the database instance, copied to every event's `instance`.
    pub instance: Option<String>,
    /// Static context copied to every event's `context` (environment, owner, ...).
    #[serde(default)]
    pub context: Map<String, Value>,
    /// Where to start in files that have no checkpoint. Default `beginning`.
    /// `type: oracle`: `end` starts at the trail's newest record; `type:
    /// mssql` supports only `beginning`.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Forward server lines that are not audit records as `other` events
    /// (default true). With false they are skipped on purpose.
    #[serde(default = "default_true")]
    pub forward_other: bool,
    /// How often files are checked for new data when idle. Default 250 ms.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// After this long without new bytes, the last complete record of a file is
    /// emitted even though a continuation line could still follow; a last
    /// record without its final newline is emitted too (as `onetrail parse`
    /// does at the end of a file). Default 500 ms.
    #[serde(default = "default_quiet_ms")]
    pub quiet_flush_ms: u64,
    /// File sources: the largest record kept whole, in bytes (default 1 MiB;
    /// values below 16 KiB are raised to 16 KiB). A longer record — a huge
    /// statement any database user can get logged — is cut: its start and its
    /// last 4 KiB are kept and parsed, the bytes between are skipped as they
    /// are read, and its events carry `extra.truncated: true` and
    /// `extra.original_bytes`. This bounds the memory one record can take.
    #[serde(default = "default_max_record")]
    pub max_record_bytes: usize,
    // ---- Database-polling sources (`mssql`, `oracle`) ----
    /// mssql: server host name. oracle: see `connect_string`.
    pub host: Option<String>,
    /// mssql: TCP port (default 1433).
    pub port: Option<u16>,
    /// The login (SQL authentication / Oracle user).
    pub username: Option<String>,
    /// The password (use `${ENV}`), or `password_file`.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// mssql: `sql` (default) or `integrated` where supported.
    pub auth: Option<String>,
    /// mssql: database to connect to (default `master`).
    pub database: Option<String>,
    /// mssql: the audit files, as `sys.fn_get_audit_file`'s first argument
    /// (e.g. `/var/opt/mssql/audit/*.sqlaudit`, `D:\Audit\*.sqlaudit`).
    pub file_pattern: Option<String>,
    /// mssql: `required` (default), `off`, `not_supported`.
    pub encryption: Option<String>,
    /// mssql: accept any server certificate (only when set explicitly; warned at start).
    pub trust_server_certificate: Option<bool>,
    /// mssql/oracle: CA file for the server certificate.
    pub ca_file: Option<PathBuf>,
    /// oracle: Easy Connect string (`dbhost:1521/ORCLPDB1`) or TNS alias.
    pub connect_string: Option<String>,
    /// oracle: records may arrive this late (queued writes, spill-over files);
    /// each poll re-reads this window and de-duplicates. Default 300.
    pub lookback_secs: Option<u64>,
    /// oracle: call `DBMS_AUDIT_MGMT.FLUSH_UNIFIED_AUDIT_TRAIL` before each poll (12.1 queued mode).
    pub flush_before_poll: Option<bool>,
    /// oracle: after delivery, `DBMS_AUDIT_MGMT.SET_LAST_ARCHIVE_TIMESTAMP` (needs AUDIT_ADMIN). Default false.
    pub set_archive_timestamp: Option<bool>,
    /// Rows fetched per poll at most (default 5000).
    pub batch_rows: Option<u32>,
    /// oracle: most row keys remembered to de-duplicate the look-back window
    /// (about 100 bytes each; default 100000). When the window holds more rows,
    /// its oldest part is forgotten (rows arriving that late are then missed;
    /// a warning says so).
    pub dedup_max_keys: Option<usize>,
    /// oracle: the late sweep finds rows that arrive later than `lookback_secs`
    /// (a spill-over file loaded hours later) down to this far below the newest
    /// row: per-minute row counts are compared with Oracle's and only grown
    /// minutes are re-read. 0 turns it off. Default 86400.
    pub late_window_secs: Option<u64>,
    /// oracle: least seconds between two late sweeps. Default 60.
    pub late_sweep_secs: Option<u64>,
    // ---- Identity, context and trust (README "Identity, context and trust") ----
    /// Who is behind `db_user`: a chain of resolvers (`sqlcommenter`,
    /// `session`, `application_name`, `static_map`, in that order by default),
    /// first match wins. See `enrich::IdentityConfig` for every key.
    #[serde(default)]
    pub identity: crate::enrich::IdentityConfig,
    /// Data classification by object glob, case-insensitive:
    /// `{"public.patients*": phi, "billing.cards": [pci, pii]}`. Sets each
    /// event's `sensitivity`. Default none.
    #[serde(default)]
    pub sensitivity: BTreeMap<String, crate::enrich::Labels>,
    /// Which events are sent: `preset: all` (default, everything) or
    /// `recommended` (SELECT/`read` only on sensitive objects), and ordered
    /// `include`/`exclude` rules. `auth` failures, `dcl`, `audit_config`,
    /// `agent` and `unparsed` events and alerts are only dropped by a rule
    /// naming their category.
    #[serde(default)]
    pub filter: crate::enrich::FilterConfig,
    /// `compliance: { tags: true, privileged_users: [...] }` (docs/compliance.md).
    #[serde(default)]
    pub compliance: crate::enrich::ComplianceConfig,
    /// pgaudit: the server's `pgaudit.log` value (e.g. `all`), declared so
    /// that statement-id gaps within a session can be judged: with a value
    /// that logs everything (`all` with no `-class`), a gap is an `agent` `GAP`
    /// alert; otherwise (or unset, the default) only `extra.statement_id_gap`.
    pub pgaudit_log: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    /// Newline-delimited JSON appended to a local file.
    File,
    /// Newline-delimited JSON on standard output.
    Stdout,
    /// Splunk HTTP Event Collector.
    SplunkHec,
    /// Datadog Logs intake v2.
    Datadog,
    /// A syslog receiver over TCP or TLS (RFC 5424, CEF or LEEF messages).
    Syslog,
    /// Kafka topics, each message acknowledged by the brokers (`sinks::kafka`).
    Kafka,
}

/// syslog: the message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    /// RFC 5424 with structured data and the event JSON as MSG.
    #[default]
    Rfc5424,
    /// ArcSight Common Event Format.
    Cef,
    /// IBM QRadar Log Event Extended Format 2.0.
    Leef,
}

/// syslog: the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyslogProtocol {
    Tcp,
    #[default]
    Tls,
    /// rsyslog's Reliable Event Logging Protocol: every message acknowledged.
    Relp,
    /// RELP inside TLS (rsyslog `imrelp` with `tls="on"`).
    RelpTls,
    /// One datagram per message (RFC 5426), nothing acknowledged.
    Udp,
}

/// syslog: how messages are delimited on the stream (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum SyslogFraming {
    /// `<length> <message>`.
    #[default]
    #[serde(rename = "octet-counting")]
    OctetCounting,
    /// `<message>\n`.
    #[serde(rename = "newline")]
    Newline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// onetrail event v1, as documented in docs/schema.md.
    #[default]
    Native,
    /// OCSF 1.x classes.
    Ocsf,
    /// Splunk CIM field names.
    SplunkCim,
    /// Datadog standard attributes.
    Datadog,
}

fn default_batch_events() -> usize {
    500
}
fn default_batch_bytes() -> usize {
    1024 * 1024
}
fn default_batch_timeout_ms() -> u64 {
    1000
}

/// TLS settings of an HTTP sink. Verification is on unless `verify: false`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// kafka: TLS to the brokers. Default true.
    pub enabled: Option<bool>,
    pub verify: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// One sink. Which keys apply depends on `type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// file: the file to append to.
    pub path: Option<PathBuf>,
    /// How events are encoded. Default `native`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Most events per batch. Default 500.
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    /// Most encoded bytes per batch (before compression). Default 1 MiB.
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    /// Longest a partial batch waits before it is sent. Default 1000 ms.
    #[serde(default = "default_batch_timeout_ms")]
    pub batch_timeout_ms: u64,
    /// HTTP sinks: base URL (`https://splunk:8088`, `http://127.0.0.1:8080`).
    pub endpoint: Option<String>,
    /// splunk_hec: the HEC token (use `${ENV}`), or `token_file`.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub index: Option<String>,
    pub sourcetype: Option<String>,
    pub source: Option<String>,
    pub host: Option<String>,
    /// splunk_hec: wait for indexer acknowledgement before a batch counts as
    /// delivered (an answer without `ackId` then pauses the sink). Default false.
    #[serde(default)]
    pub acknowledgements: bool,
    /// datadog: the site (`datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, ...).
    pub site: Option<String>,
    /// datadog: the API key (use `${ENV}`), or `api_key_file`.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    pub service: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// HTTP sinks: gzip request bodies (`true`/`false`, default true);
    /// kafka: `none`, `gzip`, `lz4` or `zstd` (default none).
    pub compression: Option<Compression>,
    /// HTTP sinks: where events a receiver rejects as invalid are written, one
    /// JSON line per event with the reason (each time also an `agent`
    /// `DEAD_LETTER` event, `alert: true`). Default `<data_dir>/dead-letter/<sink>.jsonl`.
    pub dead_letter_path: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// splunk_hec with `acknowledgements: true`: how long to wait for the
    /// indexer acknowledgement of a request before sending it again. Default
    /// 300 s, the Splunk forwarder's convention (`useACK` resends after 300 s).
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: u64,
    /// splunk_hec with `acknowledgements: true`: the pause between two polls of
    /// `/services/collector/ack`. Default 1000 ms (Vector polls every 10 s, but
    /// it pipelines requests; onetrail waits for the ack before the next group).
    #[serde(default = "default_ack_poll_ms")]
    pub ack_poll_interval_ms: u64,
    /// HTTP sinks: timeout of one request (connect + send + response). Default 30 s.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// HTTP sinks: first retry delay; it doubles per attempt (full jitter) up to
    /// `retry_max_backoff_ms`. A `Retry-After` from the receiver wins. Default 1000 ms.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_backoff_ms: u64,
    /// HTTP sinks: longest retry delay. Default 60000 ms. Retries never stop:
    /// the source's log files are the buffer.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_backoff_ms: u64,
    /// HTTP sinks: while the receiver refuses the credentials (401/403, HEC
    /// token/index/channel errors) or answers with something other than its
    /// success form (a proxy's login page) the sink is paused: it tries again
    /// every `pause_retry_ms` and logs an error each time. Default 30000 ms.
    #[serde(default = "default_pause_retry_ms")]
    pub pause_retry_ms: u64,
    /// datadog: events older than this (at send time) are outside Datadog's
    /// intake window (18 h); they are sent late: `timestamp` is the send time,
    /// their own time is in `original_time` (RFC 3339) and `original_timestamp`
    /// (Unix ms), flagged `late: true`. Default 64800 s (18 h).
    #[serde(default = "default_max_event_age_secs")]
    pub max_event_age_secs: u64,
    /// splunk_hec: send indexed `fields` with every event (`event_id`, the
    /// de-duplication key; `db_system`; `category`; `instance` when set).
    /// Default true. They are searchable without extraction (`event_id::…`).
    #[serde(default = "default_true")]
    pub indexed_fields: bool,
    /// file: tamper-evident hash chain. Each line gets `chain: {seq, prev,
    /// hash}` (SHA-256 over a canonical encoding, see `chain`); the chain
    /// continues across restarts (state in `<data_dir>/chain/<sink>.json`),
    /// and `onetrail import` into the same sink continues it (it appends
    /// under the file's lock). Check a file with `onetrail verify FILE`.
    /// Default false.
    #[serde(default)]
    pub chain: bool,
    /// syslog: `host:port` of the receiver.
    pub address: Option<String>,
    /// syslog: `tcp`, `tls`, `relp`, `relp_tls` or `udp`. Default `tls`.
    #[serde(default)]
    pub protocol: SyslogProtocol,
    /// syslog: `octet-counting` or `newline`. Default `octet-counting`.
    #[serde(default)]
    pub framing: SyslogFraming,
    /// syslog: `rfc5424`, `cef` or `leef`. Default `rfc5424`.
    #[serde(default)]
    pub format: SyslogFormat,
    /// syslog: facility name. Default `local4`.
    pub facility: Option<String>,
    /// syslog: APP-NAME. Default `onetrail`.
    pub app_name: Option<String>,
    /// syslog: longest message. Default 65536 (udp: 2048, RFC 5426).
    /// kafka: longest message (key, value, header). Default 1000000.
    pub max_message_bytes: Option<usize>,
    /// kafka: the bootstrap brokers, `host:port` each.
    #[serde(default)]
    pub brokers: Vec<String>,
    /// kafka: the topic; may use `{engine}`, `{instance}`, `{category}`.
    pub topic: Option<String>,
    /// kafka: the message key (`session`, `id`, `instance`, `none`). Default `session`.
    pub key: Option<crate::sinks::kafka::config::KafkaKey>,
    /// kafka: SASL authentication.
    pub sasl: Option<crate::sinks::kafka::config::SaslConfig>,
}

/// `compression` of a sink: `true`/`false` (HTTP sinks: gzip or not) or a
/// codec name (kafka: `none`, `gzip`, `lz4`, `zstd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compression {
    Enabled(bool),
    Named(String),
}

impl Compression {
    /// HTTP sinks: whether to gzip bodies (`None`: the default, yes).
    pub fn gzip(c: &Option<Compression>) -> bool {
        !matches!(c, Some(Compression::Enabled(false)))
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Compression;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, or a codec name (none, gzip, lz4, zstd)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Compression, E> {
                Ok(Compression::Enabled(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Compression, E> {
                Ok(Compression::Named(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn default_ack_timeout_secs() -> u64 {
    300
}
fn default_ack_poll_ms() -> u64 {
    1000
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_retry_initial_ms() -> u64 {
    1000
}
fn default_retry_max_ms() -> u64 {
    60_000
}
fn default_pause_retry_ms() -> u64 {
    30_000
}
fn default_max_event_age_secs() -> u64 {
    18 * 3600
}

impl Config {
    /// Read, parse (substituting `${ENV}`) and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str_at(&text, path)
    }

    /// Parse config text with `${NAME}` taken from the process environment;
    /// `path` is used in error messages and to resolve relative paths
    /// (relative to the config file's directory).
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Config::from_str_with_vars(text, path, env)
    }

    /// [`Config::from_str_at`] with `${NAME}` taken from `vars`.
    ///
    /// `${NAME}`, `${NAME:-default}` and `$$` are substituted inside scalar
    /// values, quoted or not, *after* the YAML is parsed (serde-saphyr's
    /// `properties`), so a value may hold any character (`: `, ` #`, a
    /// leading `@` or `*`) without breaking or truncating the YAML, comments
    /// need no variable, and error snippets quote the file's own text (the
    /// library also scrubs substituted values from its messages). Messages
    /// that would still carry a substituted value (ours, after parsing) get
    /// it replaced by its `${NAME}` ([`ValueScrubber`]), and URL credentials
    /// are masked. Unset variables: [`check_env_references`].
    pub fn from_str_with_vars(
        text: &str,
        path: &Path,
        vars: HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let scrub = ValueScrubber::new(text, &vars);
        check_env_references(text, &vars).map_err(|(line, msg)| {
            ConfigError::At {
                path: path.to_path_buf(),
                line,
                msg,
            }
            .with_snippet(text)
        })?;
        let problems = schema::check(text);
        if !problems.is_empty() {
            let problems = problems
                .into_iter()
                .map(|p| Problem {
                    snippet: snippet(text, p.line),
                    line: p.line,
                    msg: p.msg,
                })
                .collect();
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }
            .scrubbed(&scrub));
        }
        let mut opts = serde_saphyr::Options::default().with_properties(vars);
        opts.property_syntax = serde_saphyr::PropertySyntax::DockerCompose;
        let mut cfg: Config = serde_saphyr::from_str_with_options(text, opts)
            .map_err(|e| serde_error(&e, text, path).scrubbed(&scrub))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_relative(base);
        cfg.validate(path)
            .map_err(|e| e.with_snippet(text).scrubbed(&scrub))?;
        Ok(cfg)
    }

    fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        for src in self.sources.values_mut() {
            for p in src
                .value
                .paths
                .iter_mut()
                .chain(src.value.exclude.iter_mut())
            {
                if Path::new(p.as_str()).is_relative() {
                    *p = base.join(&*p).to_string_lossy().into_owned();
                }
            }
            // Database-polling sources' secret and CA files.
            for p in [&mut src.value.password_file, &mut src.value.ca_file]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
        }
        for sink in self.sinks.values_mut() {
            let s = &mut sink.value;
            for p in [
                &mut s.path,
                &mut s.token_file,
                &mut s.api_key_file,
                &mut s.dead_letter_path,
                &mut s.tls.ca_file,
                &mut s.tls.client_cert,
                &mut s.tls.client_key,
            ]
            .into_iter()
            .flatten()
            {
                fix(p);
            }
            if let Some(p) = s.sasl.as_mut().and_then(|a| a.password_file.as_mut()) {
                fix(p);
            }
        }
    }

    /// Type-specific rules serde cannot express.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |line: u64, msg: String| ConfigError::At {
            path: path.to_path_buf(),
            line,
            msg,
        };
        if self.sources.is_empty() {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                msg: "no `sources:` configured; add at least one (see deploy/examples/)".into(),
            });
        }
        if self.sinks.is_empty() {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                msg: "no `sinks:` configured; add at least one, e.g. `console: { type: stdout }`"
                    .into(),
            });
        }
        if let Some(m) = &self.metrics
            && m.value.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(err(
                m.referenced.line(),
                format!(
                    "metrics.listen: `{}` is not a host:port address (e.g. 127.0.0.1:9834)",
                    m.value.listen
                ),
            ));
        }
        for (name, src) in &self.sources {
            let line = src.referenced.line();
            let s = &src.value;
            // Patterns with a `${…}` are only known now (the others were
            // checked with their own line by `schema::check`).
            for p in s.paths.iter().chain(&s.exclude) {
                if let Err(e) = glob::Pattern::new(p) {
                    return Err(err(
                        line,
                        format!(
                            "sources.{name}: `{p}` is not a valid glob pattern: {}",
                            e.msg
                        ),
                    ));
                }
            }
            if s.paths.is_empty() && !s.kind.is_poller() {
                return Err(err(
                    line,
                    format!("sources.{name}: `paths` is required (glob patterns of the log files)"),
                ));
            }
            match s.kind {
                SourceType::Pgaudit => {
                    if let (Some(p), Some(fmt)) = (&s.log_line_prefix, self.format_name(name))
                        && fmt != "pgaudit-stderr"
                    {
                        return Err(err(
                            p.referenced.line(),
                            format!(
                                "sources.{name}.log_line_prefix: only used with `format: pgaudit-stderr` (`stderr`), not `{fmt}`"
                            ),
                        ));
                    }
                }
                SourceType::Mssql if s.read_from == ReadFrom::End => {
                    return Err(err(
                        line,
                        format!(
                            "sources.{name}.read_from: `end` is not supported for `type: mssql`: sys.fn_get_audit_file can only start at the oldest file or at a checkpoint. Remove the key: the first start reads the whole trail once, and events a receiver already has keep their deterministic `id`"
                        ),
                    ));
                }
                SourceType::Mssql | SourceType::Oracle => {}
                SourceType::MysqlAudit | SourceType::OracleAudit => {}
            }
            if !s.kind.is_poller() {
                self.check_format(name, s, line)
                    .map_err(|(l, m)| err(l, m))?;
            }
            if s.kind.is_poller() {
                if let Err(e) = crate::pollers::validate(self, name) {
                    return Err(err(line, format!("sources.{name}: {e}")));
                }
            } else if let Err(e) = crate::formats::build(self, name) {
                return Err(err(line, format!("sources.{name}: {e}")));
            }
            if let Err(e) = crate::enrich::Enricher::build(
                crate::enrich::EnrichConfig::from_source(name, s, false),
            ) {
                return Err(err(line, format!("sources.{name}: {e}")));
            }
        }
        for (name, sink) in &self.sinks {
            let line = sink.referenced.line();
            let s = &sink.value;
            match s.kind {
                SinkType::File if s.path.is_none() => {
                    return Err(err(
                        line,
                        format!("sinks.{name}: `path` is required for `type: file`"),
                    ));
                }
                SinkType::SplunkHec => {
                    if s.endpoint.is_none() {
                        return Err(err(
                            line,
                            format!("sinks.{name}: `endpoint` is required for `type: splunk_hec`"),
                        ));
                    }
                    if s.token.is_none() && s.token_file.is_none() {
                        return Err(err(
                            line,
                            format!(
                                "sinks.{name}: set `token: ${{SPLUNK_HEC_TOKEN}}` or `token_file:`"
                            ),
                        ));
                    }
                }
                SinkType::Syslog => {
                    if let Err(e) = crate::sinks::syslog::validate(s) {
                        return Err(err(line, format!("sinks.{name}: {e}")));
                    }
                }
                SinkType::Kafka => {}
                SinkType::Datadog if s.api_key.is_none() && s.api_key_file.is_none() => {
                    return Err(err(
                        line,
                        format!("sinks.{name}: set `api_key: ${{DD_API_KEY}}` or `api_key_file:`"),
                    ));
                }
                _ => {}
            }
            if let Err(e) = crate::sinks::kafka::config::validate(s) {
                return Err(err(line, format!("sinks.{name}: {e}")));
            }
            if s.chain && s.kind != SinkType::File {
                return Err(err(
                    line,
                    format!("sinks.{name}.chain: only `type: file` sinks can be hash-chained"),
                ));
            }
            if s.batch_max_events == 0 {
                return Err(err(
                    line,
                    format!("sinks.{name}.batch_max_events must be > 0"),
                ));
            }
        }
        Ok(())
    }

    /// The parser format name of a file source (`pgaudit-stderr`,
    /// `mariadb-server-audit`, ...): its `format` (or, pgaudit, `log_format`),
    /// `None` when unset (except pgaudit: `pgaudit-stderr`) or not a format
    /// of the source's type.
    pub fn format_name(&self, source: &str) -> Option<&'static str> {
        let s = &self.sources.get(source)?.value;
        let given = s.format.as_ref().or(s.log_format.as_ref());
        let v = match (s.kind, given) {
            (_, Some(f)) => f.value.as_str(),
            (SourceType::Pgaudit, None) => "pgaudit-stderr",
            (_, None) => return None,
        };
        let v = match (s.kind, v) {
            // PostgreSQL's own `log_destination` names.
            (SourceType::Pgaudit, "stderr") => "pgaudit-stderr",
            (SourceType::Pgaudit, "csvlog") => "pgaudit-csvlog",
            (SourceType::Pgaudit, "jsonlog") => "pgaudit-jsonlog",
            (_, v) => v,
        };
        crate::formats::formats_of(s.kind)
            .iter()
            .find(|n| **n == v)
            .copied()
    }

    /// The parser format name of a pgaudit source (see [`Config::format_name`]).
    pub fn pg_format_name(&self, source: &str) -> Option<&'static str> {
        self.format_name(source)
    }

    /// `format` / `log_format` of file source `name`: set once, and a
    /// format of its type. `Err((line, message))`.
    fn check_format(&self, name: &str, s: &SourceConfig, line: u64) -> Result<(), (u64, String)> {
        let ty = snake_case_type(s.kind);
        let (key, given) = match (&s.format, &s.log_format) {
            (Some(_), Some(l)) => {
                return Err((
                    l.referenced.line(),
                    format!(
                        "sources.{name}: `log_format` is the former name of `format`; set only `format`"
                    ),
                ));
            }
            (Some(f), None) => ("format", Some(f)),
            (None, Some(l)) => ("log_format", Some(l)),
            (None, None) => ("format", None),
        };
        if self.format_name(name).is_some() {
            return Ok(());
        }
        let names = crate::formats::formats_of(s.kind);
        let Some(given) = given else {
            return Err((
                line,
                format!(
                    "sources.{name}: `format` is required for `type: {ty}`: one of {} (see `onetrail formats`)",
                    names.join(", ")
                ),
            ));
        };
        let v = given.value.as_str();
        let hint = schema::suggest(v, names.iter().copied())
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        let other = match crate::formats::engine_of(v) {
            Some(_) => format!("`{v}` is not a format of `type: {ty}`"),
            None => format!("unknown format `{v}`"),
        };
        Err((
            given.referenced.line(),
            format!(
                "sources.{name}.{key}: {other}; {hint}expected one of {}{}",
                names.join(", "),
                if s.kind == SourceType::Pgaudit {
                    " (or stderr, csvlog, jsonlog)"
                } else {
                    ""
                }
            ),
        ))
    }
}

/// A serde-saphyr error as one [`Problem`] in the operator's words: the
/// library's user-facing message, our own `file:line:` and snippet (its own
/// rendering starts with `error:` and names the file `<input>`).
fn serde_error(e: &serde_saphyr::Error, text: &str, path: &Path) -> ConfigError {
    use serde_saphyr::MessageFormatter;
    let inner = e.without_snippet();
    let msg = serde_saphyr::UserMessageFormatter
        .format_message(inner)
        .into_owned();
    let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
    // The key on that line, to name it (serde-saphyr's message does not).
    let key = line
        .and_then(|l| text.lines().nth(usize::try_from(l).ok()? - 1))
        .and_then(|t| {
            let t = t.trim_start().trim_start_matches("- ");
            let k = &t[..t.find(':')?];
            (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(k)
        });
    let plain = match msg.as_str() {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid usize" => {
            Some("must be a whole number".to_string())
        }
        "invalid bool" => Some("must be `true` or `false`".to_string()),
        _ => None,
    };
    // Only for errors about a value; a syntax error's line holds no culprit key.
    let about_value = matches!(
        inner,
        serde_saphyr::Error::SerdeInvalidType { .. }
            | serde_saphyr::Error::SerdeInvalidValue { .. }
            | serde_saphyr::Error::InvalidScalar { .. }
            | serde_saphyr::Error::SerdeUnknownVariant { .. }
            | serde_saphyr::Error::SerdeUnknownField { .. }
            | serde_saphyr::Error::SerdeInvalidLength { .. }
            | serde_saphyr::Error::SerdeMissingField { .. }
    );
    let key = key.filter(|_| about_value);
    let msg = match (key, plain) {
        (Some(k), Some(p)) => format!("`{k}` {p}"),
        (Some(k), None) => format!("`{k}`: {msg}"),
        (None, _) => msg,
    };
    match line {
        Some(line) => ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem {
                line,
                msg,
                snippet: snippet(text, line),
            }],
        },
        None => ConfigError::Syntax {
            path: path.to_path_buf(),
            msg,
        },
    }
}

/// `type:` as written in the file.
fn snake_case_type(k: SourceType) -> &'static str {
    match k {
        SourceType::Pgaudit => "pgaudit",
        SourceType::MysqlAudit => "mysql_audit",
        SourceType::OracleAudit => "oracle_audit",
        SourceType::Mssql => "mssql",
        SourceType::Oracle => "oracle",
    }
}

/// Read a secret from a `*_file` key: the file's content without the trailing newline.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    let s = s.trim_end_matches(['\n', '\r']);
    if s.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    Ok(Secret::new(s))
}

#[cfg(test)]
mod error_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
data_dir: /var/lib/onetrail
sources:
  pg_main:
    type: pgaudit
    paths: ["/var/log/postgresql/*.log"]
    log_format: stderr            # stderr | csvlog | jsonlog | pgauditlogtofile
    log_line_prefix: "%m [%p] %q%u@%d "
    instance: pg-prod-1
    context: { environment: prod }
sinks:
  archive: { type: file, path: /var/lib/onetrail/events.jsonl }
  console: { type: stdout }
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_at(text, Path::new("/etc/onetrail/onetrail.yaml"))
    }

    #[test]
    fn the_documented_shape_parses() {
        let c = parse(GOOD).unwrap();
        let s = &c.sources["pg_main"].value;
        assert_eq!(s.kind, SourceType::Pgaudit);
        assert_eq!(s.instance.as_deref(), Some("pg-prod-1"));
        assert_eq!(s.context["environment"], "prod");
        assert_eq!(c.pg_format_name("pg_main"), Some("pgaudit-stderr"));
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.shutdown_timeout_secs, 10);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let bad = GOOD.replace("    instance: pg-prod-1", "    instanse: pg-prod-1");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("/etc/onetrail/onetrail.yaml"), "{e}");
        assert!(e.contains("instanse"), "{e}");
        assert!(e.contains(":9:"), "{e}");
    }

    #[test]
    fn wrong_key_for_type_is_named() {
        let bad = GOOD.replace("log_format: stderr", "file_pattern: x");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains(":7:") && e.contains("`file_pattern`"), "{e}");
    }

    #[test]
    fn bad_log_format_value() {
        let bad = GOOD.replace("log_format: stderr", "log_format: xml");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("unknown format `xml`"), "{e}");
    }

    /// A token made of everything that broke the YAML or was cut when
    /// `${VAR}` was expanded in the text before parsing.
    const NASTY: &str = "@tok: en # not a comment *x \"q' {[|- ?}";

    fn with_vars(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_str_with_vars(text, Path::new("/etc/onetrail/onetrail.yaml"), vars)
    }

    fn hec_config(token_line: &str) -> String {
        format!(
            "sources:\n  pg:\n    type: pgaudit\n    paths: [/var/log/pg/*.log]\n    context: {{ env: \"a$$b ${{UNSET_X:-dflt}}\" }}\nsinks:\n  hec:\n    type: splunk_hec\n    endpoint: https://splunk:8088\n{token_line}\n"
        )
    }

    #[test]
    fn env_references_are_substituted_inside_values_whatever_they_hold() {
        for line in [
            "    token: ${TOK}",
            "    token: \"${TOK}\"",
            "    token: '${TOK}'",
            "    token: ${TOK}   # a comment after it",
        ] {
            let c = with_vars(&hec_config(line), &[("TOK", NASTY)])
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            let sink = &c.sinks["hec"].value;
            assert_eq!(sink.token.as_ref().unwrap().expose(), NASTY, "{line}");
            // `$$` is one `$`; `${X:-d}` takes the default when X is unset.
            assert_eq!(c.sources["pg"].value.context["env"], "a$b dflt");
        }
        // In a flow mapping a reference must be quoted: still substituted.
        let flow = "sources: { pg: { type: pgaudit, paths: [/l/*.log] } }\nsinks: { hec: { type: splunk_hec, endpoint: \"https://s:8088\", token: \"${TOK}\", batch_max_events: \"${N}\" } }\n";
        let c = with_vars(flow, &[("TOK", NASTY), ("N", "7")]).unwrap();
        assert_eq!(c.sinks["hec"].value.token.as_ref().unwrap().expose(), NASTY);
        assert_eq!(c.sinks["hec"].value.batch_max_events, 7);
    }

    #[test]
    fn an_unset_variable_is_named_and_commented_references_need_none() {
        let e = with_vars(&hec_config("    token: ${NOPE_TOKEN}"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("NOPE_TOKEN"), "{e}");
        assert!(e.contains("line 10") || e.contains(":10:"), "{e}");
        let c = with_vars(
            &hec_config("    token: t # was ${NOPE_TOKEN}\n    # token: ${NOPE_TOKEN}"),
            &[],
        )
        .unwrap();
        assert_eq!(c.sinks["hec"].value.token.as_ref().unwrap().expose(), "t");
        // Quoted, and nested in a default.
        let e = with_vars(&hec_config("    token: \"${NOPE_TOKEN}\""), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`NOPE_TOKEN` is not set") && e.contains(":10:"),
            "{e}"
        );
        let e = with_vars(&hec_config("    token: ${A:-${NOPE_TOKEN}}"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`NOPE_TOKEN` is not set"), "{e}");
        // A bare `$NAME` is neither silently a variable nor silently dropped.
        let e = with_vars(&hec_config("    token: pa$word"), &[("word", "x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`$word`") && e.contains("$$word"), "{e}");
        let c = with_vars(&hec_config("    token: pa$$word$"), &[]).unwrap();
        assert_eq!(
            c.sinks["hec"].value.token.as_ref().unwrap().expose(),
            "pa$word$"
        );
    }

    #[test]
    fn config_errors_never_show_a_substituted_value() {
        let cases = [
            // An unknown key next to the reference.
            "    token: ${TOK}\n    tokn: ${TOK}",
            // The value in a key of the wrong type.
            "    token: ${TOK}\n    batch_max_events: ${TOK}",
            "    token: ${TOK}\n    compression: ${TOK}",
            // A value our own validation quotes.
            "    token: ${TOK}\nmetrics: { listen: \"${TOK}\" }",
        ];
        for case in cases {
            let e = with_vars(&hec_config(case), &[("TOK", NASTY)])
                .expect_err(case)
                .to_string();
            assert!(!e.contains(NASTY), "{case}:\n{e}");
            assert!(!e.contains("@tok"), "{case}:\n{e}");
            assert!(e.contains("/etc/onetrail/onetrail.yaml"), "{e}");
        }
        let e = with_vars(
            &hec_config("    token: ${TOK}\n    tokn: x"),
            &[("TOK", NASTY)],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("tokn") && e.contains(":11:"), "{e}");
    }

    #[test]
    fn url_credentials_are_masked() {
        let m = |s: &str| mask_url_credentials(s).into_owned();
        assert_eq!(
            m("`endpoint: https://bob:s3cr:et@splunk:8088/x` bad"),
            "`endpoint: https://bob:****@splunk:8088/x` bad"
        );
        assert_eq!(
            m("http://tok3n@h and http://h2/a@b"),
            "http://****@h and http://h2/a@b"
        );
        assert_eq!(m("https://u:p\"@q@h:1"), "https://u:****@h:1");
        assert_eq!(m("no url here: a@b"), "no url here: a@b");
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
