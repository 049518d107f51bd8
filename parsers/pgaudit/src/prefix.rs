//! `log_line_prefix` compiled into a matcher for stderr log lines.
//!
//! The prefix is compiled once into literals and escapes. A line is matched
//! by locating a severity marker (`LOG:  `, `ERROR:  `, `DETAIL:  ` …) and
//! matching the prefix against the bytes before it, anchored at both ends,
//! with backtracking for free-text values (`%u`, `%d`, `%a`, …) that may
//! contain the prefix's own delimiters (`edge@user`). `%u` takes the longest
//! candidate first (user names like `edge@user` are common, database names
//! with `@` are not), the other free-text values the shortest. In non-session processes the output stops at
//! `%q`, so the part before `%q` is tried as well.

use memchr::memmem;

use crate::PgConfigError;

/// One `%` escape of `log_line_prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `%a`
    Application,
    /// `%u`
    User,
    /// `%d`
    Database,
    /// `%r` host(port)
    RemoteHostPort,
    /// `%h`
    RemoteHost,
    /// `%L`
    LocalAddress,
    /// `%b`
    BackendType,
    /// `%p`
    Pid,
    /// `%P`
    LeaderPid,
    /// `%t`
    TimeSeconds,
    /// `%m`
    TimeMillis,
    /// `%n`
    Epoch,
    /// `%i`
    CommandTag,
    /// `%e`
    SqlState,
    /// `%c`
    SessionId,
    /// `%l`
    LineNumber,
    /// `%s`
    SessionStart,
    /// `%v`
    Vxid,
    /// `%x`
    Xid,
    /// `%Q`
    QueryId,
}

impl Escape {
    fn from_char(c: char) -> Option<Escape> {
        Some(match c {
            'a' => Escape::Application,
            'u' => Escape::User,
            'd' => Escape::Database,
            'r' => Escape::RemoteHostPort,
            'h' => Escape::RemoteHost,
            'L' => Escape::LocalAddress,
            'b' => Escape::BackendType,
            'p' => Escape::Pid,
            'P' => Escape::LeaderPid,
            't' => Escape::TimeSeconds,
            'm' => Escape::TimeMillis,
            'n' => Escape::Epoch,
            'i' => Escape::CommandTag,
            'e' => Escape::SqlState,
            'c' => Escape::SessionId,
            'l' => Escape::LineNumber,
            's' => Escape::SessionStart,
            'v' => Escape::Vxid,
            'x' => Escape::Xid,
            'Q' => Escape::QueryId,
            _ => return None,
        })
    }

    fn free_text(self) -> bool {
        matches!(
            self,
            Escape::Application
                | Escape::User
                | Escape::Database
                | Escape::RemoteHostPort
                | Escape::RemoteHost
                | Escape::LocalAddress
                | Escape::BackendType
                | Escape::CommandTag
        )
    }

    /// May print nothing (non-session processes, no transaction, …).
    fn may_be_empty(self) -> bool {
        matches!(self, Escape::LeaderPid | Escape::Vxid | Escape::QueryId)
    }
}

/// `%-10u` pads after the value, `%10u` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pad {
    None,
    After,
    Before,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(Vec<u8>),
    Escape { esc: Escape, pad: Pad },
}

/// Severity words as printed before `:  ` (English; PostgreSQL translates
/// them when `lc_messages` is not English).
pub const SEVERITIES: &[&str] = &[
    "LOG",
    "ERROR",
    "FATAL",
    "PANIC",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
    "DETAIL",
    "HINT",
    "QUERY",
    "CONTEXT",
    "LOCATION",
    "STATEMENT",
];

/// Labels of secondary lines, which belong to the preceding primary line.
pub const SECONDARY: &[&str] = &[
    "DETAIL",
    "HINT",
    "QUERY",
    "CONTEXT",
    "LOCATION",
    "STATEMENT",
];

