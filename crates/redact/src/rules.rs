//! The credential rules. They run on the token stream of a text only after the
//! fast pre-filter (`scan`) saw a trigger word, and emit byte spans to replace.

use crate::lex::{self, Kind, Quote, Tok};
use crate::scan::Triggers;

/// Replacement of one secret, in the coordinates of the text being scanned.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub repl: String,
}

/// Placeholder that replaces a secret.
pub(crate) const MARK: &str = "<redacted>";

/// Maximum nesting of literal-in-body-in-literal re-scans.
const MAX_DEPTH: u8 = 6;

/// Where the text being scanned came from; conninfo-style `key = value` with
/// spaces is only trusted inside string literals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    StringBody,
    CodeBody,
}

pub(crate) struct Engine<'t> {
    pub triggers: &'t Triggers,
}

impl Engine<'_> {
    /// Collect the secret spans of `b` (a whole input). Both string-escaping
    /// conventions are tried when the text contains a backslash, and the union
    /// of their findings is kept: over-redacting a misread literal is preferred
    /// to leaking the tail of a MySQL `'pa\'ss'`.
    pub fn collect_top(&self, b: &[u8]) -> Vec<Span> {
        let mut out = Vec::new();
        self.collect(b, Ctx::Top, 0, &mut out);
        uri_userinfo(b, &mut out);
        merge(out)
    }

    fn collect(&self, b: &[u8], ctx: Ctx, depth: u8, out: &mut Vec<Span>) {
        self.collect_mode(b, false, ctx, depth, out);
        if memchr::memchr(b'\\', b).is_some() {
            self.collect_mode(b, true, ctx, depth, out);
        }
    }

    fn collect_mode(&self, b: &[u8], backslash: bool, ctx: Ctx, depth: u8, out: &mut Vec<Span>) {
        let toks = lex::tokenize(b, backslash);
        let sig: Vec<Tok> = toks
            .iter()
            .copied()
            .filter(|t| t.kind != Kind::Comment)
            .collect();
        let mut secret_toks: Vec<usize> = Vec::new(); // starts of tokens already redacted
        let before = out.len();
        {
            let mut r = Rules {
                b,
                t: &sig,
                all: &toks,
                ctx,
                backslash,
                out,
                administer: false,
                covered: 0,
            };
            r.run();
        }
        for s in &out[before..] {
            secret_toks.push(s.start);
        }
        if depth >= MAX_DEPTH {
            return;
        }
        // Re-scan string literals and comments that contain a trigger: DO/function
        // bodies, EXECUTE '…' strings, conninfo strings, quoted statements in raw
        // log lines, commented-out statements.
        for t in &toks {
            let nested = match t.kind {
                Kind::Str(Quote::Backtick) => false,
                Kind::Str(_) | Kind::Comment => true,
                _ => false,
            };
            if !nested || t.cend <= t.cstart || secret_toks.contains(&t.start) {
                continue;
            }
            let content = &b[t.cstart..t.cend];
            if !self.triggers.any(content) {
                continue;
            }
            let inner_ctx = match t.kind {
                Kind::Str(Quote::Single | Quote::Double | Quote::OracleQ) => Ctx::StringBody,
                _ => Ctx::CodeBody,
            };
            let (dec, map) = lex::decode(b, t);
            let mut inner = Vec::new();
            self.collect(&dec, inner_ctx, depth + 1, &mut inner);
            let q = lex::quote_byte(t);
            for s in inner {
                let mut repl = String::with_capacity(s.repl.len() + 4);
                for ch in s.repl.chars() {
                    repl.push(ch);
                    if q.is_some_and(|q| ch as u32 == q as u32) {
                        repl.push(ch);
                    }
                }
                out.push(Span {
                    start: map[s.start],
                    end: map[s.end],
                    repl,
                });
            }
        }
    }
}

/// Sort spans and merge overlapping ones (the widest span's replacement wins).
pub(crate) fn merge(mut v: Vec<Span>) -> Vec<Span> {
    v.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for s in v {
        if s.end <= s.start {
            continue;
        }
        if let Some(last) = out.last_mut()
            && s.start < last.end
        {
            if s.end > last.end {
                if s.end - s.start > last.end - last.start {
                    last.repl = s.repl;
                }
                last.end = s.end;
            }
            continue;
        }
        out.push(s);
    }
    out
}

