//! What a log file really holds: `onetrail check` and `onetrail detect` read
//! a sample of it (its first records and its last few hundred) and run the
//! parsers over it, so a wrong `log_line_prefix` or format is found before
//! the agent forwards a day of `unparsed` events.
//!
//! The prefix inference itself is pure and lives in the parser
//! (`onetrail_pgaudit::infer`); this module owns the files.

use std::path::Path;

use onetrail_event::{Category, Flush, RecordFormat, RecordPos};
use onetrail_pgaudit::infer::{self, PrefixFit, PrefixGuess};

use crate::findings::Level;
use crate::formats::{self, FormatOptions};
pub use crate::prefix::{
    ConfPrefix, PG_DEFAULT_PREFIX, auto_prefix, conf_prefix_near, newest_file, prefix_mismatch,
    propose_prefix, read_sample,
};

/// Records of a sample as one format reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatCount {
    pub format: &'static str,
    pub records: usize,
    pub unparsed: usize,
    /// Events other than `other`, `unparsed` and `agent` (audit, login,
    /// error…): a lenient format reads anything as `other`.
    pub meaningful: usize,
}

impl FormatCount {
    pub fn recognised(&self) -> usize {
        self.records.saturating_sub(self.unparsed)
    }
}

/// Frame and parse `sample` with `f`, counting records and unparsed ones.
pub fn count_records(f: &mut dyn RecordFormat, sample: &[u8]) -> FormatCount {
    let name = f.name();
    let mut out = Vec::new();
    let (mut records, mut unparsed, mut meaningful) = (0, 0, 0);
    let mut off = 0;
    while off < sample.len() {
        let rest = &sample[off..];
        let n = match f.frame(rest, Flush::Final) {
            Some(n) if n > 0 && n <= rest.len() => n,
            _ => rest.len(),
        };
        let pos = RecordPos {
            source_key: "sample",
            path: None,
            offset: off as u64,
            format: name,
        };
        out.clear();
        f.parse(&rest[..n], &pos, &mut out);
        // A blank line between records is no record.
        if !rest[..n].iter().all(u8::is_ascii_whitespace) {
            records += 1;
            if out.iter().any(|e| e.category == Category::Unparsed) {
                unparsed += 1;
            }
        }
        meaningful += out.iter().filter(|e| meaningful_event(e)).count();
        off += n;
    }
    // Events held back until a backend's next record (statement outcome).
    out.clear();
    f.release_held(&mut out);
    meaningful += out.iter().filter(|e| meaningful_event(e)).count();
    FormatCount {
        format: name,
        records,
        unparsed,
        meaningful,
    }
}

fn meaningful_event(e: &onetrail_event::Event) -> bool {
    !matches!(
        e.category,
        Category::Other | Category::Agent | Category::Unparsed
    )
}

/// Every known format tried on `sample` (pgaudit stderr with `prefix`), the
/// one with the most recognised records first; formats recognising nothing
/// are left out.
pub fn rank_formats(sample: &[u8], prefix: Option<&str>) -> Vec<FormatCount> {
    let mut v: Vec<FormatCount> = formats::all_formats()
        .into_iter()
        .filter_map(|(name, _)| {
            let opts = FormatOptions {
                log_line_prefix: prefix.map(str::to_string),
                forward_other: true,
            };
            let (mut f, _) = formats::by_name(name, &opts).ok()?;
            let c = count_records(f.as_mut(), sample);
            (c.recognised() > 0).then_some(c)
        })
        .collect();
    v.sort_by(|a, b| {
        b.meaningful
            .cmp(&a.meaningful)
            .then(b.recognised().cmp(&a.recognised()))
    });
    v
}

/// How a format is named in a source's configuration.
pub fn config_hint(format: &str) -> String {
    use crate::settings::SourceType;
    let ty = [
        (SourceType::Pgaudit, "pgaudit"),
        (SourceType::MysqlAudit, "mysql_audit"),
        (SourceType::OracleAudit, "oracle_audit"),
    ]
    .into_iter()
    .find(|(t, _)| crate::formats::formats_of(*t).contains(&format));
    match ty {
        Some((_, ty)) => format!("type: {ty}, format: {format}"),
        None => format!(
            "`onetrail parse --format {format}` / `onetrail import` (no file source type reads it)"
        ),
    }
}

