//! Every key of the config file: which source or sink types take it, its
//! shape, type, default and one line of meaning.
//!
//! This table is what the loader checks a file against before serde sees it
//! (unknown keys with a "did you mean", keys of another type, wrong shapes,
//! duplicates: [`super::schema`]) and what `docs/config.md` is generated from
//! ([`reference_markdown`], `onetrail config-doc`). A test compares the table
//! with the serde structs' own field lists, so a field without a line here
//! fails `cargo test -p onetrail-agent --lib config`.

/// One key.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    /// The source or sink types that take this key; empty: every type.
    pub types: &'static [&'static str],
    /// What the YAML value must look like.
    pub shape: Shape,
    /// The type as the docs show it (`string`, `integer (ms)`, ...).
    pub ty: &'static str,
    /// The default as the docs show it; [`REQUIRED`] when there is none.
    pub default: &'static str,
    /// One line of meaning.
    pub doc: &'static str,
}

/// The `default` of a key that must be set.
pub const REQUIRED: &str = "required";

/// The YAML shape of a key's value.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A single value (string, number, boolean).
    Scalar,
    /// A sequence; `what` names its items and `example` is a valid value.
    List {
        what: &'static str,
        example: &'static str,
    },
    /// A mapping whose keys are free (checked by serde, if at all).
    Map { example: &'static str },
    /// A mapping whose keys are listed.
    Section(&'static [Key]),
}

const fn key(
    name: &'static str,
    types: &'static [&'static str],
    ty: &'static str,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        name,
        types,
        shape: Shape::Scalar,
        ty,
        default,
        doc,
    }
}

const fn list(
    name: &'static str,
    types: &'static [&'static str],
    what: &'static str,
    example: &'static str,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        name,
        types,
        shape: Shape::List { what, example },
        ty: "list",
        default,
        doc,
    }
}

const fn map(
    name: &'static str,
    types: &'static [&'static str],
    example: &'static str,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        name,
        types,
        shape: Shape::Map { example },
        ty: "mapping",
        default,
        doc,
    }
}

const fn section(
    name: &'static str,
    types: &'static [&'static str],
    keys: &'static [Key],
    doc: &'static str,
) -> Key {
    Key {
        name,
        types,
        shape: Shape::Section(keys),
        ty: "mapping",
        default: "see below",
        doc,
    }
}

/// Source types (`type:` of a source), in the order the docs list them.
pub const SOURCE_TYPES: &[&str] = &["pgaudit", "mysql_audit", "oracle_audit", "mssql", "oracle"];
/// Sink types (`type:` of a sink).
pub const SINK_TYPES: &[&str] = &["file", "stdout", "splunk_hec", "datadog", "syslog", "kafka"];

const FILES: &[&str] = &["pgaudit", "mysql_audit", "oracle_audit"];
const PG: &[&str] = &["pgaudit"];
const MSSQL: &[&str] = &["mssql"];
const ORACLE: &[&str] = &["oracle"];
const POLLERS: &[&str] = &["mssql", "oracle"];
const ALL: &[&str] = &[];

const FILE: &[&str] = &["file"];
const HEC: &[&str] = &["splunk_hec"];
const DD: &[&str] = &["datadog"];
const HTTP: &[&str] = &["splunk_hec", "datadog"];
const SYSLOG: &[&str] = &["syslog"];
const NET: &[&str] = &["splunk_hec", "datadog", "syslog"];
const KAFKA: &[&str] = &["kafka"];
/// Sinks that talk to a remote receiver (TLS, retries).
const REMOTE: &[&str] = &["splunk_hec", "datadog", "syslog", "kafka"];
const HTTP_KAFKA: &[&str] = &["splunk_hec", "datadog", "kafka"];
const SYSLOG_KAFKA: &[&str] = &["syslog", "kafka"];

