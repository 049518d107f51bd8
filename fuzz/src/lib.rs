//! Properties checked by the fuzz targets in `fuzz_targets/` (one per format
//! name, plus two for the redactor). See `fuzz/README.md` for how to run them.
//!
//! Each check panics when a property fails, which libFuzzer reports as a crash
//! and saves under `fuzz/artifacts/<target>/`.

use std::collections::HashSet;

use onetrail_event::{Event, RecordFormat, parse_complete};
use onetrail_redact::{Redactor, RedactorOptions};

/// `log_line_prefix` values the `pgaudit-stderr` target parses every input
/// with: the PostgreSQL default, Debian's, and the RDS one (no `%p`).
pub const STDERR_PREFIXES: &[&str] = &["%m [%p] ", "%m [%p] %q%u@%d ", "%t:%r:%u@%d:"];

/// Every parser configuration fuzzed under format `name`: the format with
/// `forward_other` off and on (and, for `pgaudit-stderr`, each prefix of
/// [`STDERR_PREFIXES`]). Called anew for every run so no state leaks between
/// the whole-buffer and the chunked pass.
pub fn formats(name: &str) -> Vec<Box<dyn RecordFormat>> {
    let mut v: Vec<Box<dyn RecordFormat>> = Vec::new();
    for forward_other in [false, true] {
        let f = if onetrail_pgaudit::FORMATS.contains(&name) {
            let prefixes: &[&str] = if name == "pgaudit-stderr" {
                STDERR_PREFIXES
            } else {
                &["%m [%p] "]
            };
            for p in prefixes {
                let opts = onetrail_pgaudit::PgOptions {
                    log_line_prefix: (*p).to_string(),
                    forward_other,
                };
                v.push(onetrail_pgaudit::format_by_name(name, &opts).expect("pgaudit format"));
            }
            continue;
        } else if onetrail_mysql_audit::FORMATS.contains(&name) {
            let opts = onetrail_mysql_audit::MysqlOptions { forward_other };
            onetrail_mysql_audit::format_by_name(name, &opts).expect("mysql format")
        } else if onetrail_oracle_audit::FORMATS.contains(&name) {
            let opts = onetrail_oracle_audit::OracleOptions {
                forward_other,
                syslog_year: Some(2024),
            };
            onetrail_oracle_audit::format_by_name(name, &opts).expect("oracle format")
        } else if onetrail_mssql_audit::FORMATS.contains(&name) {
            if forward_other {
                continue; // no options
            }
            onetrail_mssql_audit::format_by_name(name).expect("mssql format")
        } else {
            panic!("no parser has a format named {name:?}");
        };
        v.push(f);
    }
    v
}

/// Framing + parsing of `data` as format `name`, with every configuration of
/// [`formats`]. Properties:
///
/// * no panic, and the framing contract of `parse_complete` holds (frames are
///   non-empty and in bounds, `Flush::Final` always frames, nothing stays held);
/// * framing does not depend on how the bytes arrive: offering them in pieces
///   of a few bytes yields exactly the events of the whole buffer;
/// * output is bounded by input: at most one event per input byte, and the
///   text of the events (statement, raw, error message, parse error) at most
///   [`TEXT_PER_BYTE`] times the input plus [`TEXT_PER_EVENT`] per event;
/// * every event points into the input (`source.offset` < input length) and
///   event ids are unique, so no event can overwrite another downstream
///   (not for the SQL Server exports, whose rows carry their own position).
pub fn check_format(name: &str, data: &[u8]) {
    // A small chunk from the data itself, so the fuzzer explores it too.
    let chunk = 1 + usize::from(data.first().copied().unwrap_or(0) % 32);
    let mut chunked_formats = formats(name);
    for (mut f, g) in formats(name).into_iter().zip(chunked_formats.iter_mut()) {
        let whole = parse_complete(f.as_mut(), data, "fuzz", Some("fuzz.log"), 0);
        let pieces = parse_complete(g.as_mut(), data, "fuzz", Some("fuzz.log"), chunk);
        check_bounds(name, data, &whole);
        if whole != pieces {
            let first = whole
                .iter()
                .zip(&pieces)
                .position(|(a, b)| a != b)
                .unwrap_or(whole.len().min(pieces.len()));
            panic!(
                "{name}: {} events whole, {} in chunks of {chunk}; first difference at event {first}:\nwhole:  {:?}\nchunks: {:?}",
                whole.len(),
                pieces.len(),
                whole.get(first),
                pieces.get(first)
            );
        }
    }
}

