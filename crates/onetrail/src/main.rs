//! `onetrail`: the database audit agent's command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use onetrail_agent::Level;
use onetrail_agent::config::Config;

/// Many small, short-lived allocations per event: see BENCHMARKS.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod ops;

/// Exit codes (also in `onetrail --help`).
pub(crate) mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// The agent failed at run time (cannot write checkpoints, a sink cannot start...).
    pub const RUNTIME: u8 = 1;
    /// Bad usage or a bad configuration file (the message names file, line and key).
    pub const CONFIG: u8 = 2;
    /// `check` found problems; `parse` found records it could not parse.
    pub const PROBLEMS: u8 = 3;
    /// `verify`: a file carries no chain link at all (never chained).
    pub const NOT_CHAINED: u8 = 4;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  runtime failure (checkpoints not writable, a sink cannot start, ...)
  2  usage or configuration error (the message names the file, line and key)
  3  `check` found problems, or `parse` met records it could not parse
     (they are still printed, flagged `category: unparsed` with their raw text)
     or a file with content in which not one record is recognised (wrong
     format: the message says which formats it looks like; `import` then
     sends nothing),
     or `verify` found a deleted, altered or reordered event
  4  `verify`: a file carries no chain link at all (not written by a
     `chain: true` file sink): nothing to verify, nothing proven

Examples:
  onetrail parse --format pgaudit-stderr --log-line-prefix '%m [%p] %q%u@%d %r %a %c ' /var/log/postgresql/postgresql-15-main.log
  onetrail check --config /etc/onetrail/onetrail.yaml
  onetrail detect /var/log/postgresql/postgresql-15-main.log
  onetrail run --config deploy/examples/quickstart.yaml
  onetrail status --config /etc/onetrail/onetrail.yaml
  onetrail import --config /etc/onetrail/onetrail.yaml --source pg_main /var/log/postgresql/postgresql-15-main.log.1

Docs: README.md (setup per engine), docs/schema.md (event fields), docs/config.md (every key and default).";

/// Database audit agent: tails or polls every engine's audit trail, normalizes
/// each record into one event schema, enriches it and streams it to SIEMs.
#[derive(Parser)]
#[command(name = "onetrail", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse audit log files offline and print normalized events as JSON lines.
    ///
    /// Use it to import old logs, or to see what onetrail makes of your
    /// server's log before running the agent. Credentials in statements are
    /// redacted exactly as the agent does.
    Parse(ParseArgs),
    /// Run the agent: tail every configured source and deliver to every sink
    /// until SIGTERM (then deliver in-flight events, save positions, exit 0).
    Run(ConfigArgs),
    /// Validate a configuration: syntax, file access, the log files' real
    /// lines (format, `log_line_prefix`), sink readiness.
    Check(ConfigArgs),
    /// Tell what a log file is: the format that reads it best and, for a
    /// PostgreSQL stderr log, the `log_line_prefix` that explains its lines
    /// (PostgreSQL's own `postgresql.conf`/`postgresql.auto.conf` next to the
    /// file is read too when accessible). Exits 3 when no format reads it.
    Detect(DetectArgs),
    /// List the formats `parse --format` and a file source's `format:` accept.
    Formats,
    /// Show the running agent's sources and sinks (asks its `metrics.listen`
    /// endpoint). Exits 0 when it runs and every sink is up, 3 when a sink is
    /// down, 1 when the agent cannot be reached.
    Status(ops::StatusArgs),
    /// Ship historic files of a configured source through the configured
    /// sinks (same parser, enrichment, sinks and acknowledgement as the agent),
    /// then exit 0 once every event is delivered. Never touches the running
    /// agent's checkpoints; its sinks keep their own state in `<data_dir>/import/`.
    Import(ops::ImportArgs),
    /// Check the hash chain of files written by a `chain: true` file sink.
    ///
    /// Reports the first deleted, altered or reordered event (line number and
    /// chain sequence number) and exits 3; exits 0 when the chain is intact;
    /// exits 4 (NOT CHAINED) for a file without any chain link.
    /// Several files are checked as one chain, in the order given (oldest
    /// rotation first). `--state` (the sink's `<data_dir>/chain/<sink>.json`)
    /// also detects events deleted from the end of the current file.
    Verify(VerifyArgs),
    /// Print docs/config.md (every key of every source and sink type),
    /// generated from the key table in crates/agent/src/config/keys.rs.
    #[command(hide = true)]
    ConfigDoc,
}

#[derive(Args)]
struct DetectArgs {
    /// The log file (its first records and last few hundred are read).
    file: PathBuf,
}

