//! Syslog message encoders: one event → one message, pure functions.
//!
//! Every message starts with an RFC 5424 header
//! (`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID`), then:
//!
//! * `rfc5424`: structured data `[onetrail@32473 id="…" engine="…" instance="…"]`
//!   and the event JSON (in the sink's `encoding`) as MSG;
//! * `cef`: no structured data (`-`), MSG `CEF:0|onetrail|onetrail|<version>|…`;
//! * `leef`: no structured data (`-`), MSG `LEEF:2.0|onetrail|onetrail|<version>|<action>|x09|…`
//!   (the attribute delimiter named explicitly: tab).
//!
//! MSG is sent without a BOM (RFC 5424 `MSG-ANY`). No message contains a line
//! feed (JSON escapes it, CEF escapes it as `\n`, LEEF replaces it by a
//! space), so `framing: newline` is safe. The field mapping is in
//! docs/encodings.md ("Syslog").
//!
//! Size: a message longer than `max_bytes` first has its `statement` (then
//! `raw`) cut and is flagged (`extra.truncated_for_sink: true` and
//! `extra.original_statement_bytes` in the JSON; `truncated="true"` in the
//! structured data; CEF `cn1=<bytes>`
//! `cn1Label=originalStatementBytes`; LEEF `truncated=true` and `originalStatementBytes`). If
//! that is not enough the message itself is cut at `max_bytes` (on a
//! character boundary); the flag is then already in it.
//!
//! The SD-ID uses the private enterprise number 32473 that RFC 5612 reserves
//! for documentation and examples: onetrail has no number of its own yet.

use std::fmt::Write as _;

use chrono::SecondsFormat;
use onetrail_event::{Category, Event, Outcome};
use serde_json::Value;

use crate::config::{Encoding, SyslogFormat};

/// The SD-ID of onetrail's structured data element.
pub const SD_ID: &str = "onetrail@32473";

/// The Java `SimpleDateFormat` pattern of LEEF's `devTime`.
pub const LEEF_DEV_TIME_FORMAT: &str = "MMM dd yyyy HH:mm:ss.SSS z";

/// What every message of a sink shares.
#[derive(Debug, Clone)]
pub struct Header {
    pub format: SyslogFormat,
    pub encoding: Encoding,
    /// Facility code (0-23; local4 = 20).
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    /// The message size limit in bytes.
    pub max_bytes: usize,
}

/// Syslog severity (RFC 5424 §6.2.1) of an event: a failure is `error` (3),
/// an alert `warning` (4), an `unparsed` or `agent` event `notice` (5),
/// anything else `informational` (6).
pub fn severity(ev: &Event) -> u8 {
    if ev.outcome == Outcome::Failure {
        3
    } else if ev.alert {
        4
    } else if matches!(ev.category, Category::Unparsed | Category::Agent) {
        5
    } else {
        6
    }
}

/// CEF severity (0-10; LEEF `sev` uses the same scale): alert 8, failure 6,
/// `unparsed`/`agent` 4, anything else 3.
pub fn cef_severity(ev: &Event) -> u8 {
    if ev.alert {
        8
    } else if ev.outcome == Outcome::Failure {
        6
    } else if matches!(ev.category, Category::Unparsed | Category::Agent) {
        4
    } else {
        3
    }
}

