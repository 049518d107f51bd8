//! MySQL Enterprise Audit XML and Percona `audit_log` XML, both styles:
//! OLD (`<AUDIT_RECORD NAME="..." .../>`, fields as attributes) and NEW
//! (`<AUDIT_RECORD><NAME>...</NAME>...</AUDIT_RECORD>`, fields as child
//! elements). `<?xml ...?>`, `<AUDIT>` and `</AUDIT>` are structural (no
//! event); `</AUDIT>` is missing while the server has the file open.
//!
//! A minimal, allocation-free scanner (no DTDs, no namespaces, no CDATA: the
//! servers never write them). Nested children of a record (`<MAP>`,
//! `<CONNECTION_ATTRIBUTES>`) are skipped; leaf children and attributes are
//! entity-decoded (`&lt; &gt; &amp; &quot; &apos; &#N; &#xN;`).

use std::borrow::Cow;

use onetrail_event::{Engine, Event, Flush, RecordFormat, RecordPos};

use crate::MysqlOptions;
use crate::common::{self, Clock, MAX_RECORD};
use crate::generic::{self, Fields};
use crate::json::end_of_line_after;

const ENGINE: Engine = Engine::Mysql;
const OPEN: &[u8] = b"<AUDIT_RECORD";
const CLOSE: &[u8] = b"</AUDIT_RECORD>";

pub struct XmlAudit {
    name: &'static str,
    clock: Clock,
}

impl XmlAudit {
    pub fn new(name: &'static str, _opts: &MysqlOptions) -> Self {
        XmlAudit {
            name,
            clock: Clock::default(),
        }
    }
}

/// Decode XML entities; borrows when there are none.
pub(crate) fn decode(b: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(b'&', b).is_none() {
        return String::from_utf8_lossy(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'&', &b[i..]) {
        out.extend_from_slice(&b[i..i + p]);
        let j = i + p;
        let Some(semi) = memchr::memchr(b';', &b[j..]).filter(|s| *s <= 10) else {
            out.push(b'&');
            i = j + 1;
            continue;
        };
        let ent = &b[j + 1..j + semi];
        let rep: Option<char> = match ent {
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"amp" => Some('&'),
            b"quot" => Some('"'),
            b"apos" => Some('\''),
            [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32),
            [b'#', dec @ ..] => std::str::from_utf8(dec)
                .ok()
                .and_then(|d| d.parse::<u32>().ok())
                .and_then(char::from_u32),
            _ => None,
        };
        match rep {
            Some(c) => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                i = j + semi + 1;
            }
            None => {
                out.push(b'&');
                i = j + 1;
            }
        }
    }
    out.extend_from_slice(&b[i..]);
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// End (exclusive) of a start tag beginning at `b[0] == b'<'`: the `>` outside
/// attribute quotes. Returns (end, self_closing).
fn tag_end(b: &[u8]) -> Option<(usize, bool)> {
    let mut q: Option<u8> = None;
    for (i, &c) in b.iter().enumerate() {
        match q {
            Some(qc) if c == qc => q = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => q = Some(c),
                b'>' => return Some((i + 1, i > 0 && b[i - 1] == b'/')),
                _ => {}
            },
        }
    }
    None
}

/// Parse `NAME="value"` attributes of a start tag body.
fn attributes<'a>(mut b: &'a [u8], f: &mut Fields<'a>) {
    loop {
        b = b.trim_ascii_start();
        let Some(eq) = memchr::memchr(b'=', b) else {
            return;
        };
        let name = b[..eq].trim_ascii();
        let rest = b[eq + 1..].trim_ascii_start();
        let Some(&q @ (b'"' | b'\'')) = rest.first() else {
            return;
        };
        let Some(end) = memchr::memchr(q, &rest[1..]) else {
            return;
        };
        f.set(name, decode(&rest[1..1 + end]));
        b = &rest[end + 2..];
    }
}

/// Parse the child elements of a NEW-style record body.
fn children<'a>(body: &'a [u8], f: &mut Fields<'a>) {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'<', &body[i..]) {
        let s = i + p;
        let rest = &body[s..];
        if rest.starts_with(b"</") || rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = s + 1;
            continue;
        }
        let Some((te, self_closing)) = tag_end(rest) else {
            return;
        };
        let name_end = rest[1..te]
            .iter()
            .position(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')
            .map_or(te, |x| x + 1);
        let name = &rest[1..name_end];
        if self_closing {
            f.set(name, Cow::Borrowed(""));
            i = s + te;
            continue;
        }
        let content_start = s + te;
        let Some(lt) = memchr::memchr(b'<', &body[content_start..]) else {
            return;
        };
        let after = &body[content_start + lt..];
        if after.len() > 2 + name.len()
            && after.starts_with(b"</")
            && &after[2..2 + name.len()] == name
        {
            f.set(name, decode(&body[content_start..content_start + lt]));
            i = content_start + lt + 2 + name.len();
        } else {
            // nested element: skip to its closing tag
            let mut closing = Vec::with_capacity(name.len() + 3);
            closing.extend_from_slice(b"</");
            closing.extend_from_slice(name);
            closing.push(b'>');
            match memchr::memmem::find(&body[content_start..], &closing) {
                Some(e) => i = content_start + e + closing.len(),
                None => return,
            }
        }
    }
}

