//! One server log message, whatever destination it was written to.
//!
//! Every format decodes its records into a [`ServerMessage`] that borrows
//! from the record bytes; the shared [`crate::mapper::Mapper`] turns messages
//! into events. Values that PostgreSQL prints as `[unknown]` or empty strings
//! are stored as `None`.

use std::borrow::Cow;

use crate::time::LogTime;

#[derive(Debug, Default, Clone)]
pub struct ServerMessage<'a> {
    pub time: LogTime<'a>,
    pub pid: Option<u32>,
    pub user: Option<Cow<'a, str>>,
    pub database: Option<Cow<'a, str>>,
    pub remote_host: Option<Cow<'a, str>>,
    pub remote_port: Option<u16>,
    pub application: Option<Cow<'a, str>>,
    pub session_id: Option<Cow<'a, str>>,
    pub session_line: Option<i64>,
    pub session_start: Option<Cow<'a, str>>,
    pub command_tag: Option<Cow<'a, str>>,
    pub vxid: Option<Cow<'a, str>>,
    pub txid: Option<i64>,
    pub backend_type: Option<Cow<'a, str>>,
    pub leader_pid: Option<i64>,
    pub query_id: Option<i64>,
    /// `LOG`, `ERROR`, … (as printed; may be translated in stderr/csvlog).
    pub severity: Cow<'a, str>,
    pub sqlstate: Option<Cow<'a, str>>,
    /// The primary message (for AUDIT records: the full `AUDIT: …` text, or
    /// only the payload where the destination strips `AUDIT: `).
    pub message: Cow<'a, str>,
    /// The pgaudit payload (text after `AUDIT: `) when this is an AUDIT record.
    pub audit: Option<Cow<'a, str>>,
    pub detail: Option<Cow<'a, str>>,
    pub hint: Option<Cow<'a, str>>,
    pub context: Option<Cow<'a, str>>,
    pub internal_query: Option<Cow<'a, str>>,
    /// The client statement (`STATEMENT:` line, csvlog `query`, jsonlog `statement`).
    pub statement: Option<Cow<'a, str>>,
    pub location: Option<Cow<'a, str>>,
}

impl<'a> ServerMessage<'a> {
    /// Set `message`, recognising `AUDIT: ` payloads.
    pub fn set_message(&mut self, message: Cow<'a, str>) {
        self.audit = audit_payload(&message);
        self.message = message;
    }
}

/// The text after `AUDIT: ` when `message` is a pgaudit record.
pub fn audit_payload<'a>(message: &Cow<'a, str>) -> Option<Cow<'a, str>> {
    const TAG: &str = "AUDIT: ";
    if !message.starts_with(TAG) {
        return None;
    }
    Some(match message {
        Cow::Borrowed(s) => Cow::Borrowed(&s[TAG.len()..]),
        Cow::Owned(s) => Cow::Owned(s[TAG.len()..].to_string()),
    })
}

/// `None` for empty values and PostgreSQL's `[unknown]`.
pub fn known(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty() && *s != "[unknown]")
}

/// Borrowed variant of [`known`] wrapped in a `Cow`.
pub fn known_cow(v: Option<&str>) -> Option<Cow<'_, str>> {
    known(v).map(Cow::Borrowed)
}

/// Session ids are `hex(start).hex(pid)`: the pid, when the line has no `%p`.
pub fn pid_from_session_id(sid: &str) -> Option<u32> {
    let (_, pid) = sid.split_once('.')?;
    u32::from_str_radix(pid, 16).ok()
}

/// Deserialize an optional JSON string borrowing from the input when it has
/// no escapes (serde does not borrow a `Cow` inside an `Option` by itself).
pub fn de_opt_cow<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(V)
        }
    }
    d.deserialize_option(V)
}
