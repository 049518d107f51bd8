//! Which parser reads which source: format names → [`RecordFormat`]s.

use onetrail_event::{Engine, RecordFormat};

use crate::config::{Config, SourceType};

/// Every format name `onetrail parse --format` accepts, with its engine.
pub fn all_formats() -> Vec<(&'static str, Engine)> {
    let mut v: Vec<(&'static str, Engine)> = onetrail_pgaudit::FORMATS
        .iter()
        .map(|f| (*f, Engine::Postgresql))
        .collect();
    v.extend(onetrail_mysql_audit::FORMATS.iter().map(|f| {
        let engine = if *f == "mariadb-server-audit" {
            Engine::Mariadb
        } else {
            Engine::Mysql
        };
        (*f, engine)
    }));
    v.extend(
        onetrail_mssql_audit::FORMATS
            .iter()
            .map(|f| (*f, Engine::Sqlserver)),
    );
    v.extend(
        onetrail_oracle_audit::FORMATS
            .iter()
            .map(|f| (*f, Engine::Oracle)),
    );
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
    if onetrail_pgaudit::FORMATS.contains(&name) {
        let mut pg = onetrail_pgaudit::PgOptions {
            forward_other: opts.forward_other,
            ..Default::default()
        };
        if let Some(p) = &opts.log_line_prefix {
            pg.log_line_prefix = p.clone();
        }
        let f = onetrail_pgaudit::format_by_name(name, &pg).map_err(|e| e.to_string())?;
        return Ok((f, Engine::Postgresql));
    }
    if onetrail_mysql_audit::FORMATS.contains(&name) {
        let my = onetrail_mysql_audit::MysqlOptions {
            forward_other: opts.forward_other,
        };
        let f = onetrail_mysql_audit::format_by_name(name, &my).map_err(|e| e.to_string())?;
        let engine = all_formats()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(Engine::Mysql, |(_, e)| e);
        return Ok((f, engine));
    }
    if onetrail_mssql_audit::FORMATS.contains(&name) {
        let f = onetrail_mssql_audit::format_by_name(name).map_err(|e| e.to_string())?;
        return Ok((f, Engine::Sqlserver));
    }
    if onetrail_oracle_audit::FORMATS.contains(&name) {
        use chrono::Datelike;
        let ora = onetrail_oracle_audit::OracleOptions {
            forward_other: opts.forward_other,
            // RFC 3164 syslog lines carry no year; the runtime owns the clock.
            syslog_year: Some(chrono::Utc::now().year()),
        };
        let f = onetrail_oracle_audit::format_by_name(name, &ora).map_err(|e| e.to_string())?;
        return Ok((f, Engine::Oracle));
    }
    let names: Vec<&str> = all_formats().iter().map(|(n, _)| *n).collect();
    Err(format!(
        "unknown format `{name}`; expected one of: {}",
        names.join(", ")
    ))
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
        SourceType::Pgaudit => cfg
            .pg_format_name(source)
            .ok_or_else(|| "unknown log_format".to_string())?,
        SourceType::Mssql | SourceType::Oracle => {
            return Err(format!(
                "source `{source}` polls a database; it has no file format"
            ));
        }
        SourceType::MysqlAudit | SourceType::OracleAudit => {
            let f = s.format.as_ref().map(|f| f.value.as_str()).unwrap_or("");
            static_name(f).ok_or_else(|| {
                by_name(f, &FormatOptions::default())
                    .err()
                    .unwrap_or_default()
            })?
        }
    };
    Ok((
        name,
        FormatOptions {
            log_line_prefix: s.log_line_prefix.as_ref().map(|p| p.value.clone()),
            forward_other: s.forward_other,
        },
    ))
}

/// Build (and thereby validate) the parser of a configured source.
pub fn build(cfg: &Config, source: &str) -> Result<(Box<dyn RecordFormat>, Engine), String> {
    let (name, opts) = source_format(cfg, source)?;
    by_name(name, &opts)
}
