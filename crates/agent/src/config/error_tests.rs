//! Config errors in the operator's words, the key table against the structs,
//! and docs/config.md against the table.

use std::path::Path;

use super::*;

const FILE: &str = "/etc/onetrail/onetrail.yaml";

/// Line numbers below count from this text's first line.
const BASE: &str = "\
sources:
  pg:
    type: pgaudit
    paths: [\"/var/log/postgresql/*.log\"]
    instance: pg-prod-1
sinks:
  archive:
    type: file
    path: /var/lib/onetrail/events.jsonl
  hec:
    type: splunk_hec
    endpoint: https://splunk:8088
    token: ${TOK}
";

fn load(text: &str) -> Result<Config, ConfigError> {
    let vars = [("TOK".to_string(), "s3cr3t-hec-token-value".to_string())]
        .into_iter()
        .collect();
    Config::from_str_with_vars(text, Path::new(FILE), vars)
}

/// `BASE` with `line` (1-based) replaced by `with` (which may hold several lines).
fn edit(line: usize, with: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    lines[line - 1] = with;
    lines.join("\n") + "\n"
}

fn problems(text: &str) -> Vec<(u64, String)> {
    match load(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.line, p.msg)).collect()
        }
        Err(e) => panic!("not a located problem: {e}"),
    }
}

#[test]
fn the_base_config_loads() {
    let c = load(BASE).unwrap();
    assert_eq!(c.format_name("pg"), Some("pgaudit-stderr"));
}

#[test]
fn each_bad_snippet_gives_one_problem_in_plain_words_with_its_line() {
    let cases: &[(String, u64, &str)] = &[
        (
            edit(5, "    instanse: pg-prod-1"),
            5,
            "sources.pg: unknown key `instanse`; did you mean `instance`?",
        ),
        (
            edit(13, "    token: ${TOK}\n    indx: main"),
            14,
            "sinks.hec: unknown key `indx`; did you mean `index`?",
        ),
        (
            edit(4, "    paths: \"/var/log/postgresql/*.log\""),
            4,
            "sources.pg: `paths` must be a list of glob patterns, e.g. `paths: [\"/var/log/postgresql/*.log\"]`; found a single value",
        ),
        (
            edit(5, "    paths: [/x/*.log]"),
            5,
            "sources.pg: `paths` is set twice (first on line 4); keep one",
        ),
        (
            edit(4, "    paths: [\"/var/log/[x\"]"),
            4,
            "sources.pg.paths: `/var/log/[x` is not a valid glob pattern: invalid range pattern",
        ),
        (
            edit(5, "    password: ${TOK}"),
            5,
            "sources.pg: `password` is not a key of `type: pgaudit`; only `type: mssql`, `type: oracle` take it",
        ),
        (
            edit(9, "    path: /x.jsonl\n    token: ${TOK}"),
            10,
            "sinks.archive: `token` is not a key of `type: file`; only `type: splunk_hec` takes it",
        ),
        (
            edit(3, "    type: pgadit"),
            3,
            "sources.pg: unknown source type `pgadit`; did you mean `pgaudit`? expected one of pgaudit, mysql_audit, oracle_audit, mssql, oracle",
        ),
        (
            edit(13, "    token: ${TOK}\n    tls: { verfy: false }"),
            14,
            "sinks.hec.tls: unknown key `verfy`; did you mean `verify`?",
        ),
        (
            edit(3, "    type: mysql"),
            3,
            "sources.pg: unknown source type `mysql`; did you mean `mysql_audit`? expected one of pgaudit, mysql_audit, oracle_audit, mssql, oracle",
        ),
        (
            edit(
                3,
                "    type: mysql_audit\n    log_format: mariadb-server-audit",
            )
            .replace(
                "    instance",
                "    format: mariadb-server-audit\n    instance",
            ),
            4,
            "sources.pg: `log_format` is not a key of `type: mysql_audit`; only `type: pgaudit` takes it; write `format:`",
        ),
        (
            "sources:\n  pg: {type: pgaudit, paths: [/x/*.log]\nsinks: {c: {type: stdout}}\n"
                .to_string(),
            3,
            "while parsing a flow mapping, did not find expected ',' or '}'",
        ),
        (
            edit(5, "    context: prod"),
            5,
            "sources.pg: `context` must be a mapping, e.g. `context: { environment: prod }`; found a single value",
        ),
        (
            edit(5, "    format: mariadb-server-audit"),
            5,
            "sources.pg.format: `mariadb-server-audit` is not a format of `type: pgaudit`; expected one of pgaudit-stderr, pgaudit-csvlog, pgaudit-jsonlog, pgauditlogtofile (or stderr, csvlog, jsonlog)",
        ),
        (
            edit(5, "    format: pgaudit-csvlog\n    log_format: csvlog"),
            6,
            "sources.pg: `log_format` is the former name of `format`; set only `format`",
        ),
    ];
    for (text, line, msg) in cases {
        assert_eq!(
            problems(text),
            vec![(*line, msg.to_string())],
            "for:\n{text}"
        );
    }
}

