//! The plain-text server log (`log_destination = stderr`).
//!
//! A record is a primary line (`<prefix>SEVERITY:  message`), the lines that
//! continue it (PostgreSQL writes every newline inside a message as `\n\t`),
//! and the secondary lines of the same backend that follow it
//! (`<prefix>DETAIL:  …`, `HINT`, `QUERY`, `CONTEXT`, `LOCATION`,
//! `STATEMENT`), each with their own continuation lines. A line that matches
//! no prefix and is not a continuation is a record of its own (it becomes an
//! `unparsed` event).

use std::borrow::Cow;

use memchr::{memchr, memmem};
use onetrail_event::Flush;

use crate::message::{ServerMessage, known, known_cow, pid_from_session_id};
use crate::prefix::{LogLinePrefix, PrefixedLine, SECONDARY, split_host_port_paren};
use crate::time::LogTime;

/// Lines of `buf` from `at`: (start, end without `\n`, next line start) or
/// `None` when the line is not terminated.
fn line_at(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    memchr(b'\n', &buf[at..]).map(|p| (at + p, at + p + 1))
}

/// Quick check: does the line carry a secondary label (`DETAIL:  ` …)?
fn looks_secondary(line: &[u8]) -> bool {
    let Some(p) = memmem::find(line, b":  ") else {
        return false;
    };
    SECONDARY.iter().any(|l| line[..p].ends_with(l.as_bytes()))
}

fn backend_of(l: &PrefixedLine<'_>) -> Option<u32> {
    l.fields
        .pid
        .and_then(|p| p.parse().ok())
        .or_else(|| l.fields.session_id.and_then(pid_from_session_id))
}

pub fn frame(prefix: &LogLinePrefix, buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    let Some((first_end, mut next)) = line_at(buf, 0) else {
        return (flush == Flush::Final).then_some(buf.len());
    };
    // Backend of the primary line, computed only if a secondary line shows up.
    let mut primary_backend: Option<Option<u32>> = None;
    let mut primary_ok: Option<bool> = None;
    loop {
        if next == buf.len() {
            return (flush != Flush::No).then_some(next);
        }
        let rest = &buf[next..];
        let (end, after) = match line_at(buf, next) {
            Some(line) => line,
            // The input's last line is complete without its newline: judge it
            // like any other line, as when the bytes arrive in pieces.
            None if flush == Flush::Final => (buf.len(), buf.len()),
            None => {
                // A partial line: it continues this record if it is a TAB line
                // or (possibly) a secondary line; otherwise this record is over.
                if rest[0] == b'\t' {
                    return (flush == Flush::Quiet).then_some(next);
                }
                // If the partial line already shows a complete primary prefix,
                // the record is over; if we cannot tell yet, wait.
                if let Some(l) = prefix.match_line(rest)
                    && !SECONDARY.contains(&l.severity)
                {
                    return Some(next);
                }
                return (flush == Flush::Quiet).then_some(next);
            }
        };
        let line = &buf[next..end];
        if line.first() == Some(&b'\t') {
            next = after;
            continue;
        }
        if !looks_secondary(line) {
            return Some(next);
        }
        let Some(sec) = prefix.match_line(line) else {
            return Some(next);
        };
        if !SECONDARY.contains(&sec.severity) {
            return Some(next);
        }
        let first =
            *primary_ok.get_or_insert_with(|| prefix.match_line(&buf[..first_end]).is_some());
        if !first {
            return Some(next);
        }
        let pb = *primary_backend.get_or_insert_with(|| {
            prefix
                .match_line(&buf[..first_end])
                .and_then(|l| backend_of(&l))
        });
        let sb = backend_of(&sec);
        if pb.is_some() && sb.is_some() && pb != sb {
            return Some(next);
        }
        next = after;
    }
}