/// Values captured from one line's prefix.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PrefixFields<'a> {
    pub application: Option<&'a str>,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub remote_host_port: Option<&'a str>,
    pub remote_host: Option<&'a str>,
    pub local_address: Option<&'a str>,
    pub backend_type: Option<&'a str>,
    pub pid: Option<&'a str>,
    pub leader_pid: Option<&'a str>,
    pub time_seconds: Option<&'a str>,
    pub time_millis: Option<&'a str>,
    pub epoch: Option<&'a str>,
    pub command_tag: Option<&'a str>,
    pub sqlstate: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub line_number: Option<&'a str>,
    pub session_start: Option<&'a str>,
    pub vxid: Option<&'a str>,
    pub xid: Option<&'a str>,
    pub query_id: Option<&'a str>,
}

/// A matched line: prefix values, the severity label and the text after
/// `LABEL:  `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixedLine<'a> {
    pub fields: PrefixFields<'a>,
    pub severity: &'a str,
    /// Byte offset in the line where the text after `SEVERITY:  ` starts.
    pub text_start: usize,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone)]
pub struct LogLinePrefix {
    items: Vec<Item>,
    /// Index of the first item after `%q`, when the prefix has one.
    session_cut: Option<usize>,
    has_backend_key: bool,
    finder: memmem::Finder<'static>,
}

impl LogLinePrefix {
    /// Compile a `log_line_prefix` value (as `SHOW log_line_prefix` prints it).
    pub fn compile(prefix: &str) -> Result<LogLinePrefix, PgConfigError> {
        let mut items: Vec<Item> = Vec::new();
        let mut session_cut = None;
        let mut lit = Vec::new();
        let mut chars = prefix.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c != '%' {
                let mut buf = [0u8; 4];
                lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            // Optional padding: -?digits
            let mut pad = Pad::None;
            let mut minus = false;
            if let Some(&(_, '-')) = chars.peek() {
                chars.next();
                minus = true;
            }
            while let Some(&(_, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    if d != '0' || pad != Pad::None {
                        pad = if minus { Pad::After } else { Pad::Before };
                    }
                    chars.next();
                } else {
                    break;
                }
            }
            let Some((_, e)) = chars.next() else {
                return Err(PgConfigError::BadPrefix {
                    prefix: prefix.to_string(),
                    position: at,
                    reason: "ends with an incomplete % escape".to_string(),
                });
            };
            match e {
                '%' => lit.push(b'%'),
                'q' => {
                    if !lit.is_empty() {
                        items.push(Item::Literal(std::mem::take(&mut lit)));
                    }
                    if session_cut.is_none() {
                        session_cut = Some(items.len());
                    }
                }
                _ => {
                    let Some(esc) = Escape::from_char(e) else {
                        return Err(PgConfigError::BadPrefix {
                            prefix: prefix.to_string(),
                            position: at,
                            reason: format!("unknown escape %{e}"),
                        });
                    };
                    if !lit.is_empty() {
                        items.push(Item::Literal(std::mem::take(&mut lit)));
                    }
                    items.push(Item::Escape { esc, pad });
                }
            }
        }
        if !lit.is_empty() {
            items.push(Item::Literal(lit));
        }
        let has_backend_key = items.iter().any(|i| {
            matches!(
                i,
                Item::Escape {
                    esc: Escape::Pid | Escape::SessionId,
                    ..
                }
            )
        });
        Ok(LogLinePrefix {
            items,
            session_cut,
            has_backend_key,
            finder: memmem::Finder::new(b":  ").into_owned(),
        })
    }

    /// Whether lines carry a pid (`%p`) or a session id (`%c`), i.e. whether
    /// records can be tied to their backend.
    pub fn has_backend_key(&self) -> bool {
        self.has_backend_key
    }

