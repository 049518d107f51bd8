//! A small, forgiving SQL tokenizer shared by the redactor and the literal masker.
//!
//! It never fails: every byte of the input belongs to exactly one token or to
//! whitespace, unterminated strings/comments run to the end of the input, and all
//! token boundaries fall on ASCII bytes (or the ends of the input), so they are
//! always valid `str` char boundaries.

/// Quoting flavour of a string-ish token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quote {
    /// `'…'`, optionally prefixed (`E'…'`, `N'…'`, `X'…'`, `B'…'`).
    Single,
    /// `"…"`: an identifier in PostgreSQL/Oracle/SQL Server, a string in MySQL.
    Double,
    /// `` `…` ``: a MySQL identifier.
    Backtick,
    /// `$$…$$` / `$tag$…$tag$` (PostgreSQL).
    Dollar,
    /// Oracle `q'[…]'` alternative quoting.
    OracleQ,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Number,
    /// `$1`, `?`, `:name` bind placeholders.
    Param,
    Str(Quote),
    Comment,
    Punct(u8),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok {
    pub kind: Kind,
    /// Whole token, prefix and delimiters included.
    pub start: usize,
    pub end: usize,
    /// Content range for strings and comments (equal to start..end otherwise).
    pub cstart: usize,
    pub cend: usize,
    /// Backslash escapes were honoured while scanning this string.
    pub esc: bool,
    /// The closing delimiter was found.
    pub closed: bool,
}

impl Tok {
    fn simple(kind: Kind, start: usize, end: usize) -> Tok {
        Tok {
            kind,
            start,
            end,
            cstart: start,
            cend: end,
            esc: false,
            closed: true,
        }
    }

    pub fn is_punct(&self, c: u8) -> bool {
        self.kind == Kind::Punct(c)
    }

    pub fn is_str(&self) -> bool {
        matches!(self.kind, Kind::Str(q) if q != Quote::Backtick)
    }
}

#[inline]
pub(crate) fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'@' || c == b'#' || c >= 0x80
}

#[inline]
pub(crate) fn is_word_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'#' || c >= 0x80
}

