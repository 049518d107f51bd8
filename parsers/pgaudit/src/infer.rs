//! Which `log_line_prefix` wrote these lines? Bytes in, a prefix out.
//!
//! A wrong prefix fails quietly: lines either do not match (every record
//! `unparsed`) or, worse, a free-text escape swallows what the real prefix
//! has after it (`%d` = `postgres [local] psql 6b11.6a4`). So a prefix is
//! judged by how many lines it explains *cleanly* ([`fit`]): the line
//! matches, free-text values hold no space and nothing that looks like
//! another escape's output (`[local]`, `host(port)`, a session id), and an
//! `AUDIT:` line (always written by a client session) matches the whole
//! prefix, not only its part before `%q`.
//!
//! [`infer`] writes a candidate prefix for each line by reading its head
//! token by token (timestamps, `[pid]`, `user@db`, `key=value`, session ids
//! …), joins a short candidate with a longer one it starts (the part before
//! `%q`), adds a few common prefixes, and keeps the candidate with the most
//! cleanly explained lines. Pure: no I/O.

use std::collections::HashMap;

use crate::PgConfigError;
use crate::prefix::{LogLinePrefix, PrefixedLine, SEVERITIES};

/// Common `log_line_prefix` values, tried besides the ones read from lines.
pub const COMMON_PREFIXES: &[&str] = &[
    "%m [%p] ",
    "%m [%p] %q%u@%d ",
    "%t [%p] ",
    "%t [%p-%l] %q%u@%d ",
    "%m [%p-%l] %q%u@%d ",
    "%m [%p] %q%u@%d %r %a %c ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t:%r:%u@%d:[%p]:",
    "%m:%r:%u@%d:[%p]:",
    "< %m > ",
];

/// Lines looked at, at most (the caller's sample is usually smaller).
const MAX_LINES: usize = 5000;
/// Lines candidates are ranked on.
const RANK_LINES: usize = 1000;
/// Longest line considered (a prefix is short; a huge line is a statement).
const MAX_LINE: usize = 64 * 1024;

/// How well a prefix explains a sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixFit {
    /// Lines that start a log message (not empty, not a TAB continuation).
    pub lines: usize,
    /// Lines the prefix matches at all.
    pub matched: usize,
    /// Lines it matches with plausible values (see the module docs).
    pub clean: usize,
    /// The first line it does not explain cleanly, for messages.
    pub example: Option<String>,
}

impl PrefixFit {
    /// Every line explained cleanly.
    pub fn explains_all(&self) -> bool {
        self.lines > 0 && self.clean == self.lines
    }
}

/// A proposed prefix and how well it explains the sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixGuess {
    pub prefix: String,
    pub fit: PrefixFit,
}

/// The lines of `sample` that start a message.
fn message_lines(sample: &[u8]) -> impl Iterator<Item = &[u8]> {
    sample
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty() && l[0] != b'\t' && l.len() <= MAX_LINE)
        .take(MAX_LINES)
}

