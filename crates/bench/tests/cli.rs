//! The two benchmark binaries' command lines: `--help` teaches, bad
//! arguments are refused with exit code 2, and the generator is
//! deterministic (same seed, same bytes).

use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("binary runs")
}

const BENCH: &str = env!("CARGO_BIN_EXE_onetrail-bench");
const LOADGEN: &str = env!("CARGO_BIN_EXE_onetrail-loadgen");

#[test]
fn help_lists_commands_and_options_without_running_anything() {
    let o = run(BENCH, &["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for w in ["all", "parse", "run", "ONETRAIL_BIN"] {
        assert!(text.contains(w), "{w} missing from:\n{text}");
    }
    let o = run(BENCH, &["parse", "--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("--formats") && text.contains("mysql-json"));
    let o = run(LOADGEN, &["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("--rotate") && text.contains("pg-csvlog"));
}

#[test]
fn bad_arguments_exit_2_and_say_what_is_wrong() {
    for (bin, args, says) in [
        (BENCH, &["bogus"][..], "bogus"),
        (BENCH, &["parse", "--formats", "pg-stderr,nope"], "nope"),
        (BENCH, &["run", "--sise", "5"], "--sise"),
        (LOADGEN, &["--format", "pg-stderr"], "--out"),
        (LOADGEN, &["--format", "xml", "--out", "/dev/null"], "xml"),
        (
            LOADGEN,
            &["--format", "mariadb", "--out", "/dev/null", "--size", "2x"],
            "2x",
        ),
    ] {
        let o = run(bin, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = std::env::temp_dir().join(format!("onetrail-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gen_ = |name: &str, seed: &str| {
        let out = dir.join(name);
        let o = run(
            LOADGEN,
            &[
                "--format",
                "mariadb",
                "--size",
                "50K",
                "--seed",
                seed,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out).unwrap()
    };
    let (a, b, c) = (gen_("a", "7"), gen_("b", "7"), gen_("c", "8"));
    assert!(a.len() >= 50_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
    std::fs::remove_dir_all(&dir).unwrap();
}