/// The top level of the file.
pub const TOP: &[Key] = &[
    key(
        "data_dir",
        ALL,
        "path",
        "`/var/lib/onetrail`",
        "Where checkpoints, chain state and dead-letter files live.",
    ),
    map(
        "sources",
        ALL,
        "{ pg_main: { type: pgaudit, paths: [\"/var/log/postgresql/*.log\"] } }",
        REQUIRED,
        "Sources by name (next sections). The name is part of the checkpoint key: renaming a source makes it start over.",
    ),
    map(
        "sinks",
        ALL,
        "{ console: { type: stdout } }",
        REQUIRED,
        "Sinks by name (next sections). Every event goes to every sink.",
    ),
    section(
        "redaction",
        ALL,
        REDACTION,
        "Statement redaction beyond credentials (credentials are always redacted).",
    ),
    key(
        "shutdown_timeout_secs",
        ALL,
        "integer (s)",
        "10",
        "Time allowed after SIGTERM to deliver in-flight batches; requests still open then are dropped (their events stay undelivered and are read again at the next start). The unit's `TimeoutStopSec` must be larger.",
    ),
    key(
        "checkpoint_failure_exit_secs",
        ALL,
        "integer (s)",
        "60",
        "How long checkpoints may fail to be written (read-only or full `data_dir`) before the agent exits 1; meanwhile sources read nothing new and `/health` answers 503.",
    ),
    section("log", ALL, LOG, "The agent's own log."),
    section(
        "metrics",
        ALL,
        METRICS,
        "The agent's HTTP endpoint: `/metrics` (Prometheus), `/health`, `/status` (read by `onetrail status`). Off unless set.",
    ),
];

pub const REDACTION: &[Key] = &[key(
    "mask_literals",
    ALL,
    "bool",
    "false",
    "Replace every literal in statements with `?` (privacy).",
)];

pub const LOG: &[Key] = &[
    key(
        "level",
        ALL,
        "`error` | `warn` | `info` | `debug` | `trace`",
        "`info` (or `RUST_LOG`)",
        "Least severe level logged.",
    ),
    key(
        "format",
        ALL,
        "`text` | `json`",
        "`text`",
        "Log line format.",
    ),
];

pub const METRICS: &[Key] = &[key(
    "listen",
    ALL,
    "`host:port`",
    REQUIRED,
    "Address to listen on, e.g. `127.0.0.1:9834`. Unauthenticated: keep it on localhost.",
)];

