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

use clap::Parser;
use onetrail_bench::logs::{self, Format, Generator};

/// Write a realistic audit log of a given size (same seed, same bytes), or
/// append to one at a steady rate. See BENCHMARKS.md.
#[derive(Parser, Debug)]
#[command(name = "onetrail-loadgen", version)]
struct Cli {
    /// Log format to write: pg-stderr, pg-csvlog, pg-jsonlog, mariadb, mysql-json.
    #[arg(long, value_parser = parse_format, value_name = "FORMAT")]
    format: Format,
    /// File to write (or append to with --rate).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Total size, with an optional K, M or G suffix (powers of 1000).
    #[arg(long, default_value = "10M", value_parser = parse_size, value_name = "N[K|M|G]")]
    size: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Split the output like rotated logs: FILE.N-1 (oldest) … FILE.1, FILE.
    #[arg(long, default_value_t = 1, value_name = "N")]
    files: u64,
    /// Append this many records per second instead of writing a size.
    #[arg(long, value_name = "RECORDS_PER_S")]
    rate: Option<u64>,
    /// With --rate: for this long.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    secs: u64,
    /// With --rate: rename FILE to FILE.1, FILE.2… every N bytes (rename rotation).
    #[arg(long, value_parser = parse_size, value_name = "N[K|M|G]")]
    rotate: Option<u64>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| {
        format!(
            "unknown format `{s}`; expected one of {}",
            Format::ALL.map(|f| f.name()).join(", ")
        )
    })
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (n, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1_000),
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000),
        Some('G' | 'g') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a size like 200M, 64K or 1G"))
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let (format, out, seed) = (cli.format, cli.out, cli.seed);
    if let Some(rate) = cli.rate {
        return steady(format, &out, seed, rate, cli.secs, cli.rotate);
    }
    let total = cli.size;
    let files = cli.files.max(1);
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
