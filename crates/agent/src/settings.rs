//! The configuration's types: what each key of the YAML file becomes. Every
//! default lives here, next to the key it belongs to. Loading, checking and
//! error reporting are [`crate::config`]'s; the sinks' keys are
//! `onetrail_sinks::config`'s, enrichment's `onetrail_enrich`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

pub use onetrail_core::secrets::{Secret, mask_url_credentials, read_secret_file};

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

pub use crate::tail::ReadFrom;

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
    pub identity: onetrail_enrich::IdentityConfig,
    /// Data classification by object glob, case-insensitive:
    /// `{"public.patients*": phi, "billing.cards": [pci, pii]}`. Sets each
    /// event's `sensitivity`. Default none.
    #[serde(default)]
    pub sensitivity: BTreeMap<String, onetrail_enrich::Labels>,
    /// Which events are sent: `preset: all` (default, everything) or
    /// `recommended` (SELECT/`read` only on sensitive objects), and ordered
    /// `include`/`exclude` rules. `auth` failures, `dcl`, `audit_config`,
    /// `agent` and `unparsed` events and alerts are only dropped by a rule
    /// naming their category.
    #[serde(default)]
    pub filter: onetrail_enrich::FilterConfig,
    /// `compliance: { tags: true, privileged_users: [...] }` (docs/compliance.md).
    #[serde(default)]
    pub compliance: onetrail_enrich::ComplianceConfig,
    /// pgaudit: the server's `pgaudit.log` value (e.g. `all`), declared so
    /// that statement-id gaps within a session can be judged: with a value
    /// that logs everything (`all` with no `-class`), a gap is an `agent` `GAP`
    /// alert; otherwise (or unset, the default) only `extra.statement_id_gap`.
    pub pgaudit_log: Option<String>,
}

pub use onetrail_encode::Encoding;
pub use onetrail_sinks::config::{
    SinkConfig, SinkType, SyslogFormat, SyslogFraming, SyslogProtocol, TlsConfig,
};

impl SourceConfig {
    /// What enrichment needs from this source.
    pub fn enrich_config(&self, name: &str, mask_literals: bool) -> onetrail_enrich::EnrichConfig {
        onetrail_enrich::EnrichConfig {
            instance: self.instance.clone(),
            context: self.context.clone(),
            mask_literals,
            source_name: Some(name.to_string()),
            identity: self.identity.clone(),
            sensitivity: self.sensitivity.clone(),
            filter: self.filter.clone(),
            compliance: self.compliance.clone(),
            pgaudit_log: self.pgaudit_log.clone(),
        }
    }
}