/// The message for `ev`, at most `h.max_bytes` long (see the module doc).
pub fn encode(ev: &Event, h: &Header) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    encode_unbounded(ev, h, false, &mut out);
    if out.len() <= h.max_bytes {
        return out;
    }
    // Cut the statement, then raw, flagged.
    let mut e = ev.clone();
    let original = ev.statement.as_ref().map_or(0, String::len);
    e.extra
        .insert("truncated_for_sink".into(), Value::Bool(true));
    e.extra
        .insert("original_statement_bytes".into(), original.into());
    for pick in [0, 1] {
        let field = if pick == 0 {
            &mut e.statement
        } else {
            &mut e.raw
        };
        let Some(text) = field.take() else { continue };
        *field = Some(String::new());
        out.clear();
        encode_unbounded(&e, h, true, &mut out);
        let base = out.len();
        if base >= h.max_bytes {
            continue; // not enough even without it: cut the next one too
        }
        // Escaping may grow a byte up to 6 (JSON `\u0000`); shrink until it fits.
        let mut allowed = (h.max_bytes - base) / 2;
        loop {
            let mut at = allowed.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let field = if pick == 0 {
                &mut e.statement
            } else {
                &mut e.raw
            };
            *field = Some(text[..at].to_string());
            out.clear();
            encode_unbounded(&e, h, true, &mut out);
            if out.len() <= h.max_bytes || at == 0 {
                break;
            }
            allowed = at / 2;
        }
        if out.len() <= h.max_bytes {
            return out;
        }
    }
    // Still too long (huge other fields): cut the message itself.
    let mut at = h.max_bytes.min(out.len());
    while at > 0 && (out[at - 1] & 0xC0) == 0x80 {
        at -= 1; // continuation bytes: back to the start of the character
    }
    if at > 0 && out[at - 1] >= 0xC0 {
        at -= 1; // a lead byte whose continuation was cut
    }
    out.truncate(at);
    out
}

fn encode_unbounded(ev: &Event, h: &Header, truncated: bool, out: &mut Vec<u8>) {
    let pri = u16::from(h.facility.min(23)) * 8 + u16::from(severity(ev));
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "<{pri}>1 {} {} {} {} {} ",
        ev.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        header_field(&h.hostname, 255),
        header_field(&h.app_name, 48),
        header_field(&h.procid, 128),
        header_field(ev.category.as_str(), 32),
    );
    match h.format {
        SyslogFormat::Rfc5424 => {
            let _ = write!(s, "[{SD_ID} id=\"{}\"", sd_value(&ev.id));
            let _ = write!(s, " engine=\"{}\"", sd_value(ev.engine.as_str()));
            if let Some(i) = &ev.instance {
                let _ = write!(s, " instance=\"{}\"", sd_value(i));
            }
            if truncated {
                s.push_str(" truncated=\"true\"");
            }
            s.push_str("] ");
            out.extend_from_slice(s.as_bytes());
            onetrail_encode::write_json(ev, h.encoding, out);
        }
        SyslogFormat::Cef => {
            s.push_str("- ");
            cef(ev, &mut s);
            out.extend_from_slice(s.as_bytes());
        }
        SyslogFormat::Leef => {
            s.push_str("- ");
            leef(ev, &mut s);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// An RFC 5424 header field: printable US-ASCII (33-126) only, others as
/// `_`, at most `max` characters, `-` (NILVALUE) when empty.
fn header_field(v: &str, max: usize) -> String {
    let s: String = v
        .chars()
        .take(max)
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3).
fn sd_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// A CEF (and LEEF) header field: `\` and `|` escaped with a backslash;
/// control characters (no line may break) as spaces.
fn cef_header(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// A CEF extension value: `\`, `=` escaped, CR/LF as `\r`/`\n`, other
/// control characters as spaces.
fn cef_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Unknown => "unknown",
    }
}

fn ticket(ev: &Event) -> Option<String> {
    ev.context.get("ticket").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn object(ev: &Event) -> Option<String> {
    onetrail_encode::main_object(ev).and_then(onetrail_encode::object_name)
}

/// The CEF extension pairs of an event, in order (see docs/encodings.md).
fn cef_pairs(ev: &Event) -> Vec<(&'static str, String)> {
    let mut p: Vec<(&'static str, String)> = vec![
        ("rt", ev.time.timestamp_millis().to_string()),
        ("externalId", ev.id.clone()),
        ("cat", ev.category.as_str().into()),
        ("act", ev.action.clone()),
        ("outcome", outcome_str(ev.outcome).into()),
    ];
    let mut opt = |k: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            p.push((k, v));
        }
    };
    opt("suser", ev.db_user.clone());
    opt("src", ev.client.ip.clone());
    opt("spt", ev.client.port.map(|x| x.to_string()));
    opt("shost", ev.client.host.clone());
    opt("dvchost", ev.instance.clone());
    opt("deviceProcessName", Some(ev.engine.as_str().into()));
    for (n, label, v) in [
        ("1", "database", ev.database.clone()),
        ("2", "statement", ev.statement.clone()),
        ("3", "actor", ev.actor.as_ref().map(|a| a.name.clone())),
        ("4", "ticket", ticket(ev)),
        ("5", "application", ev.client.application.clone()),
        ("6", "object", object(ev)),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            p.push((cs_key(n), v));
            p.push((cs_label(n), label.into()));
        }
    }
    if ev.extra.get("truncated_for_sink") == Some(&Value::Bool(true)) {
        let n = ev
            .extra
            .get("original_statement_bytes")
            .map(Value::to_string)
            .unwrap_or_default();
        p.push(("cn1", n));
        p.push(("cn1Label", "originalStatementBytes".into()));
    }
    p
}

