//! Whole-process benchmarks of the `onetrail` binary.
//!
//! Every figure is per **CPU-second** of the measured process (user + system,
//! from `wait4` rusage or `/proc/<pid>/stat`), not per wall second, so the
//! numbers hold on a machine where other work runs too.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::hec::HecReceiver;
use crate::logs::{self, Format};
use crate::procstat;

const MB: f64 = 1e6;

/// A generated input file and what it holds.
#[derive(Debug, Clone)]
pub struct Input {
    pub format: Format,
    pub path: PathBuf,
    pub bytes: u64,
    pub lines: u64,
}

/// Generate (or reuse) `dir/<format>-<bytes>-s<seed>.<ext>`.
pub fn input(dir: &Path, format: Format, bytes: u64, seed: u64) -> std::io::Result<Input> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!(
        "{}-{bytes}-s{seed}.{}",
        format.name(),
        format.extension()
    ));
    let meta = path.with_extension("meta");
    if let (Ok(m), true) = (std::fs::read_to_string(&meta), path.exists()) {
        let v: Vec<u64> = m
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() == 2 && std::fs::metadata(&path)?.len() == v[0] {
            return Ok(Input {
                format,
                path,
                bytes: v[0],
                lines: v[1],
            });
        }
    }
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let (n, lines) = logs::generate(format, bytes, seed, &mut out)?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, &path)?;
    std::fs::write(&meta, format!("{n} {lines}\n"))?;
    Ok(Input {
        format,
        path,
        bytes: n,
        lines,
    })
}

fn parse_command(onetrail: &Path, inp: &Input) -> Command {
    let mut c = Command::new(onetrail);
    c.arg("parse")
        .arg("--format")
        .arg(inp.format.onetrail_format());
    if inp.format == Format::PgStderr {
        c.arg("--log-line-prefix").arg(logs::PG_PREFIX);
    }
    c.arg(&inp.path);
    c.stdin(Stdio::null()).stderr(Stdio::null());
    c
}

/// `onetrail parse` of one input.
#[derive(Debug, Clone)]
pub struct ParseResult {
    pub input: Input,
    pub events: u64,
    pub usage: procstat::Usage,
    pub wall: Duration,
}

impl ParseResult {
    pub fn mb_per_cpu_s(&self) -> f64 {
        self.input.bytes as f64 / MB / self.usage.cpu().as_secs_f64().max(1e-6)
    }
    pub fn events_per_cpu_s(&self) -> f64 {
        self.events as f64 / self.usage.cpu().as_secs_f64().max(1e-6)
    }
    pub fn report(&self) -> String {
        format!(
            "parse {:<22} {:>7.1} MB {:>9} lines {:>9} events  cpu {:>6.2}s (user {:.2} sys {:.2}) wall {:>6.2}s  {:>6.1} MB/cpu-s {:>9.0} ev/cpu-s  maxrss {:.1} MB",
            self.input.format.onetrail_format(),
            self.input.bytes as f64 / MB,
            self.input.lines,
            self.events,
            self.usage.cpu().as_secs_f64(),
            self.usage.user.as_secs_f64(),
            self.usage.sys.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.mb_per_cpu_s(),
            self.events_per_cpu_s(),
            self.usage.max_rss as f64 / MB
        )
    }
}

