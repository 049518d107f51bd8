//! Sources that poll a database for audit rows (SQL Server, Oracle), behind
//! [`crate::pipeline::Poller`]. The row → event mapping lives in the pure
//! parser crates; these modules only connect, fetch and keep positions.

pub mod mssql;
pub mod oracle;

use onetrail_event::Engine;

use crate::pipeline::Poller;
use crate::settings::{Config, SourceType};

/// Check a poller source's keys without connecting.
pub fn validate(cfg: &Config, name: &str) -> Result<(), String> {
    let s = &cfg.sources.get(name).ok_or("no such source")?.value;
    match s.kind {
        SourceType::Mssql => mssql::validate(s),
        SourceType::Oracle => oracle::validate(s),
        _ => Err("not a polling source".into()),
    }
}

/// Build the poller of a source (does not connect yet: connecting happens in
/// `fetch`, with retries, so one unreachable database never stops the agent).
pub fn build(cfg: &Config, name: &str) -> Result<(Box<dyn Poller>, Engine), String> {
    let s = &cfg.sources.get(name).ok_or("no such source")?.value;
    match s.kind {
        SourceType::Mssql => Ok((mssql::build(s, name)?, Engine::Sqlserver)),
        SourceType::Oracle => Ok((oracle::build(s, name)?, Engine::Oracle)),
        _ => Err("not a polling source".into()),
    }
}
