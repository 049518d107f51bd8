//! pgauditlogtofile: pgaudit records (and, optionally, the connection
//! messages) written to a separate file. Three layouts exist; each record is
//! recognised by its first byte, so a file written across an upgrade reads
//! correctly:
//!
//! - `{` — JSON (1.7+): one object per line, all values strings, the pgaudit
//!   payload split into `custom.audit_type` … `custom.object_name` + `content`.
//! - `"` — CSV (1.7+): every value written with PostgreSQL's `escape_json`
//!   (`"…"` with backslash escapes, so one physical line per record), empty
//!   values bare; the payload split into 8 values (1.8 adds a nanosecond
//!   timestamp and 7 execution-time/memory columns at the end).
//! - a digit — raw (≤ 1.6, the layout of the 1.5.11 Debian ships for PG 15):
//!   `log_time,user,db,pid,host:port,session_id,line,ps,session_start,vxid,txid,sqlstate,`
//!   then the pgaudit payload pasted as is (pgaudit's own CSV quoting, so a
//!   quoted statement may span lines), then
//!   `,detail,hint,internal_query,internal_pos,context,debug_query,cursor_pos,location,application_name`.
//!   Nothing but the payload is quoted.
//!
//! pgaudit splits its payload with `strsep(",")` in the 1.7+ layouts, so an
//! object name containing a comma spreads over two values; joining the
//! values with `,` restores the payload exactly, which is what we parse.
//!
//! The file carries no severity: audit records are reported as `LOG`, the
//! intercepted login-failure messages as `FATAL`, other connection messages
//! as `LOG`.

use std::borrow::Cow;

use memchr::{memchr, memchr2};
use onetrail_event::Flush;
use serde::Deserialize;

use crate::message::de_opt_cow;

use crate::csvlog::split_host_port_colon;
use crate::mapper::auth_failure_code;
use crate::message::ServerMessage;
use crate::payload::fields_len;
use crate::time::LogTime;

const HEADER_FIELDS: usize = 12;

/// Byte offset just past the `n`th comma of `line`, if it has that many.
fn after_commas(line: &[u8], n: usize) -> Option<usize> {
    let mut at = 0;
    for _ in 0..n {
        at += memchr(b',', &line[at..])? + 1;
    }
    Some(at)
}

fn is_audit_start(b: &[u8]) -> bool {
    b.starts_with(b"SESSION,") || b.starts_with(b"OBJECT,")
}

/// Does a line start a raw-layout record (`YYYY-MM-DD HH:MM:SS` and at least
/// 12 commas), or a CSV/JSON one? Raw detail/context values may contain
/// newlines, so this is how a raw record's end is found.
pub(crate) fn starts_record(line: &[u8]) -> bool {
    match line.first() {
        Some(b'{' | b'"') => true,
        Some(c) if c.is_ascii_digit() => {
            let d = |i: usize| line.get(i).is_some_and(u8::is_ascii_digit);
            (0..4).all(d)
                && line.get(4) == Some(&b'-')
                && d(5)
                && d(6)
                && line.get(7) == Some(&b'-')
                && line.get(10) == Some(&b' ')
                && line.get(13) == Some(&b':')
                && memchr::memchr_iter(b',', line)
                    .nth(HEADER_FIELDS - 1)
                    .is_some()
        }
        _ => false,
    }
}

