//! Placeholder until the mssql poller lands.

use crate::config::SourceConfig;
use crate::pipeline::Poller;

pub fn validate(_s: &SourceConfig) -> Result<(), String> {
    Err("type mssql is not available in this build yet".into())
}

pub fn build(_s: &SourceConfig, _name: &str) -> Result<Box<dyn Poller>, String> {
    Err("type mssql is not available in this build yet".into())
}