/// Is this word a credential key? (`password`, `*_password`, `passwd`, `pwd`,
/// `*secret`, `@rmtpassword`, `pwdencrypt`, …)
fn is_key(w: &[u8]) -> bool {
    let w = w.strip_prefix(b"@").unwrap_or(w);
    ends_with_ci(w, b"password")
        || ends_with_ci(w, b"passwd")
        || ends_with_ci(w, b"pwd")
        || ends_with_ci(w, b"secret")
        || w.eq_ignore_ascii_case(b"pwdencrypt")
        || w.eq_ignore_ascii_case(b"pwdcompare")
}

fn ends_with_ci(w: &[u8], suf: &[u8]) -> bool {
    w.len() >= suf.len() && w[w.len() - suf.len()..].eq_ignore_ascii_case(suf)
}

/// Already-masked secret (`<REDACTED>`, `<secret>`, `*****`, empty): not a secret.
pub(crate) fn is_masked(content: &[u8]) -> bool {
    let c = content.trim_ascii();
    c.is_empty()
        || c.eq_ignore_ascii_case(b"<redacted>")
        || c.eq_ignore_ascii_case(b"<secret>")
        || c.iter().all(|&x| x == b'*')
}

/// A masked marker written without quotes (`<REDACTED>`, `*****`) at `b[i..]`.
fn masked_bare_at(b: &[u8], i: usize) -> bool {
    let r = &b[i..];
    let starts = |m: &[u8]| r.len() >= m.len() && r[..m.len()].eq_ignore_ascii_case(m);
    starts(b"<redacted>") || starts(b"<secret>") || starts(b"***")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bare {
    /// Oracle unquoted password: ends at whitespace, `;`, `,`, `)`, a quote or a comment.
    Oracle,
    /// conninfo / ODBC value: ends at whitespace, `;`, `&` or a quote.
    Conninfo,
}

struct Rules<'a, 'o> {
    b: &'a [u8],
    t: &'a [Tok],
    /// All tokens, comments included.
    all: &'a [Tok],
    ctx: Ctx,
    /// Reading the text with MySQL backslash escapes.
    backslash: bool,
    out: &'o mut Vec<Span>,
    administer: bool,
    /// Tokens starting before this byte were consumed by an unquoted secret.
    covered: usize,
}

impl<'a> Rules<'a, '_> {
    fn tok(&self, k: usize) -> Option<&Tok> {
        self.t.get(k)
    }

    fn text(&self, k: usize) -> &'a [u8] {
        let t = &self.t[k];
        &self.b[t.start..t.end]
    }

    fn is_word(&self, k: usize, w: &str) -> bool {
        self.tok(k).is_some_and(|t| {
            t.kind == Kind::Word && self.text(k).eq_ignore_ascii_case(w.as_bytes())
        })
    }

    fn is_punct(&self, k: usize, c: u8) -> bool {
        self.tok(k).is_some_and(|t| t.is_punct(c))
    }

    fn is_str(&self, k: usize) -> bool {
        self.tok(k).is_some_and(Tok::is_str)
    }

    /// Redact string token `k` (keeping prefix and delimiters) unless masked.
    fn redact_str(&mut self, k: usize) {
        let t = self.t[k];
        let mut content = &self.b[t.cstart..t.cend];
        if t.kind == Kind::Str(Quote::OracleQ) && self.b[t.cstart - 1] == b'<' && t.closed {
            // q'<…>' : the delimiters are part of what a reader sees.
            content = &self.b[t.cstart - 1..t.cend + 1];
        }
        if is_masked(content) {
            return;
        }
        let mut repl = String::with_capacity(16);
        // Prefix and opening delimiter are ASCII.
        repl.push_str(std::str::from_utf8(&self.b[t.start..t.cstart]).unwrap_or("'"));
        repl.push_str(MARK);
        // An unterminated literal (truncated record) is redacted to the end of
        // the text and left unterminated: inventing a delimiter could close an
        // enclosing body differently on a second pass.
        if t.closed {
            repl.push_str(std::str::from_utf8(&self.b[t.cend..t.end]).unwrap_or("'"));
        }
        self.out.push(Span {
            start: t.start,
            end: t.end,
            repl,
        });
    }

    /// Redact a hex/decimal number used as a password (e.g. `PASSWORD = 0x01… HASHED`).
    fn redact_num(&mut self, k: usize) {
        let t = self.t[k];
        self.out.push(Span {
            start: t.start,
            end: t.end,
            repl: MARK.to_string(),
        });
    }

    /// Redact a value given as string or (when allowed) number. Returns true if
    /// token `k` was a value.
    fn value(&mut self, k: usize, allow_num: bool) -> bool {
        match self.tok(k).map(|t| t.kind) {
            Some(Kind::Str(Quote::Backtick)) | None => false,
            Some(Kind::Str(_)) => {
                self.redact_str(k);
                true
            }
            Some(Kind::Number) if allow_num => {
                self.redact_num(k);
                true
            }
            _ => false,
        }
    }

    /// Redact an unquoted value starting at token `k`; returns the index of the
    /// first token after it.
    fn bare(&mut self, k: usize, style: Bare) -> usize {
        let Some(t) = self.tok(k).copied() else {
            return k;
        };
        let b = self.b;
        let s = t.start;
        if masked_bare_at(b, s) {
            return self.skip_to_byte(k, masked_end(b, s));
        }
        let mut e = s;
        if style == Bare::Conninfo && b[s] == b'{' {
            // ODBC braced value, `}}` escapes `}`.
            e += 1;
            while e < b.len() {
                if b[e] == b'}' {
                    if b.get(e + 1) == Some(&b'}') {
                        e += 2;
                        continue;
                    }
                    e += 1;
                    break;
                }
                e += 1;
            }
        } else {
            while e < b.len() {
                let c = b[e];
                let stop = match c {
                    b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b';' | b'\'' | b'"' | b'`' => true,
                    b',' | b')' => style == Bare::Oracle,
                    b'&' => style == Bare::Conninfo,
                    b'/' => style == Bare::Oracle && b.get(e + 1) == Some(&b'*'),
                    b'-' => style == Bare::Oracle && b.get(e + 1) == Some(&b'-'),
                    _ => false,
                };
                if stop {
                    break;
                }
                e += 1;
            }
        }
        // Never cut a string or comment token in two: the cut would change how
        // the redacted text tokenizes (and break idempotence).
        if let Some(c) = self
            .all
            .iter()
            .find(|c| c.start > s && c.start < e && c.end > e && c.kind != Kind::Word)
        {
            e = c.start;
        }
        if e > s {
            self.out.push(Span {
                start: s,
                end: e,
                repl: MARK.to_string(),
            });
            if style == Bare::Oracle {
                self.covered = self.covered.max(e);
            }
        }
        self.skip_to_byte(k, e.max(s + 1))
    }

    fn skip_to_byte(&self, mut k: usize, pos: usize) -> usize {
        while k < self.t.len() && self.t[k].start < pos {
            k += 1;
        }
        k
    }

    /// Can token `k` start an unquoted (Oracle-style) secret?
    fn bare_candidate(&self, k: usize) -> bool {
        match self.tok(k).map(|t| t.kind) {
            Some(Kind::Word | Kind::Number) => true,
            Some(Kind::Punct(c)) => !matches!(c, b';' | b',' | b'(' | b')' | b'='),
            _ => false,
        }
    }

    fn run(&mut self) {
        let mut k = 0;
        while k < self.t.len() {
            let t = self.t[k];
            if t.start < self.covered {
                k += 1;
                continue;
            }
            match t.kind {
                Kind::Punct(b';') => self.administer = false,
                Kind::Word => self.word(k),
                Kind::Str(Quote::Single | Quote::Double) => self.json_key(k),
                _ => {}
            }
            k += 1;
        }
    }

    fn word(&mut self, k: usize) {
        let w = self.text(k);
        if w.eq_ignore_ascii_case(b"administer") && self.is_word(k + 1, "key") {
            self.administer = true;
        }
        if w.eq_ignore_ascii_case(b"identified") {
            self.identified(k);
        } else if w.eq_ignore_ascii_case(b"set") && self.is_word(k + 1, "password") {
            self.set_password(k + 1);
        }
        // SQL Server procedures never meet MySQL backslash escapes.
        if let Some(p) = proc_spec(w).filter(|_| !self.backslash) {
            self.proc_call(k, p);
        }
        if is_key(w) && !(w.len() > 3 && w[..3].eq_ignore_ascii_case(b"sp_")) {
            self.key(k);
        }
    }

    /// `key 'v'`, `key = 'v'`, `key := 'v'`, `key => 'v'`, `key('v')`, `key=v`.
    fn key(&mut self, k: usize) {
        let n = k + 1;
        let Some(nt) = self.tok(n).copied() else {
            return;
        };
        match nt.kind {
            Kind::Str(_) => {
                self.value(n, false);
            }
            Kind::Punct(b'(') => {
                self.value(n + 1, false);
            }
            Kind::Punct(b'=') | Kind::Punct(b':') => {
                // `=`, `:=`, `=>`
                let mut v = n + 1;
                if nt.is_punct(b':') {
                    if !self.is_punct(n + 1, b'=') {
                        return;
                    }
                    v += 1;
                } else if self.is_punct(v, b'>') && self.t[v].start == nt.end {
                    v += 1;
                }
                if self.value(v, true) {
                    return;
                }
                let Some(vt) = self.tok(v).copied() else {
                    return;
                };
                // Unquoted value: conninfo/ODBC `password=secret` (adjacent), or
                // `password = secret` inside a string literal.
                let adjacent = nt.start == self.t[k].end && vt.start == self.t[v - 1].end;
                if !(adjacent || self.ctx == Ctx::StringBody) {
                    return;
                }
                if vt.kind == Kind::Param || vt.is_punct(b'(') || vt.is_punct(b';') {
                    return;
                }
                if vt.kind == Kind::Word {
                    let vw = self.text(v);
                    if vw.starts_with(b"@")
                        || ["null", "default", "true", "false", "on", "off"]
                            .iter()
                            .any(|x| vw.eq_ignore_ascii_case(x.as_bytes()))
                        || (self.ctx != Ctx::StringBody
                            && (self.is_punct(v + 1, b'(') || self.is_punct(v + 1, b'.')))
                    {
                        return;
                    }
                }
                self.bare(v, Bare::Conninfo);
            }
            Kind::Word | Kind::Number
                if self.administer && self.text(k).eq_ignore_ascii_case(b"secret") =>
            {
                // ADMINISTER KEY MANAGEMENT … WITH SECRET secret
                self.bare(n, Bare::Oracle);
            }
            _ => {}
        }
    }

    /// `IDENTIFIED BY …` / `IDENTIFIED VIA|WITH plugin USING|AS|BY …`.
    fn identified(&mut self, k: usize) {
        let n = k + 1;
        let after;
        if self.is_word(n, "by") {
            let v = n + 1;
            if self.is_str(v) {
                self.redact_str(v);
                after = v + 1;
            } else if (self.is_word(v, "password") || self.is_word(v, "values"))
                && self.is_str(v + 1)
            {
                self.redact_str(v + 1);
                after = v + 2;
            } else if (self.is_word(v, "random") && self.is_word(v + 1, "password"))
                || (self.is_word(v, "external") && self.is_word(v + 1, "store"))
            {
                return;
            } else if self.bare_candidate(v) {
                after = self.bare(v, Bare::Oracle);
            } else {
                return;
            }
        } else if self.is_word(n, "via") || self.is_word(n, "with") {
            let mut p = n + 1; // plugin name
            loop {
                if !matches!(self.tok(p).map(|t| t.kind), Some(Kind::Word | Kind::Str(_))) {
                    return;
                }
                let q = p + 1;
                if self.is_word(q, "using") || self.is_word(q, "as") || self.is_word(q, "by") {
                    let v = q + 1;
                    if self.is_str(v) {
                        self.redact_str(v);
                    }
                    // `USING PASSWORD('…')` is handled by the key rule.
                    let mut e = v + 1;
                    if self.is_word(v, "password") && self.is_punct(v + 1, b'(') {
                        e = v + 4;
                    }
                    if self.is_word(e, "or") {
                        p = e + 1;
                        continue;
                    }
                    after = e;
                } else if self.is_word(q, "or") {
                    p = q + 1;
                    continue;
                } else {
                    return;
                }
                break;
            }
        } else {
            return;
        }
        // `… REPLACE 'current'` (MySQL/Oracle) and ADMINISTER KEY MANAGEMENT
        // `ALTER KEYSTORE PASSWORD IDENTIFIED BY old SET new`.
        if self.is_word(after, "replace") || (self.administer && self.is_word(after, "set")) {
            let v = after + 1;
            if self.is_str(v) {
                self.redact_str(v);
            } else if self.bare_candidate(v) {
                self.bare(v, Bare::Oracle);
            }
        }
    }

    /// `SET PASSWORD [FOR user] = '…' | TO '…'` (`= PASSWORD('…')` is a key rule).
    fn set_password(&mut self, pw: usize) {
        if self.is_punct(pw + 1, b'=') || self.is_str(pw + 1) {
            return; // plain key rule
        }
        let mut m = pw + 1;
        while m < self.t.len() && m < pw + 24 && !self.is_punct(m, b';') {
            if self.is_punct(m, b'=') || self.is_word(m, "to") {
                if self.is_str(m + 1) {
                    self.redact_str(m + 1);
                    if self.is_word(m + 2, "replace") && self.is_str(m + 3) {
                        self.redact_str(m + 3);
                    }
                }
                return;
            }
            m += 1;
        }
    }

    /// `"password": "…"` / `'password' => '…'` (JSON-ish raw lines).
    fn json_key(&mut self, k: usize) {
        let t = self.t[k];
        let c = &self.b[t.cstart..t.cend];
        if c.is_empty() || c.len() > 64 || !c.iter().all(|&x| lex::is_word_cont(x)) || !is_key(c) {
            return;
        }
        let mut v = k + 1;
        if self.is_punct(v, b':') || self.is_punct(v, b'=') {
            v += 1;
            if self.is_punct(v, b'>') {
                v += 1;
            }
            self.value(v, false);
        }
    }

    /// SQL Server stored procedures taking a password argument.
    fn proc_call(&mut self, k: usize, spec: &ProcSpec) {
        let mut m = k + 1;
        if self.is_punct(m, b']') {
            m += 1;
        }
        if self.is_punct(m, b'(') {
            m += 1;
        }
        let mut named_seen = false;
        for pos in 1..=32usize {
            let (v, named) = match self.tok(m).map(|t| t.kind) {
                Some(Kind::Word)
                    if self.text(m).starts_with(b"@") && self.is_punct(m + 1, b'=') =>
                {
                    named_seen = true;
                    (m + 2, Some(m))
                }
                Some(_) => (m, None),
                None => return,
            };
            let wanted = match named {
                Some(nk) => spec
                    .named
                    .iter()
                    .any(|x| self.text(nk).eq_ignore_ascii_case(x.as_bytes())),
                None => !named_seen && spec.positions.contains(&pos),
            };
            let mut e = v + 1;
            if self.is_punct(v, b'{') {
                // ODBC canonical `{Encrypt N'pw'}`
                let mut j = v + 1;
                while j < self.t.len() && j < v + 6 && !self.is_punct(j, b'}') {
                    if wanted && self.is_str(j) {
                        self.redact_str(j);
                    }
                    j += 1;
                }
                e = j + 1;
            } else if wanted {
                self.value(v, false);
            }
            if self.is_word(e, "output") || self.is_word(e, "out") {
                e += 1;
            }
            if !self.is_punct(e, b',') {
                return;
            }
            m = e + 1;
        }
    }
}