    /// Match one physical line (without its `\n`).
    pub fn match_line<'a>(&self, line: &'a [u8]) -> Option<PrefixedLine<'a>> {
        let mut caps = [(0usize, 0usize); 48];
        if self.items.len() > caps.len() {
            return None;
        }
        for colon in self.finder.find_iter(line) {
            // Every severity word ends in an upper-case letter: most `:  `
            // inside message text is ruled out before comparing words.
            let Some(&last) = colon.checked_sub(1).map(|i| &line[i]) else {
                continue;
            };
            if !last.is_ascii_uppercase() && !last.is_ascii_digit() {
                continue;
            }
            for sev in SEVERITIES {
                let Some(start) = colon.checked_sub(sev.len()) else {
                    continue;
                };
                if sev.as_bytes()[sev.len() - 1] != last || &line[start..colon] != sev.as_bytes() {
                    continue;
                }
                let head = &line[..start];
                let full = self.items.len();
                let cuts = [Some(full), self.session_cut.filter(|&c| c != full)];
                for n in cuts.into_iter().flatten() {
                    if match_items(&self.items[..n], head, 0, 0, &mut caps) {
                        let head_str = std::str::from_utf8(head).ok()?;
                        return Some(PrefixedLine {
                            fields: self.fields(head_str, &caps, n),
                            severity: sev,
                            text_start: colon + 3,
                        });
                    }
                }
            }
        }
        None
    }

    fn fields<'a>(&self, head: &'a str, caps: &[(usize, usize)], n: usize) -> PrefixFields<'a> {
        let mut f = PrefixFields::default();
        for (idx, item) in self.items[..n].iter().enumerate() {
            let Item::Escape { esc, pad } = item else {
                continue;
            };
            let (s, e) = caps[idx];
            let mut v = &head[s..e];
            if *pad != Pad::None {
                v = v.trim_matches(' ');
            }
            let slot = match esc {
                Escape::Application => &mut f.application,
                Escape::User => &mut f.user,
                Escape::Database => &mut f.database,
                Escape::RemoteHostPort => &mut f.remote_host_port,
                Escape::RemoteHost => &mut f.remote_host,
                Escape::LocalAddress => &mut f.local_address,
                Escape::BackendType => &mut f.backend_type,
                Escape::Pid => &mut f.pid,
                Escape::LeaderPid => &mut f.leader_pid,
                Escape::TimeSeconds => &mut f.time_seconds,
                Escape::TimeMillis => &mut f.time_millis,
                Escape::Epoch => &mut f.epoch,
                Escape::CommandTag => &mut f.command_tag,
                Escape::SqlState => &mut f.sqlstate,
                Escape::SessionId => &mut f.session_id,
                Escape::LineNumber => &mut f.line_number,
                Escape::SessionStart => &mut f.session_start,
                Escape::Vxid => &mut f.vxid,
                Escape::Xid => &mut f.xid,
                Escape::QueryId => &mut f.query_id,
            };
            if !v.is_empty() && slot.is_none() {
                *slot = Some(v);
            }
        }
        f
    }
}

