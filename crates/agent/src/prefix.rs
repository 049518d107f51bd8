//! A log file's sample (its first records and its last few hundred) and the
//! `log_line_prefix` it implies: `log_line_prefix: auto`, the start-up
//! mismatch warning, and the prefix `onetrail detect` proposes.
//!
//! The prefix inference itself is pure and lives in the parser
//! (`onetrail_pgaudit::infer`); this module owns the files.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use onetrail_pgaudit::infer::{self, PrefixGuess};

/// Bytes read from the start of a file (its first records).
pub(crate) const HEAD_BYTES: u64 = 16 * 1024;
/// Bytes read from its end (the last few hundred records).
pub(crate) const TAIL_BYTES: u64 = 192 * 1024;

/// PostgreSQL's default `log_line_prefix` (10+).
pub const PG_DEFAULT_PREFIX: &str = "%m [%p] ";

/// The first and last bytes of `path`, cut at line boundaries.
pub fn read_sample(path: &Path) -> Result<Vec<u8>, String> {
    let mut f = onetrail_core::files::open_regular(path).map_err(|e| {
        format!(
            "cannot read {}: {e}{}",
            path.display(),
            onetrail_core::files::access_detail(path)
        )
    })?;
    let size = f
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let read = |f: &mut std::fs::File, at: u64, n: u64| -> Result<Vec<u8>, String> {
        let mut v = Vec::with_capacity(n as usize);
        f.seek(SeekFrom::Start(at))
            .and_then(|_| f.take(n).read_to_end(&mut v))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(v)
    };
    if size <= HEAD_BYTES + TAIL_BYTES {
        return read(&mut f, 0, size);
    }
    let mut head = read(&mut f, 0, HEAD_BYTES)?;
    let keep = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    head.truncate(keep);
    let tail = read(&mut f, size - TAIL_BYTES, TAIL_BYTES)?;
    // Start the tail at a line that is no continuation (TAB) of a message.
    let mut at = 0;
    while let Some(i) = tail[at..].iter().position(|&b| b == b'\n') {
        at += i + 1;
        if tail.get(at).is_some_and(|&c| c != b'\t') {
            break;
        }
    }
    head.extend_from_slice(&tail[at.min(tail.len())..]);
    Ok(head)
}

/// A `log_line_prefix` found in PostgreSQL's own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfPrefix {
    pub file: PathBuf,
    pub prefix: String,
}

/// `postgresql.auto.conf` (which wins) or `postgresql.conf` in the log file's
/// directory or the one above it (`<data_directory>/log/…`), when readable.
pub fn conf_prefix_near(log_file: &Path) -> Option<ConfPrefix> {
    let dir = log_file.parent()?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        for name in ["postgresql.auto.conf", "postgresql.conf"] {
            let file = d.join(name);
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            if let Some(prefix) = infer::conf_log_line_prefix(&text) {
                return Some(ConfPrefix { file, prefix });
            }
        }
    }
    None
}

/// The prefix to propose for a stderr log sample: PostgreSQL's own setting
/// when it explains the lines at least as well as the inferred one.
pub fn propose_prefix(sample: &[u8], conf: Option<&ConfPrefix>) -> Option<PrefixGuess> {
    let guess = infer::infer(sample);
    let from_conf = conf.and_then(|c| {
        let fit = infer::fit(&c.prefix, sample).ok()?;
        (fit.clean > 0).then(|| PrefixGuess {
            prefix: c.prefix.clone(),
            fit,
        })
    });
    match (guess, from_conf) {
        (Some(g), Some(c)) if g.fit.clean > c.fit.clean => Some(g),
        (g, None) => g,
        (_, c) => c,
    }
}

/// The newest regular, readable file matched by `paths` (by modification time).
pub fn newest_file(paths: &[String]) -> Option<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for pat in paths {
        let Ok(it) = glob::glob(pat) else { continue };
        for p in it.flatten() {
            let Ok(m) = std::fs::metadata(&p) else {
                continue;
            };
            if !m.is_file() {
                continue;
            }
            let t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                best = Some((t, p));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// `log_line_prefix: auto`: the prefix inferred from the newest file of
/// `paths` (or PostgreSQL's setting next to it), with where it came from.
/// `Err` when there is nothing to infer from yet.
pub fn auto_prefix(paths: &[String]) -> Result<(String, String), String> {
    let file = newest_file(paths)
        .ok_or_else(|| format!("no readable file matches {paths:?} yet to infer it from"))?;
    let sample = read_sample(&file)?;
    let conf = conf_prefix_near(&file);
    match propose_prefix(&sample, conf.as_ref()) {
        Some(g) => Ok((
            g.prefix,
            format!(
                "inferred from {} ({} of {} lines explained)",
                file.display(),
                g.fit.clean,
                g.fit.lines
            ),
        )),
        None => Err(format!(
            "no line of {} looks like a PostgreSQL stderr log line",
            file.display()
        )),
    }
}

/// At start: when `prefix` does not explain the lines of the newest file of
/// `paths` and another prefix does better, the message saying so.
pub fn prefix_mismatch(prefix: &str, paths: &[String]) -> Option<String> {
    let file = newest_file(paths)?;
    let sample = read_sample(&file).ok()?;
    let fit = infer::fit(prefix, &sample).ok()?;
    let g = propose_prefix(&sample, conf_prefix_near(&file).as_ref())?;
    (g.fit.clean > fit.clean).then(|| {
        format!(
            "log_line_prefix {prefix:?} explains {} of {} lines of {} (events get wrong users and databases, or become `unparsed`); the prefix that matches them: {:?} (confirm with `SHOW log_line_prefix;`, or use `log_line_prefix: auto`)",
            fit.clean,
            fit.lines,
            file.display(),
            g.prefix
        )
    })
}
