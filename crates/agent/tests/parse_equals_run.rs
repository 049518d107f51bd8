//! `onetrail parse FILE` and `onetrail run` give the same events for every
//! format, also when the file's last record has no final newline: `parse`
//! (`parse_file`) reads it at the end of the file, the agent's tailer after
//! `quiet_flush_ms` of silence. Nothing is dropped by a missing newline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use onetrail_agent::formats::{self, FormatOptions};
use onetrail_agent::tail::{Chunk, FileTailer, TailOptions};
use onetrail_agent::{ParseOptions, parse_file};
use onetrail_event::Category;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The fixture files of `format` (by file name), with their `log_line_prefix`
/// and `forward_other` from a `.meta` file beside them.
fn samples(format: &str) -> Vec<(PathBuf, Option<String>, bool)> {
    let stems: &[&str] = match format {
        "pgaudit-stderr" => &["stderr-"],
        "pgaudit-csvlog" => &["csvlog-"],
        "pgaudit-jsonlog" => &["jsonlog-"],
        "pgauditlogtofile" => &["pgauditlogtofile-"],
        "mssql-audit-csv" => &["export-"],
        "mssql-audit-json" => &["rows-"],
        _ => &[],
    };
    let mut out = Vec::new();
    for dir in std::fs::read_dir(fixtures()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !p.is_file()
                || name.ends_with(".jsonl")
                || name.ends_with(".meta")
                || name.ends_with(".md")
            {
                continue;
            }
            let ours = name.starts_with(&format!("{format}."))
                || stems.iter().any(|s| name.starts_with(s));
            if !ours {
                continue;
            }
            let meta = std::fs::read_to_string(p.with_extension("meta")).unwrap_or_default();
            let prefix = meta
                .lines()
                .find_map(|l| l.strip_prefix("log_line_prefix: "))
                .map(|v| v.trim_matches('\'').to_string());
            let forward_other = !meta.contains("forward_other: false");
            out.push((p, prefix, forward_other));
        }
    }
    out.sort();
    out
}

/// (id, category) of what `parse` prints for `path`.
fn parsed(path: &Path, format: &str, prefix: &Option<String>, fwd: bool) -> Vec<(String, String)> {
    let opts = ParseOptions {
        format: format.into(),
        log_line_prefix: prefix.clone(),
        instance: None,
        forward_other: fwd,
        mask_literals: false,
        max_record_bytes: onetrail_agent::DEFAULT_MAX_RECORD_BYTES,
    };
    let mut out = Vec::new();
    parse_file(path, &opts, &mut out).unwrap();
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["category"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (id, category) of what the agent's tailer emits for `path`, polling until
/// well past the quiet period.
fn tailed(path: &Path, format: &str, prefix: &Option<String>, fwd: bool) -> Vec<(String, String)> {
    let fopts = FormatOptions {
        log_line_prefix: prefix.clone(),
        forward_other: fwd,
    };
    let name = formats::static_name(format).unwrap();
    let (_, engine) = formats::by_name(format, &fopts).unwrap();
    let mut o = TailOptions::new(vec![path.display().to_string()], engine, name);
    o.scan_interval = Duration::ZERO;
    o.quiet_flush = Duration::from_millis(50);
    let mut t = FileTailer::new(
        o,
        Vec::new(),
        Box::new(move || formats::by_name(name, &fopts).unwrap().0),
    );
    let mut clock = Instant::now();
    let mut events = Vec::new();
    for _ in 0..20 {
        let mut chunks: Vec<Chunk> = Vec::new();
        t.poll(clock, &mut chunks);
        for c in chunks {
            if c.file_id != 0 {
                t.ack(c.file_id, c.end_offset);
            }
            events.extend(
                c.events
                    .into_iter()
                    .filter(|e| e.category != Category::Agent)
                    .map(|e| (e.id, e.category.as_str().to_string())),
            );
        }
        clock += Duration::from_millis(100);
    }
    events
}

#[test]
fn parse_and_run_agree_on_a_last_record_without_newline_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut no_sample = Vec::new();
    for (format, _) in formats::all_formats() {
        let samples = samples(format);
        if samples.is_empty() {
            no_sample.push(format);
        }
        for (src, prefix, fwd) in samples {
            let text = std::fs::read(&src).unwrap();
            let mut cut = text.clone();
            while cut.last().is_some_and(|b| b.is_ascii_whitespace()) {
                cut.pop();
            }
            let whole = dir.path().join(format!("{checked}-whole"));
            let open = dir.path().join(format!("{checked}-open"));
            let mut terminated = cut.clone();
            terminated.push(b'\n');
            std::fs::write(&whole, &terminated).unwrap();
            std::fs::write(&open, &cut).unwrap();
            let p_open = parsed(&open, format, &prefix, fwd);
            let p_whole = parsed(&whole, format, &prefix, fwd);
            let r_open = tailed(&open, format, &prefix, fwd);
            let what = format!("{format} {}", src.display());
            assert!(!p_whole.is_empty(), "{what}: no events at all");
            assert_eq!(
                p_open.len(),
                p_whole.len(),
                "{what}: parse drops or adds a record when the last newline is missing"
            );
            assert_eq!(p_open, r_open, "{what}: parse and run differ");
            checked += 1;
        }
    }
    println!("checked {checked} fixture(s); formats without a fixture: {no_sample:?}");
    assert!(
        checked >= formats::all_formats().len(),
        "checked only {checked}"
    );
    assert!(
        no_sample.is_empty(),
        "formats without a fixture: {no_sample:?}"
    );
}

/// pgaudit stderr: a last line that does not start with the log_line_prefix
/// (and has no newline) is printed, not dropped, by `parse`, and `run` gives it too.
#[test]
fn pgaudit_stderr_last_line_without_prefix_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("postgresql.log");
    let prefix = Some("%m [%p] %q%u@%d ".to_string());
    let text = "2026-11-26 06:15:54.000 UTC [42] app@appdb LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,public.t,INSERT INTO t VALUES (1),<none>\nstray output of a crashed child process";
    std::fs::write(&p, text).unwrap();
    let parse = parsed(&p, "pgaudit-stderr", &prefix, true);
    assert_eq!(parse.len(), 2, "{parse:?}");
    assert_eq!(parse, tailed(&p, "pgaudit-stderr", &prefix, true));
}