/// Join a logical line's text and its TAB continuation lines.
fn logical_text<'a>(first: &'a str, continuations: &[&'a str]) -> Cow<'a, str> {
    if continuations.is_empty() {
        return Cow::Borrowed(first);
    }
    let mut s = String::with_capacity(
        first.len() + continuations.iter().map(|c| c.len() + 1).sum::<usize>(),
    );
    s.push_str(first);
    for c in continuations {
        s.push('\n');
        s.push_str(c.strip_prefix('\t').unwrap_or(c));
    }
    Cow::Owned(s)
}

/// Strip a `verbose` SQLSTATE (`00000: `) from the start of a message.
fn split_sqlstate(text: &str) -> (Option<&str>, &str) {
    let b = text.as_bytes();
    if b.len() >= 7
        && b[..5].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        // Every SQLSTATE has a digit; this keeps `AUDIT: ` a message.
        && b[..5].iter().any(u8::is_ascii_digit)
        && &b[5..7] == b": "
    {
        return (Some(&text[..5]), &text[7..]);
    }
    (None, text)
}

/// Decode a framed record. `Err` carries the reason it is not a log record.
pub fn decode<'a>(prefix: &LogLinePrefix, record: &'a str) -> Result<ServerMessage<'a>, String> {
    let body = record.strip_suffix('\n').unwrap_or(record);
    let mut lines = body.split('\n');
    let first = lines.next().unwrap_or("");
    let Some(head) = prefix.match_line(first.as_bytes()) else {
        return Err("line does not match log_line_prefix".to_string());
    };
    let f = &head.fields;
    let time = if let Some(t) = f.time_millis.or(f.time_seconds) {
        LogTime::from_text(t)
    } else if let Some(n) = f.epoch {
        LogTime::from_epoch_text(n)
    } else {
        LogTime::default()
    };
    let mut msg = ServerMessage::<'a> {
        time,
        ..ServerMessage::default()
    };
    msg.pid = backend_of(&head);
    msg.user = known_cow(f.user);
    msg.database = known_cow(f.database);
    msg.application = known_cow(f.application);
    if let Some(r) = known(f.remote_host_port) {
        let (h, p) = split_host_port_paren(r);
        msg.remote_host = Some(Cow::Borrowed(h));
        msg.remote_port = p;
    } else if let Some(h) = known_cow(f.remote_host) {
        msg.remote_host = Some(h);
    }
    msg.session_id = f.session_id.map(Cow::Borrowed);
    msg.session_line = f.line_number.and_then(|v| v.parse().ok());
    msg.session_start = f.session_start.map(Cow::Borrowed);
    msg.command_tag = known_cow(f.command_tag);
    msg.vxid = f.vxid.map(Cow::Borrowed);
    msg.txid = f.xid.and_then(|v| v.parse().ok());
    msg.backend_type = known_cow(f.backend_type);
    msg.leader_pid = f.leader_pid.and_then(|v| v.parse().ok());
    msg.query_id = f.query_id.and_then(|v| v.parse().ok());
    msg.severity = Cow::Borrowed(head.severity);
    msg.sqlstate = f.sqlstate.map(Cow::Borrowed);

    // Group the remaining lines into logical lines.
    let mut logical: Vec<(&'a str, &'a str, Vec<&'a str>)> = Vec::new();
    let (vs, text) = split_sqlstate(&first[head.text_start..]);
    if let Some(code) = vs {
        msg.sqlstate = Some(Cow::Borrowed(code));
    }
    logical.push((head.severity, text, Vec::new()));
    for line in lines {
        if line.starts_with('\t') {
            if let Some(last) = logical.last_mut() {
                last.2.push(line);
            }
            continue;
        }
        let Some(sec) = prefix.match_line(line.as_bytes()) else {
            // Framing only groups matching lines; tolerate anything else as
            // continuation text.
            if let Some(last) = logical.last_mut() {
                last.2.push(line);
            }
            continue;
        };
        logical.push((sec.severity, &line[sec.text_start..], Vec::new()));
    }
    let mut it = logical.into_iter();
    if let Some((_, t, c)) = it.next() {
        msg.set_message(logical_text(t, &c));
    }
    for (label, t, c) in it {
        let v = Some(logical_text(t, &c));
        match label {
            "DETAIL" => msg.detail = v,
            "HINT" => msg.hint = v,
            "QUERY" => msg.internal_query = v,
            "CONTEXT" => msg.context = v,
            "LOCATION" => msg.location = v,
            "STATEMENT" => msg.statement = v,
            _ => {}
        }
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> LogLinePrefix {
        LogLinePrefix::compile("%m [%p] ").unwrap()
    }

    #[test]
    fn frames_continuations_and_secondaries() {
        let buf = b"2024-05-01 12:00:00.000 UTC [1] ERROR:  syntax error\n2024-05-01 12:00:00.000 UTC [1] STATEMENT:  selec\n\t1\n2024-05-01 12:00:01.000 UTC [1] LOG:  x\n";
        let n = frame(&p(), buf, Flush::No).unwrap();
        assert_eq!(&buf[n..n + 4], b"2024");
        assert!(buf[..n].ends_with(b"\t1\n"));
        // The last record's end is unknown until more arrives.
        assert_eq!(frame(&p(), &buf[n..], Flush::No), None);
        assert_eq!(frame(&p(), &buf[n..], Flush::Quiet), Some(buf.len() - n));
    }

    #[test]
    fn secondary_of_another_pid_is_its_own_record() {
        let buf = b"2024-05-01 12:00:00.000 UTC [1] ERROR:  e\n2024-05-01 12:00:00.000 UTC [2] STATEMENT:  s\nX\n";
        let n = frame(&p(), buf, Flush::No).unwrap();
        assert!(buf[n..].starts_with(b"2024-05-01 12:00:00.000 UTC [2]"));
    }

    #[test]
    fn partial_lines() {
        let buf = b"2024-05-01 12:00:00.000 UTC [1] LOG:  a\n2024-05-01 12:00:00.0";
        assert_eq!(frame(&p(), buf, Flush::No), None);
        assert_eq!(frame(&p(), buf, Flush::Quiet), Some(40));
        let buf =
            b"2024-05-01 12:00:00.000 UTC [1] LOG:  a\n2024-05-01 12:00:00.000 UTC [1] LOG:  b";
        assert_eq!(frame(&p(), buf, Flush::No), Some(40));
        assert_eq!(frame(&p(), b"abc", Flush::Quiet), None);
        assert_eq!(frame(&p(), b"abc", Flush::Final), Some(3));
    }

    #[test]
    fn decodes_verbose_multiline() {
        let rec = "2024-05-01 12:00:00.000 UTC [7] LOG:  00000: AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,\"CREATE TABLE t\n\t(id int)\",<none>\n2024-05-01 12:00:00.000 UTC [7] LOCATION:  log_audit_event, pgaudit.c:1\n";
        let m = decode(&p(), rec).unwrap();
        assert_eq!(m.sqlstate.as_deref(), Some("00000"));
        assert_eq!(
            m.audit.as_deref(),
            Some("SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,\"CREATE TABLE t\n(id int)\",<none>")
        );
        assert_eq!(m.location.as_deref(), Some("log_audit_event, pgaudit.c:1"));
        assert_eq!(m.pid, Some(7));
    }
}