pub fn frame(buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    let line_end = memchr(b'\n', buf);
    if !buf[0].is_ascii_digit() {
        return match line_end {
            Some(p) => Some(p + 1),
            None => (flush == Flush::Final).then_some(buf.len()),
        };
    }
    let first_line = &buf[..line_end.unwrap_or(buf.len())];
    // Where the first physical line of the record ends: after the pgaudit
    // payload, which may span lines inside quotes.
    let mut search_from = 0;
    if let Some(payload_at) = after_commas(first_line, HEADER_FIELDS)
        && is_audit_start(&buf[payload_at..])
    {
        match fields_len(&buf[payload_at..], 9) {
            Some(len) => search_from = payload_at + len,
            None => return (flush == Flush::Final).then_some(buf.len()),
        }
    }
    let Some(p) = memchr(b'\n', &buf[search_from..]) else {
        return (flush == Flush::Final).then_some(buf.len());
    };
    let mut end = search_from + p + 1;
    // Raw detail/context values may continue on the following lines.
    loop {
        if end == buf.len() {
            return (flush != Flush::No).then_some(end);
        }
        let rest = &buf[end..];
        match memchr(b'\n', rest) {
            Some(q) => {
                if starts_record(&rest[..q]) {
                    return Some(end);
                }
                end += q + 1;
            }
            None => {
                // Checked before `Final`: a last line without its newline
                // starts a record just as it does when more bytes follow.
                if starts_record(rest) {
                    return Some(end);
                }
                if flush == Flush::Final {
                    return Some(buf.len());
                }
                return (flush == Flush::Quiet).then_some(end);
            }
        }
    }
}

pub fn decode(record: &str) -> Result<ServerMessage<'_>, String> {
    let body = record.strip_suffix('\n').unwrap_or(record);
    let body = body.strip_suffix('\r').unwrap_or(body);
    match body.as_bytes().first() {
        Some(b'{') => decode_json(body),
        Some(b'"') => decode_csv(body),
        Some(c) if c.is_ascii_digit() => decode_raw(body),
        _ => Err("not a pgauditlogtofile record".to_string()),
    }
}

fn severity_for(audit: bool, message: &str) -> &'static str {
    if !audit && auth_failure_code(message).is_some() {
        "FATAL"
    } else {
        "LOG"
    }
}

fn nz(c: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!c.is_empty()).then_some(c)
}

fn opt(v: &str) -> Option<Cow<'_, str>> {
    (!v.is_empty()).then_some(Cow::Borrowed(v))
}

fn set_header<'a>(msg: &mut ServerMessage<'a>, h: [Cow<'a, str>; 6]) {
    let [ts, user, db, pid, host, sid] = h;
    msg.time = match ts {
        Cow::Borrowed(t) => LogTime::from_text(t),
        Cow::Owned(_) => LogTime {
            invalid: Some("(escaped timestamp)"),
            ..LogTime::default()
        },
    };
    msg.user = (!user.is_empty()).then_some(user);
    msg.database = (!db.is_empty()).then_some(db);
    msg.pid = pid.parse().ok();
    if !host.is_empty() {
        let (h, p) = split_host_port_colon(&host);
        msg.remote_port = p;
        msg.remote_host = Some(match host {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..h.len()]),
            Cow::Owned(ref o) => Cow::Owned(o[..h.len()].to_string()),
        });
    }
    msg.session_id = (!sid.is_empty()).then_some(sid);
}

/// Split `…,debug_query,cursor_pos,location,application_name` from the
/// right: (what precedes debug_query, debug_query, location, application).
/// A verbose location (`func, file:line`) holds one comma of its own.
fn split_tail(s: &str) -> Result<(&str, &str, &str, &str), String> {
    let too_few = || "pgauditlogtofile record has too few trailing fields".to_string();
    let (r, app) = s.rsplit_once(',').ok_or_else(too_few)?;
    let (r, mut location) = r.rsplit_once(',').ok_or_else(too_few)?;
    let mut r = r;
    let is_file_line = |v: &str| {
        v.starts_with(' ')
            && v.rsplit_once(':')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
    };
    if is_file_line(location)
        && let Some((r2, func)) = r.rsplit_once(',')
    {
        location = &s[r2.len() + 1..r2.len() + 1 + func.len() + 1 + location.len()];
        r = r2;
    }
    let (r, _cursor_pos) = r.rsplit_once(',').ok_or_else(too_few)?;
    let (r, debug_query) = r.rsplit_once(',').ok_or_else(too_few)?;
    Ok((r, debug_query, location, app))
}