/// `sources.<name>:`.
pub const SOURCE: &[Key] = &[
    key(
        "type",
        ALL,
        "`pgaudit` | `mysql_audit` | `oracle_audit` | `mssql` | `oracle`",
        REQUIRED,
        "What the source reads: pgaudit in PostgreSQL's log, MySQL-family audit files, Oracle audit files, or a SQL Server / Oracle database it polls.",
    ),
    list(
        "paths",
        FILES,
        "glob patterns",
        "[\"/var/log/postgresql/*.log\"]",
        REQUIRED,
        "Glob patterns of the files to tail (`*`, `?`, `[...]`; no `**`).",
    ),
    list(
        "exclude",
        FILES,
        "glob patterns",
        "[\"*.gz\"]",
        "none",
        "Glob patterns of files to skip even though `paths` matches them (compressed rotations are skipped anyway).",
    ),
    key(
        "format",
        FILES,
        "a name from `onetrail formats`",
        "pgaudit: `pgaudit-stderr`; others: required",
        "The file format. pgaudit also takes PostgreSQL's `log_destination` names `stderr`, `csvlog`, `jsonlog`.",
    ),
    key(
        "log_format",
        PG,
        "as `format`",
        "—",
        "The former name of `format` for pgaudit sources, still accepted (set one of the two).",
    ),
    key(
        "log_line_prefix",
        PG,
        "string",
        "`%m [%p] `",
        "With `pgaudit-stderr`: the server's `log_line_prefix` (`SHOW log_line_prefix;`, or `onetrail detect FILE`); `auto` infers it from the newest file at start and logs it.",
    ),
    key(
        "instance",
        ALL,
        "string",
        "none",
        "Name of the database instance, copied to every event's `instance`.",
    ),
    map(
        "context",
        ALL,
        "{ environment: prod }",
        "none",
        "Static fields copied to every event's `context` (environment, owner, ...).",
    ),
    key(
        "read_from",
        ALL,
        "`beginning` | `end`",
        "`beginning`",
        "Where to start without a checkpoint: files present at the first start are read from their end with `end`; oracle: the newest record; mssql: `beginning` only.",
    ),
    key(
        "forward_other",
        FILES,
        "bool",
        "true",
        "Forward server lines that are not audit records as `other` events; false skips them on purpose.",
    ),
    key(
        "poll_interval_ms",
        ALL,
        "integer (ms)",
        "250",
        "How often files are checked for new data when idle, or the database is polled (at least 100 ms for pollers).",
    ),
    key(
        "quiet_flush_ms",
        FILES,
        "integer (ms)",
        "500",
        "After this long without new bytes, a file's last complete record is emitted even though a continuation line could follow.",
    ),
    key(
        "max_record_bytes",
        ALL,
        "integer (bytes)",
        "1048576 (at least 16384)",
        "Largest record kept whole; a longer one keeps its start and last 4 KiB and is flagged `extra.truncated`.",
    ),
    key("host", MSSQL, "string", REQUIRED, "SQL Server host name."),
    key("port", MSSQL, "integer", "1433", "SQL Server TCP port."),
    key(
        "username",
        POLLERS,
        "string",
        REQUIRED,
        "The login (SQL authentication / Oracle user with AUDIT_VIEWER).",
    ),
    key(
        "password",
        POLLERS,
        "secret",
        "`password` or `password_file` required",
        "The password; write `${ENV}`, never the value itself.",
    ),
    key(
        "password_file",
        POLLERS,
        "path",
        "none",
        "File holding the password (trailing newline ignored).",
    ),
    key(
        "auth",
        MSSQL,
        "`sql`",
        "`sql`",
        "Authentication; `integrated` (Kerberos) is not supported by this build.",
    ),
    key(
        "database",
        MSSQL,
        "string",
        "`master`",
        "Database to connect to.",
    ),
    key(
        "file_pattern",
        MSSQL,
        "string",
        REQUIRED,
        "The audit files as `sys.fn_get_audit_file`'s first argument (`/var/opt/mssql/audit/*.sqlaudit`, `D:\\Audit\\*.sqlaudit`).",
    ),
    key(
        "encryption",
        MSSQL,
        "`required` | `off` | `not_supported`",
        "`required`",
        "TLS to the server.",
    ),
    key(
        "trust_server_certificate",
        MSSQL,
        "bool",
        "false",
        "Accept any server certificate (warned at start).",
    ),
    key(
        "ca_file",
        MSSQL,
        "path",
        "system trust store",
        "CA of the server certificate.",
    ),
    key(
        "connect_string",
        ORACLE,
        "string",
        REQUIRED,
        "Easy Connect string (`dbhost:1521/ORCLPDB1`) or TNS alias.",
    ),
    key(
        "lookback_secs",
        ORACLE,
        "integer (s)",
        "300",
        "Records may arrive this late; each poll re-reads this window and de-duplicates.",
    ),
    key(
        "late_window_secs",
        ORACLE,
        "integer (s)",
        "86400",
        "How far back the late sweep looks for rows committed after the look-back window; 0 turns it off.",
    ),
    key(
        "late_sweep_secs",
        ORACLE,
        "integer (s)",
        "60",
        "Least time between two late sweeps (a per-minute COUNT compared with what was sent).",
    ),
    key(
        "flush_before_poll",
        ORACLE,
        "bool",
        "false",
        "Call `DBMS_AUDIT_MGMT.FLUSH_UNIFIED_AUDIT_TRAIL` before each poll (12.1 queued mode).",
    ),
    key(
        "set_archive_timestamp",
        ORACLE,
        "bool",
        "false",
        "After delivery, `DBMS_AUDIT_MGMT.SET_LAST_ARCHIVE_TIMESTAMP` (needs AUDIT_ADMIN).",
    ),
    key(
        "batch_rows",
        POLLERS,
        "integer",
        "5000",
        "Rows fetched per poll at most.",
    ),
    key(
        "dedup_max_keys",
        ORACLE,
        "integer",
        "100000",
        "Row keys remembered to de-duplicate the look-back window (~100 bytes each); past it the oldest are forgotten, with a warning.",
    ),
    map(
        "identity",
        ALL,
        "{ static_map: [{ db_user: svc_batch, actor: \"Dana Ops\" }] }",
        "resolvers `[sqlcommenter, session, application_name, static_map]`",
        "Who is behind `db_user`: `resolvers`, `static_map`, `application_name`, `comment_keys`, `max_sessions` (README \"Identity, context and trust\").",
    ),
    map(
        "sensitivity",
        ALL,
        "{ \"public.patients*\": phi, \"billing.cards\": [pci, pii] }",
        "none",
        "Data classification by object glob (case-insensitive); sets each event's `sensitivity`.",
    ),
    map(
        "filter",
        ALL,
        "{ preset: recommended }",
        "`preset: all`",
        "Which events are sent: `preset` (`all`, `recommended`) and ordered `include`/`exclude` rules; auth failures, dcl, audit_config, agent and unparsed events are only dropped by a rule naming them.",
    ),
    map(
        "compliance",
        ALL,
        "{ tags: true, privileged_users: [postgres] }",
        "`tags: true`",
        "`tags` fills `compliance`, `privileged_users` names administrative accounts (docs/compliance.md).",
    ),
    key(
        "pgaudit_log",
        PG,
        "string",
        "none",
        "The server's `pgaudit.log` (e.g. `all`): when it logs everything, a statement-id gap is an `agent` `GAP` alert.",
    ),
];