/// Anchored match of `items` against `s[pos..]`.
fn match_items(
    items: &[Item],
    s: &[u8],
    pos: usize,
    idx: usize,
    caps: &mut [(usize, usize)],
) -> bool {
    let Some(item) = items.get(idx) else {
        return pos == s.len();
    };
    match item {
        Item::Literal(l) => {
            s[pos..].starts_with(l) && match_items(items, s, pos + l.len(), idx + 1, caps)
        }
        Item::Escape { esc, .. } if esc.free_text() => {
            let rest = &s[pos..];
            match items.get(idx + 1) {
                None => {
                    caps[idx] = (pos, s.len());
                    true
                }
                Some(Item::Literal(next)) if *esc != Escape::User => {
                    // Shortest candidate first: cheap, and values rarely
                    // contain the literal that follows them. One-byte
                    // literals (` `, `@`, `]`: the common case) need no
                    // substring searcher.
                    let mut try_at = |p: usize| {
                        caps[idx] = (pos, pos + p);
                        match_items(items, s, pos + p, idx + 1, caps)
                    };
                    match next.as_slice() {
                        [b] => memchr::memchr_iter(*b, rest).any(&mut try_at),
                        _ => memmem::find_iter(rest, next).any(try_at),
                    }
                }
                Some(Item::Literal(next)) => {
                    // User names take the longest candidate first, so
                    // `edge@user@db` under `%u@%d` is user `edge@user`.
                    let mut end = rest.len();
                    let rfind = |h: &[u8]| match next.as_slice() {
                        [b] => memchr::memrchr(*b, h),
                        _ => memmem::rfind(h, next),
                    };
                    while let Some(p) = rfind(&rest[..end.min(rest.len())]) {
                        caps[idx] = (pos, pos + p);
                        if match_items(items, s, pos + p, idx + 1, caps) {
                            return true;
                        }
                        if p == 0 {
                            break;
                        }
                        end = p + next.len() - 1;
                    }
                    false
                }
                Some(Item::Escape { .. }) => (0..=rest.len()).rev().any(|len| {
                    caps[idx] = (pos, pos + len);
                    match_items(items, s, pos + len, idx + 1, caps)
                }),
            }
        }
        Item::Escape { esc, pad } => {
            let mut start = pos;
            if *pad == Pad::Before {
                while s.get(start) == Some(&b' ') {
                    start += 1;
                }
            }
            let mut ends: [Option<usize>; 2] = [typed_end(*esc, s, start), None];
            if esc.may_be_empty() && ends[0] != Some(start) {
                ends[1] = Some(start);
            }
            for mut end in ends.into_iter().flatten() {
                caps[idx] = (start, end);
                if *pad == Pad::After {
                    while s.get(end) == Some(&b' ') {
                        end += 1;
                    }
                }
                if match_items(items, s, end, idx + 1, caps) {
                    return true;
                }
            }
            false
        }
    }
}

fn run(s: &[u8], at: usize, f: impl Fn(u8) -> bool) -> usize {
    let mut i = at;
    while i < s.len() && f(s[i]) {
        i += 1;
    }
    i
}

