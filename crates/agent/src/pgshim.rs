// TEMPORARY shim until parsers/pgaudit exposes its API.
pub const FORMATS: &[&str] = &["pgaudit-stderr", "pgaudit-csvlog", "pgaudit-jsonlog", "pgauditlogtofile"];
#[derive(Default)]
pub struct PgOptions { pub log_line_prefix: String, pub forward_other: bool }
pub fn format_by_name(_n: &str, _o: &PgOptions) -> Result<Box<dyn onetrail_event::RecordFormat>, String> { Err("shim".into()) }