/// `sinks.<name>:`.
pub const SINK: &[Key] = &[
    key(
        "type",
        ALL,
        "`file` | `stdout` | `splunk_hec` | `datadog` | `syslog`",
        REQUIRED,
        "Where events go: a local file, standard output, Splunk HEC, Datadog Logs or a syslog receiver (RFC 5424, CEF, LEEF).",
    ),
    key(
        "path",
        FILE,
        "path",
        REQUIRED,
        "The file events are appended to, one JSON line each.",
    ),
    key(
        "encoding",
        ALL,
        "`native` | `ocsf` | `splunk_cim` | `datadog`",
        "`native`",
        "Event shape (docs/encodings.md).",
    ),
    key(
        "batch_max_events",
        ALL,
        "integer",
        "500",
        "Most events per batch (> 0).",
    ),
    key(
        "batch_max_bytes",
        ALL,
        "integer (bytes)",
        "1048576",
        "Most encoded bytes per batch, before compression.",
    ),
    key(
        "batch_timeout_ms",
        ALL,
        "integer (ms)",
        "1000",
        "Longest a partial batch waits before it is sent.",
    ),
    key(
        "endpoint",
        HTTP,
        "URL",
        "splunk_hec: required; datadog: from `site`",
        "Base URL of the receiver (`https://splunk:8088`).",
    ),
    key(
        "token",
        HEC,
        "secret",
        "`token` or `token_file` required",
        "The HEC token; write `${ENV}`, never the value itself.",
    ),
    key(
        "token_file",
        HEC,
        "path",
        "none",
        "File holding the HEC token.",
    ),
    key(
        "index",
        HEC,
        "string",
        "the token's default index",
        "Splunk index of the events.",
    ),
    key(
        "sourcetype",
        HEC,
        "string",
        "`onetrail:audit:json`",
        "Splunk sourcetype of the events.",
    ),
    key(
        "source",
        HEC,
        "string",
        "the token's default source",
        "Splunk source of the events.",
    ),
    key(
        "host",
        NET,
        "string",
        "this machine's host name",
        "Splunk `host` / Datadog `hostname` / syslog HOSTNAME of the events.",
    ),
    key(
        "acknowledgements",
        HEC,
        "bool",
        "false",
        "Wait for indexer acknowledgement before a batch counts as delivered (an answer without `ackId` then pauses the sink).",
    ),
    key(
        "site",
        DD,
        "string",
        "`datadoghq.com`",
        "Datadog site (`datadoghq.eu`, `us3.datadoghq.com`, ...).",
    ),
    key(
        "api_key",
        DD,
        "secret",
        "`api_key` or `api_key_file` required",
        "The Datadog API key; write `${ENV}`, never the value itself.",
    ),
    key(
        "api_key_file",
        DD,
        "path",
        "none",
        "File holding the API key.",
    ),
    key(
        "service",
        DD,
        "string",
        "the event's `instance`, else the engine",
        "Datadog `service` of the events.",
    ),
    list(
        "tags",
        DD,
        "`key:value` tags",
        "[\"env:prod\", \"team:dba\"]",
        "none",
        "Datadog `ddtags` of every event.",
    ),
    key(
        "compression",
        HTTP_KAFKA,
        "bool; kafka: `none` | `gzip` | `lz4` | `zstd`",
        "true; kafka: `none`",
        "HTTP sinks: gzip request bodies. kafka: the producer's compression codec.",
    ),
    key(
        "dead_letter_path",
        HTTP_KAFKA,
        "path",
        "`<data_dir>/dead-letter/<sink>.jsonl`",
        "Where events the receiver rejects as invalid (kafka: messages too large) are written, with the reason; each time also an `agent` `DEAD_LETTER` alert.",
    ),
    section(
        "tls",
        REMOTE,
        TLS,
        "TLS to the receiver (next section; syslog: with `protocol: tls` or `relp_tls`; kafka: on unless `enabled: false`).",
    ),
    key(
        "ack_timeout_secs",
        HEC,
        "integer (s)",
        "300",
        "With `acknowledgements`: how long to wait for a request's acknowledgement before sending it again.",
    ),
    key(
        "ack_poll_interval_ms",
        HEC,
        "integer (ms)",
        "1000",
        "With `acknowledgements`: pause between two polls of `/services/collector/ack`.",
    ),
    key(
        "request_timeout_secs",
        HTTP_KAFKA,
        "integer (s)",
        "30",
        "Timeout of one request (connect, send, response); kafka: how long a message waits for its acknowledgement (`message.timeout.ms`) before the sink produces it again.",
    ),
    key(
        "retry_initial_backoff_ms",
        REMOTE,
        "integer (ms)",
        "1000",
        "First retry delay; doubles per attempt (full jitter); a `Retry-After` wins.",
    ),
    key(
        "retry_max_backoff_ms",
        REMOTE,
        "integer (ms)",
        "60000",
        "Longest retry delay. Retries never stop: the source is the buffer.",
    ),
    key(
        "pause_retry_ms",
        HTTP,
        "integer (ms)",
        "30000",
        "While the receiver refuses the credentials or answers with something other than its success form (a proxy's login page), the sink is paused and tries again this often.",
    ),
    key(
        "max_event_age_secs",
        DD,
        "integer (s)",
        "64800",
        "Older events are outside Datadog's intake window: sent late (`timestamp` = send time, own time in `original_time`/`original_timestamp`, `late: true`).",
    ),
    key(
        "indexed_fields",
        HEC,
        "bool",
        "true",
        "Send indexed `fields` (`event_id`, `db_system`, `category`, `instance`) with every event.",
    ),
    key(
        "chain",
        FILE,
        "bool",
        "false",
        "Tamper-evident hash chain on every line; check with `onetrail verify FILE`.",
    ),
    key(
        "address",
        SYSLOG,
        "`host:port`",
        REQUIRED,
        "The syslog receiver (`siem.example.com:6514`).",
    ),
    key(
        "protocol",
        SYSLOG,
        "`tcp` | `tls` | `relp` | `relp_tls` | `udp`",
        "`tls`",
        "Transport. `relp`, `relp_tls` (RELP inside TLS): each message acknowledged by the server, the checkpoint follows the acks; `tcp`/`tls`: delivered = written and flushed; `udp`: delivered = handed to the kernel (no acknowledgement, loss undetected).",
    ),
    key(
        "framing",
        SYSLOG,
        "`octet-counting` | `newline`",
        "`octet-counting`",
        "Message framing on the stream (RFC 6587); tcp/tls only.",
    ),
    key(
        "format",
        SYSLOG,
        "`rfc5424` | `cef` | `leef`",
        "`rfc5424`",
        "Message format (docs/encodings.md, \"Syslog\"); `rfc5424` carries the event JSON in `encoding`.",
    ),
    key(
        "facility",
        SYSLOG,
        "syslog facility name (`local0`..`local7`, `auth`, `authpriv`, `security`, `audit`, ...)",
        "`local4`",
        "Facility of every message; the severity comes from the event (failure: error, alert: warning).",
    ),
    key(
        "app_name",
        SYSLOG,
        "string",
        "`onetrail`",
        "RFC 5424 APP-NAME (printable ASCII, at most 48).",
    ),
    key(
        "max_message_bytes",
        SYSLOG_KAFKA,
        "integer (bytes)",
        "65536; udp: 2048; kafka: 1000000",
        "Longest message. syslog (at least 480): longer ones have their statement (then raw) cut and are flagged, never dropped. kafka (key + value + header, 1000..1000000000; keep it at most the topic's `max.message.bytes`): longer ones are dead-lettered with an alert.",
    ),
    list(
        "brokers",
        KAFKA,
        "`host:port`",
        "[\"kafka-1.example.com:9093\"]",
        REQUIRED,
        "Bootstrap brokers.",
    ),
    key(
        "topic",
        KAFKA,
        "string",
        REQUIRED,
        "The topic; `{engine}`, `{instance}` (`default` when the event has none) and `{category}` are replaced per event. Never created by onetrail: an unknown topic is an error.",
    ),
    key(
        "key",
        KAFKA,
        "`session` | `id` | `instance` | `none`",
        "`session`",
        "Message key, hence partition, hence what stays in order: `session` = `<instance>/<session id>` (a session in order; no key without a session), `id` = the event id (even spread, no order), `instance` = the instance or engine (a database in order), `none` = no key.",
    ),
    section(
        "sasl",
        KAFKA,
        SASL,
        "SASL authentication (next section); without it none. With `tls.enabled: false` the password crosses the network in clear (PLAIN).",
    ),
];