fn masked_end(b: &[u8], s: usize) -> usize {
    if b[s] == b'*' {
        let mut e = s;
        while e < b.len() && b[e] == b'*' {
            e += 1;
        }
        e
    } else {
        memchr::memchr(b'>', &b[s..]).map_or(b.len(), |p| s + p + 1)
    }
}

pub(crate) struct ProcSpec {
    name: &'static str,
    positions: &'static [usize],
    named: &'static [&'static str],
}

const PROC_SPECS: [ProcSpec; 7] = [
    ProcSpec {
        name: "sp_addlogin",
        positions: &[2],
        named: &["@passwd"],
    },
    ProcSpec {
        name: "sp_password",
        positions: &[1, 2],
        named: &["@old", "@new"],
    },
    ProcSpec {
        name: "sp_addlinkedsrvlogin",
        positions: &[5],
        named: &["@rmtpassword"],
    },
    ProcSpec {
        name: "sp_setapprole",
        positions: &[2],
        named: &["@password"],
    },
    ProcSpec {
        name: "sp_addapprole",
        positions: &[2],
        named: &["@password"],
    },
    ProcSpec {
        name: "sp_approlepassword",
        positions: &[2],
        named: &["@newpwd"],
    },
    ProcSpec {
        name: "sp_change_users_login",
        positions: &[4],
        named: &["@password"],
    },
];

