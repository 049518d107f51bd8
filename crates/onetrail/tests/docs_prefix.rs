//! The README (its minimal config, `parse` example and server setup), the
//! packaged `/etc/onetrail/onetrail.yaml`, the example configs and
//! `onetrail --help` name one `log_line_prefix`: a reader copying any two of
//! them must not end up with a server and an agent that disagree.

use std::path::Path;

/// Every prefix value in `text`: `log_line_prefix: "…"`, `log_line_prefix = '…'`
/// and `--log-line-prefix '…'`.
fn prefixes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        for key in ["log_line_prefix", "--log-line-prefix"] {
            let Some(at) = line.find(key) else { continue };
            let rest = line[at + key.len()..].trim_start_matches([':', '=', ' ']);
            let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            // `{}`: a format string in the code, not a value.
            if let Some(end) = rest[1..].find(q).filter(|e| !rest[1..1 + e].contains('{')) {
                out.push(rest[1..1 + end].to_string());
            }
        }
    }
    out
}

#[test]
fn readme_examples_and_packaged_config_use_one_prefix() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![
        repo.join("README.md"),
        repo.join("deploy/debian/onetrail.yaml"),
        repo.join("crates/onetrail/src/main.rs"),
    ];
    for e in std::fs::read_dir(repo.join("deploy/examples")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for p in prefixes(&text) {
            seen.push((f.display().to_string(), p));
        }
    }
    assert!(
        seen.iter()
            .filter(|(f, _)| f.ends_with("README.md"))
            .count()
            >= 3,
        "{seen:?}"
    );
    let first = &seen[0].1;
    let odd: Vec<_> = seen.iter().filter(|(_, p)| p != first).collect();
    assert!(odd.is_empty(), "not {first:?}: {odd:?}");
}
