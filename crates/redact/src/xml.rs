//! Just enough XML to redact the values of audit records without touching the
//! markup: where text nodes, attribute values, CDATA sections and comments
//! are, and the decoding of character references in the first two.

use std::borrow::Cow;

/// A redactable piece of an XML text (byte range).
pub(crate) enum Segment {
    /// Text node or attribute value: character references are decoded.
    Escaped(usize, usize),
    /// CDATA section or comment body: taken as it is.
    Raw(usize, usize),
}

/// Call `f` with every value segment of `b`, in order. Never fails: an
/// unterminated construct runs to the end of the text.
pub(crate) fn for_each_value(b: &[u8], mut f: impl FnMut(Segment)) {
    let n = b.len();
    let find =
        |from: usize, pat: &[u8]| memchr::memmem::find(&b[from.min(n)..], pat).map(|p| from + p);
    let mut i = 0;
    while i < n {
        let Some(lt) = memchr::memchr(b'<', &b[i..]).map(|p| i + p) else {
            f(Segment::Escaped(i, n));
            return;
        };
        if lt > i {
            f(Segment::Escaped(i, lt));
        }
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            let end = find(lt + 4, b"-->").unwrap_or(n);
            f(Segment::Raw(lt + 4, end));
            i = (end + 3).min(n);
        } else if rest.starts_with(b"<![CDATA[") {
            let end = find(lt + 9, b"]]>").unwrap_or(n);
            f(Segment::Raw(lt + 9, end));
            i = (end + 3).min(n);
        } else if rest.starts_with(b"<?") {
            i = find(lt + 2, b"?>").map_or(n, |e| e + 2);
        } else {
            // Start tag, end tag or declaration: attribute values are quoted.
            let mut j = lt + 1;
            loop {
                let Some(p) = memchr::memchr3(b'>', b'"', b'\'', &b[j.min(n)..]) else {
                    i = n;
                    break;
                };
                let c = j + p;
                if b[c] == b'>' {
                    i = c + 1;
                    break;
                }
                let close = memchr::memchr(b[c], &b[c + 1..]).map_or(n, |q| c + 1 + q);
                f(Segment::Escaped(c + 1, close));
                j = close + 1;
                if j >= n {
                    i = n;
                    break;
                }
            }
        }
    }
}

/// Decoded text of an escaped segment, with the way back to the XML text.
pub(crate) struct Unescaped<'a> {
    pub text: Cow<'a, [u8]>,
    base: usize,
    /// Per reference: (decoded start, source start, decoded end, source end).
    refs: Vec<(usize, usize, usize, usize)>,
}

impl Unescaped<'_> {
    /// Offset in the XML text of decoded offset `i` (a reference's start for
    /// any byte it decodes to).
    pub fn map(&self, i: usize) -> usize {
        let k = self.refs.partition_point(|r| r.0 <= i);
        if k == 0 {
            return self.base + i;
        }
        let (_, ss, de, se) = self.refs[k - 1];
        if i < de {
            self.base + ss
        } else {
            self.base + se + (i - de)
        }
    }
}

/// Decode the predefined entities (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`)
/// and numeric character references (`&#39;`, `&#x27;`) of `seg`, which
/// starts at `base` in the XML text. Anything else is kept as written.
pub(crate) fn unescape(seg: &[u8], base: usize) -> Unescaped<'_> {
    if memchr::memchr(b'&', seg).is_none() {
        return Unescaped {
            text: Cow::Borrowed(seg),
            base,
            refs: Vec::new(),
        };
    }
    let mut out = Vec::with_capacity(seg.len());
    let mut refs = Vec::new();
    let mut i = 0;
    while i < seg.len() {
        let Some(p) = memchr::memchr(b'&', &seg[i..]) else {
            out.extend_from_slice(&seg[i..]);
            break;
        };
        out.extend_from_slice(&seg[i..i + p]);
        let amp = i + p;
        let semi = seg[amp..]
            .iter()
            .take(12)
            .position(|&c| c == b';')
            .map(|q| amp + q);
        let ch = semi.and_then(|s| reference(&seg[amp + 1..s]));
        match (semi, ch) {
            (Some(s), Some(c)) => {
                let ds = out.len();
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                refs.push((ds, amp, out.len(), s + 1));
                i = s + 1;
            }
            _ => {
                out.push(b'&');
                i = amp + 1;
            }
        }
    }
    Unescaped {
        text: Cow::Owned(out),
        base,
        refs,
    }
}

fn reference(name: &[u8]) -> Option<char> {
    match name {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"apos" => Some('\''),
        b"quot" => Some('"'),
        [b'#', b'x' | b'X', hex @ ..] if !hex.is_empty() => {
            u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16)
                .ok()
                .and_then(char::from_u32)
        }
        [b'#', dec @ ..] if !dec.is_empty() => std::str::from_utf8(dec)
            .ok()?
            .parse::<u32>()
            .ok()
            .and_then(char::from_u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_references() {
        let x = br#"<a b="x&apos;y" c='1'>t&#39;u<![CDATA[raw]]><!--c--></a>"#;
        let mut got = Vec::new();
        for_each_value(x, |s| match s {
            Segment::Escaped(s, e) => got.push(format!("E:{}", String::from_utf8_lossy(&x[s..e]))),
            Segment::Raw(s, e) => got.push(format!("R:{}", String::from_utf8_lossy(&x[s..e]))),
        });
        assert_eq!(got, ["E:x&apos;y", "E:1", "E:t&#39;u", "R:raw", "R:c"]);
        let u = unescape(b"a&apos;b&#x27;c&bogus;", 10);
        assert_eq!(&*u.text, b"a'b'c&bogus;");
        assert_eq!(u.map(0), 10);
        assert_eq!(u.map(1), 11);
        assert_eq!(u.map(2), 17);
        assert_eq!(u.map(3), 18);
        assert_eq!(u.map(4), 24);
        assert_eq!(u.map(12), 32);
    }
}
