//! `onetrail status` and `onetrail import`: operating a running agent and
//! backfilling historic files.

use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use crate::exit;

#[derive(Args)]
pub struct StatusArgs {
    /// The running agent's configuration file (its `metrics.listen` is asked).
    #[arg(long, short = 'c', default_value = "/etc/onetrail/onetrail.yaml")]
    pub config: PathBuf,
    /// Print the agent's `/status` JSON as it is.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The configuration whose source (parser, enrichment) and sinks are used.
    #[arg(long, short = 'c', default_value = "/etc/onetrail/onetrail.yaml")]
    pub config: PathBuf,
    /// The source the files belong to (its format, instance and context apply).
    #[arg(long, short = 's')]
    pub source: String,
    /// Files to import, in order (oldest first). Compressed files must be
    /// decompressed first.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `onetrail status`: ask the running agent's `/status` endpoint.
///
/// Only `metrics.listen` is read from the configuration: an operator runs
/// `status` in a shell where the sinks' secrets (kept for the service in
/// `/etc/default/onetrail`) are not set, and must not need them.
pub fn cmd_status(a: StatusArgs) -> ExitCode {
    let listen = match metrics_listen(&a.config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}: {e}", a.config.display());
            return ExitCode::from(exit::CONFIG);
        }
    };
    let Some(mut addr) = listen else {
        eprintln!(
            "error: {}: `metrics.listen` is not set, so the agent serves no status; add `metrics: {{ listen: \"127.0.0.1:9834\" }}` and restart the agent (a reload cannot open the listener)",
            a.config.display()
        );
        return ExitCode::from(exit::CONFIG);
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let body = match http_get(addr, "/status") {
        Ok((200, body)) => body,
        Ok((code, _)) => {
            eprintln!("error: http://{addr}/status answered {code}");
            return ExitCode::from(exit::RUNTIME);
        }
        Err(e) => {
            eprintln!(
                "error: cannot reach the agent at http://{addr}/status: {e} (is it running with this configuration?)"
            );
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: http://{addr}/status: not JSON: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    if a.json {
        println!("{body}");
    } else {
        print!("{}", render_status(&v));
    }
    let sinks_up = v["sinks"]
        .as_object()
        .is_none_or(|m| m.values().all(|s| s["up"] == true));
    if v["ready"] == true && sinks_up {
        ExitCode::from(exit::OK)
    } else {
        ExitCode::from(exit::PROBLEMS)
    }
}

/// `metrics.listen` of the configuration file, read without validating or
/// expanding anything else. A `${NAME}` / `${NAME:-default}` in the value
/// itself is taken from the environment.
fn metrics_listen(path: &std::path::Path) -> Result<Option<SocketAddr>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc: Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    let listen = match &doc["metrics"]["listen"] {
        Value::Null => return Ok(None),
        Value::String(s) => expand_whole_reference(s)?,
        other => {
            return Err(format!(
                "`metrics.listen` must be a string like \"127.0.0.1:9834\", not {other}"
            ));
        }
    };
    listen
        .parse()
        .map(Some)
        .map_err(|_| format!("`metrics.listen` is not host:port: {listen:?}"))
}

/// `${NAME}` or `${NAME:-default}` as the whole value, from the environment;
/// any other value as it is.
fn expand_whole_reference(v: &str) -> Result<String, String> {
    let Some(inner) = v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return Ok(v.to_string());
    };
    let (name, default) = match inner.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (inner, None),
    };
    match (std::env::var(name), default) {
        (Ok(val), _) if !val.is_empty() => Ok(val),
        (_, Some(d)) => Ok(d.to_string()),
        _ => Err(format!("`metrics.listen` is `{v}` and `{name}` is not set")),
    }
}

/// One GET over HTTP/1.1 (the agent's endpoint closes after each answer).
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    Ok((code, body.to_string()))
}

