//! `onetrail import`: historic files go through the configured source's
//! parser and enrichment to the configured sinks, with the ids `parse` gives,
//! exit 0 once delivered, no progress output off a terminal, and the
//! agent's checkpoints untouched.

use std::fs;
use std::process::Command;

const PREFIX: &str = "%m [%p] %q%u@%d ";

fn record(n: u64) -> String {
    format!(
        "2026-11-26 06:15:{:02}.{:03} UTC [4242] app@appdb LOG:  AUDIT: SESSION,{n},1,WRITE,INSERT,TABLE,public.t,\"INSERT INTO public.t\n\tVALUES ({n})\",<none>\n",
        (n / 1000) % 60,
        n % 1000
    )
}

#[test]
fn import_delivers_with_agent_ids_and_leaves_checkpoints_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state");
    fs::create_dir_all(&state).unwrap();
    // A checkpoint file of a (running) agent: import must not touch it.
    let ckpt = state.join("checkpoints.json");
    let ckpt_text = "{\"version\":\"1\",\"sources\":{}}";
    fs::write(&ckpt, ckpt_text).unwrap();
    let files: Vec<_> = (0..2)
        .map(|i| {
            let p = d.join(format!("postgresql.log.{}", i + 1));
            let text: String = (i * 1000 + 1..=i * 1000 + 1000).map(record).collect();
            fs::write(&p, text).unwrap();
            p
        })
        .collect();
    let out = d.join("events.jsonl");
    let cfg = d.join("onetrail.yaml");
    fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"/nonexistent/*.log\"]\n    log_line_prefix: \"{PREFIX}\"\n    instance: pg-old-1\n    context: {{ environment: archive }}\nsinks:\n  out: {{ type: file, path: {out} }}\n",
            state = state.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["import", "--config"])
        .arg(&cfg)
        .args(["--source", "pg"])
        .args(&files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains('\r'),
        "no progress bar off a terminal: {stderr:?}"
    );
    assert!(
        stderr.contains("2000 event(s) (0 unparsed) delivered to 1 sink(s)"),
        "{stderr}"
    );

    let lines: Vec<serde_json::Value> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2000);
    assert!(
        lines
            .iter()
            .all(|v| v["instance"] == "pg-old-1" && v["context"]["environment"] == "archive")
    );
    let mut stmts: Vec<u64> = lines
        .iter()
        .map(|v| v["session"]["statement_id"].as_u64().unwrap())
        .collect();
    stmts.sort();
    assert_eq!(stmts, (1..=2000).collect::<Vec<_>>());
    // Same ids as `onetrail parse` (and so as the agent) for the same files.
    let parse = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args([
            "parse",
            "--format",
            "pgaudit-stderr",
            "--log-line-prefix",
            PREFIX,
        ])
        .args(&files)
        .output()
        .unwrap();
    let want: Vec<String> = String::from_utf8_lossy(&parse.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let got: Vec<String> = lines
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);

    assert_eq!(
        fs::read_to_string(&ckpt).unwrap(),
        ckpt_text,
        "checkpoints touched"
    );
    assert!(!state.join("checkpoints.json.tmp").exists());

    // A source that does not exist is a clear error.
    let bad = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["import", "--config"])
        .arg(&cfg)
        .args(["--source", "nope"])
        .arg(&files[0])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no source `nope`"));
}