/// `sinks.<name>.sasl:` (kafka).
pub const SASL: &[Key] = &[
    key(
        "mechanism",
        KAFKA,
        "`PLAIN` | `SCRAM-SHA-256` | `SCRAM-SHA-512`",
        REQUIRED,
        "SASL mechanism.",
    ),
    key("username", KAFKA, "string", REQUIRED, "SASL user name."),
    key(
        "password",
        KAFKA,
        "secret",
        "`password` or `password_file` required",
        "The password; write `${ENV}`, never the value itself.",
    ),
    key(
        "password_file",
        KAFKA,
        "path",
        "none",
        "File holding the password (its first line).",
    ),
];

/// `sinks.<name>.tls:`.
pub const TLS: &[Key] = &[
    key(
        "enabled",
        KAFKA,
        "bool",
        "true",
        "kafka: TLS to the brokers; `false` for a plaintext listener.",
    ),
    key(
        "verify",
        ALL,
        "bool",
        "true",
        "Verify the receiver's certificate and host name; `false` is warned at start.",
    ),
    key(
        "ca_file",
        ALL,
        "path",
        "none",
        "CA (PEM) added to the system roots.",
    ),
    key(
        "client_cert",
        ALL,
        "path",
        "none",
        "Client certificate (PEM) for mutual TLS, with `client_key`.",
    ),
    key(
        "client_key",
        ALL,
        "path",
        "none",
        "Client private key (PEM) for mutual TLS.",
    ),
];

