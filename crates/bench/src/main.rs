//! `onetrail-bench`: whole-process benchmarks of the `onetrail` binary.
//!
//! ```text
//! cargo run --release -p onetrail-bench -- all            # everything, 200 MB inputs, 60 s idle, 30 s at 5000 rec/s
//! cargo run --release -p onetrail-bench -- parse --size 200 --formats pg-stderr,mariadb
//! cargo run --release -p onetrail-bench -- run --size 200 --idle-secs 60 --rate 5000 --latency-secs 30
//! cargo run --release -p onetrail-bench -- all --quick    # 1 MB, a few seconds (what CI runs)
//! ```
//! Figures are per CPU-second of the `onetrail` process (user + sys).

use std::path::PathBuf;
use std::time::Duration;

use onetrail_bench::logs::Format;
use onetrail_bench::procstat;
use onetrail_bench::run::{self, RunOptions};

fn usage_text() -> String {
    format!(
        "usage: onetrail-bench <all|parse|run> [--quick] [--size MB] [--formats a,b] [--repeat N]\n\
         \x20                     [--idle-secs N] [--rate RECORDS_PER_S] [--latency-secs N] [--no-gzip]\n\
         \x20                     [--timeout SECS] [--work DIR] [--no-build]\n\
         \n\
         \x20 all    every benchmark below (200 MB inputs, 60 s idle, 30 s at 5000 records/s)\n\
         \x20 parse  `onetrail parse` of each format to /dev/null: MB and events per CPU-second, peak RSS\n\
         \x20 run    `onetrail run` tailing pgaudit stderr into a local HEC receiver; idle CPU; latency\n\
         \x20 --quick  1 MB inputs and a few seconds (what CI runs)\n\
         \n\
         formats: {}\n\
         env ONETRAIL_BIN: the onetrail binary (default: next to this one, built first under cargo)\n\
         See BENCHMARKS.md.",
        Format::ALL.map(|f| f.name()).join(", ")
    )
}

fn usage() -> ! {
    eprintln!("{}", usage_text());
    std::process::exit(2)
}

/// Flags that take a value, and flags that do not.
const VALUED: [&str; 8] = [
    "--size",
    "--formats",
    "--repeat",
    "--idle-secs",
    "--rate",
    "--latency-secs",
    "--timeout",
    "--work",
];
const SWITCHES: [&str; 3] = ["--quick", "--no-gzip", "--no-build"];

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| a == "-h" || a == "--help" || a == "help")
    {
        println!("{}", usage_text());
        return Ok(());
    }
    let Some(cmd) = args.first().cloned() else {
        usage()
    };
    if !["all", "parse", "run"].contains(&cmd.as_str()) {
        eprintln!("error: unknown command `{cmd}`");
        usage()
    }
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if VALUED.contains(&a) && i + 1 < args.len() {
            i += 2;
        } else if SWITCHES.contains(&a) {
            i += 1;
        } else {
            eprintln!("error: unexpected argument `{a}`");
            usage()
        }
    }
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let has = |k: &str| args.iter().any(|a| a == k);
    let num = |k: &str, d: u64| get(k).map_or(d, |v| v.parse().unwrap_or_else(|_| usage()));
    let quick = has("--quick");
    let size_mb = num("--size", if quick { 1 } else { 200 });
    let formats: Vec<Format> = match get("--formats") {
        Some(s) => s
            .split(',')
            .map(|f| Format::parse(f).unwrap_or_else(|| usage()))
            .collect(),
        None => Format::ALL.to_vec(),
    };
    let work = get("--work").map_or_else(default_work, PathBuf::from);
    let opts = RunOptions {
        idle_secs: num("--idle-secs", if quick { 2 } else { 60 }),
        latency_rate: num("--rate", if quick { 1000 } else { 5000 }),
        latency_secs: num("--latency-secs", if quick { 2 } else { 30 }),
        compression: !has("--no-gzip"),
        timeout: Duration::from_secs(num("--timeout", 900)),
    };
    let repeat = num("--repeat", 1) as u32;
    let onetrail = run::find_onetrail(!has("--no-build"))?;
    println!("# onetrail-bench {cmd}: {}", onetrail.display());
    println!("# machine: {}", procstat::machine());
    let bytes = size_mb * 1_000_000;
    match cmd.as_str() {
        "parse" => {
            for f in &formats {
                let inp = run::input(&work, *f, bytes, 1)?;
                println!("{}", run::bench_parse(&onetrail, &inp, repeat)?.report());
            }
        }
        "run" => {
            let inp = run::input(&work, Format::PgStderr, bytes, 1)?;
            let expected = run::count_events(&onetrail, &inp)?;
            for _ in 0..repeat.max(1) {
                println!(
                    "{}",
                    run::bench_run(&onetrail, &inp, expected, &work, &opts)?.report()
                );
            }
        }
        "all" => {
            let mut stderr_events = 0;
            for f in &formats {
                let inp = run::input(&work, *f, bytes, 1)?;
                let r = run::bench_parse(&onetrail, &inp, repeat)?;
                if *f == Format::PgStderr {
                    stderr_events = r.events;
                }
                println!("{}", r.report());
            }
            // RSS must not grow with the file: a quarter-size run first, without idle/latency.
            let small = run::input(&work, Format::PgStderr, (bytes / 4).max(1_000_000), 1)?;
            let small_expected = run::count_events(&onetrail, &small)?;
            let quiet = RunOptions {
                idle_secs: 0,
                latency_rate: 0,
                ..opts.clone()
            };
            println!(
                "{}",
                run::bench_run(&onetrail, &small, small_expected, &work, &quiet)?.report()
            );
            let inp = run::input(&work, Format::PgStderr, bytes, 1)?;
            if stderr_events == 0 {
                stderr_events = run::count_events(&onetrail, &inp)?;
            }
            println!(
                "{}",
                run::bench_run(&onetrail, &inp, stderr_events, &work, &opts)?.report()
            );
        }
        _ => usage(),
    }
    println!("# load average after: {}", procstat::machine());
    Ok(())
}

/// `target/bench-data` of the workspace (generated inputs are kept and reused).
fn default_work() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/onetrail-bench → target/bench-data
    exe.parent()
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("bench-data"), |t| t.join("bench-data"))
}