/// Count the events `onetrail parse` prints for `inp` (untimed: output to a pipe).
pub fn count_events(onetrail: &Path, inp: &Input) -> std::io::Result<u64> {
    let mut c = parse_command(onetrail, inp);
    let mut child = c.stdout(Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = out.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let st = child.wait()?;
    // Exit 3 = some records were unparsed (still printed).
    if !(st.success() || st.code() == Some(3)) {
        return Err(std::io::Error::other(format!(
            "onetrail parse failed: {st}"
        )));
    }
    Ok(n)
}

/// Time `onetrail parse` of `inp` writing NDJSON to /dev/null; best of `repeat` runs.
pub fn bench_parse(onetrail: &Path, inp: &Input, repeat: u32) -> std::io::Result<ParseResult> {
    let events = count_events(onetrail, inp)?;
    let mut best: Option<ParseResult> = None;
    for _ in 0..repeat.max(1) {
        let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        let t = Instant::now();
        let child = parse_command(onetrail, inp).stdout(devnull).spawn()?;
        let usage = procstat::wait(child)?;
        let wall = t.elapsed();
        if usage.status != 0 && usage.status != 3 {
            return Err(std::io::Error::other(format!(
                "onetrail parse exited {}",
                usage.status
            )));
        }
        let r = ParseResult {
            input: inp.clone(),
            events,
            usage,
            wall,
        };
        if best.as_ref().is_none_or(|b| r.usage.cpu() < b.usage.cpu()) {
            best = Some(r);
        }
    }
    Ok(best.expect("at least one run"))
}

/// Options of [`bench_run`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Seconds of quiet to measure idle CPU over (0: skip).
    pub idle_secs: u64,
    /// Records per second written during the latency phase (0: skip).
    pub latency_rate: u64,
    pub latency_secs: u64,
    /// HEC gzip (`compression:`).
    pub compression: bool,
    /// Give up waiting for delivery after this long.
    pub timeout: Duration,
}

/// What `onetrail run` did.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub bytes: u64,
    pub events: u64,
    pub ingest_cpu: Duration,
    pub ingest_wall: Duration,
    pub ingest_hwm: u64,
    pub ingest_rss: u64,
    pub requests: u64,
    pub wire_bytes: u64,
    pub raw_bytes: u64,
    pub idle: Option<Idle>,
    pub latency: Option<Latency>,
    pub total: Option<procstat::Usage>,
}

#[derive(Debug, Clone, Default)]
pub struct Idle {
    pub window: Duration,
    pub cpu: Duration,
    pub wakeups: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub rate: u64,
    pub written: u64,
    pub received: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Agent CPU while writing at `rate`, as a fraction of one core.
    pub cpu_fraction: f64,
}

impl RunResult {
    pub fn report(&self) -> String {
        let mut s = format!(
            "run   pgaudit-stderr → HEC  {:>7.1} MB {:>9} events  cpu {:>6.2}s wall {:>6.2}s  {:>6.1} MB/cpu-s {:>9.0} ev/cpu-s  VmHWM {:.1} MB (VmRSS {:.1} MB)  {} requests, {:.1} MB gzip of {:.1} MB",
            self.bytes as f64 / MB,
            self.events,
            self.ingest_cpu.as_secs_f64(),
            self.ingest_wall.as_secs_f64(),
            self.bytes as f64 / MB / self.ingest_cpu.as_secs_f64().max(1e-6),
            self.events as f64 / self.ingest_cpu.as_secs_f64().max(1e-6),
            self.ingest_hwm as f64 / MB,
            self.ingest_rss as f64 / MB,
            self.requests,
            self.wire_bytes as f64 / MB,
            self.raw_bytes as f64 / MB,
        );
        if let Some(i) = &self.idle {
            s.push_str(&format!(
                "\nidle  {:>4.0} s quiet: cpu {:.3}s = {:.3} % of one core, {:.1} wakeups/s",
                i.window.as_secs_f64(),
                i.cpu.as_secs_f64(),
                100.0 * i.cpu.as_secs_f64() / i.window.as_secs_f64(),
                i.wakeups as f64 / i.window.as_secs_f64()
            ));
        }
        if let Some(l) = &self.latency {
            s.push_str(&format!(
                "\nlatency at {} records/s: {} written, {} received; write → receiver p50 {:.0} ms p90 {:.0} ms p99 {:.0} ms max {:.0} ms; agent cpu {:.1} % of one core",
                l.rate,
                l.written,
                l.received,
                l.p50.as_secs_f64() * 1e3,
                l.p90.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.max.as_secs_f64() * 1e3,
                l.cpu_fraction * 100.0
            ));
        }
        if let Some(t) = &self.total {
            s.push_str(&format!(
                "\nwhole run: cpu {:.2}s (user {:.2} sys {:.2}), max RSS {:.1} MB, exit {}",
                t.cpu().as_secs_f64(),
                t.user.as_secs_f64(),
                t.sys.as_secs_f64(),
                t.max_rss as f64 / MB,
                t.status
            ));
        }
        s
    }
}