fn decode_raw(body: &str) -> Result<ServerMessage<'_>, String> {
    let b = body.as_bytes();
    let first_line_end = memchr(b'\n', b).unwrap_or(b.len());
    let payload_at = after_commas(&b[..first_line_end], HEADER_FIELDS)
        .ok_or_else(|| "pgauditlogtofile record has fewer than 12 header fields".to_string())?;
    let h: Vec<&str> = body[..payload_at - 1].split(',').collect();
    let mut msg = ServerMessage::default();
    set_header(
        &mut msg,
        [h[0], h[1], h[2], h[3], h[4], h[5]].map(Cow::Borrowed),
    );
    msg.session_line = h[6].parse().ok();
    msg.command_tag = opt(h[7]);
    msg.session_start = opt(h[8]);
    msg.vxid = opt(h[9]);
    msg.txid = h[10].parse().ok();
    msg.sqlstate = opt(h[11]);
    let rest = &body[payload_at..];
    let audit = is_audit_start(rest.as_bytes());
    // `head` = everything before debug_query (message … context).
    let head;
    if audit {
        let mut end = fields_len(rest.as_bytes(), 9)
            .ok_or_else(|| "unterminated quoted field in the AUDIT payload".to_string())?;
        // Optional ROWS (pgaudit.log_rows): digits right after PARAMETER.
        if rest.as_bytes().get(end) == Some(&b',') {
            let next = &rest[end + 1..];
            let n = next.find(',').unwrap_or(next.len());
            if n > 0 && next[..n].bytes().all(|c| c.is_ascii_digit()) {
                end += 1 + n;
            }
        }
        msg.audit = Some(Cow::Borrowed(&rest[..end]));
        msg.message = Cow::Borrowed(&rest[..end]);
        head = rest[end..].strip_prefix(',').unwrap_or("");
    } else {
        head = rest;
    }
    let (head, debug_query, location, app) = split_tail(head)?;
    msg.statement = opt(debug_query);
    msg.location = opt(location);
    msg.application = opt(app);
    if audit {
        // detail, hint, internal_query, internal_pos from the left; the
        // context (free text with commas and newlines) is the rest.
        let mut parts = head.splitn(5, ',');
        msg.detail = parts.next().and_then(opt);
        msg.hint = parts.next().and_then(opt);
        msg.internal_query = parts.next().and_then(opt);
        let _internal_pos = parts.next();
        msg.context = parts.next().and_then(opt);
    } else {
        // message, detail, hint, internal_query, internal_pos, context: the
        // message (free text with commas) is what remains on the left.
        let mut parts = head.rsplitn(6, ',');
        msg.context = parts.next().and_then(opt);
        let _internal_pos = parts.next();
        msg.internal_query = parts.next().and_then(opt);
        msg.hint = parts.next().and_then(opt);
        msg.detail = parts.next().and_then(opt);
        msg.message =
            Cow::Borrowed(parts.next().ok_or_else(|| {
                "pgauditlogtofile record has too few trailing fields".to_string()
            })?);
    }
    msg.severity = Cow::Borrowed(severity_for(audit, &msg.message));
    Ok(msg)
}

/// One value of the 1.7+ CSV layout: empty, or a JSON string literal.
fn json_value(s: &str, at: usize) -> Result<(Cow<'_, str>, usize), String> {
    let b = s.as_bytes();
    if b.get(at) != Some(&b'"') {
        let end = memchr(b',', &b[at..]).map_or(b.len(), |p| at + p);
        return Ok((Cow::Borrowed(&s[at..end]), end));
    }
    let mut i = at + 1;
    let mut escaped = false;
    loop {
        let p = memchr2(b'"', b'\\', &b[i..]).ok_or_else(|| "unterminated value".to_string())?;
        i += p;
        if b[i] == b'\\' {
            escaped = true;
            i += 2;
            if i > b.len() {
                return Err("unterminated value".to_string());
            }
            continue;
        }
        break;
    }
    let lit = &s[at..=i];
    let v = if escaped {
        Cow::Owned(
            serde_json::from_str::<String>(lit).map_err(|e| format!("bad escaped value: {e}"))?,
        )
    } else {
        Cow::Borrowed(&s[at + 1..i])
    };
    Ok((v, i + 1))
}

