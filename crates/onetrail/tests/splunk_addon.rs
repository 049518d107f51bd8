//! The Splunk add-on in `deploy/splunk/TA-onetrail`: it passes Splunk
//! AppInspect (`--mode precert`, PyPI `splunk-appinspect`), and its
//! eventtypes, tags and props follow docs/schema.md and docs/encodings.md so
//! the add-on cannot drift from what the agent sends.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod spl;

/// Pinned so a new AppInspect release cannot change the result unnoticed.
const APPINSPECT: &str = "splunk-appinspect==4.3.1";
/// What the `splunk-appinspect` console script runs.
const ENTRY: &str = "import sys; from splunk_appinspect.main import execute; \
    sys.argv[0] = 'splunk-appinspect'; sys.exit(execute())";
const SOURCETYPE: &str = "onetrail:audit:json";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn addon() -> PathBuf {
    repo().join("deploy/splunk/TA-onetrail")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// Splunk .conf files: `[stanza]`, `key = value`, `#` comments.
fn ini(file: &str) -> Ini {
    let text = std::fs::read_to_string(addon().join(file)).unwrap();
    let mut out = Ini::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            cur = s.to_string();
            out.entry(cur.clone()).or_default();
        } else if let Some((k, v)) = l.split_once('=') {
            let prev = out
                .entry(cur.clone())
                .or_default()
                .insert(k.trim().to_string(), v.trim().to_string());
            assert!(prev.is_none(), "{file} [{cur}]: `{}` set twice", k.trim());
        } else {
            panic!("{file}: cannot parse line {l:?}");
        }
    }
    out
}

