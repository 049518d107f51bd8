//! `onetrail-loadgen`: write a realistic audit log of a given size, or append
//! to one at a steady rate.
//!
//! ```text
//! onetrail-loadgen --format pg-stderr --size 200M --out /tmp/postgresql.log
//! onetrail-loadgen --format mariadb --size 50M --files 4 --out /tmp/server_audit.log
//! onetrail-loadgen --format pg-stderr --rate 5000 --secs 60 --rotate 20M --out /var/log/postgresql/pg.log
//! ```
//! Formats: pg-stderr, pg-csvlog, pg-jsonlog, mariadb, mysql-json.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use onetrail_bench::logs::{self, Format, Generator};

fn usage() -> ! {
    print_usage(false);
    std::process::exit(2)
}

fn print_usage(to_stdout: bool) {
    let text = format!(
        "usage: onetrail-loadgen --format FMT --out FILE [--size N[K|M|G]] [--seed N] [--files N]\n\
         \x20      onetrail-loadgen --format FMT --out FILE --rate RECORDS_PER_S --secs N [--rotate N[K|M|G]]\n\
         formats: {}\n\
         --files N   split the output like rotated logs: FILE.N-1 (oldest) … FILE.1, FILE\n\
         --rotate N  in --rate mode, rename FILE to FILE.1, FILE.2… every N bytes (rename rotation)\n\
         Same --seed, same bytes. See BENCHMARKS.md.",
        Format::ALL.map(|f| f.name()).join(", ")
    );
    if to_stdout {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
}

fn size(s: &str) -> u64 {
    let (n, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1_000),
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000),
        Some('G' | 'g') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    n.parse::<u64>().unwrap_or_else(|_| usage()) * mul
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print_usage(true);
        return Ok(());
    }
    const VALUED: [&str; 8] = [
        "--format", "--out", "--size", "--seed", "--files", "--rate", "--secs", "--rotate",
    ];
    let mut i = 0;
    while i < args.len() {
        if VALUED.contains(&args[i].as_str()) && i + 1 < args.len() {
            i += 2;
        } else {
            eprintln!("error: unexpected argument `{}`", args[i]);
            usage()
        }
    }
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let format = get("--format")
        .and_then(|f| Format::parse(&f))
        .unwrap_or_else(|| usage());
    let out = PathBuf::from(get("--out").unwrap_or_else(|| usage()));
    let seed = get("--seed").map_or(1, |s| s.parse().unwrap_or_else(|_| usage()));
    if let Some(rate) = get("--rate") {
        let rate: u64 = rate.parse().unwrap_or_else(|_| usage());
        let secs: u64 = get("--secs").map_or(60, |s| s.parse().unwrap_or_else(|_| usage()));
        let rotate = get("--rotate").map(|s| size(&s));
        return steady(format, &out, seed, rate, secs, rotate);
    }
    let total = get("--size").map_or(10_000_000, |s| size(&s));
    let files: u64 = get("--files")
        .map_or(1, |s| s.parse().unwrap_or_else(|_| usage()))
        .max(1);
    let mut g = Generator::new(format, seed);
    let (mut bytes, mut lines) = (0u64, 0u64);
    for k in (0..files).rev() {
        let path = if k == 0 {
            out.clone()
        } else {
            PathBuf::from(format!("{}.{k}", out.display()))
        };
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let target = total / files;
        let mut n = 0u64;
        if format == Format::MysqlJson {
            w.write_all(b"[\n")?;
            n += 2;
        }
        while n < target {
            g.step();
            n += g.buf.len() as u64;
            lines += g.buf.iter().filter(|&&b| b == b'\n').count() as u64;
            w.write_all(&g.buf)?;
            g.buf.clear();
        }
        w.flush()?;
        bytes += n;
    }
    eprintln!(
        "{}: {bytes} bytes, {lines} lines, {} records in {files} file(s); parse with `onetrail parse --format {}{}`",
        out.display(),
        g.records,
        format.onetrail_format(),
        if format == Format::PgStderr {
            format!(" --log-line-prefix '{}'", logs::PG_PREFIX)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Append `rate` statements per second for `secs`, rotating by rename.
fn steady(
    format: Format,
    out: &PathBuf,
    seed: u64,
    rate: u64,
    secs: u64,
    rotate: Option<u64>,
) -> std::io::Result<()> {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
    };
    let mut f = open()?;
    let mut in_file = f.metadata()?.len();
    let mut g = Generator::new(format, seed);
    if format == Format::MysqlJson && in_file == 0 {
        f.write_all(b"[\n")?;
    }
    let tick = Duration::from_millis(10);
    let start = Instant::now();
    let mut next = start;
    let mut due = 0.0;
    let mut done = 0u64;
    let mut rotations = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        due += rate as f64 * tick.as_secs_f64();
        while (done as f64) < due {
            g.set_time_micros(chrono::Utc::now().timestamp_micros());
            g.step_statement();
            done += 1;
        }
        f.write_all(&g.buf)?;
        in_file += g.buf.len() as u64;
        g.buf.clear();
        if let Some(limit) = rotate
            && in_file >= limit
        {
            rotations += 1;
            for k in (1..rotations).rev() {
                let _ = std::fs::rename(
                    format!("{}.{k}", out.display()),
                    format!("{}.{}", out.display(), k + 1),
                );
            }
            std::fs::rename(out, format!("{}.1", out.display()))?;
            f = open()?;
            in_file = 0;
            if format == Format::MysqlJson {
                f.write_all(b"[\n")?;
            }
        }
        next += tick;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    eprintln!(
        "{done} statements in {:.1} s, {rotations} rotation(s)",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
