//! `onetrail-bench`: whole-process benchmarks of the `onetrail` binary.
//!
//! ```text
//! cargo run --release -p onetrail-bench -- all            # everything, 200 MB inputs, 60 s idle, 30 s at 5000 rec/s
//! cargo run --release -p onetrail-bench -- parse --size 200 --formats pg-stderr,mariadb
//! cargo run --release -p onetrail-bench -- run --size 200 --idle-secs 60 --rate 5000 --latency-secs 30
//! cargo run --release -p onetrail-bench -- all --quick    # 1 MB, a few seconds (what CI runs)
//! cargo run --release -p onetrail-bench -- hostile --size 10   # peak RSS on a 10 MB statement, every format and shape
//! ```
//! Figures are per CPU-second of the `onetrail` process (user + sys).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use onetrail_bench::logs::Format;
use onetrail_bench::procstat;
use onetrail_bench::run::{self, RunOptions};

/// Whole-process benchmarks of `onetrail`: MB and events per CPU-second,
/// peak RSS, idle CPU and write → receiver latency. See BENCHMARKS.md.
#[derive(Parser, Debug)]
#[command(
    name = "onetrail-bench",
    version,
    after_help = "Figures are per CPU-second of the onetrail process (user + sys).\n\
                  env ONETRAIL_BIN: the onetrail binary to measure (default: next to this one,\n\
                  built first when run under cargo; --no-build skips that)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every benchmark: `parse` of each format, `run` at a quarter and at the
    /// full size, 60 s idle, 30 s at 5 000 records/s.
    All(Opts),
    /// `onetrail parse` of each format to /dev/null: MB and events per CPU-second, peak RSS.
    Parse(Opts),
    /// `onetrail run` tailing pgaudit stderr into a local Splunk HEC receiver
    /// (gzip), then idle CPU and latency.
    Run(Opts),
    /// Peak RSS of `onetrail parse` on hostile records: one huge statement of
    /// every shape (URL-like text, quotes, backslashes, newlines, secrets,
    /// multi-byte, one dense run) between two ordinary records, in every file
    /// format. Memory must not grow with the statement (`max_record_bytes`).
    Hostile(HostileOpts),
    /// Run COMMAND and print `peak_rss_bytes N`, its own peak RSS, then exit
    /// with its status. Measuring through this small process keeps a large
    /// parent's memory out of the figure (a child's rusage starts from its
    /// parent's at fork).
    Peak {
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<std::ffi::OsString>,
    },
}

#[derive(Args, Debug)]
struct HostileOpts {
    /// Size of the huge statement, MB.
    #[arg(long, default_value_t = 10, value_name = "MB")]
    size: usize,
    /// Where the generated logs are written [default: target/bench-data].
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    /// Do not build `onetrail` first.
    #[arg(long)]
    no_build: bool,
    /// Keep the generated logs and `onetrail parse`'s output (to inspect them).
    #[arg(long)]
    keep: bool,
}