fn proc_spec(w: &[u8]) -> Option<&'static ProcSpec> {
    if w.len() < 11 || !w[..3].eq_ignore_ascii_case(b"sp_") {
        return None;
    }
    PROC_SPECS
        .iter()
        .find(|p| w.eq_ignore_ascii_case(p.name.as_bytes()))
}

/// `scheme://user:password@host` anywhere in the text.
fn uri_userinfo(b: &[u8], out: &mut Vec<Span>) {
    for hit in memchr::memmem::find_iter(b, b"://") {
        let s = hit + 3;
        let mut e = s;
        while e < b.len()
            && !matches!(
                b[e],
                b'/' | b'?' | b'#' | b' ' | b'\t' | b'\n' | b'\r' | b'\'' | b'"' | b'`' | b'\\'
            )
        {
            e += 1;
        }
        let auth = &b[s..e];
        // RFC 3986: the userinfo cannot contain a raw `@`; it ends at the first one.
        let Some(at) = memchr::memchr(b'@', auth) else {
            continue;
        };
        let Some(colon) = memchr::memchr(b':', &auth[..at]) else {
            continue;
        };
        let (ps, pe) = (s + colon + 1, s + at);
        if pe > ps && !is_masked(&b[ps..pe]) {
            out.push(Span {
                start: ps,
                end: pe,
                repl: MARK.to_string(),
            });
        }
    }
}
