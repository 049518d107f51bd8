//! Golden tests: every input under `fixtures/mysql/` (recursively) is parsed
//! and compared, event by event, with the `<input>.expected.jsonl` beside it
//! (the input's file name with its last extension replaced).
//!
//! The format is chosen from the file name, which starts with a format name
//! (`mariadb-server-audit.escapes.log`, `percona-audit-csv.multiline.csv`, ...);
//! inputs in a directory whose name starts with `real-mariadb` are
//! `mariadb-server-audit`.
//!
//! Regenerate after an intended change (then review the diff):
//! `UPDATE_GOLDEN=1 cargo test -p onetrail-mysql-audit --test golden`

mod common;

use std::path::{Path, PathBuf};

use common::{fixtures_dir, run_chunked};
use onetrail_mysql_audit::FORMATS;

fn inputs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            inputs(&p, out);
        } else {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".expected.jsonl")
                && !name.ends_with(".md")
                && !name.ends_with(".sql")
                && !name.ends_with(".sh")
            {
                out.push(p);
            }
        }
    }
}

fn format_for(p: &Path) -> &'static str {
    let name = p.file_name().unwrap().to_string_lossy();
    if let Some(f) = FORMATS.iter().find(|f| name.starts_with(&format!("{f}."))) {
        return f;
    }
    let dir = p.parent().unwrap().file_name().unwrap().to_string_lossy();
    if dir.starts_with("real-mariadb") {
        return "mariadb-server-audit";
    }
    panic!("{}: cannot tell the format from the file name", p.display());
}

fn expected_path(p: &Path) -> PathBuf {
    p.with_extension("expected.jsonl")
}

#[test]
fn golden() {
    let root = fixtures_dir();
    let mut files = Vec::new();
    inputs(&root, &mut files);
    assert!(files.len() >= 10, "too few fixtures in {}", root.display());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for p in &files {
        let format = format_for(p);
        let input = std::fs::read(p).unwrap();
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let evs = run_chunked(format, &input, &rel, 0);
        // feeding the same bytes in small pieces must not change anything
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
        let exp_path = expected_path(p);
        if update {
            std::fs::write(&exp_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&exp_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                exp_path.display()
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
