//! Encodings on real pgaudit events: OCSF output checked by an independent
//! validator (PyPI `pydantic-ocsf`, models generated from the OCSF 1.7.0
//! schema it bundles), and the file sink's `encoding:` key.
//!
//! The validator is installed into a venv under the cargo target dir on first
//! use (`python3 -m venv` + `pip install pydantic-ocsf==3.0.0`); the test fails
//! (never skips) when that is impossible.

mod sink_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use onetrail_agent::config::Encoding;
use onetrail_agent::metrics::SinkMetrics;
use onetrail_agent::{ParseOptions, encode, parse_file};
use onetrail_event::{Category, Event};
use serde_json::Value;
use sink_common::*;

const VALIDATOR: &str = r#"
import json, sys
from pydantic import BaseModel
from ocsf.v1_7_0 import events as E
CLASSES = {6005: E.DatastoreActivity, 3002: E.Authentication, 3001: E.AccountChange,
           3005: E.UserAccess, 1008: E.EventLogActvity}
def extras(m, path):
    out = []
    if isinstance(m, BaseModel):
        for k in (m.model_extra or {}):
            out.append(path + "." + k)
        for name in type(m).model_fields:
            if name == "unmapped":
                continue
            out += extras(getattr(m, name), path + "." + name)
    elif isinstance(m, list):
        for i, x in enumerate(m):
            out += extras(x, "%s[%d]" % (path, i))
    return out
errors, counts = 0, {}
for n, line in enumerate(open(sys.argv[1]), 1):
    d = json.loads(line)
    cls = CLASSES.get(d.get("class_uid"))
    if cls is None:
        print("line %d: unexpected class_uid %r" % (n, d.get("class_uid"))); errors += 1; continue
    try:
        m = cls.model_validate(d)
    except Exception as e:
        print("line %d (class %s): %s" % (n, d["class_uid"], e)); errors += 1; continue
    ex = extras(m, "")
    if ex:
        print("line %d: attributes not in OCSF 1.7.0: %s" % (n, ex)); errors += 1
    if d["type_uid"] != d["class_uid"] * 100 + d["activity_id"]:
        print("line %d: bad type_uid" % n); errors += 1
    counts[d["class_uid"]] = counts.get(d["class_uid"], 0) + 1
print(json.dumps({"errors": errors, "classes": counts}))
sys.exit(1 if errors else 0)
"#;

/// The validator's python, installed on first use. Tests of this binary run
/// in parallel threads, so the install happens once (`OnceLock`); it is built
/// in a directory of its own and renamed into place, so a run killed halfway
/// or another process installing at the same time never leaves a broken venv
/// where the next run looks.
fn validator_python() -> PathBuf {
    static PY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PY.get_or_init(install_validator).clone()
}

fn install_validator() -> PathBuf {
    onetrail_testkit::python::venv(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("ocsf-venv"),
        &["pydantic-ocsf==3.0.0"],
        "ocsf.v1_7_0.events",
    )
    .unwrap_or_else(|e| panic!("the OCSF validator is needed: {e}"))
}

fn validate(path: &Path) -> Value {
    // Not next to a file named `ocsf.*`: the script's directory is on sys.path.
    let script = path.with_file_name("validate_ocsf_output.py");
    std::fs::write(&script, VALIDATOR).unwrap();
    let out = Command::new(validator_python())
        .arg(&script)
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "OCSF validation failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// Events of the real PostgreSQL 15 captures (fixtures/postgresql/real), parsed
/// by the pgaudit parser.
fn real_events() -> Vec<Event> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/postgresql/real");
    let cases = [
        (
            "stderr/postgresql.log",
            "pgaudit-stderr",
            Some("%m [%p] %q%u@%d %r %a %c "),
        ),
        ("csvlog/postgresql.csv", "pgaudit-csvlog", None),
        ("jsonlog/postgresql.json", "pgaudit-jsonlog", None),
        ("pgauditlogtofile/audit.log", "pgauditlogtofile", None),
    ];
    let mut all = Vec::new();
    for (file, format, prefix) in cases {
        let mut out = Vec::new();
        let opts = ParseOptions {
            format: format.into(),
            log_line_prefix: prefix.map(str::to_string),
            instance: Some("pg-real".into()),
            forward_other: true,
            mask_literals: false,
            max_record_bytes: onetrail_agent::DEFAULT_MAX_RECORD_BYTES,
        };
        parse_file(&root.join(file), &opts, &mut out).unwrap_or_else(|e| panic!("{file}: {e}"));
        let evs: Vec<Event> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert!(evs.len() > 20, "{file}: only {} events", evs.len());
        all.extend(evs);
    }
    // The onetrail agent events (START/STOP/GAP) are not in log files.
    let mut gap = onetrail_agent::pipeline::agent_event(
        "pg",
        onetrail_event::Engine::Postgresql,
        "GAP",
        "test",
    );
    gap.extra.insert("reason".into(), "test".into());
    all.push(gap);
    all.push(onetrail_agent::pipeline::agent_event(
        "pg",
        onetrail_event::Engine::Postgresql,
        "START",
        "x",
    ));
    all
}