fn csv_values(body: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut out = Vec::with_capacity(34);
    let mut at = 0;
    loop {
        let (v, end) = json_value(body, at)?;
        out.push(v);
        match body.as_bytes().get(end) {
            None => return Ok(out),
            Some(b',') => at = end + 1,
            Some(_) => return Err(format!("text after value {}", out.len())),
        }
    }
}

fn decode_csv(body: &str) -> Result<ServerMessage<'_>, String> {
    let mut v = csv_values(body)?;
    let nanos = v[0]
        .split_once('.')
        .is_some_and(|(_, f)| f.bytes().take_while(u8::is_ascii_digit).count() == 9);
    let trailing = if nanos && v.len() >= 10 + 1 + 16 {
        16
    } else {
        9
    };
    if v.len() < 10 + 1 + trailing {
        return Err(format!(
            "pgauditlogtofile CSV record has {} values, expected at least {}",
            v.len(),
            11 + trailing
        ));
    }
    let n_msg = v.len() - 10 - trailing;
    let mut tail = v.split_off(10 + n_msg);
    let message_parts = v.split_off(10);
    let mut msg = ServerMessage::default();
    let mut it = v.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let h = [next(), next(), next(), next(), next(), next()];
    set_header(&mut msg, h);
    msg.command_tag = Some(next()).filter(|s| !s.is_empty());
    msg.vxid = Some(next()).filter(|s| !s.is_empty());
    msg.txid = next().parse().ok();
    msg.sqlstate = Some(next()).filter(|s| !s.is_empty());
    let audit = message_parts.len() >= 8
        && matches!(message_parts[0].as_ref(), "SESSION" | "OBJECT")
        && message_parts[1].bytes().all(|c| c.is_ascii_digit());
    let message: Cow<'_, str> = if message_parts.len() == 1 {
        message_parts.into_iter().next().unwrap_or_default()
    } else {
        Cow::Owned(message_parts.join(","))
    };
    if audit {
        msg.audit = Some(message.clone());
    }
    msg.message = message;
    let mut t = |i: usize| std::mem::take(&mut tail[i]);
    msg.detail = nz(t(0));
    msg.hint = nz(t(1));
    msg.internal_query = nz(t(2));
    msg.context = nz(t(4));
    msg.statement = nz(t(5));
    msg.location = nz(t(7));
    msg.application = nz(t(8));
    msg.severity = Cow::Borrowed(severity_for(audit, &msg.message));
    Ok(msg)
}

#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow", rename = "db.user")]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow", rename = "db.name")]
    database: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.process_id"
    )]
    pid: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "net.peer.name"
    )]
    host: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "net.peer.port"
    )]
    port: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.session_id"
    )]
    session_id: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.command_tag"
    )]
    command_tag: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.virtual_transaction_id"
    )]
    vxid: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.transaction_id"
    )]
    txid: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.state_code"
    )]
    sqlstate: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.audit_type"
    )]
    audit_type: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.statement_id"
    )]
    statement_id: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.substatement_id"
    )]
    substatement_id: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.class"
    )]
    class: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.command"
    )]
    command: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.object_type"
    )]
    object_type: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.object_name"
    )]
    object_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    content: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.detail_log"
    )]
    detail: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.err_hint"
    )]
    hint: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.internal_query"
    )]
    internal_query: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.context"
    )]
    context: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.debug_query"
    )]
    debug_query: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.source_funcname"
    )]
    funcname: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.source_filename"
    )]
    filename: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.source_linenum"
    )]
    linenum: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "de_opt_cow",
        rename = "custom.application_name"
    )]
    application: Option<Cow<'a, str>>,
}