/// The keys of `keys` that type `ty` takes.
pub fn for_type<'a>(keys: &'a [Key], ty: &'a str) -> impl Iterator<Item = &'a Key> + 'a {
    keys.iter()
        .filter(move |k| k.types.is_empty() || k.types.contains(&ty))
}

/// `docs/config.md`: the file `onetrail config-doc` prints.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    table(&mut out, "Top level", TOP, None);
    table(&mut out, "`redaction:`", REDACTION, None);
    table(&mut out, "`log:`", LOG, None);
    table(&mut out, "`metrics:`", METRICS, None);
    for ty in SOURCE_TYPES {
        table(
            &mut out,
            &format!("`sources.<name>:` with `type: {ty}`"),
            SOURCE,
            Some(ty),
        );
    }
    for ty in SINK_TYPES {
        table(
            &mut out,
            &format!("`sinks.<name>:` with `type: {ty}`"),
            SINK,
            Some(ty),
        );
    }
    table(
        &mut out,
        "`sinks.<name>.tls:` (splunk_hec, datadog, syslog, kafka)",
        TLS,
        None,
    );
    table(&mut out, "`sinks.<name>.sasl:` (kafka)", SASL, None);
    out
}

fn table(out: &mut String, title: &str, keys: &[Key], ty: Option<&str>) {
    out.push_str(&format!(
        "\n## {title}\n\n| key | type | default | meaning |\n|---|---|---|---|\n"
    ));
    let cell = |s: &str| s.replace('|', "\\|");
    for k in keys {
        if let Some(ty) = ty
            && !(k.types.is_empty() || k.types.contains(&ty))
        {
            continue;
        }
        let ty_text = match (k.shape, ty) {
            // In a type's own table, `type` has one value.
            (_, Some(t)) if k.name == "type" => format!("`{t}`"),
            (Shape::List { what, .. }, _) => format!("list of {what}"),
            _ => k.ty.to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            cell(&ty_text),
            cell(k.default),
            cell(k.doc)
        ));
    }
}