/// Text bytes an event may carry per input byte: the statement and the raw
/// record each repeat the input once at most; the rest is slack for escapes
/// decoded into longer UTF-8 (a lossily converted invalid byte becomes 3).
pub const TEXT_PER_BYTE: usize = 8;
/// Text bytes an event may carry whatever its input (fixed messages such as a
/// parse error's explanation).
pub const TEXT_PER_EVENT: usize = 256;

fn text_len(e: &Event) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    opt(&e.statement)
        + opt(&e.raw)
        + opt(&e.parse_error)
        + e.error
            .as_ref()
            .map_or(0, |x| opt(&x.message) + opt(&x.code))
        + opt(&e.db_user)
        + opt(&e.database)
        + e.action.len()
        + e.objects
            .iter()
            .map(|o| opt(&o.kind) + opt(&o.schema) + opt(&o.name))
            .sum::<usize>()
}

fn check_bounds(name: &str, data: &[u8], events: &[Event]) {
    assert!(
        events.len() <= data.len(),
        "{name}: {} events from {} bytes",
        events.len(),
        data.len()
    );
    let text: usize = events.iter().map(text_len).sum();
    let limit = TEXT_PER_BYTE * data.len() + TEXT_PER_EVENT * events.len();
    assert!(
        text <= limit,
        "{name}: {text} bytes of event text from {} input bytes and {} events",
        data.len(),
        events.len()
    );
    if onetrail_mssql_audit::FORMATS.contains(&name) {
        // SQL Server events are positioned and identified by the audit file
        // they were exported from (`file_name`, `audit_file_offset`), not by
        // the export's bytes, so that a row exported twice keeps its id.
        return;
    }
    let mut ids = HashSet::new();
    for e in events {
        let off = e.source.offset.expect("file events carry an offset");
        assert!(
            off < data.len() as u64,
            "{name}: event at offset {off} of a {}-byte input",
            data.len()
        );
        assert!(
            ids.insert(e.id.as_str()),
            "{name}: duplicate event id at offset {off}: {e:?}"
        );
    }
}

/// Bytes a redaction may add: `<redacted>` replaces a secret of at least one
/// byte, keeping the secret's own quotes and prefix.
pub const REDACTION_OVERHEAD: usize = "<redacted>".len();

/// The redactor on arbitrary text (lossy UTF-8 of `data`), with and without
/// `mask_literals`. Properties: no panic; `Some` only when something changed,
/// and then (without masking) a non-zero count; output length at most input
/// length plus [`REDACTION_OVERHEAD`] per redaction; idempotence (redacting
/// the output again changes nothing; without masking, see below).
pub fn check_redact(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for mask_literals in [false, true] {
        let r = Redactor::new(RedactorOptions { mask_literals });
        let Some((out, count)) = r.redact(&text) else {
            continue;
        };
        assert_ne!(out, text, "Some(..) returned for unchanged text");
        if !mask_literals {
            assert!(count > 0, "text changed but count is 0: {out:?}");
        }
        assert!(
            out.len() <= text.len() + REDACTION_OVERHEAD * count.max(1),
            "{} bytes in, {} out for {count} redactions:\nin:  {text:?}\nout: {out:?}",
            text.len(),
            out.len()
        );
        if mask_literals {
            // Known gap, not checked: masking is not idempotent when the two
            // lexings of a text with a backslash disagree (`"\"$$"N$$"0` masks
            // to `"\"?"0`, whose `0` is a number in both lexings). Redaction
            // of secrets must be, and is checked below.
            continue;
        }
        if let Some((again, n)) = r.redact(&out) {
            panic!(
                "not idempotent ({n} more):\nin:     {text:?}\nonce:   {out:?}\ntwice:  {again:?}"
            );
        }
    }
}