#[derive(Args)]
struct VerifyArgs {
    /// The sink's chain state file, to detect deletions at the end.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Chained files, oldest first.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct ParseArgs {
    /// The log format (see `onetrail formats`), e.g. pgaudit-stderr,
    /// pgaudit-csvlog, pgaudit-jsonlog, pgauditlogtofile.
    #[arg(long, short = 'f')]
    format: String,
    /// For pgaudit-stderr: the server's log_line_prefix (`SHOW log_line_prefix;`).
    /// Default: PostgreSQL's default '%m [%p] '.
    #[arg(long)]
    log_line_prefix: Option<String>,
    /// Value for every event's `instance` field.
    #[arg(long)]
    instance: Option<String>,
    /// Skip server lines that are not audit records instead of printing them
    /// as `category: other`.
    #[arg(long)]
    audit_only: bool,
    /// Replace every literal in statements with `?` (privacy). Credentials are
    /// always redacted, with or without this flag.
    #[arg(long)]
    mask_literals: bool,
    /// The largest record kept whole, in bytes, as the source key
    /// `max_record_bytes` (same default, so `parse` and `run` give the same
    /// events). A longer record is cut: its start and its last 4 KiB are kept
    /// and its events carry `extra.truncated` and `extra.original_bytes`.
    #[arg(long, default_value_t = onetrail_agent::DEFAULT_MAX_RECORD_BYTES, value_name = "BYTES")]
    max_record_bytes: usize,
    /// Files to parse, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct ConfigArgs {
    /// The YAML configuration file.
    #[arg(long, short = 'c', default_value = "/etc/onetrail/onetrail.yaml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Command::Parse(a) => cmd_parse(a),
        Command::Run(a) => cmd_run(a),
        Command::Check(a) => cmd_check(a),
        Command::Status(a) => ops::cmd_status(a),
        Command::Import(a) => ops::cmd_import(a),
        Command::Verify(a) => cmd_verify(a),
        Command::Detect(a) => cmd_detect(a),
        Command::ConfigDoc => {
            print!("{}", onetrail_agent::config::keys::reference_markdown());
            ExitCode::from(exit::OK)
        }
        Command::Formats => {
            for (name, engine) in onetrail_agent::formats::all_formats() {
                println!("{name:28} {engine}");
            }
            ExitCode::from(exit::OK)
        }
    }
}

pub(crate) fn init_logging(cfg: Option<&Config>) {
    use tracing_subscriber::{EnvFilter, fmt};
    let level = cfg
        .and_then(|c| c.log.level.clone())
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = cfg.and_then(|c| c.log.format.as_deref()) == Some("json");
    let style = LogStyle::detect();
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(style.colour);
    if json {
        builder.json().init();
    } else if style.journal {
        // journald stamps every line with its own time and the unit's name.
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// How log lines look on this stderr: colour only on a terminal (and never
/// with `NO_COLOR` set, <https://no-color.org>); under systemd, when stderr
/// is the journal's stream (`JOURNAL_STREAM` names its device and inode),
/// no timestamp of our own and no colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogStyle {
    pub colour: bool,
    pub journal: bool,
}

impl LogStyle {
    fn detect() -> LogStyle {
        use std::io::IsTerminal;
        let journal = std::env::var("JOURNAL_STREAM")
            .ok()
            .is_some_and(|v| stderr_is_journal_stream(&v));
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        LogStyle {
            colour: !journal && !no_color && std::io::stderr().is_terminal(),
            journal,
        }
    }
}

/// `JOURNAL_STREAM=<device>:<inode>` (systemd.exec(5)) is inherited by child
/// processes, so it only counts when fd 2 is still that very socket.
fn stderr_is_journal_stream(value: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

pub(crate) fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        for m in e.messages() {
            eprintln!("error: {m}");
        }
        ExitCode::from(exit::CONFIG)
    })
}

fn cmd_parse(a: ParseArgs) -> ExitCode {
    let opts = onetrail_agent::ParseOptions {
        format: a.format.clone(),
        log_line_prefix: a.log_line_prefix,
        instance: a.instance,
        forward_other: !a.audit_only,
        mask_literals: a.mask_literals,
        max_record_bytes: a.max_record_bytes,
    };
    if let Err(e) = onetrail_agent::formats::by_name(
        &opts.format,
        &onetrail_agent::formats::FormatOptions {
            log_line_prefix: opts.log_line_prefix.clone(),
            forward_other: opts.forward_other,
        },
    ) {
        eprintln!("error: {e}");
        return ExitCode::from(exit::CONFIG);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut unparsed = 0;
    let mut wrong_format = Vec::new();
    for f in &a.files {
        match onetrail_agent::parse_file(f, &opts, &mut out) {
            Ok(s) => {
                unparsed += s.unparsed;
                // With --audit-only, a log without audit records is no error.
                if opts.forward_other && s.nothing_recognised() {
                    wrong_format.push(f);
                }
            }
            Err(e) => {
                let _ = out.flush();
                eprintln!("error: {e}");
                return ExitCode::from(exit::RUNTIME);
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("error: writing output: {e}");
        return ExitCode::from(exit::RUNTIME);
    }
    for f in &wrong_format {
        let looks = onetrail_agent::formats_recognising(f, &opts.format);
        let like = if looks.is_empty() {
            "no format onetrail knows recognises it either".to_string()
        } else {
            format!("it looks like {}", looks.join(" or "))
        };
        eprintln!(
            "error: {}: not one record recognised as {} ({like})",
            f.display(),
            opts.format
        );
    }
    if unparsed > 0 {
        eprintln!(
            "warning: {unparsed} record(s) could not be parsed (printed with category \"unparsed\")"
        );
        return ExitCode::from(exit::PROBLEMS);
    }
    if !wrong_format.is_empty() {
        return ExitCode::from(exit::PROBLEMS);
    }
    ExitCode::from(exit::OK)
}

/// The agent's runtime: two workers (the host's database comes first).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(exit::RUNTIME)
        })
}

