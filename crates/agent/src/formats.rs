//! Which parser reads which source: format names → [`RecordFormat`]s.

use onetrail_event::{Engine, RecordFormat};

use crate::settings::{Config, SourceType};

/// The engine whose parser reads format `name`, or `None` for an unknown name.
/// The one place that knows which parser crate owns which format.
pub fn engine_of(name: &str) -> Option<Engine> {
    if onetrail_pgaudit::FORMATS.contains(&name) {
        Some(Engine::Postgresql)
    } else if onetrail_mysql_audit::FORMATS.contains(&name) {
        Some(if name == "mariadb-server-audit" {
            Engine::Mariadb
        } else {
            Engine::Mysql
        })
    } else if onetrail_mssql_audit::FORMATS.contains(&name) {
        Some(Engine::Sqlserver)
    } else if onetrail_oracle_audit::FORMATS.contains(&name) {
        Some(Engine::Oracle)
    } else {
        None
    }
}

/// The format names a file source of type `kind` takes in `format:`
/// (empty for polling sources).
pub fn formats_of(kind: SourceType) -> &'static [&'static str] {
    match kind {
        SourceType::Pgaudit => onetrail_pgaudit::FORMATS,
        SourceType::MysqlAudit => onetrail_mysql_audit::FORMATS,
        SourceType::OracleAudit => onetrail_oracle_audit::FORMATS,
        SourceType::Mssql | SourceType::Oracle => &[],
    }
}

/// Every format name `onetrail parse --format` accepts, with its engine.
pub fn all_formats() -> Vec<(&'static str, Engine)> {
    let mut v: Vec<(&'static str, Engine)> = [
        onetrail_pgaudit::FORMATS,
        onetrail_mysql_audit::FORMATS,
        onetrail_mssql_audit::FORMATS,
        onetrail_oracle_audit::FORMATS,
    ]
    .concat()
    .into_iter()
    .filter_map(|n| engine_of(n).map(|e| (n, e)))
    .collect();
    v.sort_by_key(|(n, _)| *n);
    v
}

/// Options a format may need, whatever the engine.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    pub log_line_prefix: Option<String>,
    pub forward_other: bool,
}

/// A parser for `name`; `Err` explains what is wrong (unknown name, bad prefix).
pub fn by_name(
    name: &str,
    opts: &FormatOptions,
) -> Result<(Box<dyn RecordFormat>, Engine), String> {
    let Some(engine) = engine_of(name) else {
        let names: Vec<&str> = all_formats().iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "unknown format `{name}`; expected one of: {}",
            names.join(", ")
        ));
    };
    let f = match engine {
        Engine::Postgresql => {
            let mut pg = onetrail_pgaudit::PgOptions {
                forward_other: opts.forward_other,
                ..Default::default()
            };
            if let Some(p) = &opts.log_line_prefix {
                pg.log_line_prefix = p.clone();
            }
            onetrail_pgaudit::format_by_name(name, &pg).map_err(|e| e.to_string())?
        }
        Engine::Mysql | Engine::Mariadb => {
            let my = onetrail_mysql_audit::MysqlOptions {
                forward_other: opts.forward_other,
            };
            onetrail_mysql_audit::format_by_name(name, &my).map_err(|e| e.to_string())?
        }
        Engine::Sqlserver => {
            onetrail_mssql_audit::format_by_name(name).map_err(|e| e.to_string())?
        }
        Engine::Oracle => {
            use chrono::Datelike;
            let ora = onetrail_oracle_audit::OracleOptions {
                forward_other: opts.forward_other,
                // RFC 3164 syslog lines carry no year; the runtime owns the clock.
                syslog_year: Some(chrono::Utc::now().year()),
            };
            onetrail_oracle_audit::format_by_name(name, &ora).map_err(|e| e.to_string())?
        }
    };
    Ok((f, engine))
}
/// The canonical (`'static`) spelling of a format name.
pub fn static_name(name: &str) -> Option<&'static str> {
    all_formats()
        .into_iter()
        .map(|(n, _)| n)
        .find(|n| *n == name)
}

/// The format name and options of a configured source.
pub fn source_format(cfg: &Config, source: &str) -> Result<(&'static str, FormatOptions), String> {
    let s = &cfg
        .sources
        .get(source)
        .ok_or_else(|| format!("no source `{source}`"))?
        .value;
    let name = match s.kind {
        SourceType::Mssql | SourceType::Oracle => {
            return Err(format!(
                "source `{source}` polls a database; it has no file format"
            ));
        }
        SourceType::Pgaudit | SourceType::MysqlAudit | SourceType::OracleAudit => cfg
            .format_name(source)
            .ok_or_else(|| format!("source `{source}`: unknown or missing `format`"))?,
    };
    let mut log_line_prefix = s.log_line_prefix.as_ref().map(|p| p.value.clone());
    if name == "pgaudit-stderr" && log_line_prefix.as_deref() == Some("auto") {
        log_line_prefix = Some(match crate::prefix::auto_prefix(&s.paths) {
            Ok((p, _)) => p,
            // Nothing to infer from yet: PostgreSQL's default until a reload.
            Err(_) => crate::prefix::PG_DEFAULT_PREFIX.to_string(),
        });
    }
    Ok((
        name,
        FormatOptions {
            log_line_prefix,
            forward_other: s.forward_other,
        },
    ))
}

/// Build (and thereby validate) the parser of a configured source.
pub fn build(cfg: &Config, source: &str) -> Result<(Box<dyn RecordFormat>, Engine), String> {
    let (name, opts) = source_format(cfg, source)?;
    by_name(name, &opts)
}