fn decode_json(body: &str) -> Result<ServerMessage<'_>, String> {
    let r: JsonRecord<'_> =
        serde_json::from_str(body).map_err(|e| format!("invalid pgauditlogtofile JSON: {e}"))?;
    let mut msg = ServerMessage::default();
    let e = || Cow::Borrowed("");
    set_header(
        &mut msg,
        [
            r.timestamp.unwrap_or_else(e),
            r.user.unwrap_or_else(e),
            r.database.unwrap_or_else(e),
            r.pid.unwrap_or_else(e),
            Cow::Borrowed(""),
            r.session_id.unwrap_or_else(e),
        ],
    );
    msg.remote_host = r.host.filter(|h| !h.is_empty());
    msg.remote_port = r.port.and_then(|p| p.parse().ok());
    msg.command_tag = r.command_tag;
    msg.vxid = r.vxid;
    msg.txid = r.txid.and_then(|t| t.parse().ok());
    msg.sqlstate = r.sqlstate;
    let audit = r.audit_type.is_some() && r.statement_id.is_some();
    if audit {
        let parts = [
            r.audit_type,
            r.statement_id,
            r.substatement_id,
            r.class,
            r.command,
            r.object_type,
            r.object_name,
            r.content,
        ];
        let payload = parts
            .iter()
            .map(|p| p.as_deref().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",");
        msg.audit = Some(Cow::Owned(payload.clone()));
        msg.message = Cow::Owned(payload);
    } else {
        msg.message = r.content.unwrap_or_else(e);
    }
    msg.detail = r.detail;
    msg.hint = r.hint;
    msg.internal_query = r.internal_query;
    msg.context = r.context;
    msg.statement = r.debug_query;
    msg.location = match (r.funcname, r.filename, r.linenum) {
        (Some(f), Some(file), l) => {
            Some(Cow::Owned(format!("{f}, {file}:{}", l.unwrap_or_default())))
        }
        (None, Some(file), l) => Some(Cow::Owned(format!("{file}:{}", l.unwrap_or_default()))),
        _ => None,
    };
    msg.application = r.application.filter(|a| !a.is_empty());
    msg.severity = Cow::Borrowed(severity_for(audit, &msg.message));
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "2024-05-01 12:00:00.123 UTC,alice,shop,4242,10.0.0.5:52834,66321f00.1092,3,CREATE TABLE,2024-05-01 11:59:00 UTC,3/7,0,00000,SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,\"CREATE TABLE t\n(id int, v text)\",<none>,,,,,,,,,psql\n";

    #[test]
    fn raw_frames_quoted_newlines() {
        // The end of the last record is proven only by the next one.
        assert_eq!(frame(RAW.as_bytes(), Flush::No), None);
        assert_eq!(frame(RAW.as_bytes(), Flush::Quiet), Some(RAW.len()));
        let two = format!("{RAW}{RAW}");
        assert_eq!(frame(two.as_bytes(), Flush::No), Some(RAW.len()));
        assert_eq!(frame(&RAW.as_bytes()[..120], Flush::Quiet), None);
        let m = decode(RAW).unwrap();
        assert_eq!(m.pid, Some(4242));
        assert_eq!(m.remote_host.as_deref(), Some("10.0.0.5"));
        assert_eq!(m.remote_port, Some(52834));
        assert_eq!(
            m.audit.as_deref(),
            Some(
                "SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,\"CREATE TABLE t\n(id int, v text)\",<none>"
            )
        );
        assert_eq!(m.application.as_deref(), Some("psql"));
        assert_eq!(m.session_line, Some(3));
    }

    #[test]
    fn raw_rows_and_verbose_location() {
        let rec = "2024-05-01 12:00:00.123 UTC,alice,shop,4242,[local],66321f00.1092,3,SELECT,2024-05-01 11:59:00 UTC,3/7,0,00000,SESSION,2,1,READ,SELECT,,,select 1,<none>,1,,,,,,,,log_audit_event, pgaudit.c:2010,app\n";
        let m = decode(rec).unwrap();
        assert_eq!(
            m.audit.as_deref(),
            Some("SESSION,2,1,READ,SELECT,,,select 1,<none>,1")
        );
        assert_eq!(
            m.location.as_deref(),
            Some("log_audit_event, pgaudit.c:2010")
        );
        assert_eq!(m.application.as_deref(), Some("app"));
    }

    #[test]
    fn raw_context_spans_lines_and_has_commas() {
        let rec = "2024-05-01 12:00:00.123 UTC,alice,shop,4242,[local],66321f00.1092,3,DO,2024-05-01 11:59:00 UTC,3/7,0,00000,SESSION,2,2,WRITE,INSERT,TABLE,public.t,\"INSERT INTO t VALUES (1, 2)\",<none>,1,,,,,SQL statement \"INSERT INTO t VALUES (1, 2)\"\nPL/pgSQL function inline_code_block line 3 at SQL statement,,,,psql\n";
        let next = "2024-05-01 12:00:00.124 UTC,alice,shop,4242,[local],66321f00.1092,4,idle,2024-05-01 11:59:00 UTC,,0,00000,disconnection: session time: 0:00:01.000 user=alice database=shop host=[local],,,,,,,,,psql\n";
        let buf = format!("{rec}{next}");
        assert_eq!(frame(buf.as_bytes(), Flush::No), Some(rec.len()));
        let m = decode(rec).unwrap();
        assert_eq!(
            m.context.as_deref(),
            Some(
                "SQL statement \"INSERT INTO t VALUES (1, 2)\"\nPL/pgSQL function inline_code_block line 3 at SQL statement"
            )
        );
        assert_eq!(m.application.as_deref(), Some("psql"));
        assert_eq!(
            m.audit.as_deref().map(|a| a.ends_with("<none>,1")),
            Some(true)
        );
    }

    #[test]
    fn raw_connection_message_with_commas() {
        let rec = "2024-05-01 12:00:00.123 UTC,alice,shop,4242,10.0.0.5:52834,66321f00.1092,2,authentication,2024-05-01 11:59:00 UTC,3/1,0,00000,connection authorized: user=alice database=shop application_name=psql SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256),,,,,,,,,psql\n";
        let m = decode(rec).unwrap();
        assert!(m.audit.is_none());
        assert_eq!(
            m.message,
            "connection authorized: user=alice database=shop application_name=psql SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)"
        );
        assert_eq!(m.application.as_deref(), Some("psql"));
        assert_eq!(m.severity, "LOG");
    }

    #[test]
    fn csv_layout_rejoins_split_payload() {
        let rec = r#""2025-08-01 10:00:00.123456789 UTC","alice","shop","4242","10.0.0.5:52834","688c90a0.1092","SELECT","3/7","0","00000","SESSION","3","1","FUNCTION","EXECUTE","FUNCTION","\"public.f(integer","integer)\",select f(1\n, 2),<none>",,,,,,,,,"psql",,,,,,,"#;
        let m = decode(rec).unwrap();
        assert_eq!(
            m.audit.as_deref(),
            Some(
                "SESSION,3,1,FUNCTION,EXECUTE,FUNCTION,\"public.f(integer,integer)\",select f(1\n, 2),<none>"
            )
        );
        assert_eq!(m.application.as_deref(), Some("psql"));
        assert_eq!(m.remote_port, Some(52834));
    }

    #[test]
    fn json_layout() {
        let rec = r#"{"log.source":"pgauditlogtofile","severity":"audit","timestamp":"2025-08-01 10:00:00.123456789 UTC","db.user":"alice","db.name":"shop","custom.process_id":"4242","net.peer.name":"10.0.0.5","net.peer.port":"52834","custom.session_id":"688c90a0.1092","custom.command_tag":"SELECT","custom.transaction_id":"0","custom.state_code":"00000","custom.audit_type":"SESSION","custom.statement_id":"4","custom.substatement_id":"1","custom.class":"READ","custom.command":"SELECT","custom.object_type":"","custom.object_name":"","content":"select 1,<none>"}"#;
        let m = decode(rec).unwrap();
        assert_eq!(
            m.audit.as_deref(),
            Some("SESSION,4,1,READ,SELECT,,,select 1,<none>")
        );
        assert_eq!(m.pid, Some(4242));
    }
}
