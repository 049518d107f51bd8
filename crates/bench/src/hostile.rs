//! Hostile records: one huge statement, of a shape chosen to hurt, between two
//! ordinary records, in every format onetrail reads from files.
//!
//! Any database user can get a statement logged, so the size and the shape of
//! a record are the attacker's. `onetrail-bench hostile` measures the peak
//! RSS of `onetrail parse` (and `run`) on such logs, and
//! `crates/onetrail/tests/hostile.rs` holds the agent to a fixed bound on the
//! same inputs: memory must depend on `max_record_bytes`, not on the record.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::logs::{Format, Generator};

/// What the huge statement is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A literal of URL-like text (` a://b`): the redactor's URI trigger,
    /// hundreds of thousands of times.
    UrlLike,
    /// Doubled quotes, the escape of every engine's string literal.
    Quotes,
    /// Backslashes and escaped quotes (MySQL-style escapes).
    Backslashes,
    /// A statement of many short lines (continuation lines, quoted newlines).
    Newlines,
    /// Credential keywords with values, each a redaction.
    Secrets,
    /// Multi-byte UTF-8 (Greek and emoji).
    Multibyte,
    /// One run of a single letter: no separator anywhere to cut at.
    Dense,
}

impl Shape {
    pub const ALL: [Shape; 7] = [
        Shape::UrlLike,
        Shape::Quotes,
        Shape::Backslashes,
        Shape::Newlines,
        Shape::Secrets,
        Shape::Multibyte,
        Shape::Dense,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::UrlLike => "url-like",
            Shape::Quotes => "quotes",
            Shape::Backslashes => "backslashes",
            Shape::Newlines => "newlines",
            Shape::Secrets => "secrets",
            Shape::Multibyte => "multibyte",
            Shape::Dense => "dense",
        }
    }

    /// A statement of about `bytes` bytes of this shape.
    pub fn statement(self, bytes: usize) -> String {
        let (head, unit, tail) = match self {
            Shape::UrlLike => ("INSERT INTO t VALUES ('", " a://b", "')"),
            Shape::Quotes => ("INSERT INTO t VALUES ('", " it''s ''x''", "')"),
            Shape::Backslashes => ("INSERT INTO t VALUES ('", " a\\b\\\\c", "')"),
            Shape::Newlines => ("INSERT INTO t VALUES ('a')", "\n  , ('b c')", ""),
            Shape::Secrets => ("SELECT 1", ", password('s3cr3t-pw')", ""),
            Shape::Multibyte => ("INSERT INTO t VALUES ('", " Ελληνικά😀", "')"),
            Shape::Dense => ("INSERT INTO t VALUES ('", "xxxxxxxx", "')"),
        };
        let mut s = String::with_capacity(bytes + 64);
        s.push_str(head);
        while s.len() + tail.len() < bytes {
            s.push_str(unit);
        }
        s.push_str(tail);
        s
    }
}

/// The file formats the hostile logs are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A format the workload generator writes.
    Generated(Format),
    MysqlEnterpriseXml,
    MssqlCsv,
    OracleXml,
}

impl Target {
    pub const ALL: [Target; 8] = [
        Target::Generated(Format::PgStderr),
        Target::Generated(Format::PgCsvlog),
        Target::Generated(Format::PgJsonlog),
        Target::Generated(Format::Mariadb),
        Target::Generated(Format::MysqlJson),
        Target::MysqlEnterpriseXml,
        Target::MssqlCsv,
        Target::OracleXml,
    ];

