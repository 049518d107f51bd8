//! Hostile records (issue: one crafted statement must not blind the agent).
//!
//! A 10 MB statement of every hurtful shape, in every file format, between
//! two ordinary records: `onetrail parse` and `onetrail run` must deliver all
//! three (the huge one cut and flagged, not dropped) within a fixed memory
//! bound that does not grow with the statement. Before records were cut, a
//! 9 MB statement took `parse` past 1 GB and the unit's `MemoryMax=512M`
//! killed `run` in a restart loop on the same record.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Agent, run_command, wait_for};
use onetrail_bench::hostile::{self, Shape, Target};
use onetrail_bench::procstat;
use serde_json::Value;

/// The statement's size: ten times the default `max_record_bytes`.
const STATEMENT_BYTES: usize = 10 << 20;
/// Peak RSS allowed for `parse` (debug build; idle it takes about 15 MiB).
const PARSE_BOUND: u64 = 64 << 20;
/// Peak RSS allowed for `run` (its queues hold several batches, each bounded
/// in bytes).
const RUN_BOUND: u64 = 96 << 20;

/// The three statements came out, the huge one cut, flagged, and bounded.
fn check_events(events: &[Value]) -> Result<(), String> {
    let has = |needle: &str| {
        events
            .iter()
            .any(|e| e["statement"].as_str().is_some_and(|s| s.contains(needle)))
    };
    if !has("'before'") || !has("'after'") {
        return Err("an ordinary record is missing".into());
    }
    let cut: Vec<&Value> = events
        .iter()
        .filter(|e| e["extra"]["truncated"] == true)
        .collect();
    let [e] = cut[..] else {
        return Err(format!("{} events flagged truncated, want 1", cut.len()));
    };
    let original = e["extra"]["original_bytes"].as_u64().unwrap_or(0);
    if original < STATEMENT_BYTES as u64 {
        return Err(format!("original_bytes {original}"));
    }
    // The kept bytes are at most `max_record_bytes` (1 MiB); redaction may
    // lengthen them (`'pw'` → `'<redacted>'`), by less than half again here.
    for field in ["statement", "raw"] {
        let len = e[field].as_str().map_or(0, str::len);
        if len > 3 << 19 {
            return Err(format!("{field} is {len} bytes"));
        }
    }
    if e["category"] == "unparsed" {
        let mut s = e.to_string();
        s.truncate(400);
        return Err(format!("the cut record is unparsed: {s}"));
    }
    Ok(())
}

#[test]
fn parse_holds_a_fixed_memory_bound_on_every_format_and_shape() {
    let bin = Path::new(env!("CARGO_BIN_EXE_onetrail"));
    let bench = bin.with_file_name("onetrail-bench");
    assert!(
        bench.exists(),
        "{} is needed to measure peak RSS: `cargo build -p onetrail-bench` \
         (`cargo test --workspace` builds it)",
        bench.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for target in Target::ALL {
        for shape in Shape::ALL {
            let what = format!("{} {}", target.onetrail_format(), shape.name());
            let file =
                dir.path()
                    .join(format!("{}-{}.log", target.onetrail_format(), shape.name()));
            std::fs::write(&file, target.log(&shape.statement(STATEMENT_BYTES))).unwrap();
            let r = hostile::measure_parse(bin, target, &file).unwrap();
            let events: Vec<Value> = r
                .output
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            report.push(format!("{what}: peak RSS {} MiB", r.peak_rss >> 20));
            if r.peak_rss > PARSE_BOUND {
                failures.push(format!(
                    "{what}: peak RSS {} MiB over the bound of {} MiB",
                    r.peak_rss >> 20,
                    PARSE_BOUND >> 20
                ));
            }
            if let Err(e) = check_events(&events) {
                failures.push(format!("{what}: {e}"));
            }
            std::fs::remove_file(&file).unwrap();
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn run_holds_a_fixed_memory_bound_and_delivers_the_cut_record() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let out = dir.path().join("out.jsonl");
    let config = dir.path().join("onetrail.yaml");
    let target = Target::ALL[0];
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{}/*.log\"]\n    \
             log_format: stderr\n    log_line_prefix: \"{}\"\n    poll_interval_ms: 20\n    \
             quiet_flush_ms: 100\nsinks:\n  out: {{ type: file, path: {} }}\n",
            dir.path().join("state").display(),
            logs.display(),
            target.log_line_prefix().unwrap(),
            out.display()
        ),
    )
    .unwrap();
    // Every shape, one after the other, in one file the agent tails.
    let mut log = Vec::new();
    for shape in Shape::ALL {
        log.extend(target.log(&shape.statement(STATEMENT_BYTES)));
    }
    std::fs::write(logs.join("postgresql.log"), &log).unwrap();
    let mut agent = Agent::spawn(&mut run_command(&config), &dir.path().join("agent.log")).unwrap();
    let delivered = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_for(
        "every cut record delivered",
        Duration::from_secs(120),
        || {
            delivered()
                .iter()
                .filter(|e| e["extra"]["truncated"] == true)
                .count()
                == Shape::ALL.len()
        },
    );
    let (_, peak) = procstat::rss(agent.id()).unwrap();
    agent.terminate_within(Duration::from_secs(15)).unwrap();
    assert!(
        peak <= RUN_BOUND,
        "run: peak RSS {} MiB over the bound of {} MiB",
        peak >> 20,
        RUN_BOUND >> 20
    );
    let events = delivered();
    let befores = events
        .iter()
        .filter(|e| {
            e["statement"]
                .as_str()
                .is_some_and(|s| s.contains("'before'"))
        })
        .count();
    assert_eq!(befores, Shape::ALL.len(), "every ordinary record delivered");
    eprintln!("run: peak RSS {} MiB", peak >> 20);
}