/// `prefix` with its `%q` removed: the whole prefix, as a session prints it.
fn without_q(prefix: &str) -> Option<String> {
    let mut out = String::with_capacity(prefix.len());
    let mut it = prefix.chars().peekable();
    let mut had_q = false;
    while let Some(c) = it.next() {
        if c == '%' {
            match it.next() {
                Some('q') => had_q = true,
                Some(n) => {
                    out.push('%');
                    out.push(n);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    had_q.then_some(out)
}

/// A value that `%u`, `%d`, `%a`… could not hold if the prefix were right.
fn looks_like_other_escape(word: &str) -> bool {
    let b = word.as_bytes();
    if word == "[local]" {
        return true;
    }
    if b.len() > 2 && b[0] == b'[' && b[b.len() - 1] == b']' {
        return b[1..b.len() - 1].iter().all(u8::is_ascii_digit);
    }
    if let Some(open) = word.find('(')
        && open > 0
        && word.ends_with(')')
        && word[open + 1..word.len() - 1].parse::<u16>().is_ok()
    {
        return true;
    }
    is_session_id(word)
}

/// `%c`: hex process start time `.` hex pid, with at least one letter or
/// long enough not to be a version number.
fn is_session_id(w: &str) -> bool {
    let Some((a, b)) = w.split_once('.') else {
        return false;
    };
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit());
    hex(a) && hex(b) && a.len() >= 6 && (w.bytes().any(|c| c.is_ascii_alphabetic()) || a.len() == 8)
}

fn clean_fields(l: &PrefixedLine<'_>) -> bool {
    let f = &l.fields;
    let strict = [
        f.user,
        f.database,
        f.remote_host,
        f.local_address,
        f.command_tag,
    ];
    if strict.iter().flatten().any(|v| v.contains(' ')) {
        return false;
    }
    if let Some(r) = f.remote_host_port
        && r != "[local]"
        && !looks_like_other_escape(r)
    {
        return false;
    }
    let loose = [f.application, f.backend_type];
    !loose
        .iter()
        .flatten()
        .chain(strict.iter().flatten())
        .any(|v| v.split(' ').any(looks_like_other_escape) && *v != "[local]")
}

/// How well `prefix` explains the message lines of `sample`.
pub fn fit(prefix: &str, sample: &[u8]) -> Result<PrefixFit, PgConfigError> {
    let p = LogLinePrefix::compile(prefix)?;
    let whole = without_q(prefix)
        .map(|w| LogLinePrefix::compile(&w))
        .transpose()?;
    let mut fit = PrefixFit::default();
    for line in message_lines(sample) {
        fit.lines += 1;
        let Some(m) = p.match_line(line) else {
            fit.example.get_or_insert_with(|| show(line));
            continue;
        };
        fit.matched += 1;
        let session = line[m.text_start..].starts_with(b"AUDIT: ");
        let m = match (&whole, session) {
            (Some(w), true) => w.match_line(line),
            _ => Some(m),
        };
        if m.as_ref().is_some_and(clean_fields) {
            fit.clean += 1;
        } else {
            fit.example.get_or_insert_with(|| show(line));
        }
    }
    Ok(fit)
}

fn show(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
    if line.len() > 300 { s + "…" } else { s }
}

/// Where the severity label (`LOG:  `…) of `line` starts: its head ends there.
fn head_len(line: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&line[from..], b":  ") {
        let colon = from + i;
        for sev in SEVERITIES {
            if let Some(start) = colon.checked_sub(sev.len())
                && &line[start..colon] == sev.as_bytes()
                && (start == 0 || !line[start - 1].is_ascii_alphanumeric())
            {
                return Some(start);
            }
        }
        from = colon + 1;
    }
    None
}

/// Timestamp `YYYY-MM-DD HH:MM:SS[.fff] ZONE` at the start of `s`: its
/// length and whether it has milliseconds.
fn timestamp(s: &[u8]) -> Option<(usize, bool)> {
    let d = |i: usize, n: usize| s.len() >= i + n && s[i..i + n].iter().all(u8::is_ascii_digit);
    let at = |i: usize, c: u8| s.get(i) == Some(&c);
    if !(d(0, 4)
        && at(4, b'-')
        && d(5, 2)
        && at(7, b'-')
        && d(8, 2)
        && at(10, b' ')
        && d(11, 2)
        && at(13, b':')
        && d(14, 2)
        && at(16, b':')
        && d(17, 2))
    {
        return None;
    }
    let mut i = 19;
    let millis = at(i, b'.');
    if millis {
        i += 1;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if at(i, b' ') {
        let z = i + 1;
        let mut e = z;
        while s
            .get(e)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'-')
        {
            e += 1;
        }
        if (e > z && s[z].is_ascii_alphabetic()) || (e > z + 1 && matches!(s[z], b'+' | b'-')) {
            i = e;
        }
    }
    Some((i, millis))
}

const SEPARATORS: &[u8] = b" []:,<>|;=\"'";

/// The escape a `key=` names, e.g. `user=` → `%u`.
fn escape_for_key(key: &str) -> Option<&'static str> {
    Some(match key.to_ascii_lowercase().as_str() {
        "user" | "usr" | "u" | "username" | "role" => "%u",
        "db" | "database" | "dbname" | "d" => "%d",
        "app" | "application" | "appname" | "application_name" | "a" => "%a",
        "client" | "host" | "remote" | "client_addr" | "h" => "%h",
        "pid" | "p" => "%p",
        "session" | "sess" | "session_id" | "c" => "%c",
        "line" | "l" => "%l",
        "xid" | "tx" | "txid" => "%x",
        "vxid" | "v" => "%v",
        "query_id" | "queryid" | "qid" => "%Q",
        "backend" | "backend_type" | "b" => "%b",
        "sqlstate" | "e" => "%e",
        "tag" | "cmd" | "command" | "i" => "%i",
        _ => return None,
    })
}

/// A candidate prefix read from one line's head, token by token.
fn synthesize(head: &str) -> Option<String> {
    let b = head.as_bytes();
    let mut out = String::new();
    let mut used: Vec<&'static str> = Vec::new();
    let mut key: Option<&str> = None;
    let mut i = 0;
    let push = |out: &mut String, used: &mut Vec<&'static str>, esc: &'static str| {
        out.push_str(esc);
        used.push(esc);
    };
    while i < b.len() {
        let rest = &head[i..];
        if let Some((n, millis)) = timestamp(rest.as_bytes()) {
            let esc = if used.iter().any(|e| *e == "%m" || *e == "%t") {
                "%s"
            } else if millis {
                "%m"
            } else {
                "%t"
            };
            push(&mut out, &mut used, esc);
            i += n;
            key = None;
            continue;
        }
        if let Some(v) = ["[local]", "[unknown]"]
            .into_iter()
            .find(|v| rest.starts_with(v))
        {
            let esc = match key.and_then(escape_for_key) {
                Some(e) => e,
                None if v == "[local]" => "%r",
                None => free_word(&used),
            };
            push(&mut out, &mut used, esc);
            i += v.len();
            key = None;
            continue;
        }
        if SEPARATORS.contains(&b[i]) {
            if b[i] != b'=' {
                key = None;
            }
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let end = rest
            .bytes()
            .position(|c| SEPARATORS.contains(&c))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        i += end;
        if b.get(i) == Some(&b'=') {
            // A literal key; its value follows.
            out.push_str(&word.replace('%', "%%"));
            key = Some(word);
            continue;
        }
        let prev = out.as_bytes().last().copied();
        let k = key.take();
        if let Some(esc) = k.and_then(escape_for_key) {
            push(&mut out, &mut used, esc);
            continue;
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        let has = |used: &Vec<&str>, e: &str| used.contains(&e);
        if digits(word) && word.len() == 5 && word.starts_with('0') {
            push(&mut out, &mut used, "%e");
        } else if digits(word) {
            let esc = if !has(&used, "%p") {
                "%p"
            } else if !has(&used, "%l") {
                "%l"
            } else {
                "%x"
            };
            push(&mut out, &mut used, esc);
        } else if let Some((a, c)) = word.split_once('-')
            && digits(a)
            && digits(c)
        {
            if has(&used, "%p") {
                push(&mut out, &mut used, "%l");
                out.push('-');
                out.push_str(c);
            } else {
                push(&mut out, &mut used, "%p");
                out.push('-');
                push(&mut out, &mut used, "%l");
            }
        } else if word.starts_with('-') && digits(&word[1..]) {
            push(&mut out, &mut used, "%Q");
        } else if let Some((a, f)) = word.split_once('.')
            && digits(a)
            && a.len() >= 9
            && digits(f)
        {
            push(&mut out, &mut used, "%n");
        } else if is_session_id(word) {
            push(&mut out, &mut used, "%c");
        } else if let Some((a, c)) = word.split_once('/')
            && digits(a)
            && digits(c)
        {
            push(&mut out, &mut used, "%v");
        } else if word.len() == 5
            && word
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && word.bytes().any(|c| c.is_ascii_digit())
            && prev != Some(b'[')
        {
            push(&mut out, &mut used, "%e");
        } else if word.ends_with(')') && word.contains('(') {
            push(&mut out, &mut used, "%r");
        } else if word.contains('@') && !has(&used, "%u") {
            push(&mut out, &mut used, "%u");
            out.push('@');
            push(&mut out, &mut used, "%d");
        } else if word.split('.').count() == 4 && word.split('.').all(digits) {
            push(&mut out, &mut used, "%h");
        } else {
            let esc = free_word(&used);
            push(&mut out, &mut used, esc);
        }
    }
    (!used.is_empty()).then_some(out)
}

/// The escape a bare word most likely is: user, then database, then application.
fn free_word(used: &[&'static str]) -> &'static str {
    ["%u", "%d", "%a", "%i"]
        .into_iter()
        .find(|e| !used.contains(e))
        .unwrap_or("%a")
}

/// The `log_line_prefix` that best explains the message lines of `sample`,
/// or `None` when no candidate explains any line cleanly (not a stderr log).
pub fn infer(sample: &[u8]) -> Option<PrefixGuess> {
    // Candidates are ranked on a bounded part of the sample (time per
    // candidate is per line); the winner's fit is then taken on all of it.
    let mut ranked_on = Vec::new();
    for line in message_lines(sample).take(RANK_LINES) {
        ranked_on.extend_from_slice(line);
        ranked_on.push(b'\n');
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in message_lines(&ranked_on) {
        let Some(n) = head_len(line) else { continue };
        let Ok(head) = std::str::from_utf8(&line[..n]) else {
            continue;
        };
        if let Some(c) = synthesize(head) {
            *counts.entry(c).or_default() += 1;
        }
    }
    let mut read: Vec<(String, usize)> = counts.into_iter().collect();
    read.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    read.truncate(8);
    // Non-session processes stop at `%q`: a short candidate that starts a
    // longer one is the part before `%q`.
    let mut joined = Vec::new();
    for (short, n) in &read {
        for (long, m) in &read {
            if long.len() > short.len() && long.starts_with(short.as_str()) {
                joined.push((format!("{short}%q{}", &long[short.len()..]), n + m));
            }
        }
    }
    read.extend(joined);
    read.extend(COMMON_PREFIXES.iter().map(|p| (p.to_string(), 0)));
    let mut best: Option<(PrefixGuess, usize)> = None;
    for (cand, seen) in read {
        let Ok(f) = fit(&cand, &ranked_on) else {
            continue;
        };
        if f.clean == 0 {
            continue;
        }
        let better = match &best {
            None => true,
            Some((b, bseen)) => {
                (f.clean, f.matched, seen, std::cmp::Reverse(cand.len()))
                    > (
                        b.fit.clean,
                        b.fit.matched,
                        *bseen,
                        std::cmp::Reverse(b.prefix.len()),
                    )
            }
        };
        if better {
            best = Some((
                PrefixGuess {
                    prefix: cand,
                    fit: f,
                },
                seen,
            ));
        }
    }
    best.and_then(|(g, _)| {
        let fit = fit(&g.prefix, sample).ok()?;
        Some(PrefixGuess { fit, ..g })
    })
}

/// The `log_line_prefix` a `postgresql.conf` or `postgresql.auto.conf` sets
/// (its last setting wins), unquoted.
pub fn conf_log_line_prefix(conf: &str) -> Option<String> {
    let mut found = None;
    for line in conf.lines() {
        let l = line.trim_start();
        let Some(rest) = l.strip_prefix("log_line_prefix") else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        if let Some(q) = rest.strip_prefix('\'') {
            let mut v = String::new();
            let mut it = q.chars().peekable();
            let mut closed = false;
            while let Some(c) = it.next() {
                match c {
                    '\'' if it.peek() == Some(&'\'') => {
                        it.next();
                        v.push('\'');
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    '\\' => match it.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some(o) => v.push(o),
                        None => {}
                    },
                    o => v.push(o),
                }
            }
            if closed {
                found = Some(v);
            }
        } else {
            let v: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '#')
                .collect();
            if !v.is_empty() {
                found = Some(v);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_PREFIX: &str = "%m [%p] %q%u@%d %r %a %c ";

    /// Lines as PostgreSQL 15 writes them under `README_PREFIX`.
    const README_LINES: &str = "\
2026-12-03 10:00:00.123 UTC [27208] LOG:  checkpoint starting: time
2026-12-03 10:00:01.001 UTC [27300] postgres@appdb [local] dba-console 6b1120f3.6a48 LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>
2026-12-03 10:00:01.002 UTC [27300] postgres@appdb [local] dba-console 6b1120f3.6a48 LOG:  AUDIT: SESSION,2,1,DDL,CREATE TABLE,,,\"create table t
\t(id int)\",<not logged>
2026-12-03 10:00:02.500 UTC [27301] app@appdb 10.0.0.7(53312) [unknown] 6b1120f4.6a4d LOG:  connection authorized: user=app database=appdb
2026-12-03 10:00:02.600 UTC [27301] app@appdb 10.0.0.7(53312) [unknown] 6b1120f4.6a4d LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,,,insert into t values (1),<not logged>
";

    #[test]
    fn the_readme_mismatch_is_not_explained_and_the_real_prefix_is_found() {
        // The finding: `%q%u@%d ` "matches", with `%d` swallowing the rest.
        let short = fit("%m [%p] %q%u@%d ", README_LINES.as_bytes()).unwrap();
        assert_eq!(short.lines, 5);
        assert_eq!(short.matched, 5);
        assert_eq!(short.clean, 1, "{short:?}");
        assert!(short.example.unwrap().contains("dba-console"));
        let g = infer(README_LINES.as_bytes()).unwrap();
        assert_eq!(g.prefix, README_PREFIX);
        assert!(g.fit.explains_all(), "{g:?}");
    }

    #[test]
    fn default_prefix_lines_are_not_explained_by_a_session_prefix() {
        let lines = "\
2026-12-03 10:00:00.123 UTC [27208] LOG:  database system is ready to accept connections
2026-12-03 10:00:01.001 UTC [27300] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>
2026-12-03 10:00:01.001 UTC [27300] ERROR:  relation \"x\" does not exist at character 15
2026-12-03 10:00:01.001 UTC [27300] STATEMENT:  select * from x;
";
        // Matches every line through its `%q` cut, but AUDIT lines come from
        // sessions, which would print user@db.
        let f = fit("%m [%p] %q%u@%d ", lines.as_bytes()).unwrap();
        assert_eq!((f.matched, f.clean), (4, 3));
        let g = infer(lines.as_bytes()).unwrap();
        assert_eq!(g.prefix, "%m [%p] ");
        assert!(g.fit.explains_all());
    }

    #[test]
    fn common_layouts_are_read_back() {
        for (prefix, heads) in [
            (
                "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
                [
                    "2026-12-03 10:00:00 UTC [41]: [1-1] user=,db=,app=,client= ",
                    "2026-12-03 10:00:00 UTC [42]: [3-1] user=bob,db=shop,app=psql,client=[local] ",
                ],
            ),
            (
                "%t:%r:%u@%d:[%p]:",
                [
                    "2026-12-03 10:00:00 UTC::@:[41]:",
                    "2026-12-03 10:00:00 UTC:10.1.2.3(5432):bob@shop:[42]:",
                ],
            ),
            (
                "%m [%p-%l] %q%u@%d ",
                [
                    "2026-12-03 10:00:00.001 CET [41-1] ",
                    "2026-12-03 10:00:00.001 CET [42-7] bob@shop ",
                ],
            ),
            (
                "%n %e %c %v %x ",
                [
                    "1764756000.123 00000 6b1120f3.6a48 3/12 0 ",
                    "1764756001.456 42P01 6b1120f3.6a49 4/1 77 ",
                ],
            ),
        ] {
            // The first head of each pair is a background process's.
            let sample = format!(
                "{}LOG:  checkpoint starting: time\n{}LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\n",
                heads[0], heads[1]
            );
            let g = infer(sample.as_bytes()).unwrap_or_else(|| panic!("{prefix}"));
            assert!(g.fit.explains_all(), "{prefix}: {g:?}");
            let own = fit(prefix, sample.as_bytes()).unwrap();
            assert!(own.explains_all(), "{prefix}: {own:?}");
        }
    }

    #[test]
    fn not_a_stderr_log() {
        assert_eq!(
            infer(b"{\"a\":1}\n20260101 10:00:00,host,u,h,1,2,QUERY,db,'x',0\n"),
            None
        );
        assert_eq!(infer(b""), None);
        assert_eq!(fit("%m [%p] ", b"").unwrap().lines, 0);
    }

    #[test]
    fn hostile_lines_do_not_hang() {
        let mut s = Vec::new();
        for _ in 0..50 {
            s.extend_from_slice(&[b'@'; 2000]);
            s.extend_from_slice(b" LOG:  x\n");
            s.extend_from_slice(&[b':', b' ', b' '].repeat(500));
            s.push(b'\n');
        }
        let t = std::time::Instant::now();
        let _ = infer(&s);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn conf_values() {
        let conf =
            "#log_line_prefix = '%m [%p] '\nlog_line_prefix = '%m [%p] %q%u@%d '  # Debian\n";
        assert_eq!(
            conf_log_line_prefix(conf).as_deref(),
            Some("%m [%p] %q%u@%d ")
        );
        let auto = "# Do not edit this file manually!\nlog_line_prefix = 'it''s %p: '\n";
        assert_eq!(conf_log_line_prefix(auto).as_deref(), Some("it's %p: "));
        assert_eq!(
            conf_log_line_prefix("log_line_prefix=%p\n").as_deref(),
            Some("%p")
        );
        assert_eq!(conf_log_line_prefix("log_min_messages = info\n"), None);
    }
}