/// What `check` finds in a file source's newest file: each item a level
/// and a message (the caller adds the subject).
pub fn check_file(format: &'static str, opts: &FormatOptions, file: &Path) -> Vec<(Level, String)> {
    use Level::{Fail, Ok as Good, Warn};
    let mut out = Vec::new();
    let sample = match read_sample(file) {
        Ok(s) => s,
        Err(e) => return vec![(Fail, e)],
    };
    let shown = file.display();
    if sample.iter().all(u8::is_ascii_whitespace) {
        out.push((
            Good,
            format!("{shown} is empty: no line to check yet (run `onetrail check` again once the server wrote some)"),
        ));
        return out;
    }
    let mut opts = opts.clone();
    let mut prefix_wrong = false;
    if format == "pgaudit-stderr" {
        let conf = conf_prefix_near(file);
        let proposal = propose_prefix(&sample, conf.as_ref());
        let configured = opts
            .log_line_prefix
            .clone()
            .unwrap_or_else(|| PG_DEFAULT_PREFIX.to_string());
        let auto = configured == "auto";
        let fit = if auto {
            proposal.as_ref().map(|g| g.fit.clone()).unwrap_or_default()
        } else {
            infer::fit(&configured, &sample).unwrap_or_default()
        };
        if let Some(c) = &conf {
            out.push((
                Good,
                format!(
                    "{} sets log_line_prefix = '{}'",
                    c.file.display(),
                    c.prefix.replace('\'', "''")
                ),
            ));
        }
        match &proposal {
            Some(g) if !auto && g.fit.clean > fit.clean => {
                prefix_wrong = true;
                out.push((
                    Fail,
                    format!(
                        "log_line_prefix {configured:?} does not explain the lines of {shown} ({} of {} lines), e.g.:\n       {}\n     the prefix that matches them ({} of {} lines): log_line_prefix: {:?}  (confirm with `SHOW log_line_prefix;` on the server)",
                        fit.clean,
                        fit.lines,
                        shown_line(fit.example.as_deref()),
                        g.fit.clean,
                        g.fit.lines,
                        g.prefix,
                    ),
                ));
                opts.log_line_prefix = Some(g.prefix.clone());
            }
            Some(g) if auto => {
                out.push((
                    Good,
                    format!(
                        "log_line_prefix: auto: the agent will use {:?} ({} of {} lines of {shown} explained)",
                        g.prefix, g.fit.clean, g.fit.lines
                    ),
                ));
                opts.log_line_prefix = Some(g.prefix.clone());
            }
            None if auto => out.push((
                Fail,
                format!(
                    "log_line_prefix: auto: no prefix explains the lines of {shown}; is it a PostgreSQL stderr log?"
                ),
            )),
            _ => out.push(explained(&configured, &fit, &shown.to_string())),
        }
    }
    let Ok((mut f, _)) = formats::by_name(format, &opts) else {
        return out;
    };
    let mine = count_records(f.as_mut(), &sample);
    let summary = format!(
        "sample of {shown}: {} record(s), {} recognised, {} unparsed (format {format})",
        mine.records,
        mine.recognised(),
        mine.unparsed
    );
    if prefix_wrong {
        // Counted with the proposed prefix: what the fix will give.
        out.push((Good, format!("{summary} with the proposed prefix")));
        return out;
    }
    if mine.unparsed == 0 {
        out.push((Good, summary));
        return out;
    }
    let prefix = opts
        .log_line_prefix
        .clone()
        .filter(|p| p != "auto")
        .or_else(|| infer::infer(&sample).map(|g| g.prefix));
    let better = rank_formats(&sample, prefix.as_deref())
        .into_iter()
        .find(|c| {
            // Reading lines as `other` proves nothing: a lenient format does.
            c.format != format
                && c.meaningful > 0
                && (c.meaningful, c.recognised()) > (mine.meaningful, mine.recognised())
        });
    match better {
        Some(b) => out.push((
            Fail,
            format!(
                "{summary}; the file looks like format {} ({} of {} records recognised): `{}`",
                b.format,
                b.recognised(),
                b.records,
                config_hint(b.format)
            ),
        )),
        None if mine.unparsed * 2 > mine.records => out.push((
            Fail,
            format!(
                "{summary}: most records are not understood; no known format reads this file better"
            ),
        )),
        None => out.push((Warn, summary)),
    }
    out
}

/// A log line as `check` prints it: credentials in it redacted, as in events.
fn shown_line(line: Option<&str>) -> String {
    let line = line.unwrap_or("");
    onetrail_redact::Redactor::default()
        .redact(line)
        .map_or_else(|| line.to_string(), |(t, _)| t)
}

fn explained(prefix: &str, fit: &PrefixFit, shown: &str) -> (Level, String) {
    if fit.lines == 0 || fit.explains_all() {
        (
            Level::Ok,
            format!(
                "log_line_prefix {prefix:?} explains the lines of {shown} ({} of {})",
                fit.clean, fit.lines
            ),
        )
    } else {
        (
            Level::Warn,
            format!(
                "log_line_prefix {prefix:?} explains {} of {} lines of {shown}; no other prefix does better; e.g. not explained:\n       {}",
                fit.clean,
                fit.lines,
                shown_line(fit.example.as_deref())
            ),
        )
    }
}

/// What `onetrail detect FILE` found.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Formats that recognise records, best first.
    pub formats: Vec<FormatCount>,
    /// For a PostgreSQL stderr log: the prefix that explains it.
    pub prefix: Option<PrefixGuess>,
    /// PostgreSQL's own setting, when found next to the file.
    pub conf: Option<ConfPrefix>,
}

