//! A hand-written JSON encoder for [`Event`], byte-for-byte identical to
//! `serde_json::to_writer(&mut out, &event)` (a test checks it on every field),
//! but about twice as fast: strings are scanned eight bytes at a time for the
//! few bytes JSON must escape and copied in runs, instead of byte by byte.
//! Event encoding is the largest single cost of `onetrail parse` and of the
//! sinks (see BENCHMARKS.md).

use serde_json::{Map, Value};

use crate::{Event, rfc3339_micros};

/// serde_json's escape table: 0 = copy as is; otherwise the escape letter
/// (`u` = `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Does any byte of `w` need escaping (`< 0x20`, `"` or `\`)? Exact.
#[inline(always)]
fn needs_escape(w: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    (below_space | has_zero(w ^ (LO * b'"' as u64)) | has_zero(w ^ (LO * b'\\' as u64))) != 0
}

/// Index of the first byte at or after `i` that may need escaping, moving
/// 8 bytes at a time; may stop early, never late. (An SSE2 version was no
/// faster end to end: BENCHMARKS.md.)
#[inline(always)]
fn skip_clean(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if needs_escape(w) {
            break;
        }
        i += 8;
    }
    i
}

/// Append `s` as a JSON string, escaped exactly as serde_json does.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        i = skip_clean(b, i);
        let end = (i + 8).min(b.len());
        while i < end {
            let e = ESCAPE[b[i] as usize];
            if e != 0 {
                out.extend_from_slice(&b[start..i]);
                match e {
                    b'u' => {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        out.extend_from_slice(&[
                            b'\\',
                            b'u',
                            b'0',
                            b'0',
                            HEX[(b[i] >> 4) as usize],
                            HEX[(b[i] & 0xf) as usize],
                        ]);
                    }
                    e => out.extend_from_slice(&[b'\\', e]),
                }
                start = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn write_opt_str(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_int(out: &mut Vec<u8>, n: impl itoa_like::Int) {
    n.write(out);
}

fn write_opt_int(out: &mut Vec<u8>, n: Option<impl itoa_like::Int>) {
    match n {
        Some(n) => write_int(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn write_str_list<S: AsRef<str>>(out: &mut Vec<u8>, v: &[S]) {
    out.push(b'[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, s.as_ref());
    }
    out.push(b']');
}

/// A `serde_json::Value`, as serde_json writes it (numbers are delegated).
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => write_bool(out, *b),
        Value::Number(n) => {
            // Integers (pids, ids, counts: nearly every number) without
            // serde; floats as serde_json writes them.
            if let Some(u) = n.as_u64() {
                write_int(out, u);
            } else if let Some(i) = n.as_i64() {
                write_int(out, i);
            } else {
                serde_json::to_writer(&mut *out, n).expect("numbers serialize");
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => write_map(out, m),
    }
}

/// A JSON object in the map's iteration order (as serde_json does).
pub fn write_map(out: &mut Vec<u8>, m: &Map<String, Value>) {
    out.push(b'{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

impl Event {
    /// Append the event's JSON (no newline): the same bytes as
    /// `serde_json::to_writer(out, self)`, faster.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Keep in step with the field order of `Event` (the
        // `write_json_equals_serde` test fails otherwise).
        let Event {
            id,
            time,
            engine,
            instance,
            category,
            action,
            outcome,
            error,
            db_user,
            actor,
            database,
            objects,
            statement,
            rows,
            client,
            session,
            context,
            source,
            extra,
            raw,
            parse_error,
            redacted,
            redacted_count,
            alert,
            sensitivity,
            compliance,
        } = self;
        out.extend_from_slice(b"{\"id\":");
        write_str(out, id);
        out.extend_from_slice(b",\"time\":");
        rfc3339_micros::write(out, time);
        out.extend_from_slice(b",\"engine\":\"");
        out.extend_from_slice(engine.as_str().as_bytes());
        out.extend_from_slice(b"\",\"instance\":");
        write_opt_str(out, instance);
        out.extend_from_slice(b",\"category\":\"");
        out.extend_from_slice(category.as_str().as_bytes());
        out.extend_from_slice(b"\",\"action\":");
        write_str(out, action);
        out.extend_from_slice(b",\"outcome\":\"");
        out.extend_from_slice(match outcome {
            crate::Outcome::Success => b"success".as_slice(),
            crate::Outcome::Failure => b"failure",
            crate::Outcome::Unknown => b"unknown",
        });
        out.extend_from_slice(b"\",\"error\":");
        match error {
            Some(e) => {
                out.extend_from_slice(b"{\"code\":");
                write_opt_str(out, &e.code);
                out.extend_from_slice(b",\"message\":");
                write_opt_str(out, &e.message);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"db_user\":");
        write_opt_str(out, db_user);
        out.extend_from_slice(b",\"actor\":");
        match actor {
            Some(a) => {
                out.extend_from_slice(b"{\"name\":");
                write_str(out, &a.name);
                out.extend_from_slice(b",\"via\":");
                write_str(out, &a.via);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"database\":");
        write_opt_str(out, database);
        out.extend_from_slice(b",\"objects\":[");
        for (i, o) in objects.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"type\":");
            write_opt_str(out, &o.kind);
            out.extend_from_slice(b",\"schema\":");
            write_opt_str(out, &o.schema);
            out.extend_from_slice(b",\"name\":");
            write_opt_str(out, &o.name);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"statement\":");
        write_opt_str(out, statement);
        out.extend_from_slice(b",\"rows\":");
        write_opt_int(out, *rows);
        out.extend_from_slice(b",\"client\":{\"ip\":");
        write_opt_str(out, &client.ip);
        out.extend_from_slice(b",\"port\":");
        write_opt_int(out, client.port);
        out.extend_from_slice(b",\"host\":");
        write_opt_str(out, &client.host);
        out.extend_from_slice(b",\"application\":");
        write_opt_str(out, &client.application);
        out.extend_from_slice(b"},\"session\":{\"id\":");
        write_opt_str(out, &session.id);
        out.extend_from_slice(b",\"statement_id\":");
        write_opt_int(out, session.statement_id);
        out.extend_from_slice(b",\"substatement_id\":");
        write_opt_int(out, session.substatement_id);
        out.extend_from_slice(b"},\"context\":");
        write_map(out, context);
        out.extend_from_slice(b",\"source\":{\"format\":");
        write_str(out, &source.format);
        out.extend_from_slice(b",\"path\":");
        write_opt_str(out, &source.path);
        out.extend_from_slice(b",\"offset\":");
        write_opt_int(out, source.offset);
        out.extend_from_slice(b"},\"extra\":");
        write_map(out, extra);
        out.extend_from_slice(b",\"raw\":");
        write_opt_str(out, raw);
        out.extend_from_slice(b",\"parse_error\":");
        write_opt_str(out, parse_error);
        out.extend_from_slice(b",\"redacted\":");
        write_bool(out, *redacted);
        out.extend_from_slice(b",\"redacted_count\":");
        write_int(out, *redacted_count);
        out.extend_from_slice(b",\"alert\":");
        write_bool(out, *alert);
        out.extend_from_slice(b",\"sensitivity\":");
        write_str_list(out, sensitivity);
        out.extend_from_slice(b",\"compliance\":");
        write_str_list(out, compliance);
        out.push(b'}');
    }
}

/// Decimal integers without the formatting machinery.
mod itoa_like {
    pub trait Int: Copy {
        fn write(self, out: &mut Vec<u8>);
    }

    fn unsigned(mut n: u64, out: &mut Vec<u8>) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&buf[i..]);
    }

    impl Int for u64 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(self, out);
        }
    }
    impl Int for u32 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(self as u64, out);
        }
    }
    impl Int for u16 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(self as u64, out);
        }
    }
    impl Int for i64 {
        fn write(self, out: &mut Vec<u8>) {
            if self < 0 {
                out.push(b'-');
            }
            unsigned(self.unsigned_abs(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Category, DbObject, Engine, ErrorInfo, Outcome, RecordPos};
    use chrono::TimeZone;

    fn full() -> Event {
        let pos = RecordPos {
            source_key: "fp:x",
            path: Some("/var/log/pg \"x\".log"),
            offset: 123_456,
            format: "pgaudit-stderr",
        };
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 6, 15, 54)
            .unwrap()
            + chrono::Duration::nanoseconds(358_123_999);
        let mut e = Event::new(Engine::Postgresql, t, &pos, 3);
        e.instance = Some("pg-1".into());
        e.category = Category::AuditConfig;
        e.action = "ALTER SYSTEM".into();
        e.outcome = Outcome::Failure;
        e.error = Some(ErrorInfo {
            code: Some("42501".into()),
            message: None,
        });
        e.db_user = Some("ap\tp".into());
        e.actor = Some(Actor {
            name: "Zoë".into(),
            via: "static_map".into(),
        });
        e.database = None;
        e.objects = vec![
            DbObject {
                kind: Some("table".into()),
                schema: Some("public".into()),
                name: Some("t\"1".into()),
            },
            DbObject::default(),
        ];
        e.statement = Some("SELECT '\\x' \u{1}\u{1f}\u{7f} \r\n\u{8}\u{c} — 日本語 🍮 \"q\" and a long tail of text".into());
        e.rows = Some(-5);
        e.client.ip = Some("10.0.0.1".into());
        e.client.port = Some(65535);
        e.session.statement_id = Some(i64::MAX);
        e.session.substatement_id = Some(i64::MIN);
        e.context.insert("env".into(), "prod".into());
        e.context.insert("n".into(), 1.5.into());
        e.extra.insert(
            "pg".into(),
            serde_json::json!({"a": [1, -2, 3.25, null, true, "x\ny"], "b": {}, "c": u64::MAX, "d": i64::MIN, "e": 0, "f": -0.0, "g": 1e300}),
        );
        e.raw = Some(String::new());
        e.parse_error = Some("bad \u{0} byte".into());
        e.redacted = true;
        e.redacted_count = 4_000_000_000;
        e.alert = true;
        e.sensitivity = vec!["pci".into(), "p\"hi".into()];
        e.compliance = vec![];
        e
    }

    #[test]
    fn write_json_equals_serde() {
        let mut events = vec![full()];
        let mut blank = full();
        blank.error = Some(ErrorInfo::default());
        blank.actor = None;
        blank.objects.clear();
        blank.rows = None;
        blank.source.path = None;
        blank.source.offset = None;
        blank.time = chrono::DateTime::UNIX_EPOCH;
        events.push(blank);
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "f",
        };
        events.push(Event::unparsed(
            Engine::Mariadb,
            chrono::Utc::now(),
            &pos,
            b"\xff\xfe raw",
            "e",
        ));
        for e in &events {
            let mut ours = Vec::new();
            e.write_json(&mut ours);
            let theirs = serde_json::to_vec(e).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap()
            );
        }
    }

    #[test]
    fn strings_escape_like_serde_for_every_byte() {
        let mut all = String::new();
        for c in 0u32..0x300 {
            if let Some(ch) = char::from_u32(c) {
                all.push(ch);
            }
        }
        // Every alignment of the 8-byte scan.
        for start in 0..16 {
            let s = &all[start..];
            let mut ours = Vec::new();
            write_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_vec(s).unwrap());
        }
        // One byte to escape at every position of a longer clean string.
        for pos in 0..40 {
            for ch in ['"', '\\', '\n', '\u{1f}', '\u{0}', '\u{7f}', 'é', ' '] {
                let mut t: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCD".into();
                t.insert(pos, ch);
                let mut ours = Vec::new();
                write_str(&mut ours, &t);
                assert_eq!(ours, serde_json::to_vec(&t).unwrap(), "{t:?}");
            }
        }
        for s in [
            "",
            "a",
            "\"",
            "\\\\",
            "12345678\n",
            "abcdefgh",
            "abcdefg\u{1}",
        ] {
            let mut ours = Vec::new();
            write_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