fn cmd_run(a: ConfigArgs) -> ExitCode {
    let cfg = match load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(Some(&cfg));
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let opts = onetrail_agent::RunOptions {
        config_path: Some(a.config.clone()),
    };
    match rt.block_on(onetrail_agent::run_with(cfg, opts)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}

fn cmd_check(a: ConfigArgs) -> ExitCode {
    let cfg = match load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let findings = onetrail_agent::check(&cfg, Some(&a.config));
    let (mut bad, mut warnings) = (0, 0);
    for f in &findings {
        let mark = match f.level {
            Level::Ok => "ok  ",
            Level::Warn => {
                warnings += 1;
                "WARN"
            }
            Level::Fail => {
                bad += 1;
                "FAIL"
            }
        };
        println!("{mark} {}: {}", f.subject, f.message);
    }
    if bad > 0 {
        println!("{bad} problem(s) found in {}", a.config.display());
        ExitCode::from(exit::PROBLEMS)
    } else if warnings > 0 {
        // Warnings do not fail `check`: the agent works, but should not run like this.
        println!(
            "configuration {} works, with {warnings} warning(s) above",
            a.config.display()
        );
        ExitCode::from(exit::OK)
    } else {
        println!("configuration {} looks good", a.config.display());
        ExitCode::from(exit::OK)
    }
}

fn cmd_detect(a: DetectArgs) -> ExitCode {
    use onetrail_agent::sample;
    let d = match sample::detect(&a.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let Some(best) = d.formats.first() else {
        println!(
            "{}: no known format reads this file (see `onetrail formats`)",
            a.file.display()
        );
        return ExitCode::from(exit::PROBLEMS);
    };
    println!(
        "format: {}  ({} of {} records recognised; configure `{}`)",
        best.format,
        best.recognised(),
        best.records,
        sample::config_hint(best.format)
    );
    if best.format == "pgaudit-stderr"
        && let Some(g) = &d.prefix
    {
        println!(
            "log_line_prefix: {:?}  ({} of {} lines explained; confirm with `SHOW log_line_prefix;`)",
            g.prefix, g.fit.clean, g.fit.lines
        );
    }
    if let Some(c) = &d.conf {
        println!(
            "{} sets log_line_prefix = '{}'",
            c.file.display(),
            c.prefix.replace('\'', "''")
        );
    }
    for other in d.formats.iter().skip(1).take(3) {
        println!(
            "  also readable as {} ({} of {} records)",
            other.format,
            other.recognised(),
            other.records
        );
    }
    ExitCode::from(exit::OK)
}

fn cmd_verify(a: VerifyArgs) -> ExitCode {
    use onetrail_agent::chain;
    let state = match a.state.as_deref().map(chain::read_state).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let mut anchor: Option<chain::ChainState> = None;
    let mut total = 0;
    let last = a.files.len() - 1;
    for (i, f) in a.files.iter().enumerate() {
        let file = match std::fs::File::open(f) {
            Ok(file) => std::io::BufReader::with_capacity(256 * 1024, file),
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return ExitCode::from(exit::RUNTIME);
            }
        };
        let st = if i == last { state.as_ref() } else { None };
        let v = match chain::verify(file, anchor.as_ref(), st) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return ExitCode::from(exit::RUNTIME);
            }
        };
        if let Some(p @ chain::Problem::NotChained { .. }) = &v.problem {
            println!("{}: {p}", f.display());
            return ExitCode::from(exit::NOT_CHAINED);
        }
        if let Some(p) = &v.problem {
            println!("{}: {p}", f.display());
            println!("{}: chain BROKEN", f.display());
            return ExitCode::from(exit::PROBLEMS);
        }
        total += v.lines;
        match (v.first_seq, v.last_seq) {
            (Some(first), Some(last_seq)) => {
                let start = if first > 1 && anchor.is_none() {
                    " (continues an earlier file: pass it first to check the link)"
                } else {
                    ""
                };
                println!(
                    "{}: ok, {} events, seq {first}..={last_seq}{start}",
                    f.display(),
                    v.lines - v.unchained_before
                );
                if v.unchained_before > 0 {
                    println!(
                        "{}: note: its first {} line(s) carry no chain link (written before `chain: true` was set); nothing about them is proven",
                        f.display(),
                        v.unchained_before
                    );
                }
                anchor = Some(chain::ChainState {
                    seq: last_seq,
                    hash: v.last_hash.clone().unwrap_or_default(),
                });
            }
            _ => println!("{}: ok, empty", f.display()),
        }
    }
    println!("chain intact ({total} events)");
    ExitCode::from(exit::OK)
}