fn cs_key(n: &str) -> &'static str {
    match n {
        "1" => "cs1",
        "2" => "cs2",
        "3" => "cs3",
        "4" => "cs4",
        "5" => "cs5",
        _ => "cs6",
    }
}

fn cs_label(n: &str) -> &'static str {
    match n {
        "1" => "cs1Label",
        "2" => "cs2Label",
        "3" => "cs3Label",
        "4" => "cs4Label",
        "5" => "cs5Label",
        _ => "cs6Label",
    }
}

/// `CEF:0|onetrail|onetrail|<version>|<action>|<category> <action>|<severity>|<extension>`.
pub fn cef(ev: &Event, out: &mut String) {
    out.push_str("CEF:0|onetrail|onetrail|");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push('|');
    cef_header(&ev.action, out);
    out.push('|');
    cef_header(&format!("{} {}", ev.category.as_str(), ev.action), out);
    let _ = write!(out, "|{}|", cef_severity(ev));
    for (i, (k, v)) in cef_pairs(ev).into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push('=');
        cef_value(&v, out);
    }
}

/// A LEEF attribute value: LEEF defines no escaping, so the delimiter (tab)
/// and every other control character become spaces.
fn leef_value(v: &str, out: &mut String) {
    out.extend(v.chars().map(|c| if c.is_control() { ' ' } else { c }));
}

/// `LEEF:2.0|onetrail|onetrail|<version>|<action>|x09|<attributes, tab-delimited>`.
pub fn leef(ev: &Event, out: &mut String) {
    out.push_str("LEEF:2.0|onetrail|onetrail|");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push('|');
    cef_header(&ev.action, out);
    out.push_str("|x09|");
    let mut p: Vec<(&str, String)> = vec![
        (
            "devTime",
            ev.time.format("%b %d %Y %H:%M:%S%.3f UTC").to_string(),
        ),
        ("devTimeFormat", LEEF_DEV_TIME_FORMAT.into()),
        ("cat", ev.category.as_str().into()),
        ("sev", cef_severity(ev).to_string()),
        ("eventId", ev.id.clone()),
        ("outcome", outcome_str(ev.outcome).into()),
        ("engine", ev.engine.as_str().into()),
    ];
    let mut opt = |k: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            p.push((k, v));
        }
    };
    opt("usrName", ev.db_user.clone());
    opt("src", ev.client.ip.clone());
    opt("srcPort", ev.client.port.map(|x| x.to_string()));
    opt("identSrc", ev.client.ip.clone());
    opt("identHostName", ev.client.host.clone());
    opt("instance", ev.instance.clone());
    opt("dbName", ev.database.clone());
    opt("actor", ev.actor.as_ref().map(|a| a.name.clone()));
    opt("ticket", ticket(ev));
    opt("application", ev.client.application.clone());
    opt("object", object(ev));
    opt("statement", ev.statement.clone());
    if ev.extra.get("truncated_for_sink") == Some(&Value::Bool(true)) {
        p.push(("truncated", "true".into()));
        p.push((
            "originalStatementBytes",
            ev.extra
                .get("original_statement_bytes")
                .map(Value::to_string)
                .unwrap_or_default(),
        ));
    }
    for (i, (k, v)) in p.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(k);
        out.push('=');
        leef_value(&v, out);
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
