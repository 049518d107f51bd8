//! What an operator sees for a bad config file: one `error: ` prefix per
//! problem, `file:line:` and the line's own text (never `<input>`), each
//! problem once, exit code 2, and no secret. The messages themselves are
//! tested in crates/agent/src/config/error_tests.rs.

use std::process::Command;

const BAD: &str = "\
sources:
  pg:
    type: pgaudit
    paths: \"/var/log/postgresql/postgresql.log\"
    instanse: pg-prod-1
sinks:
  archive: { type: file, path: /tmp/onetrail-x.jsonl, token: hunter2-literal }
  hec:
    type: splunk_hec
    endpoint: https://splunk:8088
    token: ${ONETRAIL_TEST_TOKEN}
    indx: main
    indx: main
  dd:
    type: datadog
    api_key: ${ONETRAIL_TEST_TOKEN}
    batch_max_events: many
";

#[test]
fn each_problem_is_printed_once_with_one_prefix_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("onetrail.yaml");
    std::fs::write(&cfg, BAD).unwrap();
    let file = cfg.display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["check", "--config", &file])
        .env("ONETRAIL_TEST_TOKEN", "planted-s3cret-value")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let headers: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(
        headers,
        [
            format!(
                "error: {file}:4: sources.pg: `paths` must be a list of glob patterns, e.g. `paths: [\"/var/log/postgresql/*.log\"]`; found a single value"
            ),
            format!(
                "error: {file}:5: sources.pg: unknown key `instanse`; did you mean `instance`?"
            ),
            format!(
                "error: {file}:7: sinks.archive: `token` is not a key of `type: file`; only `type: splunk_hec` takes it"
            ),
            format!("error: {file}:12: sinks.hec: unknown key `indx`; did you mean `index`?"),
            format!(
                "error: {file}:13: sinks.hec: `indx` is set twice (first on line 12); keep one"
            ),
        ],
        "{err}"
    );
    // Under each header, the line it names, as written in the file.
    assert!(err.contains("\n    5 |     instanse: pg-prod-1\n"), "{err}");
    assert!(
        err.contains(
            "\n    7 |   archive: { type: file, path: /tmp/onetrail-x.jsonl, token: **** }\n"
        ),
        "{err}"
    );
    assert_eq!(err.matches("error").count(), headers.len(), "{err}");
    assert!(
        !err.contains("<input>") && !err.contains("hunter2") && !err.contains("s3cret"),
        "{err}"
    );

    // Once those are fixed, serde's own findings get the same shape.
    let fixed = BAD
        .replace(
            "\"/var/log/postgresql/postgresql.log\"",
            "[\"/var/log/postgresql/postgresql.log\"]",
        )
        .replace("    instanse: pg-prod-1\n", "")
        .replace(", token: hunter2-literal", "")
        .replace("    indx: main\n    indx: main\n", "");
    std::fs::write(&cfg, fixed).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["check", "--config", &file])
        .env("ONETRAIL_TEST_TOKEN", "planted-s3cret-value")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err,
        format!(
            "error: {file}:14: `batch_max_events` must be a whole number\n   14 |     batch_max_events: many\n"
        )
    );
    assert_eq!(err.matches("error").count(), 1, "{err}");
    assert!(!err.contains("<input>") && !err.contains("s3cret"), "{err}");
}
