//! jsonlog (`log_destination = jsonlog`, PostgreSQL 15+): one JSON object per
//! line. Keys with no value are omitted; unknown keys are ignored.

use std::borrow::Cow;

use memchr::memchr;
use onetrail_event::Flush;
use serde::Deserialize;

use crate::message::de_opt_cow;

use crate::message::ServerMessage;
use crate::time::LogTime;

pub fn frame(buf: &[u8], flush: Flush) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    match memchr(b'\n', buf) {
        Some(p) => Some(p + 1),
        None => (flush == Flush::Final).then_some(buf.len()),
    }
}

/// A number PostgreSQL may write as a JSON number or (other writers) a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Num<'a> {
    Int(i64),
    Uint(u64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl Num<'_> {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Num::Int(v) => Some(*v),
            // query_id is int64 in PostgreSQL; wrap like it does.
            Num::Uint(v) => Some(*v as i64),
            Num::Text(t) => t.parse().ok(),
        }
    }
}

#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    dbname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pid: Option<Num<'a>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    remote_host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    remote_port: Option<Num<'a>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    line_num: Option<Num<'a>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    ps: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    session_start: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    vxid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    txid: Option<Num<'a>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    error_severity: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    state_code: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    detail: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    hint: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    internal_query: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    context: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    statement: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    func_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    file_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    file_line_num: Option<Num<'a>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    application_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    backend_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    leader_pid: Option<Num<'a>>,
    #[serde(borrow)]
    query_id: Option<Num<'a>>,
}

fn nonempty(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    v.filter(|s| !s.is_empty() && s != "[unknown]")
}

pub fn decode(record: &str) -> Result<ServerMessage<'_>, String> {
    let body = record.trim_end_matches(['\n', '\r']);
    let r: JsonRecord<'_> =
        serde_json::from_str(body).map_err(|e| format!("invalid jsonlog record: {e}"))?;
    let time = match &r.timestamp {
        Some(Cow::Borrowed(t)) => LogTime::from_text(t),
        Some(Cow::Owned(_)) => LogTime {
            invalid: Some("(escaped timestamp)"),
            ..LogTime::default()
        },
        None => LogTime::default(),
    };
    let mut msg = ServerMessage {
        time,
        ..ServerMessage::default()
    };
    msg.pid = r
        .pid
        .as_ref()
        .and_then(Num::as_i64)
        .and_then(|p| u32::try_from(p).ok());
    msg.user = nonempty(r.user);
    msg.database = nonempty(r.dbname);
    msg.remote_host = nonempty(r.remote_host);
    msg.remote_port = r
        .remote_port
        .as_ref()
        .and_then(Num::as_i64)
        .and_then(|p| u16::try_from(p).ok());
    msg.session_id = nonempty(r.session_id);
    if msg.pid.is_none() {
        msg.pid = msg
            .session_id
            .as_deref()
            .and_then(crate::message::pid_from_session_id);
    }
    msg.session_line = r.line_num.as_ref().and_then(Num::as_i64);
    msg.command_tag = nonempty(r.ps);
    msg.session_start = nonempty(r.session_start);
    msg.vxid = nonempty(r.vxid);
    msg.txid = r.txid.as_ref().and_then(Num::as_i64);
    msg.severity = r.error_severity.unwrap_or(Cow::Borrowed(""));
    msg.sqlstate = nonempty(r.state_code);
    let Some(message) = r.message else {
        return Err("jsonlog record has no \"message\"".to_string());
    };
    msg.set_message(message);
    msg.detail = r.detail;
    msg.hint = r.hint;
    msg.internal_query = r.internal_query;
    msg.context = r.context;
    msg.statement = r.statement;
    msg.location = match (r.func_name, r.file_name) {
        (Some(f), Some(file)) => {
            let line = r.file_line_num.as_ref().and_then(Num::as_i64).unwrap_or(0);
            Some(Cow::Owned(format!("{f}, {file}:{line}")))
        }
        (None, Some(file)) => {
            let line = r.file_line_num.as_ref().and_then(Num::as_i64).unwrap_or(0);
            Some(Cow::Owned(format!("{file}:{line}")))
        }
        _ => None,
    };
    msg.application = nonempty(r.application_name);
    msg.backend_type = nonempty(r.backend_type);
    msg.leader_pid = r.leader_pid.as_ref().and_then(Num::as_i64);
    msg.query_id = r.query_id.as_ref().and_then(Num::as_i64);
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_audit_record() {
        let rec = r#"{"timestamp":"2024-05-01 12:00:00.123 UTC","user":"alice","dbname":"shop","pid":4242,"remote_host":"10.0.0.5","remote_port":52834,"session_id":"66321f00.1092","line_num":3,"ps":"SELECT","session_start":"2024-05-01 11:59:00 UTC","vxid":"3/7","txid":0,"error_severity":"LOG","message":"AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>","backend_type":"client backend","query_id":-4315717402452400000}"#;
        let m = decode(rec).unwrap();
        assert_eq!(m.pid, Some(4242));
        assert_eq!(m.remote_port, Some(52834));
        assert_eq!(
            m.audit.as_deref(),
            Some("SESSION,1,1,READ,SELECT,,,select 1,<none>")
        );
        assert_eq!(m.query_id, Some(-4315717402452400000));
        assert!(decode("{").unwrap_err().contains("invalid jsonlog"));
        assert!(decode("{}").unwrap_err().contains("message"));
    }
}
