//! Golden tests: every input in `fixtures/oracle/` is parsed and compared,
//! event by event, with the `<input>.expected.jsonl` beside it (the input's
//! name with its last extension replaced). The format is the file name's
//! prefix (`oracle-aud.classic.aud` → `oracle-aud`).
//!
//! Regenerate after an intended change (then review the diff):
//! `UPDATE_GOLDEN=1 cargo test -p onetrail-oracle-audit --test golden`

mod common;

use std::path::PathBuf;

use common::{fixtures_dir, run_chunked};
use onetrail_oracle_audit::FORMATS;

fn format_for(p: &std::path::Path) -> &'static str {
    let name = p.file_name().unwrap().to_string_lossy();
    FORMATS
        .iter()
        .filter(|f| name.starts_with(&format!("{f}.")))
        .max_by_key(|f| f.len())
        .unwrap_or_else(|| panic!("{}: cannot tell the format from the file name", p.display()))
}

#[test]
fn golden() {
    let root = fixtures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            !n.ends_with(".expected.jsonl") && !n.ends_with(".md")
        })
        .collect();
    files.sort();
    let covered: std::collections::HashSet<_> = files.iter().map(|p| format_for(p)).collect();
    assert_eq!(covered.len(), FORMATS.len(), "every format needs a fixture");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for p in &files {
        let format = format_for(p);
        let input = std::fs::read(p).unwrap();
        let rel = p.file_name().unwrap().to_string_lossy().into_owned();
        let evs = run_chunked(format, &input, &rel, 0);
        for chunk in [1usize, 13] {
            assert_eq!(
                evs,
                run_chunked(format, &input, &rel, chunk),
                "{rel}: chunk {chunk}"
            );
        }
        let mut got = String::new();
        for e in &evs {
            got.push_str(&serde_json::to_string(e).unwrap());
            got.push('\n');
        }
        let exp = p.with_extension("expected.jsonl");
        if update {
            std::fs::write(&exp, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&exp).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                exp.display()
            )
        });
        if want != got {
            let first = want
                .lines()
                .zip(got.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(want.lines().count().min(got.lines().count()));
            failures.push(format!(
                "{rel}: differs at event {first}\n  want: {}\n  got:  {}",
                want.lines().nth(first).unwrap_or("<none>"),
                got.lines().nth(first).unwrap_or("<none>")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}