    /// The `onetrail parse --format` name.
    pub fn onetrail_format(self) -> &'static str {
        match self {
            Target::Generated(f) => f.onetrail_format(),
            Target::MysqlEnterpriseXml => "mysql-enterprise-xml",
            Target::MssqlCsv => "mssql-audit-csv",
            Target::OracleXml => "oracle-audit-xml",
        }
    }

    /// `--log-line-prefix` to parse with, if the format takes one.
    pub fn log_line_prefix(self) -> Option<&'static str> {
        matches!(self, Target::Generated(Format::PgStderr)).then_some(crate::logs::PG_PREFIX)
    }

    /// A log of an ordinary `INSERT` (`before`), the hostile statement, and
    /// another ordinary one (`after`), with whatever the format needs around
    /// them (connections, document headers).
    pub fn log(self, statement: &str) -> Vec<u8> {
        let stmts = [
            "INSERT INTO t VALUES ('before')",
            statement,
            "INSERT INTO t VALUES ('after')",
        ];
        match self {
            Target::Generated(f) => {
                let mut g = Generator::new(f, 1);
                // The server's largest limit: the whole statement is logged.
                g.query_log_limit = usize::MAX;
                if f == Format::MysqlJson {
                    g.buf.extend_from_slice(b"[\n");
                }
                for s in stmts {
                    g.insert_statement(s.to_string());
                }
                std::mem::take(&mut g.buf)
            }
            Target::MysqlEnterpriseXml => {
                let mut o = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AUDIT>\n");
                for (i, s) in stmts.iter().enumerate() {
                    let _ = write!(
                        o,
                        " <AUDIT_RECORD>\n  <TIMESTAMP>2024-05-02T09:00:0{i} UTC</TIMESTAMP>\n  \
                         <RECORD_ID>{n}_2024-05-02T09:00:00</RECORD_ID>\n  <NAME>Query</NAME>\n  \
                         <CONNECTION_ID>55</CONNECTION_ID>\n  <STATUS>0</STATUS>\n  \
                         <STATUS_CODE>0</STATUS_CODE>\n  <USER>dba[dba] @ admin-box [192.0.2.10]</USER>\n  \
                         <DB>ops</DB>\n  <SQLTEXT>{}</SQLTEXT>\n </AUDIT_RECORD>\n",
                        xml_escape(s),
                        n = i + 1
                    );
                }
                o.push_str("</AUDIT>\n");
                o.into_bytes()
            }
            Target::MssqlCsv => {
                let mut o = String::from(
                    "event_time,sequence_number,action_id,succeeded,session_id,server_principal_name,\
                     database_name,schema_name,object_name,statement,client_ip,application_name\n",
                );
                for (i, s) in stmts.iter().enumerate() {
                    let _ = writeln!(
                        o,
                        "2024-05-01 09:00:0{i}.1000000,1,IN  ,1,55,app_user,Sales,dbo,t,\"{}\",10.20.30.40,SalesApp",
                        s.replace('"', "\"\"")
                    );
                }
                o.into_bytes()
            }
            Target::OracleXml => {
                let mut o = String::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                     <Audit xmlns=\"http://xmlns.oracle.com/oracledb/security/audit\">\n <Version>11.2</Version>\n",
                );
                for (i, s) in stmts.iter().enumerate() {
                    let _ = writeln!(
                        o,
                        "<AuditRecord><Audit_Type>1</Audit_Type><Session_Id>21000{i}</Session_Id>\
                         <StatementId>{n}</StatementId><EntryId>{n}</EntryId>\
                         <Extended_Timestamp>2024-05-01T08:00:0{i}.000000Z</Extended_Timestamp>\
                         <DB_User>SCOTT</DB_User><Action>2</Action><Returncode>0</Returncode>\
                         <Sql_Text>{}</Sql_Text><DBID>1234</DBID>\n</AuditRecord>",
                        xml_escape(s),
                        n = i + 1
                    );
                }
                o.push_str("</Audit>\n");
                o.into_bytes()
            }
        }
    }
}

/// What `onetrail parse` did with a hostile log.
#[derive(Debug)]
pub struct ParseOutcome {
    /// Its peak RSS, bytes, measured through `onetrail-bench peak`.
    pub peak_rss: u64,
    pub status: i32,
    pub events: usize,
    /// Events flagged `extra.truncated`.
    pub truncated: usize,
    /// Every event, as written (one JSON object per line).
    pub output: String,
}

/// Run `onetrail parse` on `file` through `onetrail-bench peak` (the
/// `onetrail-bench` next to `onetrail`, or this executable when it is
/// `onetrail-bench`), so that the measuring process's own memory stays out
/// of the figure.
pub fn measure_parse(
    onetrail: &Path,
    target: Target,
    file: &Path,
) -> std::io::Result<ParseOutcome> {
    let me = std::env::current_exe()?;
    let bench = if me.file_stem().is_some_and(|n| n == "onetrail-bench") {
        me
    } else {
        onetrail.with_file_name("onetrail-bench")
    };
    let out = file.with_extension("jsonl");
    let mut cmd = Command::new(&bench);
    cmd.arg("peak")
        .arg(onetrail)
        .args(["parse", "--format", target.onetrail_format()]);
    if let Some(p) = target.log_line_prefix() {
        cmd.args(["--log-line-prefix", p]);
    }
    let res = cmd
        .arg(file)
        .stdout(std::fs::File::create(&out)?)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| std::io::Error::other(format!("{}: {e}", bench.display())))?;
    let stderr = String::from_utf8_lossy(&res.stderr);
    let peak_rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no peak_rss_bytes from {}: {stderr}",
                bench.display()
            ))
        })?;
    let output = std::fs::read_to_string(&out)?;
    std::fs::remove_file(&out)?;
    Ok(ParseOutcome {
        peak_rss,
        status: res.status.code().unwrap_or(-1),
        events: output.lines().count(),
        truncated: output
            .lines()
            .filter(|l| l.contains("\"truncated\":true"))
            .count(),
        output,
    })
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\'' => o.push_str("&apos;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_the_size_asked_for() {
        for shape in Shape::ALL {
            let s = shape.statement(100_000);
            assert!(
                (100_000..100_064).contains(&s.len()),
                "{}: {}",
                shape.name(),
                s.len()
            );
        }
    }

    #[test]
    fn every_log_holds_the_statement_between_two_ordinary_ones() {
        for t in Target::ALL {
            let log = String::from_utf8(t.log("SELECT 'marker'")).unwrap();
            let b = log.find("before").unwrap();
            let m = log.find("marker").unwrap();
            let a = log.find("after").unwrap();
            assert!(b < m && m < a, "{t:?}");
        }
    }
}