fn render_status(v: &Value) -> String {
    let mut o = String::new();
    let state = if v["ready"] == true {
        "running"
    } else {
        "not ready"
    };
    o += &format!(
        "onetrail {} (pid {}), {state} since {}, {} reload(s), {} refused\n",
        v["version"].as_str().unwrap_or("?"),
        v["pid"],
        v["started"].as_str().unwrap_or("?"),
        v["reloads"],
        v["reload_failures"],
    );
    if let Some(srcs) = v["sources"].as_object() {
        for (name, s) in srcs {
            let ckpt = match s["checkpoint_age_secs"].as_f64() {
                Some(a) => format!("checkpoint {a:.1} s old"),
                None => "no checkpoint yet".into(),
            };
            o += &format!(
                "source {name} ({}): {} read, {} unparsed, {} delivered, {} filtered out, {} gap(s); oldest undelivered {:.1} s; {ckpt}\n",
                s["type"].as_str().unwrap_or("?"),
                s["events_read"],
                s["events_unparsed"],
                s["events_delivered"],
                s["events_filtered"].as_u64().unwrap_or(0),
                s["gaps"],
                s["oldest_undelivered_secs"].as_f64().unwrap_or(0.0),
            );
            for p in s["problems"].as_array().into_iter().flatten() {
                o += &format!(
                    "  PROBLEM ({}): {}\n",
                    p["problem"].as_str().unwrap_or("?"),
                    p["detail"].as_str().unwrap_or("")
                );
            }
            for f in s["files"].as_array().into_iter().flatten() {
                o += &format!(
                    "  {}: {} bytes behind (size {}, read {})\n",
                    f["path"].as_str().unwrap_or("?"),
                    f["bytes_behind"],
                    f["size"],
                    f["read"]
                );
            }
        }
    }
    if let Some(sinks) = v["sinks"].as_object() {
        for (name, s) in sinks {
            let up = if s["up"] == true {
                "up".to_string()
            } else {
                format!("DOWN ({})", s["last_error"].as_str().unwrap_or("no detail"))
            };
            o += &format!(
                "sink {name} ({}): {up}; {} delivered, {} retries, {} dead-lettered\n",
                s["type"].as_str().unwrap_or("?"),
                s["events_delivered"],
                s["retries"],
                s["dead_lettered"],
            );
        }
    }
    o
}

/// `onetrail import`: backfill historic files through the configured sinks.
pub fn cmd_import(a: ImportArgs) -> ExitCode {
    let cfg = match crate::load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::init_logging(Some(&cfg));
    // A file in another format would import as nothing (or as `unparsed`
    // records only): refuse before anything is sent. An audit-only source
    // (`forward_other: false`) may legitimately find nothing in a file.
    if let Ok((format, fopts)) = onetrail_agent::formats::source_format(&cfg, &a.source)
        && fopts.forward_other
    {
        let wrong: Vec<String> = a
            .files
            .iter()
            .filter_map(|f| onetrail_agent::wrong_format(f, format, &fopts))
            .collect();
        if !wrong.is_empty() {
            for w in &wrong {
                eprintln!("error: {w}");
            }
            eprintln!(
                "error: nothing was imported; check `sources.{}`'s `format:` (`onetrail detect FILE` names a file's format)",
                a.source
            );
            return ExitCode::from(exit::PROBLEMS);
        }
    }
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut bar = ProgressBar::new(std::io::stderr().is_terminal());
    let res = rt.block_on(onetrail_agent::import::import(
        &cfg,
        &a.source,
        &a.files,
        &mut |p| bar.update(p),
    ));
    bar.finish();
    match res {
        Ok(r) if r.interrupted => {
            eprintln!(
                "interrupted: {} of {} event(s) confirmed by every sink; run the import again (receivers de-duplicate by `id`)",
                r.delivered, r.events
            );
            ExitCode::from(exit::RUNTIME)
        }
        Ok(r) => {
            eprintln!(
                "imported {} file(s), {} bytes: {} event(s) ({} unparsed) delivered to {} sink(s)",
                a.files.len(),
                r.bytes,
                r.delivered,
                r.unparsed,
                r.sinks
            );
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}

/// A one-line progress display on a terminal; silent otherwise.
struct ProgressBar {
    tty: bool,
    start: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl ProgressBar {
    fn new(tty: bool) -> ProgressBar {
        ProgressBar {
            tty,
            start: Instant::now(),
            last_draw: None,
            drawn: false,
        }
    }

    fn update(&mut self, p: &onetrail_agent::import::Progress) {
        if !self.tty
            || self
                .last_draw
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let bps = p.bytes_read as f64 / secs;
        let eps = p.events_read as f64 / secs;
        let pct = if p.bytes_total > 0 {
            p.bytes_read as f64 * 100.0 / p.bytes_total as f64
        } else {
            100.0
        };
        let width = 24usize;
        let filled = ((pct / 100.0) * width as f64) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled.min(width)),
            "-".repeat(width - filled.min(width))
        );
        let tail = if p.draining {
            format!(
                "waiting for acknowledgements: {}/{}",
                p.events_delivered, p.events_read
            )
        } else {
            let eta = if bps > 0.0 {
                hms((p.bytes_total.saturating_sub(p.bytes_read)) as f64 / bps)
            } else {
                "?".into()
            };
            format!("ETA {eta}")
        };
        eprint!(
            "\r\x1b[2K[{bar}] {pct:5.1}%  file {}/{}  {}/{}  {}/s  {:.0} ev/s  {} delivered  {tail}",
            p.file,
            p.files,
            human(p.bytes_read as f64),
            human(p.bytes_total as f64),
            human(bps),
            eps,
            p.events_delivered,
        );
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

fn human(b: f64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", U[i])
}

fn hms(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}
