//! csvlog (`log_destination = csvlog`): one RFC 4180 record per message,
//! string columns always quoted (so a record may span many physical lines),
//! NULL written as nothing between commas. 23 columns up to PG 12, 24 in
//! PG 13 (`backend_type`), 26 from PG 14 (`leader_pid`, `query_id`).

use std::borrow::Cow;

use memchr::{memchr, memchr2};
use onetrail_event::Flush;

use crate::message::{ServerMessage, pid_from_session_id};
use crate::time::LogTime;

/// End of the first record: the first `\n` outside quotes.
pub fn frame(buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    let mut in_quotes = false;
    let mut at = 0;
    while let Some(p) = memchr2(b'"', b'\n', &buf[at..]) {
        let i = at + p;
        if buf[i] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            return Some(i + 1);
        }
        at = i + 1;
    }
    (flush == Flush::Final).then_some(buf.len())
}

/// Split one CSV record (without its final newline) into fields:
/// `None` = NULL (nothing between commas), `Some("")` = quoted empty string.
pub fn fields(record: &str) -> Result<Vec<Option<Cow<'_, str>>>, String> {
    let b = record.as_bytes();
    let mut out = Vec::with_capacity(26);
    let mut at = 0;
    loop {
        if b.get(at) == Some(&b'"') {
            let mut owned: Option<String> = None;
            let mut seg = at + 1;
            let value_end;
            loop {
                let Some(q) = memchr(b'"', &b[seg..]) else {
                    return Err(format!("unterminated quoted field {}", out.len() + 1));
                };
                let q = seg + q;
                if b.get(q + 1) == Some(&b'"') {
                    owned
                        .get_or_insert_with(String::new)
                        .push_str(&record[seg..=q]);
                    seg = q + 2;
                } else {
                    value_end = q;
                    break;
                }
            }
            let v = match owned {
                Some(mut s) => {
                    s.push_str(&record[seg..value_end]);
                    Cow::Owned(s)
                }
                None => Cow::Borrowed(&record[seg..value_end]),
            };
            out.push(Some(v));
            at = value_end + 1;
            match b.get(at) {
                None => break,
                Some(b',') => at += 1,
                Some(_) => {
                    return Err(format!(
                        "text after the closing quote of field {}",
                        out.len()
                    ));
                }
            }
        } else {
            let end = memchr(b',', &b[at..]).map_or(b.len(), |p| at + p);
            let v = &record[at..end];
            out.push((!v.is_empty()).then_some(Cow::Borrowed(v)));
            if end == b.len() {
                break;
            }
            at = end + 1;
        }
    }
    Ok(out)
}

/// `host:port` (csvlog `connection_from`) or `[local]`.
pub fn split_host_port_colon(v: &str) -> (&str, Option<u16>) {
    if let Some(c) = v.rfind(':')
        && c > 0
        && let Ok(p) = v[c + 1..].parse::<u16>()
    {
        return (&v[..c], Some(p));
    }
    (v, None)
}

fn take<'a>(f: &mut [Option<Cow<'a, str>>], i: usize) -> Option<Cow<'a, str>> {
    f.get_mut(i)
        .and_then(Option::take)
        .filter(|v| !v.is_empty())
}

pub fn decode(record: &str) -> Result<ServerMessage<'_>, String> {
    let body = record.strip_suffix('\n').unwrap_or(record);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let mut f = fields(body)?;
    if !matches!(f.len(), 22..=26) || f.len() == 25 {
        return Err(format!(
            "csvlog record has {} columns, expected 23, 24 or 26",
            f.len()
        ));
    }
    // log_time is never quoted, so it borrows from the record.
    let time = match &f[0] {
        Some(Cow::Borrowed(t)) => LogTime::from_text(t),
        _ => LogTime::default(),
    };
    let mut msg = ServerMessage {
        time,
        ..ServerMessage::default()
    };
    msg.user = take(&mut f, 1);
    msg.database = take(&mut f, 2);
    msg.pid = f[3].as_deref().and_then(|p| p.parse().ok());
    if let Some(c) = take(&mut f, 4) {
        match c {
            Cow::Borrowed(c) => {
                let (h, p) = split_host_port_colon(c);
                msg.remote_host = Some(Cow::Borrowed(h));
                msg.remote_port = p;
            }
            Cow::Owned(c) => {
                let (h, p) = split_host_port_colon(&c);
                msg.remote_host = Some(Cow::Owned(h.to_string()));
                msg.remote_port = p;
            }
        }
    }
    msg.session_id = take(&mut f, 5);
    if msg.pid.is_none() {
        msg.pid = msg.session_id.as_deref().and_then(pid_from_session_id);
    }
    msg.session_line = f[6].as_deref().and_then(|v| v.parse().ok());
    msg.command_tag = take(&mut f, 7);
    msg.session_start = take(&mut f, 8);
    msg.vxid = take(&mut f, 9);
    msg.txid = f[10].as_deref().and_then(|v| v.parse().ok());
    msg.severity = take(&mut f, 11).unwrap_or(Cow::Borrowed(""));
    msg.sqlstate = take(&mut f, 12);
    msg.set_message(take(&mut f, 13).unwrap_or(Cow::Borrowed("")));
    msg.detail = take(&mut f, 14);
    msg.hint = take(&mut f, 15);
    msg.internal_query = take(&mut f, 16);
    msg.context = take(&mut f, 18);
    msg.statement = take(&mut f, 19);
    msg.location = take(&mut f, 21);
    msg.application = take(&mut f, 22).filter(|a| a != "[unknown]");
    msg.backend_type = take(&mut f, 23);
    msg.leader_pid = f
        .get(24)
        .and_then(|v| v.as_deref())
        .and_then(|v| v.parse().ok());
    msg.query_id = f
        .get(25)
        .and_then(|v| v.as_deref())
        .and_then(|v| v.parse().ok());
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_quoted_newlines() {
        let buf = b"a,\"x\ny\",b\nnext";
        assert_eq!(frame(buf, Flush::No), Some(10));
        assert_eq!(frame(b"a,\"open\n", Flush::No), None);
        assert_eq!(frame(b"a,\"open\n", Flush::Final), Some(8));
    }

    #[test]
    fn null_vs_empty_and_doubling() {
        let f = fields("1,,\"\",\"a \"\"b\"\"\",\"x,y\"").unwrap();
        assert_eq!(f.len(), 5);
        assert_eq!(f[1], None);
        assert_eq!(f[2].as_deref(), Some(""));
        assert_eq!(f[3].as_deref(), Some("a \"b\""));
        assert_eq!(f[4].as_deref(), Some("x,y"));
        assert!(fields("\"a\"b").is_err());
    }

    #[test]
    fn decodes_26_columns() {
        let rec = "2025-04-21 03:27:13.529 EDT,\"postgres\",\"template1\",40397,\"10.1.2.3:5555\",6805f351.9dcd,2,\"authentication\",2025-04-21 03:27:13 EDT,3/1,0,LOG,00000,\"connection authorized: user=postgres database=template1 application_name=psql\",,,,,,,,,\"\",\"client backend\",,0\n";
        let m = decode(rec).unwrap();
        assert_eq!(m.pid, Some(40397));
        assert_eq!(m.remote_host.as_deref(), Some("10.1.2.3"));
        assert_eq!(m.remote_port, Some(5555));
        assert_eq!(m.application, None);
        assert_eq!(m.backend_type.as_deref(), Some("client backend"));
        assert_eq!(m.query_id, Some(0));
        assert!(decode("a,b,c\n").unwrap_err().contains("3 columns"));
    }
}
