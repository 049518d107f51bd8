//! The layout rules of docs/architecture.md, checked on every run so a change
//! cannot bring an import cycle back or grow one crate past a quarter of the
//! code: `scripts/module_cycles.py` finds no cycle between the top-level
//! modules of any crate, and no crate's `src/` holds more than a quarter of
//! the source lines of all crates' and parsers' `src/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let out = match Command::new("python3")
        .arg("scripts/module_cycles.py")
        .current_dir(repo())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            onetrail_corpora::skip(&format!(
                "python3 cannot run ({e}); it runs scripts/module_cycles.py"
            ));
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/module_cycles.py: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Every crate was looked at (a script that read nothing would pass).
    let crates = text.lines().filter(|l| l.contains(": no cycle")).count();
    assert!(crates >= 14, "only {crates} crates checked:\n{text}");
}

fn rust_lines(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += rust_lines(&p);
        } else if p.extension().is_some_and(|x| x == "rs") {
            n += std::fs::read_to_string(&p).unwrap().lines().count();
        }
    }
    n
}

#[test]
fn no_crate_holds_more_than_a_quarter_of_the_code() {
    let mut sizes = Vec::new();
    for group in ["crates", "parsers"] {
        for e in std::fs::read_dir(repo().join(group)).unwrap() {
            let src = e.unwrap().path().join("src");
            if src.is_dir() {
                sizes.push((src.display().to_string(), rust_lines(&src)));
            }
        }
    }
    let total: usize = sizes.iter().map(|s| s.1).sum();
    assert!(sizes.len() >= 14 && total > 20_000, "{sizes:?}");
    for (name, n) in &sizes {
        assert!(
            n * 4 <= total,
            "{name}: {n} of {total} source lines, more than a quarter"
        );
    }
}