const HEADER: &str = "# Configuration reference

<!-- Generated by `cargo run -p onetrail -- config-doc > docs/config.md` from
crates/agent/src/config/keys.rs; a test fails when this file is stale. -->

Every key of every source and sink type, with its type, default and meaning.
A key that is not listed for a type is refused with the file, line and key
(`did you mean ...?` for a near miss). Relative paths are relative to the
config file.

**Environment references.** `${NAME}` is replaced by the environment variable `NAME`,
`${NAME:-default}` by `default` when `NAME` is unset or empty, and `$$` is a literal `$`.
They are substituted inside each scalar value *after* the YAML is parsed: the value may
hold any character (`: `, ` #`, a leading `@`, `*`, `{`, quotes) and is used whole, and a
reference in a comment needs no variable. An unset variable without a default is an error
naming the variable and its line; so is a bare `$NAME` in a value (write `$$NAME` for a
literal `$`, `${NAME}` for the variable). Error messages quote the file's own text
(`${NAME}`), never a substituted value.

**Secrets** (`token`, `api_key`, `password`) should come from `${ENV}` or the matching
`*_file` key; they are never printed, and the `user:password@` of an endpoint URL is
printed as `user:****@`. Keep secret files and this file unreadable by others (mode
0640, owner root, group onetrail): `onetrail check` warns otherwise.

**Format names.** `format:` takes the names `onetrail formats` prints, for every
file source type; pgaudit sources also take `stderr`, `csvlog` and `jsonlog`, and
the key's former name `log_format`.
";