#[inline]
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Streaming tokenizer. With `backslash` set, `\` escapes the next byte inside
/// `'…'` and `"…"` (MySQL/MariaDB default mode); `E'…'` always honours
/// backslash escapes. The redactor keeps only a bounded window of tokens, so
/// memory does not grow with the number of tokens of a hostile text.
pub(crate) struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
    backslash: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(b: &'a [u8], backslash: bool) -> Lexer<'a> {
        Lexer { b, i: 0, backslash }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Tok;

    fn next(&mut self) -> Option<Tok> {
        let (b, n) = (self.b, self.b.len());
        while self.i < n && is_space(b[self.i]) {
            self.i += 1;
        }
        if self.i >= n {
            return None;
        }
        let mut tok = token_at(b, self.i, self.backslash);
        if matches!(tok.kind, Kind::Str(Quote::Single)) {
            tok = adjacent_literals(b, tok, self.backslash);
        }
        debug_assert!(tok.end > self.i);
        self.i = tok.end;
        Some(tok)
    }
}

/// `'abc' 'p'`: PostgreSQL concatenates string constants separated by
/// whitespace with a newline, MySQL by any whitespace. The whole run is one
/// value, so it is one token (content from the first opening quote's content
/// to the last closing quote).
fn adjacent_literals(b: &[u8], mut tok: Tok, backslash: bool) -> Tok {
    while tok.closed {
        let mut j = tok.end;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if j == tok.end || b.get(j) != Some(&b'\'') {
            break;
        }
        let next = scan_quoted(b, j, j, b'\'', backslash, Quote::Single);
        tok.end = next.end;
        tok.cend = next.cend;
        tok.closed = next.closed;
        tok.esc |= next.esc;
    }
    tok
}

thread_local! {
    /// Tokens lexed by this thread: the unit of work of the redactor, read by
    /// the linear-time tests (clocks are too noisy to test with).
    static LEXED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Tokens lexed so far by the calling thread.
pub(crate) fn lexed() -> u64 {
    LEXED.with(|c| c.get())
}

pub(crate) fn token_at(b: &[u8], i: usize, backslash: bool) -> Tok {
    LEXED.with(|c| c.set(c.get() + 1));
    let n = b.len();
    let c = b[i];
    let next = b.get(i + 1).copied();
    match c {
        b'-' if next == Some(b'-') => {
            let e = memchr::memchr(b'\n', &b[i..]).map_or(n, |p| i + p);
            Tok {
                cstart: i + 2,
                cend: e,
                ..Tok::simple(Kind::Comment, i, e)
            }
        }
        b'/' if next == Some(b'*') => match memchr::memmem::find(&b[i + 2..], b"*/") {
            Some(p) => Tok {
                cstart: i + 2,
                cend: i + 2 + p,
                ..Tok::simple(Kind::Comment, i, i + 4 + p)
            },
            None => Tok {
                cstart: i + 2,
                cend: n,
                closed: false,
                ..Tok::simple(Kind::Comment, i, n)
            },
        },
        b'\'' => scan_quoted(b, i, i, b'\'', backslash, Quote::Single),
        b'"' => scan_quoted(b, i, i, b'"', backslash, Quote::Double),
        b'`' => scan_quoted(b, i, i, b'`', false, Quote::Backtick),
        b'$' => scan_dollar(b, i),
        b'?' => Tok::simple(Kind::Param, i, i + 1),
        b':' if next.is_some_and(|d| d.is_ascii_alphabetic() || d == b'_')
            && (i == 0 || b[i - 1] != b':') =>
        {
            let mut e = i + 1;
            while e < n && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
                e += 1;
            }
            Tok::simple(Kind::Param, i, e)
        }
        b'0'..=b'9' => Tok::simple(Kind::Number, i, number_end(b, i)),
        b'.' if next.is_some_and(|d| d.is_ascii_digit()) => {
            Tok::simple(Kind::Number, i, number_end(b, i))
        }
        c if is_word_start(c) => {
            let e = word_end(b, i + 1);
            string_with_prefix(b, i, e, backslash).unwrap_or_else(|| Tok::simple(Kind::Word, i, e))
        }
        c => Tok::simple(Kind::Punct(c), i, i + 1),
    }
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_word_cont(b[i]) {
        i += 1;
    }
    i
}

fn number_end(b: &[u8], start: usize) -> usize {
    let hex = b[start..].len() > 1 && b[start] == b'0' && matches!(b[start + 1], b'x' | b'X');
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        let exp_sign = (c == b'+' || c == b'-')
            && !hex
            && matches!(b[i - 1], b'e' | b'E')
            && b.get(i + 1).is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// `E'…'`, `N'…'`, `X'…'`, `B'…'`, `q'[…]'`, `nq'{…}'` where the word `b[s..e]`
/// is immediately followed by a quote.
fn string_with_prefix(b: &[u8], s: usize, e: usize, backslash: bool) -> Option<Tok> {
    let w = &b[s..e];
    if w.eq_ignore_ascii_case(b"u") && b.get(e) == Some(&b'&') && b.get(e + 1) == Some(&b'\'') {
        // PostgreSQL `U&'d\0061t\+000061'` (a trailing `UESCAPE '!'` is a
        // separate, harmless literal).
        return Some(scan_quoted(b, s, e + 1, b'\'', backslash, Quote::Single));
    }
    if w.len() > 1 && w[0] == b'_' {
        return introduced(b, s, e, backslash);
    }
    if b.get(e) != Some(&b'\'') {
        return None;
    }
    if w.len() == 1 {
        match w[0].to_ascii_lowercase() {
            b'e' => return Some(scan_quoted(b, s, e, b'\'', true, Quote::Single)),
            b'n' | b'x' | b'b' => {
                return Some(scan_quoted(b, s, e, b'\'', backslash, Quote::Single));
            }
            b'q' => return scan_qquote(b, s, e),
            _ => {}
        }
    }
    if w.eq_ignore_ascii_case(b"nq") {
        return scan_qquote(b, s, e);
    }
    None
}

/// MySQL character set introducers: `_utf8mb4'…'`, `_binary 'x'`,
/// `_latin1 X'…'`, `_utf8mb4 0x…`. The introducer and the literal are one
/// value token (a string, or a number for `0x…`/`0b…`).
fn introduced(b: &[u8], s: usize, e: usize, backslash: bool) -> Option<Tok> {
    let mut j = e;
    while j < b.len() && is_space(b[j]) {
        j += 1;
    }
    match (b.get(j).copied(), b.get(j + 1).copied()) {
        (Some(b'\''), _) => Some(scan_quoted(b, s, j, b'\'', backslash, Quote::Single)),
        (Some(c), Some(b'\'')) if matches!(c.to_ascii_lowercase(), b'x' | b'b' | b'n') => {
            Some(scan_quoted(b, s, j + 1, b'\'', backslash, Quote::Single))
        }
        (Some(b'0'), Some(c)) if matches!(c.to_ascii_lowercase(), b'x' | b'b') => {
            Some(Tok::simple(Kind::Number, s, number_end(b, j)))
        }
        _ => None,
    }
}

/// Scan a quoted token whose opening quote is at `open`; `start` is the token
/// start (before any prefix).
fn scan_quoted(b: &[u8], start: usize, open: usize, q: u8, esc: bool, quote: Quote) -> Tok {
    let n = b.len();
    let mut i = open + 1;
    loop {
        let found = if esc {
            memchr::memchr2(q, b'\\', &b[i..])
        } else {
            memchr::memchr(q, &b[i..])
        };
        let Some(p) = found else {
            return Tok {
                kind: Kind::Str(quote),
                start,
                end: n,
                cstart: open + 1,
                cend: n,
                esc,
                closed: false,
            };
        };
        i += p;
        if b[i] == b'\\' {
            i = (i + 2).min(n);
            continue;
        }
        if b.get(i + 1) == Some(&q) {
            i += 2;
            continue;
        }
        return Tok {
            kind: Kind::Str(quote),
            start,
            end: i + 1,
            cstart: open + 1,
            cend: i,
            esc,
            closed: true,
        };
    }
}

fn scan_qquote(b: &[u8], s: usize, quote_pos: usize) -> Option<Tok> {
    let open = *b.get(quote_pos + 1)?;
    if is_space(open) || open == b'\'' {
        return None;
    }
    let close = match open {
        b'[' => b']',
        b'{' => b'}',
        b'(' => b')',
        b'<' => b'>',
        c => c,
    };
    let body = quote_pos + 2;
    let mut i = body;
    while i < b.len() {
        let p = memchr::memchr(close, &b[i..])?;
        i += p;
        if b.get(i + 1) == Some(&b'\'') {
            return Some(Tok {
                kind: Kind::Str(Quote::OracleQ),
                start: s,
                end: i + 2,
                cstart: body,
                cend: i,
                esc: false,
                closed: true,
            });
        }
        i += 1;
    }
    // Unterminated: fall back to ordinary tokenization (the `'` opens a string).
    None
}