impl RecordFormat for XmlAudit {
    fn name(&self) -> &'static str {
        self.name
    }

    fn starts_record(&self, line: &[u8]) -> Option<bool> {
        onetrail_event::decide_on_line(line, 64, |l| {
            let t = l.trim_ascii_start();
            t.starts_with(OPEN) || t.starts_with(b"</AUDIT>")
        })
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        let i = buf.iter().position(|c| !c.is_ascii_whitespace());
        let Some(i) = i else {
            return match memchr::memrchr(b'\n', buf) {
                Some(p) => Some(p + 1),
                None => (flush == Flush::Final && !buf.is_empty()).then_some(buf.len()),
            };
        };
        // Blank lines before a record are a record of their own (no events),
        // as they are when they arrive before the record's bytes do: the
        // record's offset, and so its event ids, must not depend on that.
        if let Some(p) = memchr::memrchr(b'\n', &buf[..i]) {
            return Some(p + 1);
        }
        let rest = &buf[i..];
        if rest.starts_with(OPEN)
            && rest
                .get(OPEN.len())
                .is_some_and(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')
        {
            let Some((te, self_closing)) = tag_end(rest) else {
                return wait(buf, flush);
            };
            // a new record starting inside the start tag = broken record
            if let Some(p) = memchr::memmem::find(&rest[1..te], OPEN) {
                return Some(i + 1 + p);
            }
            if self_closing {
                return end_of_line_after(buf, i + te, flush);
            }
            let body = &rest[te..];
            let close = memchr::memmem::find(body, CLOSE);
            let next_open = memchr::memmem::find(body, OPEN);
            return match (close, next_open) {
                (Some(c), Some(n)) if n < c => Some(i + te + n), // broken record
                (Some(c), _) => end_of_line_after(buf, i + te + c + CLOSE.len(), flush),
                (None, Some(n)) => Some(i + te + n),
                (None, None) => wait(buf, flush),
            };
        }
        if rest.starts_with(b"<?")
            || rest.starts_with(b"<AUDIT>")
            || rest.starts_with(b"</AUDIT>")
            || rest.starts_with(b"<!")
        {
            return match memchr::memchr(b'>', rest) {
                Some(g) => end_of_line_after(buf, i + g + 1, flush),
                None => wait(buf, flush),
            };
        }
        common::frame_line(buf, flush)
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let body = record.trim_ascii();
        if body.is_empty()
            || body.starts_with(b"<?")
            || body == b"<AUDIT>"
            || body == b"</AUDIT>"
            || body.starts_with(b"<!")
        {
            return;
        }
        if !body.starts_with(OPEN) {
            out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                "not an <AUDIT_RECORD> element",
            ));
            return;
        }
        let Some((te, self_closing)) = tag_end(body) else {
            out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                "unterminated <AUDIT_RECORD> start tag",
            ));
            return;
        };
        let mut f = Fields::default();
        let attr_end = if self_closing { te - 2 } else { te - 1 };
        attributes(&body[OPEN.len()..attr_end.max(OPEN.len())], &mut f);
        if !self_closing {
            let Some(c) = memchr::memmem::rfind(body, CLOSE) else {
                out.push(common::unparsed(
                    ENGINE,
                    &self.clock,
                    pos,
                    record,
                    "missing </AUDIT_RECORD>",
                ));
                return;
            };
            if c < te {
                out.push(common::unparsed(
                    ENGINE,
                    &self.clock,
                    pos,
                    record,
                    "missing </AUDIT_RECORD>",
                ));
                return;
            }
            children(&body[te..c], &mut f);
        }
        if f.name.is_none() {
            out.push(common::unparsed(
                ENGINE,
                &self.clock,
                pos,
                record,
                "<AUDIT_RECORD> without NAME",
            ));
            return;
        }
        out.push(generic::build(&f, &mut self.clock, pos, ENGINE));
    }
}

fn wait(buf: &[u8], flush: Flush) -> Option<usize> {
    match flush {
        Flush::Final => Some(buf.len()),
        _ if buf.len() > MAX_RECORD => {
            Some(memchr::memchr(b'\n', buf).map_or(buf.len(), |p| p + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(
            decode(b"a &lt;b&gt; &amp; &quot;c&quot; &#10;&#x41;"),
            "a <b> & \"c\" \nA"
        );
        assert_eq!(decode(b"plain"), "plain");
        assert_eq!(decode(b"x & y"), "x & y");
    }
}
