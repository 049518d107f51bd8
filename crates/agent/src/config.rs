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
//! **Adding a key**: add the field to its struct in `settings.rs` (with its serde
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

pub use crate::settings::*;

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
            if let Err(e) = onetrail_enrich::Enricher::build(s.enrich_config(name, false)) {
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
                    if let Err(e) = onetrail_sinks::syslog::validate(s) {
                        return Err(err(line, format!("sinks.{name}: {e}")));
                    }
                }
                SinkType::Datadog if s.api_key.is_none() && s.api_key_file.is_none() => {
                    return Err(err(
                        line,
                        format!("sinks.{name}: set `api_key: ${{DD_API_KEY}}` or `api_key_file:`"),
                    ));
                }
                _ => {}
            }
            if let Err(e) = onetrail_sinks::kafka::config::validate(s) {
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

    #[test]
    fn source_and_sink_keys_parse_and_validate() {
        use onetrail_enrich::Resolver;
        use std::path::Path;
        let text = r#"
    data_dir: /tmp/onetrail-keys-test
    sources:
      pg:
        type: pgaudit
        paths: ["/var/log/postgresql/*.log"]
        pgaudit_log: all
        identity:
          resolvers: [session, static_map]
          application_name: ['^jira-(?P<user>[a-z]+)$']
          static_map: [{ db_user: a, actor: "B Person", instance: i1 }]
          comment_keys: { actor: [who] }
          max_sessions: 50
        sensitivity: { "billing.cards": pci, "public.patients*": [phi, pii] }
        filter: { preset: recommended, rules: [ { exclude: { db_user: [x], category: [read] } } ] }
        compliance: { privileged_users: [dba] }
    sinks:
      out: { type: file, path: /tmp/onetrail-keys-test/e.jsonl, chain: true }
    "#;
        let at = Path::new("/etc/onetrail/onetrail.yaml");
        let c = Config::from_str_at(text, at).unwrap();
        let s = &c.sources["pg"].value;
        assert_eq!(
            s.identity.resolvers,
            vec![Resolver::Session, Resolver::StaticMap]
        );
        assert_eq!(s.identity.max_sessions, 50);
        assert_eq!(s.identity.comment_keys.ticket, vec!["ticket"]);
        assert!(c.sinks["out"].value.chain);
        let e = Config::from_str_at(&text.replace("(?P<user>", "("), at)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sources.pg") && e.contains("named capture"),
            "{e}"
        );
        let e = Config::from_str_at(&text.replace("type: file,", "type: stdout,"), at)
            .unwrap_err()
            .to_string();
        assert!(e.contains("chain"), "{e}");
        let e = Config::from_str_at(&text.replace("preset: recommended", "preset: some"), at)
            .unwrap_err()
            .to_string();
        assert!(e.contains("some"), "{e}");
    }
}