fn scan_dollar(b: &[u8], i: usize) -> Tok {
    let n = b.len();
    let next = b.get(i + 1).copied();
    if next.is_some_and(|d| d.is_ascii_digit()) {
        let mut e = i + 1;
        while e < n && b[e].is_ascii_digit() {
            e += 1;
        }
        return Tok::simple(Kind::Param, i, e);
    }
    // `$tag$` opening delimiter.
    let mut e = i + 1;
    if e < n && (b[e].is_ascii_alphabetic() || b[e] == b'_' || b[e] >= 0x80) {
        while e < n && (b[e].is_ascii_alphanumeric() || b[e] == b'_' || b[e] >= 0x80) {
            e += 1;
        }
    }
    if b.get(e) != Some(&b'$') {
        return Tok::simple(Kind::Punct(b'$'), i, i + 1);
    }
    let tag = &b[i..=e];
    let body = e + 1;
    match memchr::memmem::find(&b[body..], tag) {
        Some(p) => Tok {
            kind: Kind::Str(Quote::Dollar),
            start: i,
            end: body + p + tag.len(),
            cstart: body,
            cend: body + p,
            esc: false,
            closed: true,
        },
        None => Tok {
            kind: Kind::Str(Quote::Dollar),
            start: i,
            end: n,
            cstart: body,
            cend: n,
            esc: false,
            closed: false,
        },
    }
}