/// Words in backticks in `s`.
fn ticks(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The `category` values of docs/schema.md: each is written `` `name` (…) ``.
fn schema_categories() -> BTreeSet<String> {
    let schema = read("docs/schema.md");
    let row = schema
        .lines()
        .find(|l| l.starts_with("| `category` |"))
        .expect("docs/schema.md has a `category` row");
    let cats: BTreeSet<String> = row
        .split('`')
        .collect::<Vec<_>>()
        .windows(2)
        .enumerate()
        .filter(|(i, w)| i % 2 == 1 && w[1].starts_with(" ("))
        .map(|(_, w)| w[0].to_string())
        .collect();
    assert!(
        cats.len() >= 10 && cats.contains("auth") && cats.contains("agent"),
        "parsed categories {cats:?}"
    );
    cats
}

/// The "Splunk CIM" section of docs/encodings.md.
fn cim_section() -> String {
    let doc = read("docs/encodings.md");
    let start = doc
        .find("## Splunk CIM")
        .expect("docs/encodings.md has a Splunk CIM section");
    let rest = &doc[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// The tags docs/encodings.md promises per category: the eventtype sentence
/// (`category=x` → `tag`, …), else `database`, `query` for the categories of
/// the table's **Databases** row; categories in neither get no tags.
fn expected_tags(cats: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let sec = cim_section();
    let flat = sec.replace('\n', " ");
    let mut out = BTreeMap::new();
    for part in flat.split("`category=").skip(1) {
        let (cat, rest) = part.split_once('`').unwrap();
        if cat.contains(' ') {
            continue; // `category=read OR …`: the group of the Databases row
        }
        let (_, tags) = rest.split_once('→').expect("`category=x` → tags");
        let tags = &tags[..tags.find([';', ')']).unwrap()];
        out.insert(cat.to_string(), ticks(tags).into_iter().collect());
    }
    let db_row = sec
        .lines()
        .find(|l| l.starts_with("| **Databases**"))
        .expect("Databases row");
    for cat in ticks(db_row) {
        out.entry(cat)
            .or_insert_with(|| ["database", "query"].map(String::from).into());
    }
    assert!(out.len() >= 8, "parsed {out:?}");
    for cat in out.keys() {
        assert!(
            cats.contains(cat),
            "docs/encodings.md names `{cat}`, not a category"
        );
    }
    for cat in cats {
        out.entry(cat.clone()).or_default();
    }
    out
}

#[test]
fn eventtypes_tag_every_category_as_the_docs_say() {
    let cats = schema_categories();
    let want = expected_tags(&cats);
    let eventtypes = ini("default/eventtypes.conf");
    let tags = ini("default/tags.conf");
    let mut got: BTreeMap<String, Vec<(String, BTreeSet<String>)>> = BTreeMap::new();
    for (name, st) in &eventtypes {
        let search = st
            .get("search")
            .unwrap_or_else(|| panic!("eventtype {name} has no search"));
        assert!(
            search.contains(&format!("sourcetype=\"{SOURCETYPE}\"")),
            "eventtype {name} must select sourcetype {SOURCETYPE}: {search}"
        );
        let enabled: BTreeSet<String> = tags
            .get(&format!("eventtype={name}"))
            .map(|t| {
                t.iter()
                    .filter(|(_, v)| v.as_str() == "enabled")
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        for part in search.split("category=\"").skip(1) {
            let cat = &part[..part.find('"').unwrap()];
            assert!(
                cats.contains(cat),
                "eventtype {name} selects `{cat}`, not a category of docs/schema.md"
            );
            got.entry(cat.to_string())
                .or_default()
                .push((name.clone(), enabled.clone()));
        }
    }
    let mut bad = Vec::new();
    for (cat, tags) in &want {
        match (got.get(cat).map(Vec::as_slice), tags.is_empty()) {
            (None, true) => {}
            (Some([(_, t)]), false) if t == tags => {}
            (found, _) => bad.push(format!("`{cat}`: want tags {tags:?}, eventtypes {found:?}")),
        }
    }
    assert!(
        bad.is_empty(),
        "TA-onetrail drifts from the docs:\n{}",
        bad.join("\n")
    );
    for st in tags.keys() {
        let et = st.strip_prefix("eventtype=").expect("tags per eventtype");
        assert!(eventtypes.contains_key(et), "tags.conf names unknown {et}");
    }
}

#[test]
fn props_build_every_cim_field_for_native_events() {
    // The stanza is the sourcetype the HEC sink sends by default.
    let hec = read("crates/sinks/src/splunk_hec.rs");
    assert!(
        hec.contains(&format!("\"{SOURCETYPE}\"")),
        "HEC sink default"
    );
    let props = ini("default/props.conf");
    let st = props
        .get(SOURCETYPE)
        .unwrap_or_else(|| panic!("props.conf has no [{SOURCETYPE}]"));
    assert_eq!(st.get("KV_MODE").map(String::as_str), Some("json"));
    assert!(
        st.get("TIME_PREFIX").is_some_and(|p| p.contains("time")),
        "timestamp from the event's `time`"
    );
    let fields = cim_fields();
    let mut made: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in st {
        if let Some(f) = k.strip_prefix("EVAL-") {
            made.insert(f.to_string(), v.clone());
        } else if k.starts_with("FIELDALIAS-") {
            let words: Vec<&str> = v.split_whitespace().collect();
            for w in words.windows(2) {
                if w[0] == "AS" || w[0] == "ASNEW" {
                    made.insert(w[1].to_string(), v.clone());
                }
            }
        }
    }
    let missing: Vec<_> = fields.iter().filter(|f| !made.contains_key(*f)).collect();
    assert!(
        missing.is_empty(),
        "CIM fields not built for native events: {missing:?}"
    );
    // `splunk_cim` events already carry these fields: an EVAL must keep them.
    for f in &fields {
        let expr = &made[f];
        let keeps = expr.starts_with(&format!("coalesce({f},"))
            || expr.starts_with(&format!("if(isnotnull(onetrail_action), {f},"));
        assert!(
            keeps || !expr.contains('('),
            "EVAL-{f} would overwrite the value a splunk_cim event carries: {expr}"
        );
    }
}

/// The CIM fields of the docs table (first column, `a` / `b`), except the
/// `agent` row which promises none.
fn cim_fields() -> BTreeSet<String> {
    let mut fields = BTreeSet::new();
    for line in cim_section().lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || !cols[1].starts_with('`') || cols[2].starts_with("none") {
            continue;
        }
        fields.extend(ticks(cols[1]));
    }
    assert!(
        fields.len() >= 20 && fields.contains("records_affected"),
        "parsed {fields:?}"
    );
    fields
}

fn golden(encoding: &str) -> Vec<serde_json::Value> {
    read(&format!("fixtures/encodings/{encoding}.expected.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A field's values as the agent's `splunk_cim` encoder wrote them (the
/// reference), `None` when it left the field out.
fn reference(ev: &serde_json::Value, f: &str) -> Option<Vec<String>> {
    let mut fs = spl::extract(ev, spl::Nulls::Absent);
    fs.remove(f).filter(|v| !v.is_empty())
}

/// `query_time` is the event's time: RFC 3339 text from `native` and
/// `splunk_cim` events, epoch seconds from `ocsf` and `datadog` events, whose
/// time is in milliseconds. Compared as instants, to the millisecond.
fn same_instant(a: &str, b: &str) -> bool {
    let secs = |s: &str| -> Option<f64> {
        s.parse::<f64>().ok().or_else(|| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_micros() as f64 / 1e6)
        })
    };
    matches!((secs(a), secs(b)), (Some(x), Some(y)) if (x - y).abs() < 0.001)
}

/// The add-on's props, run through a model of Splunk's search-time field
/// building (tests/spl), give every CIM field of docs/encodings.md the value
/// the agent's own `splunk_cim` encoder gives it, for the same event sent in
/// each encoding (`fixtures/encodings/*.expected.jsonl`: the same 53 events
/// of every engine in the four encodings), whether Splunk extracts a JSON
/// `null` as no field or as the text `null`.
#[test]
fn props_give_every_encoding_the_cim_fields_of_the_agent() {
    let props = ini("default/props.conf");
    let stanza = props.get(SOURCETYPE).expect("the sourcetype stanza");
    let fields = cim_fields();
    let cim = golden("splunk_cim");
    let mut failures = Vec::new();
    let mut checked = 0;
    for encoding in ["native", "splunk_cim", "ocsf", "datadog"] {
        let events = golden(encoding);
        assert_eq!(events.len(), cim.len(), "{encoding}: one line per event");
        for nulls in [spl::Nulls::Absent, spl::Nulls::Text] {
            for (i, (ev, reference_ev)) in events.iter().zip(&cim).enumerate() {
                let mut got = spl::extract(ev, nulls);
                spl::apply(stanza, &mut got).unwrap_or_else(|e| panic!("props.conf: {e}"));
                for f in &fields {
                    let want = reference(reference_ev, f);
                    let have = got.get(f.as_str()).cloned();
                    checked += 1;
                    // By design (TA README): outside the Change model, where
                    // CIM has no `status`, an ocsf or datadog event keeps its
                    // own (`Success`, `info`, …).
                    let own_status = f == "status"
                        && want.is_none()
                        && have.is_some()
                        && !matches!(
                            reference_ev["category"].as_str(),
                            Some("dcl" | "audit_config" | "ddl")
                        )
                        && have == spl::extract(ev, nulls).get("status").cloned();
                    let ok = own_status
                        || match (&want, &have) {
                            (Some(w), Some(h))
                                if f == "query_time" && w.len() == 1 && h.len() == 1 =>
                            {
                                same_instant(&w[0], &h[0])
                            }
                            _ => want == have,
                        };
                    if !ok {
                        failures.push(format!(
                            "{encoding} ({nulls:?} nulls) line {}: {f} = {have:?}, agent says {want:?}",
                            i + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 4000, "only {checked} comparisons");
    assert!(
        failures.is_empty(),
        "{} of {checked} CIM values differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The Python of a venv with the pinned AppInspect, built once per test binary (the
/// staging dir is renamed into place so an interrupted run leaves nothing
/// half-installed behind). `Err` when pip cannot install it.
fn appinspect() -> Result<PathBuf, String> {
    static BIN: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BIN.get_or_init(install_appinspect).clone()
}

fn install_appinspect() -> Result<PathBuf, String> {
    onetrail_testkit::python::venv(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("appinspect-venv"),
        &[APPINSPECT],
        "splunk_appinspect.main",
    )
}

#[test]
fn appinspect_precert_passes() {
    let bin = match appinspect() {
        Ok(b) => b,
        Err(why) => return onetrail_corpora::skip(&why),
    };
    let dir = tempfile::tempdir().unwrap();
    // The package Splunk installs: a .tgz with the app directory at the top.
    let pkg = dir.path().join("TA-onetrail.tgz");
    let out = Command::new("tar")
        .arg("-C")
        .arg(addon().join(".."))
        .arg("-czf")
        .arg(&pkg)
        .arg("TA-onetrail")
        .output()
        .expect("tar");
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("appinspect.json");
    // Through the venv's python: the `splunk-appinspect` script's `#!` still
    // names the staging dir the venv was built in.
    let out = Command::new(&bin)
        .args(["-c", ENTRY, "inspect"])
        .arg(&pkg)
        .args([
            "--mode",
            "precert",
            "--data-format",
            "json",
            "--output-file",
        ])
        .arg(&report)
        .output()
        .expect("splunk-appinspect");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "no AppInspect report ({e}); exit {:?}: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut bad = Vec::new();
    for check in v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["groups"].as_array().unwrap())
        .flat_map(|g| g["checks"].as_array().unwrap())
    {
        let result = check["result"].as_str().unwrap_or("?");
        if matches!(result, "failure" | "error" | "future_failure") {
            let msgs: Vec<&str> = check["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["message"].as_str())
                .collect();
            bad.push(format!("{result} {}: {}", check["name"], msgs.join(" | ")));
        }
    }
    let summary = &v["summary"];
    assert!(
        bad.is_empty(),
        "AppInspect precert: {summary}\n{}",
        bad.join("\n")
    );
    // The run really inspected the add-on's files.
    assert!(
        summary["success"].as_u64().unwrap_or(0) > 0,
        "AppInspect ran no check: {summary}"
    );
}