#[test]
fn an_unknown_key_far_from_any_lists_only_the_keys_of_that_type() {
    let p = problems(&edit(5, "    zzz: 1"));
    assert_eq!(p.len(), 1);
    let (line, msg) = &p[0];
    assert_eq!(*line, 5);
    assert!(
        msg.starts_with("sources.pg: unknown key `zzz`; the keys of `type: pgaudit` are: type, paths, exclude, format, log_format, log_line_prefix, instance,"),
        "{msg}"
    );
    for other in ["password", "connect_string", "file_pattern", "token"] {
        assert!(!msg.contains(other), "{msg}");
    }
}

#[test]
fn several_problems_are_each_reported_once_in_line_order() {
    let text = edit(5, "    instanse: x\n    foo: [1]").replace("    path: /var", "    pth: /var");
    let p = problems(&text);
    let lines: Vec<u64> = p.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![5, 6, 10], "{p:?}");
}

#[test]
fn every_name_onetrail_formats_prints_is_a_format_value() {
    for (name, engine) in crate::formats::all_formats() {
        let ty = match engine {
            onetrail_event::Engine::Postgresql => "pgaudit",
            onetrail_event::Engine::Mysql | onetrail_event::Engine::Mariadb => "mysql_audit",
            onetrail_event::Engine::Oracle => "oracle_audit",
            // SQL Server files are read offline only (`onetrail parse`).
            _ => continue,
        };
        let text = BASE
            .replace("type: pgaudit", &format!("type: {ty}"))
            .replace(
                "    instance:",
                &format!("    format: {name}\n    instance:"),
            );
        let c = load(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.format_name("pg"), Some(name));
    }
    // The pgaudit short names and the former key stay accepted.
    for (line, want) in [
        ("    log_format: stderr", "pgaudit-stderr"),
        ("    log_format: pgaudit-jsonlog", "pgaudit-jsonlog"),
        ("    format: csvlog", "pgaudit-csvlog"),
    ] {
        let c = load(&edit(5, line)).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(c.format_name("pg"), Some(want), "{line}");
    }
}

#[test]
fn errors_have_one_prefix_the_file_name_and_the_lines_text() {
    // A value serde refuses: its message, our `file:line:` and snippet.
    let text = edit(9, "    path: /x.jsonl\n    batch_max_events: lots");
    let e = load(&text).unwrap_err();
    let msgs = e.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert!(m.starts_with(&format!("{FILE}:10: ")), "{m}");
    assert!(m.ends_with("\n   10 |     batch_max_events: lots"), "{m}");
    assert!(!m.contains("error") && !m.contains("<input>"), "{m}");
    // Our own problems carry the line's text too.
    let m = &load(&edit(5, "    instanse: pg-prod-1"))
        .unwrap_err()
        .messages()[0];
    assert_eq!(
        m,
        &format!(
            "{FILE}:5: sources.pg: unknown key `instanse`; did you mean `instance`?\n    5 |     instanse: pg-prod-1"
        )
    );
}

#[test]
fn secrets_never_appear_in_problems() {
    for text in [
        // A literal token under a misspelled key, and next to a bad key.
        edit(13, "    tokn: hunter2-literal-token"),
        edit(13, "    token: hunter2-literal-token\n    token: ${TOK}"),
        format!("{BASE}  dd: {{ type: datadog, api_kye: hunter2-literal-token }}\n"),
        // A substituted value in a wrong shape.
        edit(13, "    token: ${TOK}\n    index: [${TOK}]"),
        edit(13, "    token: ${TOK}\n    batch_max_events: ${TOK}"),
    ] {
        let e = load(&text).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.contains(FILE), "{e}");
    }
}