#[test]
fn ocsf_of_real_pgaudit_events_validates() {
    let evs = real_events();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ocsf.jsonl");
    let mut buf = Vec::new();
    for e in &evs {
        encode::write_json(e, Encoding::Ocsf, &mut buf);
        buf.push(b'\n');
    }
    std::fs::write(&path, &buf).unwrap();
    let report = validate(&path);
    let classes = report["classes"].as_object().unwrap();
    // Every class of the mapping occurs in the real captures.
    for c in ["6005", "3002", "3001", "3005", "1008"] {
        assert!(
            classes.get(c).is_some_and(|n| n.as_u64().unwrap() > 0),
            "no class {c}: {report}"
        );
    }
    let total: u64 = classes.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total as usize, evs.len());
    // Spot checks on the mapping.
    let by_cat: BTreeMap<Category, Value> = evs
        .iter()
        .map(|e| (e.category, encode::to_value(e, Encoding::Ocsf)))
        .collect();
    let read = &by_cat[&Category::Read];
    assert_eq!(read["class_uid"], 6005);
    assert!(read["query_info"]["query_string"].is_string());
    assert!(
        read["unmapped"]["postgresql"]["pgaudit"].is_object(),
        "{read}"
    );
    let auth = &by_cat[&Category::Auth];
    assert_eq!(auth["class_uid"], 3002);
    assert!(auth["user"]["name"].is_string());
}

#[test]
fn the_validator_is_not_a_rubber_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let mut v = encode::to_value(&events(1)[0], Encoding::Ocsf);
    v["type_uid"] = 600599.into();
    let mut w = encode::to_value(&events(1)[0], Encoding::Ocsf);
    w["query_info"]["querystring"] = "x".into();
    std::fs::write(&path, format!("{v}\n{w}\n")).unwrap();
    let script = path.with_file_name("validate_ocsf_output.py");
    std::fs::write(&script, VALIDATOR).unwrap();
    let out = Command::new(validator_python())
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("\"errors\": 2"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_writes_every_encoding() {
    let evs = real_events();
    let dir = tempfile::tempdir().unwrap();
    for (enc, key) in [
        ("native", "parse_error"),
        ("ocsf", "class_uid"),
        ("splunk_cim", "vendor_product"),
        ("datadog", "evt"),
    ] {
        let out = dir.path().join(format!("{enc}.jsonl"));
        let cfg = config(
            dir.path(),
            &format!("type: file\npath: {}\nencoding: {enc}\n", out.display()),
        );
        let mut sink = build(&cfg);
        let m = SinkMetrics::default();
        deliver(
            &mut sink,
            &batches(evs.clone(), 100),
            &m,
            Duration::from_secs(20),
        )
        .await;
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), evs.len(), "{enc}");
        assert!(
            lines.iter().all(|l| l.get(key).is_some()),
            "{enc}: every line has `{key}`"
        );
        if enc == "ocsf" {
            validate(&out);
        }
        // Each line is the event exactly as the encoder writes it.
        let enc_v: Encoding = serde_json::from_value(Value::from(enc)).unwrap();
        for (l, e) in lines.iter().zip(&evs) {
            let mut want = encode::to_value(e, enc_v);
            if enc == "ocsf" {
                // encoding time differs between two encodings
                want["metadata"]["processed_time"] = l["metadata"]["processed_time"].clone();
            }
            assert_eq!(l, &want, "{enc}");
        }
    }
}