fn digits_at(s: &[u8], at: usize, n: usize) -> bool {
    s.len() >= at + n && s[at..at + n].iter().all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD HH:MM:SS[.fff] ZONE`
fn timestamp_end(s: &[u8], at: usize, millis: bool) -> Option<usize> {
    let ok = digits_at(s, at, 4)
        && s.get(at + 4) == Some(&b'-')
        && digits_at(s, at + 5, 2)
        && s.get(at + 7) == Some(&b'-')
        && digits_at(s, at + 8, 2)
        && s.get(at + 10) == Some(&b' ')
        && digits_at(s, at + 11, 2)
        && s.get(at + 13) == Some(&b':')
        && digits_at(s, at + 14, 2)
        && s.get(at + 16) == Some(&b':')
        && digits_at(s, at + 17, 2);
    if !ok {
        return None;
    }
    let mut i = at + 19;
    if millis {
        if s.get(i) != Some(&b'.') {
            return None;
        }
        let e = run(s, i + 1, |c| c.is_ascii_digit());
        if e == i + 1 {
            return None;
        }
        i = e;
    }
    if s.get(i) != Some(&b' ') {
        return None;
    }
    let e = run(s, i + 1, |c| {
        c.is_ascii_alphanumeric() || c == b'+' || c == b'-'
    });
    (e > i + 1).then_some(e)
}

fn typed_end(esc: Escape, s: &[u8], at: usize) -> Option<usize> {
    let nonempty = |e: usize| (e > at).then_some(e);
    match esc {
        Escape::Pid | Escape::LeaderPid | Escape::LineNumber | Escape::Xid => {
            nonempty(run(s, at, |c| c.is_ascii_digit()))
        }
        Escape::QueryId => {
            let start = if s.get(at) == Some(&b'-') { at + 1 } else { at };
            let e = run(s, start, |c| c.is_ascii_digit());
            (e > start).then_some(e)
        }
        Escape::TimeMillis => timestamp_end(s, at, true),
        Escape::TimeSeconds | Escape::SessionStart => timestamp_end(s, at, false),
        Escape::Epoch => {
            let e = run(s, at, |c| c.is_ascii_digit());
            if e == at {
                return None;
            }
            if s.get(e) == Some(&b'.') {
                let f = run(s, e + 1, |c| c.is_ascii_digit());
                return (f > e + 1).then_some(f);
            }
            Some(e)
        }
        Escape::SqlState => {
            let e = run(s, at, |c| c.is_ascii_digit() || c.is_ascii_uppercase());
            (e == at + 5).then_some(e)
        }
        Escape::SessionId => {
            let e = run(s, at, |c| c.is_ascii_hexdigit());
            if e == at || s.get(e) != Some(&b'.') {
                return None;
            }
            let f = run(s, e + 1, |c| c.is_ascii_hexdigit());
            (f > e + 1).then_some(f)
        }
        Escape::Vxid => {
            let e = run(s, at, |c| c.is_ascii_digit() || c == b'-');
            if e == at || s.get(e) != Some(&b'/') {
                return None;
            }
            let f = run(s, e + 1, |c| c.is_ascii_digit());
            (f > e + 1).then_some(f)
        }
        _ => None,
    }
}

/// Split `%r` (`host(port)` or `[local]`) into host and port.
pub fn split_host_port_paren(v: &str) -> (&str, Option<u16>) {
    if let Some(open) = v.rfind('(')
        && v.ends_with(')')
        && let Ok(port) = v[open + 1..v.len() - 1].parse::<u16>()
    {
        return (&v[..open], Some(port));
    }
    (v, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'a>(prefix: &str, line: &'a str) -> Option<PrefixedLine<'a>> {
        LogLinePrefix::compile(prefix)
            .unwrap()
            .match_line(line.as_bytes())
    }

    #[test]
    fn default_prefix() {
        let l = m(
            "%m [%p] ",
            "2024-05-01 12:00:00.123 UTC [4242] LOG:  AUDIT: x",
        )
        .unwrap();
        assert_eq!(l.fields.time_millis, Some("2024-05-01 12:00:00.123 UTC"));
        assert_eq!(l.fields.pid, Some("4242"));
        assert_eq!(l.severity, "LOG");
        assert_eq!(
            &"2024-05-01 12:00:00.123 UTC [4242] LOG:  AUDIT: x"[l.text_start..],
            "AUDIT: x"
        );
    }

    #[test]
    fn debian_prefix_session_and_background() {
        let p = "%m [%p] %q%u@%d ";
        let l = m(p, "2024-05-01 12:00:00.123 CEST [77] alice@shop LOG:  x").unwrap();
        assert_eq!(
            (l.fields.user, l.fields.database),
            (Some("alice"), Some("shop"))
        );
        // Background process: output stops at %q.
        let l = m(
            p,
            "2024-05-01 12:00:00.123 CEST [12] LOG:  checkpoint starting: time",
        )
        .unwrap();
        assert_eq!(l.fields.pid, Some("12"));
        assert_eq!(l.fields.user, None);
        // Session with unknown user/db (before authentication).
        let l = m(p, "2024-05-01 12:00:00.123 UTC [90] [unknown]@[unknown] LOG:  connection received: host=[local]").unwrap();
        assert_eq!(l.fields.user, Some("[unknown]"));
    }

    #[test]
    fn rds_prefix() {
        let p = "%t:%r:%u@%d:[%p]:";
        let l = m(p, "2019-03-10 03:54:59 UTC:10.0.0.123(52834):postgres@tstdb:[20175]:ERROR:  column \"wrong\" does not exist at character 8").unwrap();
        assert_eq!(l.fields.remote_host_port, Some("10.0.0.123(52834)"));
        assert_eq!(l.fields.user, Some("postgres"));
        assert_eq!(l.fields.database, Some("tstdb"));
        assert_eq!(l.fields.pid, Some("20175"));
        assert_eq!(l.severity, "ERROR");
        let l = m(
            p,
            "2022-06-16 17:58:40 UTC::@:[7770]:LOG:  checkpoint starting: time",
        )
        .unwrap();
        assert_eq!(l.fields.user, None);
        assert_eq!(l.fields.remote_host_port, None);
        assert_eq!(l.fields.pid, Some("7770"));
    }

    #[test]
    fn delimiter_inside_user_name() {
        let p = "%t:%r:%u@%d:[%p]:";
        let l = m(
            p,
            "2019-03-10 03:54:59 UTC:10.0.0.1(5):edge@user@db:[1]:LOG:  x",
        )
        .unwrap();
        assert_eq!(l.fields.user, Some("edge@user"));
        assert_eq!(l.fields.database, Some("db"));
        let l = m(
            "%m [%p] %q%u@%d ",
            "2024-05-01 12:00:00.123 UTC [5] a b@c d LOG:  x",
        )
        .unwrap();
        assert_eq!(l.fields.user, Some("a b"));
        assert_eq!(l.fields.database, Some("c d"));
    }

    #[test]
    fn long_datadog_style_prefix() {
        let p = "%m:%r:%u@%d:[%p]:%l:%e:%s:%v:%x:%c:%q%a:";
        let line = "2025-09-15 19:05:58.892 UTC:10.0.216.218(36378):shopper_1@dbmorders_1:[20337]:395:00000:2025-09-15 19:02:57 UTC:384/39221:0:68c862e1.4f71:[unknown]:LOCATION:  exec_simple_query, postgres.c:1075";
        let l = m(p, line).unwrap();
        assert_eq!(l.severity, "LOCATION");
        assert_eq!(l.fields.line_number, Some("395"));
        assert_eq!(l.fields.sqlstate, Some("00000"));
        assert_eq!(l.fields.session_start, Some("2025-09-15 19:02:57 UTC"));
        assert_eq!(l.fields.vxid, Some("384/39221"));
        assert_eq!(l.fields.xid, Some("0"));
        assert_eq!(l.fields.session_id, Some("68c862e1.4f71"));
        assert_eq!(l.fields.application, Some("[unknown]"));
        // Background process: empty %r/%u/%d/%v, stop at %q.
        let l = m(p, "2025-09-15 19:05:58.892 UTC::@:[31]:7:00000:2025-09-15 19:00:00 UTC::0:68c862e0.1f:LOG:  checkpoint complete").unwrap();
        assert_eq!(l.fields.vxid, None);
        assert_eq!(l.fields.application, None);
        assert_eq!(l.fields.session_id, Some("68c862e0.1f"));
    }

    #[test]
    fn padding_and_percent() {
        let l = m("%-10u|%5p %% ", "bob       |   42 % LOG:  x").unwrap();
        assert_eq!(l.fields.user, Some("bob"));
        assert_eq!(l.fields.pid, Some("42"));
        let l = m("%n %b: ", "1609953688.123 client backend: WARNING:  y").unwrap();
        assert_eq!(l.fields.epoch, Some("1609953688.123"));
        assert_eq!(l.fields.backend_type, Some("client backend"));
        assert_eq!(l.severity, "WARNING");
    }

    #[test]
    fn no_match() {
        assert!(m("%m [%p] ", "garbage line").is_none());
        assert!(m("%m [%p] ", "2024-05-01 12:00:00.123 UTC [x] LOG:  y").is_none());
        assert!(m("%m [%p] ", "\tcontinued LOG:  y").is_none());
    }

    #[test]
    fn compile_errors_name_the_escape() {
        let e = LogLinePrefix::compile("%m [%p] %Z")
            .unwrap_err()
            .to_string();
        assert!(e.contains("%Z") && e.contains("8"), "{e}");
        let e = LogLinePrefix::compile("%m %").unwrap_err().to_string();
        assert!(e.contains("incomplete"), "{e}");
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port_paren("10.0.0.1(5432)"),
            ("10.0.0.1", Some(5432))
        );
        assert_eq!(split_host_port_paren("[local]"), ("[local]", None));
        assert_eq!(split_host_port_paren("::1(5)"), ("::1", Some(5)));
    }
}
