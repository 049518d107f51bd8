//! Golden tests: every input in `fixtures/postgresql/` is parsed and its
//! events compared, exactly, with `<case>.expected.jsonl` beside it.
//!
//! Inputs:
//! - `fixtures/postgresql/<case>.log` → `pgaudit-stderr`, `<case>.csv` →
//!   `pgaudit-csvlog`, `<case>.json` → `pgaudit-jsonlog`; an optional
//!   `<case>.meta` (`key: value` lines, the syntax of the real captures'
//!   `config.txt`) sets `format`, `log_line_prefix` and `forward_other`.
//! - `fixtures/postgresql/real/<capture>/`: every file listed on the `files:`
//!   line of its `config.txt` (`.csv` → csvlog, `.json` → jsonlog,
//!   `audit*.log` of a `log_format: pgauditlogtofile` capture →
//!   pgauditlogtofile, other `.log` → stderr with the capture's prefix). Their
//!   goldens are `fixtures/postgresql/real-<capture>-<file>.expected.jsonl`
//!   (the `real/` folder belongs to the capture tooling).
//!
//! Regenerate after an intended change, then review the diff:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p onetrail-pgaudit --test golden
//! ```

mod common;

use std::path::{Path, PathBuf};

use onetrail_pgaudit::{PgOptions, format_by_name};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/postgresql")
}

/// `key: value` lines; values may be wrapped in single quotes.
fn read_meta(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| !k.starts_with(' ') && !k.contains(' '))
        .map(|(k, v)| {
            let v = v.strip_prefix(' ').unwrap_or(v);
            let v = v
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

fn meta_get<'a>(meta: &'a [(String, String)], key: &str) -> Option<&'a str> {
    meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

struct Case {
    name: String,
    input: PathBuf,
    format: String,
    opts: PgOptions,
    golden: PathBuf,
}

fn authored_cases() -> Vec<Case> {
    let dir = fixtures();
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        let default_format = match ext {
            "log" => "pgaudit-stderr",
            "csv" => "pgaudit-csvlog",
            "json" => "pgaudit-jsonlog",
            _ => continue,
        };
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let meta = read_meta(&dir.join(format!("{stem}.meta")));
        let mut opts = PgOptions::default();
        if let Some(p) = meta_get(&meta, "log_line_prefix") {
            opts.log_line_prefix = p.to_string();
        }
        if let Some(f) = meta_get(&meta, "forward_other") {
            opts.forward_other = f == "true";
        }
        cases.push(Case {
            golden: dir.join(format!("{stem}.expected.jsonl")),
            name: stem,
            input: path,
            format: meta_get(&meta, "format")
                .unwrap_or(default_format)
                .to_string(),
            opts,
        });
    }
    cases
}

fn real_cases() -> Vec<Case> {
    let real = fixtures().join("real");
    let dirs = std::fs::read_dir(&real)
        .unwrap_or_else(|e| panic!("committed captures missing at {}: {e}", real.display()));
    let mut cases = Vec::new();
    for d in dirs {
        let dir = d.unwrap().path();
        let config = dir.join("config.txt");
        if !config.is_file() {
            continue;
        }
        let meta = read_meta(&config);
        let capture = dir.file_name().unwrap().to_str().unwrap().to_string();
        let mut opts = PgOptions::default();
        if let Some(p) = meta_get(&meta, "log_line_prefix") {
            opts.log_line_prefix = p.to_string();
        }
        let log_format = meta_get(&meta, "log_format").unwrap_or("");
        for file in meta_get(&meta, "files").unwrap_or("").split(',') {
            let file = file.trim();
            if file.is_empty() {
                continue;
            }
            let format = if file.ends_with(".csv") {
                "pgaudit-csvlog"
            } else if file.ends_with(".json") {
                "pgaudit-jsonlog"
            } else if log_format == "pgauditlogtofile" && file.starts_with("audit") {
                "pgauditlogtofile"
            } else {
                "pgaudit-stderr"
            };
            cases.push(Case {
                name: format!("real/{capture}/{file}"),
                input: dir.join(file),
                format: format.to_string(),
                opts: opts.clone(),
                golden: fixtures().join(format!("real-{capture}-{file}.expected.jsonl")),
            });
        }
    }
    cases
}

fn render(case: &Case) -> String {
    let data = std::fs::read(&case.input).unwrap();
    let mut fmt =
        format_by_name(&case.format, &case.opts).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let (events, _) = common::run(fmt.as_mut(), &data, &format!("golden:{}", case.name));
    let mut s = String::new();
    for e in events {
        s.push_str(&serde_json::to_string(&e).unwrap());
        s.push('\n');
    }
    s
}

#[test]
fn goldens() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases = authored_cases();
    let real = real_cases();
    assert!(
        real.len() >= 5,
        "expected a case per file of the 5 real captures, found {}",
        real.len()
    );
    cases.extend(real);
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        cases.len() >= 4,
        "expected fixtures in {}",
        fixtures().display()
    );
    let mut failed = Vec::new();
    for case in &cases {
        let got = render(case);
        if update {
            std::fs::write(&case.golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&case.golden).unwrap_or_else(|_| {
            panic!(
                "{}: missing {} (run UPDATE_GOLDEN=1 cargo test -p onetrail-pgaudit --test golden)",
                case.name,
                case.golden.display()
            )
        });
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            eprintln!(
                "{}: differs from {} at line {}\n got: {}\nwant: {}",
                case.name,
                case.golden.display(),
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                want.lines().nth(line).unwrap_or("<end>")
            );
            failed.push(case.name.clone());
        }
    }
    assert!(failed.is_empty(), "golden mismatches: {failed:?}");
}
