//! deploy/fleet/: the agent config loads in onetrail's own loader; the
//! consumer configs parse in their formats and keep onetrail's `id` for
//! de-duplication. Vector, Logstash and Kafka Connect themselves are not
//! installable here (not on crates.io, PyPI or npm), so their own validators
//! do not run: deploy/fleet/README.md says so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fleet() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/fleet")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fleet().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_agent_config_loads_with_a_kafka_sink() {
    let path = fleet().join("onetrail-agent.yaml");
    let vars = HashMap::from([("ONETRAIL_INSTANCE".to_string(), "pg-prod-1".to_string())]);
    let cfg = onetrail_agent::config::Config::from_str_with_vars(
        &read("onetrail-agent.yaml"),
        &path,
        vars,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let k = &cfg.sinks["kafka"].value;
    assert_eq!(k.kind, onetrail_agent::config::SinkType::Kafka);
    assert_eq!(
        k.encoding,
        onetrail_agent::config::Encoding::Native,
        "consumers rely on top-level `id`"
    );
    assert_eq!(k.topic.as_deref(), Some("db-audit"));
    assert!(
        k.sasl
            .as_ref()
            .is_some_and(|s| s.password.is_none() && s.password_file.is_some())
    );
    assert!(k.tls.ca_file.is_some());
}

fn connector(name: &str) -> serde_json::Map<String, serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = v["config"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no `config`"))
        .clone();
    // Kafka Connect takes string values only.
    for (k, v) in &c {
        assert!(v.is_string(), "{name}: {k} is not a string");
    }
    assert_eq!(c["topics"], "db-audit", "{name}");
    c
}

#[test]
fn the_kafka_connect_connectors_are_json_with_the_keys_they_need() {
    let s = connector("splunk-connect-for-kafka.json");
    assert_eq!(
        s["connector.class"],
        "com.splunk.kafka.connect.SplunkSinkConnector"
    );
    assert_eq!(
        s["splunk.hec.ack.enabled"], "true",
        "acknowledged end to end"
    );
    assert_eq!(s["splunk.header.custom"], "onetrail_id");
    assert!(
        s["splunk.hec.token"]
            .as_str()
            .unwrap()
            .starts_with("${file:"),
        "token from a file"
    );
    let d = connector("datadog-kafka-connect.json");
    assert_eq!(
        d["connector.class"],
        "com.datadoghq.connect.logs.DatadogLogsSinkConnector"
    );
    assert!(
        d["datadog.api_key"]
            .as_str()
            .unwrap()
            .starts_with("${file:")
    );
}

#[test]
fn the_vector_config_is_toml_and_dedupes_on_id() {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        onetrail_corpora::skip("python3 is not installed (its tomllib parses vector.toml)");
        return;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))",
        ])
        .arg(fleet().join("vector.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vector.toml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let src = &v["sources"]["onetrail"];
    assert_eq!(src["type"], "kafka");
    assert_eq!(src["topics"][0], "db-audit");
    assert_eq!(src["decoding"]["codec"], "json");
    assert_eq!(src["tls"]["enabled"], true);
    let d = &v["transforms"]["dedupe"];
    assert_eq!(d["type"], "dedupe");
    assert_eq!(d["inputs"][0], "onetrail");
    assert_eq!(d["fields"]["match"][0], "id");
    assert_eq!(v["sinks"]["datadog"]["type"], "datadog_logs");
    assert_eq!(v["sinks"]["datadog"]["inputs"][0], "dedupe");
}

#[test]
fn the_logstash_pipeline_is_balanced_and_indexes_by_id() {
    let text = read("logstash-kafka.conf");
    let mut depth = 0i32;
    let mut in_str = false;
    for line in text.lines() {
        let line = if in_str {
            line
        } else {
            line.split('#').next().unwrap_or("")
        };
        for c in line.chars() {
            match c {
                '"' => in_str = !in_str,
                '{' if !in_str => depth += 1,
                '}' if !in_str => {
                    depth -= 1;
                    assert!(depth >= 0, "unbalanced `}}`");
                }
                _ => {}
            }
        }
    }
    assert_eq!(depth, 0, "unbalanced braces");
    assert!(!in_str, "unterminated string");
    for want in [
        "kafka {",
        "topics => [\"db-audit\"]",
        "codec => json",
        "document_id => \"%{[id]}\"",
    ] {
        assert!(text.contains(want), "{want}");
    }
}