/// The field names serde expects for `T`, read from its derived impl.
fn serde_fields<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    use serde::de::{Error as _, Visitor};
    struct Probe;
    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom(""))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            FIELDS.with(|f| f.set(fields));
            Err(Self::Error::custom(""))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    thread_local!(static FIELDS: std::cell::Cell<&'static [&'static str]> = const { std::cell::Cell::new(&[]) });
    let _ = T::deserialize(Probe);
    FIELDS.with(|f| f.get()).to_vec()
}

#[test]
fn every_struct_field_has_a_line_in_the_key_table() {
    let names = |t: &[keys::Key]| t.iter().map(|k| k.name).collect::<Vec<_>>();
    let pairs = [
        ("Config", serde_fields::<Config>(), names(keys::TOP)),
        (
            "SourceConfig",
            serde_fields::<SourceConfig>(),
            names(keys::SOURCE),
        ),
        (
            "SinkConfig",
            serde_fields::<SinkConfig>(),
            names(keys::SINK),
        ),
        ("TlsConfig", serde_fields::<TlsConfig>(), names(keys::TLS)),
        (
            "SaslConfig",
            serde_fields::<crate::sinks::kafka::config::SaslConfig>(),
            names(keys::SASL),
        ),
        ("LogConfig", serde_fields::<LogConfig>(), names(keys::LOG)),
        (
            "MetricsConfig",
            serde_fields::<MetricsConfig>(),
            names(keys::METRICS),
        ),
        (
            "RedactionConfig",
            serde_fields::<RedactionConfig>(),
            names(keys::REDACTION),
        ),
    ];
    for (ty, mut fields, mut table) in pairs {
        assert!(!fields.is_empty(), "{ty}");
        fields.sort_unstable();
        table.sort_unstable();
        assert_eq!(
            fields, table,
            "{ty}: the fields and crates/agent/src/config/keys.rs differ; add one table line per key (see the module doc of config.rs)"
        );
    }
    // Every type named in the table exists.
    for k in keys::SOURCE {
        assert!(
            k.types.iter().all(|t| keys::SOURCE_TYPES.contains(t)),
            "{}",
            k.name
        );
    }
    for k in keys::SINK {
        assert!(
            k.types.iter().all(|t| keys::SINK_TYPES.contains(t)),
            "{}",
            k.name
        );
    }
}

#[test]
fn docs_config_md_is_generated_from_the_key_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == keys::reference_markdown(),
        "docs/config.md is stale; regenerate it with:\n    cargo run -p onetrail -- config-doc > docs/config.md"
    );
}

#[test]
fn suggestions_are_for_typos_only() {
    let keys = ["index", "instance", "token", "format"];
    assert_eq!(schema::suggest("indx", keys.into_iter()), Some("index"));
    assert_eq!(schema::suggest("Token", keys.into_iter()), Some("token"));
    assert_eq!(schema::suggest("zzz", keys.into_iter()), None);
    assert_eq!(schema::suggest("db", keys.into_iter()), None);
}

#[test]
fn syslog_sinks_are_checked_at_load() {
    let with = |sink: &str| format!("{BASE}  siem:\n    type: syslog\n{sink}");
    let cfg = load(&with(
        "    address: siem:6514\n    format: cef\n    framing: newline\n",
    ))
    .expect("a valid syslog sink");
    let s = &cfg.sinks["siem"].value;
    assert_eq!(s.protocol, SyslogProtocol::Tls, "TLS by default");
    assert_eq!(
        (s.format, s.framing),
        (SyslogFormat::Cef, SyslogFraming::Newline)
    );
    assert_eq!(onetrail_sinks::syslog::max_message_bytes(s), 65536);
    for (sink, says) in [
        ("    format: cef\n", "`address` is required"),
        ("    address: siem\n", "must be host:port"),
        (
            "    address: siem:514\n    facility: local9\n",
            "unknown `facility: local9`",
        ),
        (
            "    address: siem:514\n    max_message_bytes: 100\n",
            "at least 480",
        ),
        (
            "    address: siem:514\n    tls: { verify: false }\n",
            "`tls.verify: false` is not supported",
        ),
        (
            "    address: siem:514\n    protocol: relp\n    tls: { ca_file: /ca.pem }\n",
            "need `protocol: tls` or `protocol: relp_tls`",
        ),
        ("    address: siem:514\n    protocol: sctp\n", "sctp"),
        (
            "    address: siem:514\n    protocol: udp\n    max_message_bytes: 70000\n",
            "at most 65000",
        ),
    ] {
        let e = load(&with(sink))
            .err()
            .unwrap_or_else(|| panic!("accepted: {sink}"));
        assert!(e.to_string().contains(says), "{sink}: {e}");
    }
}