/// Statement shapes with a credential in a password position; `{}` is the
/// secret. The redactor documents each of these as redacted.
pub const PLANTED: &[&str] = &[
    // PostgreSQL
    "ALTER ROLE x PASSWORD '{}'",
    "CREATE ROLE x WITH LOGIN PASSWORD '{}' VALID UNTIL 'infinity'",
    "CREATE USER x ENCRYPTED PASSWORD E'{}'",
    "ALTER USER MAPPING FOR u SERVER s OPTIONS (SET password '{}')",
    "SELECT dblink_connect('host=h user=u password={}')",
    "CREATE SUBSCRIPTION s CONNECTION 'host=h password={} dbname=d' PUBLICATION p",
    "DO $$BEGIN EXECUTE 'ALTER ROLE x PASSWORD ''{}'''; END$$",
    // MySQL / MariaDB
    "SET PASSWORD = '{}'",
    "SET PASSWORD FOR 'u'@'%' = PASSWORD('{}')",
    "CREATE USER 'u'@'%' IDENTIFIED BY '{}'",
    "ALTER USER u IDENTIFIED WITH mysql_native_password BY '{}'",
    "GRANT ALL ON *.* TO u IDENTIFIED VIA ed25519 USING PASSWORD('{}')",
    "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='{}'",
    // SQL Server
    "CREATE LOGIN l WITH PASSWORD = N'{}', CHECK_POLICY = OFF",
    "ALTER LOGIN l WITH PASSWORD = '{}' OLD_PASSWORD = 'x'",
    "EXEC sp_addlogin 'l', '{}'",
    "EXEC sp_addlinkedsrvlogin 'srv', 'false', NULL, 'ru', '{}'",
    // Oracle (unquoted secrets end the statement: `IDENTIFIED BY pw(` would be
    // a call, which is deliberately not a value)
    "CREATE USER u IDENTIFIED BY {};",
    "ALTER USER u IDENTIFIED BY \"{}\" ACCOUNT UNLOCK",
    "CREATE DATABASE LINK l CONNECT TO u IDENTIFIED BY {} USING 'db';",
    // Anywhere
    "postgres://u:{}@db.example:5432/app",
];

/// Characters the fuzz prefix is made of: they cannot open a literal, a
/// quoted identifier, a comment or a dollar-quoted body.
fn prefix_char(b: u8) -> char {
    const SET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ;,\n\t";
    SET[usize::from(b) % SET.len()] as char
}

fn secret_char(b: u8) -> char {
    const SET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    SET[usize::from(b) % SET.len()] as char
}

/// A planted secret never survives. `data` is read as: a template index, the
/// secret's body length, the body (alphanumeric), the prefix length, the
/// prefix (restricted by `prefix_char`), and any text after it as the suffix.
/// The statement is `<prefix> <template with secret> <suffix>`; the secret
/// (`S<body>9`, at least 8 characters) must not appear in the redacted output.
/// Inputs whose prefix or suffix happen to contain the secret are skipped.
pub fn check_planted(data: &[u8]) {
    let mut it = data.iter().copied();
    let (Some(t), Some(body_len)) = (it.next(), it.next()) else {
        return;
    };
    let template = PLANTED[usize::from(t) % PLANTED.len()];
    let body_len = 6 + usize::from(body_len % 24);
    let body: String = it.by_ref().take(body_len).map(secret_char).collect();
    if body.len() < body_len {
        return;
    }
    let secret = format!("S{body}9");
    let prefix_len = usize::from(it.next().unwrap_or(0));
    let prefix: String = it.by_ref().take(prefix_len).map(prefix_char).collect();
    let rest: Vec<u8> = it.collect();
    let suffix = String::from_utf8_lossy(&rest);
    if prefix.contains(&secret) || suffix.contains(&secret) {
        return;
    }
    let stmt = format!("{prefix} {} {suffix}", template.replacen("{}", &secret, 1));
    let r = Redactor::default();
    let out = r.redact(&stmt).map(|(s, _)| s);
    let out = out.as_deref().unwrap_or(&stmt);
    assert!(
        !out.contains(&secret),
        "secret {secret:?} survived:\nin:  {stmt:?}\nout: {out:?}"
    );
}