/// The quote byte whose doubling escapes it inside this token (None for
/// dollar/q-quotes and comments, whose bodies need no escaping).
pub(crate) fn quote_byte(t: &Tok) -> Option<u8> {
    match t.kind {
        Kind::Str(Quote::Single) => Some(b'\''),
        Kind::Str(Quote::Double) => Some(b'"'),
        Kind::Str(Quote::Backtick) => Some(b'`'),
        _ => None,
    }
}

/// A string token's content as the SQL it encodes, for re-scanning.
pub(crate) struct Decoded<'a> {
    pub text: std::borrow::Cow<'a, [u8]>,
    /// Offset of the content in the enclosing text.
    base: usize,
    /// Decoded offsets at which an escape pair (`qq`, `\q`) was folded into one
    /// byte, ascending. Only escapes cost memory: content without any is borrowed.
    folds: Vec<u32>,
}

impl Decoded<'_> {
    /// Offset in the enclosing text of decoded offset `i` (the start of an
    /// escape pair for a folded byte; `text.len()` maps to the content end).
    pub fn map(&self, i: usize) -> usize {
        self.base + i + self.folds.partition_point(|&f| (f as usize) < i)
    }
}

/// Decode a string token's content for re-scanning: `qq` → `q` and, with
/// backslash escapes, `\q`, `\\`, `\'`, `\"` → the escaped byte (other `\x`
/// sequences are kept verbatim).
pub(crate) fn decode<'a>(b: &'a [u8], t: &Tok) -> Decoded<'a> {
    let (s, e) = (t.cstart, t.cend);
    if !needs_copy(b, t) {
        return Decoded {
            text: std::borrow::Cow::Borrowed(&b[s..e]),
            base: s,
            folds: Vec::new(),
        };
    }
    let mut out = Vec::with_capacity(e - s);
    let mut folds = Vec::new();
    let mut i = s;
    while i < e {
        if is_pair(b, t, i) {
            folds.push(out.len() as u32);
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Decoded {
        text: std::borrow::Cow::Owned(out),
        base: s,
        folds,
    }
}

/// Heap bytes [`decode`] would hold for token `t` (0 when it borrows), or
/// `None` when the content is too large to decode (4 GiB).
pub(crate) fn decode_cost(b: &[u8], t: &Tok) -> Option<usize> {
    if !needs_copy(b, t) {
        return Some(0);
    }
    let (s, e) = (t.cstart, t.cend);
    if e - s > u32::MAX as usize {
        return None;
    }
    let mut folds = 0;
    let mut i = s;
    while i < e {
        if is_pair(b, t, i) {
            folds += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    Some(e - s - folds + folds * std::mem::size_of::<u32>())
}

fn needs_copy(b: &[u8], t: &Tok) -> bool {
    let content = &b[t.cstart..t.cend];
    quote_byte(t).is_some_and(|q| memchr::memchr(q, content).is_some())
        || (t.esc && memchr::memchr(b'\\', content).is_some())
}

/// An escape pair starts at `i`: `qq`, or with backslash escapes `\\`,
/// `\'`, `\"`, `` \` ``.
fn is_pair(b: &[u8], t: &Tok, i: usize) -> bool {
    let c = b[i];
    i + 1 < t.cend
        && ((t.esc && c == b'\\' && matches!(b[i + 1], b'\\' | b'\'' | b'"' | b'`'))
            || (quote_byte(t) == Some(c) && b[i + 1] == c))
}