/// Read `file`'s sample and tell its format (and `log_line_prefix`).
pub fn detect(file: &Path) -> Result<Detection, String> {
    let sample = read_sample(file)?;
    let conf = conf_prefix_near(file);
    let prefix = propose_prefix(&sample, conf.as_ref());
    let formats = rank_formats(&sample, prefix.as_ref().map(|g| g.prefix.as_str()));
    Ok(Detection {
        formats,
        prefix,
        conf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefix::{HEAD_BYTES, TAIL_BYTES};
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const README_LINES: &str = "2026-12-03 10:00:01.001 UTC [27300] postgres@appdb [local] dba-console 6b1120f3.6a48 LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>\n2026-12-03 10:00:02.001 UTC [27208] LOG:  checkpoint starting: time\n";

    #[test]
    fn a_swallowing_prefix_fails_and_names_the_right_one() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "pg.log", &README_LINES.repeat(3));
        let opts = FormatOptions {
            log_line_prefix: Some("%m [%p] %q%u@%d ".into()),
            forward_other: true,
        };
        let r = check_file("pgaudit-stderr", &opts, &f);
        let fail = r
            .iter()
            .find(|(l, _)| *l == Level::Fail)
            .unwrap_or_else(|| panic!("{r:?}"));
        assert!(
            fail.1.contains("\"%m [%p] %q%u@%d %r %a %c \""),
            "{}",
            fail.1
        );
        assert!(fail.1.contains("dba-console"), "{}", fail.1);
        // The right prefix passes.
        let opts = FormatOptions {
            log_line_prefix: Some("%m [%p] %q%u@%d %r %a %c ".into()),
            forward_other: true,
        };
        let r = check_file("pgaudit-stderr", &opts, &f);
        assert!(r.iter().all(|(l, _)| *l == Level::Ok), "{r:?}");
    }

    #[test]
    fn the_line_shown_has_its_credentials_redacted() {
        let d = tempfile::tempdir().unwrap();
        let line = "2026-12-03 10:00:01.001 UTC [27300] postgres@appdb [local] psql 6b1120f3.6a48 LOG:  AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,ALTER ROLE app PASSWORD 'hunter2-secret',<not logged>\n";
        let f = write(d.path(), "pg.log", &line.repeat(3));
        let r = check_file("pgaudit-stderr", &FormatOptions::default(), &f);
        let fail = r
            .iter()
            .find(|(l, _)| *l == Level::Fail)
            .unwrap_or_else(|| panic!("{r:?}"));
        assert!(fail.1.contains("ALTER ROLE app PASSWORD"), "{}", fail.1);
        assert!(!fail.1.contains("hunter2"), "{}", fail.1);
    }

    #[test]
    fn a_csvlog_read_as_stderr_is_named() {
        let d = tempfile::tempdir().unwrap();
        let csv = "2026-12-03 10:00:00.123 UTC,\"postgres\",\"appdb\",27300,\"[local]\",6b1120f3.6a48,1,\"SELECT\",2026-12-03 10:00:00 UTC,3/2,0,LOG,00000,\"AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        let f = write(d.path(), "pg.csv", &csv.repeat(4));
        let r = check_file("pgaudit-stderr", &FormatOptions::default(), &f);
        assert!(
            r.iter().any(|(l, m)| *l == Level::Fail
                && m.contains("pgaudit-csvlog")
                && m.contains("format: pgaudit-csvlog")),
            "{r:?}"
        );
        let det = detect(&f).unwrap();
        assert_eq!(det.formats[0].format, "pgaudit-csvlog", "{det:?}");
    }

    #[test]
    fn sample_keeps_first_and_last_records_only() {
        let d = tempfile::tempdir().unwrap();
        let line = "2026-12-03 10:00:00.000 UTC [1] LOG:  x\n";
        let mut text = String::from("2026-12-03 09:00:00.000 UTC [1] LOG:  first\n");
        while text.len() < 1 << 20 {
            text.push_str(line);
        }
        text.push_str("2026-12-03 11:00:00.000 UTC [1] LOG:  last\n");
        let f = write(d.path(), "big.log", &text);
        let s = read_sample(&f).unwrap();
        assert!(s.len() as u64 <= HEAD_BYTES + TAIL_BYTES);
        let s = String::from_utf8(s).unwrap();
        assert!(s.starts_with("2026-12-03 09:00:00.000 UTC [1] LOG:  first\n"));
        assert!(s.ends_with("LOG:  last\n"));
        assert!(
            s.lines().all(|l| l.starts_with("2026-12-03 ")),
            "lines are whole"
        );
    }

    #[test]
    fn conf_next_to_the_log_directory_is_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("log")).unwrap();
        write(
            d.path(),
            "postgresql.conf",
            "log_line_prefix = '%m [%p] '\n",
        );
        write(
            d.path(),
            "postgresql.auto.conf",
            "log_line_prefix = '%m [%p] %q%u@%d '\n",
        );
        let f = write(&d.path().join("log"), "postgresql.log", "x\n");
        let c = conf_prefix_near(&f).unwrap();
        assert_eq!(c.prefix, "%m [%p] %q%u@%d ");
        assert!(c.file.ends_with("postgresql.auto.conf"));
    }
}