#[derive(Args, Debug)]
struct Opts {
    /// Small inputs and short windows, no timing assertions (what CI runs).
    #[arg(long)]
    quick: bool,
    /// Input size in MB [default: 200, 1 with --quick].
    #[arg(long, value_name = "MB")]
    size: Option<u64>,
    /// Formats to benchmark, comma-separated: pg-stderr, pg-csvlog, pg-jsonlog, mariadb,
    /// mysql-json [default: all].
    #[arg(long, value_delimiter = ',', value_parser = parse_format)]
    formats: Vec<Format>,
    /// Repetitions (`parse`: the best is reported).
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: u32,
    /// Idle window after delivery, seconds [default: 60, 2 with --quick].
    #[arg(long, value_name = "SECS")]
    idle_secs: Option<u64>,
    /// Latency test write rate, records per second (0: skip) [default: 5000, 1000 with --quick].
    #[arg(long, value_name = "RECORDS_PER_S")]
    rate: Option<u64>,
    /// Latency test duration, seconds [default: 30, 2 with --quick].
    #[arg(long, value_name = "SECS")]
    latency_secs: Option<u64>,
    /// Send uncompressed request bodies.
    #[arg(long)]
    no_gzip: bool,
    /// Give up on one benchmark after this long.
    #[arg(long, default_value_t = 900, value_name = "SECS")]
    timeout: u64,
    /// Where generated inputs are cached [default: target/bench-data].
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    /// Do not build `onetrail` first.
    #[arg(long)]
    no_build: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| {
        format!(
            "unknown format `{s}`; expected one of {}",
            Format::ALL.map(|f| f.name()).join(", ")
        )
    })
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let (cmd, o) = match &cli.cmd {
        Cmd::All(o) => ("all", o),
        Cmd::Parse(o) => ("parse", o),
        Cmd::Run(o) => ("run", o),
        Cmd::Hostile(h) => return hostile(h),
        Cmd::Peak { command } => {
            let child = std::process::Command::new(&command[0])
                .args(&command[1..])
                .spawn()?;
            let usage = procstat::wait(child)?;
            eprintln!("peak_rss_bytes {}", usage.max_rss);
            std::process::exit(usage.status);
        }
    };
    let quick = o.quick;
    let pick =
        |v: Option<u64>, normal: u64, small: u64| v.unwrap_or(if quick { small } else { normal });
    let size_mb = pick(o.size, 200, 1);
    let formats: Vec<Format> = if o.formats.is_empty() {
        Format::ALL.to_vec()
    } else {
        o.formats.clone()
    };
    let work = o.work.clone().unwrap_or_else(default_work);
    let opts = RunOptions {
        idle_secs: pick(o.idle_secs, 60, 2),
        latency_rate: pick(o.rate, 5000, 1000),
        latency_secs: pick(o.latency_secs, 30, 2),
        compression: !o.no_gzip,
        timeout: Duration::from_secs(o.timeout),
    };
    let repeat = o.repeat;
    let onetrail = run::find_onetrail(!o.no_build)?;
    println!("# onetrail-bench {cmd}: {}", onetrail.display());
    println!("# machine: {}", procstat::machine());
    let bytes = size_mb * 1_000_000;
    match cli.cmd {
        Cmd::Parse(_) => {
            for f in &formats {
                let inp = run::input(&work, *f, bytes, 1)?;
                println!("{}", run::bench_parse(&onetrail, &inp, repeat)?.report());
            }
        }
        Cmd::Run(_) => {
            let inp = run::input(&work, Format::PgStderr, bytes, 1)?;
            let expected = run::count_events(&onetrail, &inp)?;
            for _ in 0..repeat.max(1) {
                println!(
                    "{}",
                    run::bench_run(&onetrail, &inp, expected, &work, &opts)?.report()
                );
            }
        }
        Cmd::All(_) => {
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
        Cmd::Hostile(_) | Cmd::Peak { .. } => unreachable!("handled above"),
    }
    println!("# load average after: {}", procstat::machine());
    Ok(())
}

fn hostile(h: &HostileOpts) -> std::io::Result<()> {
    use onetrail_bench::hostile::{Shape, Target};
    let onetrail = run::find_onetrail(!h.no_build)?;
    let work = h.work.clone().unwrap_or_else(default_work).join("hostile");
    std::fs::create_dir_all(&work)?;
    println!("# onetrail-bench hostile: {}", onetrail.display());
    println!(
        "# a {} MB statement between two ordinary records; peak RSS of `onetrail parse`",
        h.size
    );
    println!(
        "{:<24} {:<12} {:>7} {:>10} {:>14}",
        "format", "shape", "events", "truncated", "peak RSS MiB"
    );
    for target in Target::ALL {
        for shape in Shape::ALL {
            let file = work.join(format!("{}-{}.log", target.onetrail_format(), shape.name()));
            std::fs::write(&file, target.log(&shape.statement(h.size << 20)))?;
            let r = onetrail_bench::hostile::measure_parse(&onetrail, target, &file)?;
            println!(
                "{:<24} {:<12} {:>7} {:>10} {:>14.1}",
                target.onetrail_format(),
                shape.name(),
                r.events,
                r.truncated,
                r.peak_rss as f64 / f64::from(1 << 20)
            );
            if h.keep {
                std::fs::write(file.with_extension("jsonl"), &r.output)?;
            } else {
                std::fs::remove_file(&file)?;
            }
        }
    }
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