/// Voluntary + involuntary context switches of every thread of `pid`.
fn context_switches(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut n = 0;
    for t in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("status")) {
            for l in s.lines() {
                if l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
                {
                    n += l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
    }
    n
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `onetrail run` tailing a copy of `inp` (pgaudit stderr) into a local HEC
/// receiver: ingest CPU and peak RSS, then idle CPU, then latency at a steady rate.
/// `expected` is the number of events `onetrail parse` makes of `inp`.
pub fn bench_run(
    onetrail: &Path,
    inp: &Input,
    expected: u64,
    work: &Path,
    opts: &RunOptions,
) -> std::io::Result<RunResult> {
    assert_eq!(
        inp.format,
        Format::PgStderr,
        "run benchmark tails pgaudit stderr"
    );
    let dir = work.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs"))?;
    let log = dir.join("logs").join("postgresql.log");
    std::fs::copy(&inp.path, &log)?;
    let hec = HecReceiver::start()?;
    let cfg = dir.join("onetrail.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {state}\nlog:\n  level: warn\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{logs}/*.log\"]\n    log_format: stderr\n    log_line_prefix: \"{prefix}\"\n    instance: pg-bench-1\n    context: {{ environment: bench }}\nsinks:\n  hec:\n    type: splunk_hec\n    endpoint: {ep}\n    token: 00000000-0000-0000-0000-000000000000\n    compression: {gz}\n",
            state = dir.join("state").display(),
            logs = dir.join("logs").display(),
            prefix = logs::PG_PREFIX,
            ep = hec.endpoint(),
            gz = opts.compression,
        ),
    )?;
    let stderr = std::fs::File::create(dir.join("agent.stderr"))?;
    let t0 = Instant::now();
    let child = Command::new(onetrail)
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?;
    let pid = child.id();
    let mut res = RunResult {
        bytes: inp.bytes,
        ..Default::default()
    };
    // START + every event of the file.
    let want = expected + 1;
    let mut last_hwm = 0;
    loop {
        if hec.events() >= want {
            break;
        }
        if let Some((_, hwm)) = procstat::rss(pid) {
            last_hwm = hwm;
        }
        if t0.elapsed() > opts.timeout || procstat::cpu(pid).is_none() {
            let _ = stop(child);
            let err = std::fs::read_to_string(dir.join("agent.stderr")).unwrap_or_default();
            return Err(std::io::Error::other(format!(
                "only {} of {want} events arrived within {:?}; agent stderr:\n{err}",
                hec.events(),
                opts.timeout
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    res.ingest_wall = t0.elapsed();
    res.ingest_cpu = procstat::cpu(pid).unwrap_or_default();
    let (rss, hwm) = procstat::rss(pid).unwrap_or((0, last_hwm));
    res.ingest_rss = rss;
    res.ingest_hwm = hwm;
    res.events = hec.events();
    res.requests = hec.stats.requests.load(Ordering::Relaxed);
    res.wire_bytes = hec.stats.wire_bytes.load(Ordering::Relaxed);
    res.raw_bytes = hec.stats.raw_bytes.load(Ordering::Relaxed);

    if opts.idle_secs > 0 {
        // Let the last checkpoint write and quiet flush pass.
        std::thread::sleep(Duration::from_secs(1));
        let c0 = procstat::cpu(pid).unwrap_or_default();
        let w0 = context_switches(pid);
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(opts.idle_secs));
        let c1 = procstat::cpu(pid).unwrap_or_default();
        res.idle = Some(Idle {
            window: t.elapsed(),
            cpu: c1.saturating_sub(c0),
            wakeups: context_switches(pid).saturating_sub(w0),
        });
    }

    if opts.latency_rate > 0 && opts.latency_secs > 0 {
        res.latency = Some(latency(
            &hec,
            pid,
            &log,
            opts.latency_rate,
            opts.latency_secs,
        )?);
    }
    res.total = Some(stop(child)?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(res)
}

fn stop(child: std::process::Child) -> std::io::Result<procstat::Usage> {
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    procstat::wait(child)
}

/// Append statements carrying `seq=N` markers at `rate` per second for
/// `secs`, and time each from its write to its first arrival at the receiver.
fn latency(
    hec: &HecReceiver,
    pid: u32,
    log: &Path,
    rate: u64,
    secs: u64,
) -> std::io::Result<Latency> {
    hec.stats.track_seq.store(true, Ordering::Relaxed);
    let mut g = logs::Generator::new(Format::PgStderr, 99);
    g.seq = Some(0);
    // Only statements that succeed: each marker then arrives exactly once
    // (a failed one arrives as its ERROR event, or not at all before 8986d02).
    g.no_failures = true;
    let mut f = std::fs::OpenOptions::new().append(true).open(log)?;
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 * tick.as_secs_f64()).max(1.0);
    let mut written_at: Vec<Instant> = Vec::new();
    let start = Instant::now();
    let c0 = procstat::cpu(pid).unwrap_or_default();
    let mut due = 0.0f64;
    let mut next = start;
    while start.elapsed() < Duration::from_secs(secs) {
        due += per_tick;
        while (g.seq.unwrap_or(0) as f64) < due {
            let now_us = chrono::Utc::now().timestamp_micros();
            g.set_time_micros(now_us);
            g.step_statement();
        }
        f.write_all(&g.buf)?;
        g.buf.clear();
        let now = Instant::now();
        written_at.resize(g.seq.unwrap_or(0) as usize, now);
        next += tick;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    let window = start.elapsed();
    // Wait for the tail (held records are released after the quiet period).
    let deadline = Instant::now() + Duration::from_secs(10);
    let n = written_at.len();
    let mut first: Vec<Option<Instant>> = vec![None; n];
    let mut received = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let arr = std::mem::take(&mut *hec.stats.arrivals.lock().expect("poisoned"));
        for (s, t) in arr {
            if let Some(slot) = first.get_mut(s as usize)
                && slot.is_none()
            {
                *slot = Some(t);
                received += 1;
            }
        }
        if received >= n {
            break;
        }
    }
    let c1 = procstat::cpu(pid).unwrap_or_default();
    if received < n {
        let missing: Vec<usize> = (0..n).filter(|&i| first[i].is_none()).take(10).collect();
        eprintln!(
            "latency: {} of {n} seq markers never arrived, e.g. {missing:?}",
            n - received
        );
        if std::env::var_os("ONETRAIL_BENCH_KEEP").is_some() {
            let _ = std::fs::copy(log, "/tmp/onetrail-bench-latency.log");
        }
    }
    let mut lat: Vec<Duration> = first
        .iter()
        .zip(&written_at)
        .filter_map(|(a, w)| a.map(|a| a.saturating_duration_since(*w)))
        .collect();
    lat.sort();
    hec.stats.track_seq.store(false, Ordering::Relaxed);
    Ok(Latency {
        rate,
        written: n as u64,
        received: received as u64,
        p50: percentile(&lat, 0.50),
        p90: percentile(&lat, 0.90),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        cpu_fraction: c1.saturating_sub(c0).as_secs_f64() / window.as_secs_f64(),
    })
}

/// The `onetrail` binary next to this executable (building it first when run
/// through cargo), or `ONETRAIL_BIN`.
pub fn find_onetrail(build: bool) -> std::io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ONETRAIL_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().expect("exe has a dir").to_path_buf();
    // Test binaries live in target/<profile>/deps.
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("onetrail");
    if build && let Some(cargo) = std::env::var_os("CARGO") {
        let mut c = Command::new(cargo);
        c.args(["build", "-q", "-j2", "-p", "onetrail"]);
        if dir.ends_with("release") {
            c.arg("--release");
        }
        let st = c.status()?;
        if !st.success() {
            return Err(std::io::Error::other("cargo build -p onetrail failed"));
        }
    }
    if !bin.exists() {
        return Err(std::io::Error::other(format!(
            "{} not found: build it (cargo build --release -p onetrail) or set ONETRAIL_BIN",
            bin.display()
        )));
    }
    Ok(bin)
}
