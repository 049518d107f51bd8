//! The credential rules. They run on the token stream of a text only after the
//! fast pre-filter (`scan`) saw a trigger word, and emit byte spans to replace.

use crate::lex::{self, Kind, Quote, Tok};
use crate::scan::Triggers;

/// One secret: the bytes `start..end` (a literal's content, an unquoted value)
/// are replaced by [`MARK`]; delimiters and prefixes around them stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    // 32-bit offsets halve the memory of texts with very many secrets; the
    // redactor never scans a text of 4 GiB or more (see `Redactor::redact`).
    start: u32,
    end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn start(&self) -> usize {
        self.start as usize
    }

    pub fn end(&self) -> usize {
        self.end as usize
    }

    /// Everything, whatever the text's length (`apply` clamps the end).
    pub fn whole() -> Span {
        Span {
            start: 0,
            end: u32::MAX,
        }
    }
}

/// Placeholder that replaces a secret.
pub(crate) const MARK: &str = "<redacted>";

/// Maximum nesting of literal-in-body-in-literal re-scans. A literal deeper
/// than this that holds a trigger word is redacted whole.
const MAX_DEPTH: u8 = 6;

/// Tokens the rules run on per step, and the lookahead a rule may use beyond
/// them. Only this window of tokens is held, whatever the size of the text.
const CHUNK: usize = 2048;
const LOOK: usize = 2048;

/// Where the text being scanned came from; conninfo-style `key = value` with
/// spaces is only trusted inside string literals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    StringBody,
    CodeBody,
}

pub(crate) struct Engine<'t> {
    triggers: &'t Triggers,
    /// Bytes of nested literals that may still be re-scanned (bounds time).
    scan_budget: usize,
    /// Heap bytes of decoded literals alive at once, and their cap (bounds memory).
    copy_live: usize,
    copy_cap: usize,
}

/// Per-pass state of the rules that outlives one window of tokens.
#[derive(Default)]
struct State {
    administer: bool,
    /// Tokens starting before this byte were consumed by an unquoted secret.
    covered: usize,
    /// Starts of string tokens a rule redacted whole (not re-scanned).
    redacted: std::collections::HashSet<usize>,
    /// Every literal in `lits.0..lits.1` (bytes) is already redacted.
    lits: (usize, usize),
}

impl<'t> Engine<'t> {
    pub fn new(triggers: &'t Triggers, len: usize) -> Engine<'t> {
        Engine {
            triggers,
            scan_budget: len.saturating_mul(8).saturating_add(1 << 16),
            copy_live: 0,
            copy_cap: len.saturating_mul(2).saturating_add(1 << 16),
        }
    }

    /// Collect the secret spans of `b` (a whole input), sorted and merged.
    /// Both string-escaping conventions are tried when the text contains a
    /// backslash, and the union of their findings is kept: over-redacting a
    /// misread literal is preferred to leaking the tail of a MySQL `'pa\'ss'`.
    pub fn collect_top(&mut self, b: &[u8]) -> Vec<Span> {
        let mut out = Vec::new();
        self.collect(b, Ctx::Top, 0, &mut out);
        uri_userinfo(b, &mut out);
        merge(&mut out);
        out
    }

    fn collect(&mut self, b: &[u8], ctx: Ctx, depth: u8, out: &mut Vec<Span>) {
        self.collect_mode(b, false, ctx, depth, out);
        if memchr::memchr(b'\\', b).is_some() {
            self.collect_mode(b, true, ctx, depth, out);
        }
    }

    /// One pass over `b`: tokens stream through a window of at most
    /// `CHUNK + LOOK` significant tokens; comments are re-scanned as they are
    /// met, string literals when they leave the window (after every rule that
    /// could redact them whole has run).
    fn collect_mode(
        &mut self,
        b: &[u8],
        backslash: bool,
        ctx: Ctx,
        depth: u8,
        out: &mut Vec<Span>,
    ) {
        let mut lexer = lex::Lexer::new(b, backslash);
        let mut win: Vec<Tok> = Vec::new();
        let mut close: Vec<usize> = Vec::new();
        let mut st = State::default();
        let mut eof = false;
        loop {
            while !eof && win.len() < CHUNK + LOOK {
                match lexer.next() {
                    Some(t) if t.kind == Kind::Comment => self.nested(b, &t, depth, out),
                    Some(t) => win.push(t),
                    None => eof = true,
                }
            }
            let run_to = if eof { win.len() } else { CHUNK };
            matching_parens(&win, &mut close);
            Rules {
                b,
                t: &win,
                close: &close,
                ctx,
                backslash,
                out,
                st: &mut st,
                writers: std::cell::OnceCell::new(),
            }
            .run(run_to);
            for t in &win[..run_to] {
                if t.is_str() && !st.redacted.contains(&t.start) {
                    self.nested(b, t, depth, out);
                }
            }
            if eof {
                return;
            }
            win.drain(..run_to);
            let edge = win.first().map_or(b.len(), |t| t.start);
            st.redacted.retain(|&p| p >= edge);
        }
    }

    /// Re-scan a string literal or comment that contains a trigger: DO/function
    /// bodies, EXECUTE '…' strings, conninfo strings, quoted statements in raw
    /// log lines, commented-out statements. Past the depth limit or the
    /// budgets, a literal that holds a trigger is redacted whole instead (never
    /// a leak, and time and memory stay linear in the input).
    fn nested(&mut self, b: &[u8], t: &Tok, depth: u8, out: &mut Vec<Span>) {
        if t.cend <= t.cstart {
            return;
        }
        let content = &b[t.cstart..t.cend];
        if !self.triggers.any(content) {
            return;
        }
        let whole = Span::new(t.cstart, t.cend);
        if depth >= MAX_DEPTH || content.len() > self.scan_budget {
            if !is_masked(content) {
                out.push(whole);
            }
            return;
        }
        self.scan_budget -= content.len();
        let cost = match lex::decode_cost(b, t) {
            Some(c) if self.copy_live + c <= self.copy_cap => c,
            _ => {
                out.push(whole);
                return;
            }
        };
        self.copy_live += cost;
        let dec = lex::decode(b, t);
        let inner_ctx = match t.kind {
            Kind::Str(Quote::Single | Quote::Double | Quote::OracleQ) => Ctx::StringBody,
            _ => Ctx::CodeBody,
        };
        let mut inner = Vec::new();
        self.collect(&dec.text, inner_ctx, depth + 1, &mut inner);
        out.extend(
            inner
                .into_iter()
                .map(|s| Span::new(dec.map(s.start()), dec.map(s.end()))),
        );
        self.copy_live -= cost;
    }
}

/// `close[i]` is the index of the `)` matching a `(` at `i` (the window's
/// length when it is not closed inside the window); other entries are unused.
fn matching_parens(t: &[Tok], close: &mut Vec<usize>) {
    close.clear();
    close.resize(t.len(), t.len());
    let mut stack = Vec::new();
    for (i, tk) in t.iter().enumerate() {
        if tk.is_punct(b'(') {
            stack.push(i);
        } else if tk.is_punct(b')')
            && let Some(o) = stack.pop()
        {
            close[o] = i;
        }
    }
}

/// Sort spans and merge overlapping ones, in place.
pub(crate) fn merge(v: &mut Vec<Span>) {
    v.retain(|s| s.end > s.start);
    v.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut w = 0;
    for r in 0..v.len() {
        let s = v[r];
        if w > 0 && s.start < v[w - 1].end {
            v[w - 1].end = v[w - 1].end.max(s.end);
            continue;
        }
        v[w] = s;
        w += 1;
    }
    v.truncate(w);
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
    /// The window of significant tokens (comments left out).
    t: &'a [Tok],
    /// See [`matching_parens`].
    close: &'a [usize],
    ctx: Ctx,
    /// Reading the text with MySQL backslash escapes.
    backslash: bool,
    out: &'o mut Vec<Span>,
    st: &'o mut State,
    /// `writers[i]`: how many of tokens `0..i` are literals that write a
    /// credential keyword; built on the first dynamic-SQL call of the window,
    /// so that asking it of a call's arguments costs O(1) however deep the
    /// calls nest (`format('…', format('…', …` kept one window scan per call).
    writers: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Rules<'a, '_> {
    /// Whether any of tokens `a..e` is a literal that writes a credential keyword.
    fn writes_credential_in(&self, a: usize, e: usize) -> bool {
        let w = self.writers.get_or_init(|| {
            let mut v = Vec::with_capacity(self.t.len() + 1);
            let mut n = 0u32;
            v.push(0);
            for j in 0..self.t.len() {
                n += u32::from(self.is_str(j) && self.writes_credential(j));
                v.push(n);
            }
            v
        });
        let (a, e) = (a.min(self.t.len()), e.min(self.t.len()));
        a < e && w[e] > w[a]
    }

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
    /// An unterminated literal (truncated record) is redacted to the end of
    /// the text and left unterminated: inventing a delimiter could close an
    /// enclosing body differently on a second pass.
    fn redact_str(&mut self, k: usize) {
        let t = self.t[k];
        let (mut s, mut e) = (t.cstart, t.cend);
        if t.kind == Kind::Str(Quote::OracleQ) && self.b[t.cstart - 1] == b'<' && t.closed {
            // q'<…>' : the delimiters are part of what a reader sees.
            (s, e) = (s - 1, e + 1);
        }
        if is_masked(&self.b[s..e]) {
            return;
        }
        self.st.redacted.insert(t.start);
        self.out.push(Span::new(s, e));
    }

    /// Redact a hex/decimal number used as a password (e.g. `PASSWORD = 0x01… HASHED`).
    fn redact_num(&mut self, k: usize) {
        let t = self.t[k];
        self.out.push(Span::new(t.start, t.end));
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
            let me = masked_end(b, s);
            let j = self.skip_to_byte(k, me);
            // MariaDB's server_audit masks only the start of some passwords
            // (`IDENTIFIED BY *****'rest of it'`): the tail is still secret.
            if b[s] == b'*'
                && matches!(b.get(me), Some(b'\'' | b'"'))
                && self.tok(j).is_some_and(|n| n.start == me && n.is_str())
            {
                self.redact_str(j);
                return j + 1;
            }
            return j;
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
        // the redacted text tokenizes (and break idempotence). The value's
        // tokens are re-read from the text (the window holds no comments);
        // `covered` makes every byte of it read once.
        let mut p = s;
        while p < e {
            while p < e && lex::is_space(b[p]) {
                p += 1;
            }
            if p >= e {
                break;
            }
            let c = lex::token_at(b, p, self.backslash);
            if c.start > s && c.end > e && c.kind != Kind::Word {
                e = c.start;
                break;
            }
            p = c.end;
        }
        if e > s {
            self.out.push(Span::new(s, e));
            self.st.covered = self.st.covered.max(e);
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
            // A backslash starts an escape (a misread MySQL literal), not a value.
            Some(Kind::Punct(c)) => !matches!(c, b';' | b',' | b'(' | b')' | b'=' | b'\\'),
            _ => false,
        }
    }

    /// Run the rules at tokens `0..to` of the window (later tokens are lookahead).
    fn run(&mut self, to: usize) {
        for k in 0..to {
            let t = self.t[k];
            if t.start < self.st.covered {
                continue;
            }
            match t.kind {
                Kind::Punct(b';') => self.st.administer = false,
                Kind::Word => self.word(k),
                Kind::Str(q) if q != Quote::Backtick => {
                    if matches!(q, Quote::Single | Quote::Double) {
                        self.json_key(k);
                    }
                    self.concatenation(k);
                }
                _ => {}
            }
        }
    }

    fn word(&mut self, k: usize) {
        let w = self.text(k);
        if w.eq_ignore_ascii_case(b"administer") && self.is_word(k + 1, "key") {
            self.st.administer = true;
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
        if self.is_punct(k + 1, b'(') {
            if let Some(f) = func_spec(w) {
                self.func_call(k, f);
            } else if DYNAMIC_SQL
                .iter()
                .any(|d| w.eq_ignore_ascii_case(d.as_bytes()))
            {
                self.dynamic_sql(k);
            }
        }
        if is_key(w) && !(w.len() > 3 && w[..3].eq_ignore_ascii_case(b"sp_")) {
            self.key(k);
        }
    }

    /// The arguments of the call whose `(` is token `open`, as token ranges
    /// split at top-level commas. Nested groups are skipped in one step, so
    /// the cost is the call's own top-level tokens. A call not closed inside
    /// the window runs to the window's end.
    fn args(&self, open: usize) -> Vec<(usize, usize)> {
        let end = self.close[open].min(self.t.len());
        let mut v = Vec::new();
        let mut a = open + 1;
        let mut i = open + 1;
        while i < end {
            if self.t[i].is_punct(b'(') {
                i = self.close[i] + 1;
                continue;
            }
            if self.t[i].is_punct(b',') {
                v.push((a, i));
                a = i + 1;
            }
            i += 1;
        }
        if a < end || !v.is_empty() {
            v.push((a, end));
        }
        v
    }

    /// Redact every literal (string or number) among tokens `a..e`.
    /// `st.lits` remembers the byte range already done, so a nested call that
    /// asks for a range inside it costs nothing (keeps nested calls linear).
    fn redact_literals(&mut self, a: usize, e: usize) {
        let e = e.min(self.t.len());
        if a >= e {
            return;
        }
        let (ab, eb) = (self.t[a].start, self.t[e - 1].end);
        let (lf, lu) = self.st.lits;
        let mut i = a;
        if ab >= lf && ab < lu {
            if eb <= lu {
                return;
            }
            i = self.skip_to_byte(a, lu);
            self.st.lits = (lf, eb);
        } else {
            self.st.lits = (ab, eb);
        }
        while i < e {
            let t = self.t[i];
            let content = &self.b[t.cstart..t.cend];
            match t.kind {
                Kind::Str(Quote::Backtick) => {}
                // Only quotes and spaces (`''''`): the delimiters a template
                // puts around a secret, not a secret.
                Kind::Str(_) if content.iter().all(|c| b"'\"\\ ".contains(c)) => {}
                Kind::Str(_) => self.redact_str(i),
                Kind::Number => self.redact_num(i),
                _ => {}
            }
            i += 1;
        }
    }

    /// A crypto or credential function: redact the literals of its key and
    /// password arguments, by position or by name (`key => …`).
    fn func_call(&mut self, k: usize, f: &FuncSpec) {
        let args = self.args(k + 1);
        let mut named_seen = false;
        for (pos, &(a, e)) in args.iter().enumerate() {
            let named = a + 2 < e
                && self.tok(a).is_some_and(|t| t.kind == Kind::Word)
                && self.is_punct(a + 1, b'=')
                && self.is_punct(a + 2, b'>');
            named_seen |= named;
            let wanted = if named {
                let name = self.text(a);
                f.named
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
            } else {
                !named_seen && f.positions.contains(&(pos + 1))
            };
            if !wanted {
                continue;
            }
            let a = if named { a + 3 } else { a };
            if f.format_names && e == a + 1 && self.is_str(a) {
                // PostgreSQL `encode(x, 'hex')`: a format name, not a key.
                let t = self.t[a];
                let c = &self.b[t.cstart..t.cend];
                if PG_ENCODINGS
                    .iter()
                    .any(|n| c.eq_ignore_ascii_case(n.as_bytes()))
                {
                    continue;
                }
            }
            self.redact_literals(a, e);
        }
    }

    /// `format('ALTER ROLE %I PASSWORD %L', r, 'p')`, `CONCAT('… IDENTIFIED BY ',
    /// QUOTE('p'))`: once an argument holds a literal that writes a credential
    /// keyword, every literal of the arguments after it is redacted.
    fn dynamic_sql(&mut self, k: usize) {
        let args = self.args(k + 1);
        let from = args
            .iter()
            .position(|&(a, e)| self.writes_credential_in(a, e));
        if let Some(i) = from
            && let Some(&(a, _)) = args.get(i + 1)
        {
            let e = args.last().map_or(a, |l| l.1);
            self.redact_literals(a, e);
        }
    }

    /// Does literal `k` write a credential keyword (dynamic SQL that builds a
    /// secret-bearing statement)?
    fn writes_credential(&self, k: usize) -> bool {
        let t = self.t[k];
        let c = &self.b[t.cstart..t.cend];
        c.windows(5).any(|w| {
            w.eq_ignore_ascii_case(b"passw")
                || w.eq_ignore_ascii_case(b"ident")
                || w.eq_ignore_ascii_case(b"secre")
                || w[..3].eq_ignore_ascii_case(b"pwd")
        }) || c.len() >= 3 && c[c.len() - 3..].eq_ignore_ascii_case(b"pwd")
    }

    /// Length of a concatenation operator at token `j`: `||` (PostgreSQL,
    /// Oracle, MySQL in ANSI mode) or `+` (SQL Server); 0 if none.
    fn concat_op(&self, j: usize) -> usize {
        if self.is_punct(j, b'|') && self.is_punct(j + 1, b'|') {
            2
        } else if self.is_punct(j, b'+') {
            1
        } else {
            0
        }
    }

    /// `'ALTER ROLE x PASSWORD ' || 'p'`, `… || quote_literal('p')`,
    /// `N'… PASSWORD = ''' + N'p' + ''''`, Oracle `EXECUTE IMMEDIATE
    /// '… IDENTIFIED BY ' || 'p'`: after a literal that writes a credential
    /// keyword, every literal operand of the rest of the concatenation is
    /// redacted (a bare variable cannot be).
    fn concatenation(&mut self, k: usize) {
        let start = self.t[k].start;
        let (lf, lu) = self.st.lits;
        if self.concat_op(k + 1) == 0 || (start >= lf && start < lu) || !self.writes_credential(k) {
            return;
        }
        let first = k + 1;
        let mut j = first;
        loop {
            let o = self.concat_op(j);
            if o == 0 {
                break;
            }
            j += o;
            match self.tok(j).map(|t| t.kind) {
                Some(Kind::Word) if self.is_punct(j + 1, b'(') => j = self.close[j + 1] + 1,
                Some(Kind::Word | Kind::Param | Kind::Number | Kind::Str(_)) => j += 1,
                _ => break,
            }
        }
        self.redact_literals(first, j);
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
            Kind::Punct(b'*') if masked_bare_at(self.b, nt.start) => {
                // MariaDB partial mask `PASSWORD *****'tail'`.
                self.bare(n, Bare::Oracle);
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
                if self.st.administer && self.text(k).eq_ignore_ascii_case(b"secret") =>
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
        if self.is_word(after, "replace") || (self.st.administer && self.is_word(after, "set")) {
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
        if t.kind == Kind::Str(Quote::Double) && self.is_str(v) {
            // PostgreSQL FDW `OPTIONS ("password" 'p')`: a quoted option name.
            self.value(v, false);
            return;
        }
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

/// A function whose arguments carry a key or password.
pub(crate) struct FuncSpec {
    name: &'static str,
    /// 1-based positions of secret arguments.
    positions: &'static [usize],
    /// Names of secret arguments in Oracle named notation (`key => …`).
    named: &'static [&'static str],
    /// PostgreSQL `encode`/`decode` share the name with MySQL's: their
    /// second argument is a format name (`'hex'`), which is not redacted.
    format_names: bool,
}

const fn func(name: &'static str, positions: &'static [usize]) -> FuncSpec {
    FuncSpec {
        name,
        positions,
        named: &[],
        format_names: false,
    }
}

/// Crypto and credential functions, by engine. A name shared by engines takes
/// the union of their secret positions (over-redaction, never a leak).
const FUNC_SPECS: &[FuncSpec] = &[
    // PostgreSQL pgcrypto, https://www.postgresql.org/docs/current/pgcrypto.html
    // pgp_sym_encrypt(data, psw [, options]), pgp_sym_decrypt(msg, psw [, options])
    // and their _bytea forms; pgp_pub_decrypt(msg, key [, psw [, options]]);
    // encrypt(data, key, type), decrypt(data, key, type), encrypt_iv /
    // decrypt_iv(data, key, iv, type); crypt(password, salt); hmac(data, key, type).
    func("pgp_sym_encrypt", &[2]),
    func("pgp_sym_encrypt_bytea", &[2]),
    func("pgp_sym_decrypt", &[2]),
    func("pgp_sym_decrypt_bytea", &[2]),
    func("pgp_pub_decrypt", &[2, 3]),
    func("pgp_pub_decrypt_bytea", &[2, 3]),
    func("encrypt_iv", &[2]),
    func("decrypt_iv", &[2]),
    func("crypt", &[1]),
    func("hmac", &[2]),
    // MySQL / MariaDB, https://dev.mysql.com/doc/refman/8.0/en/encryption-functions.html
    // and https://mariadb.com/kb/en/encryption-hashing-and-compression-functions/:
    // AES_ENCRYPT(str, key_str, …), AES_DECRYPT(crypt_str, key_str, …),
    // DES_ENCRYPT(str [, key_num | key_str]), DES_DECRYPT(crypt_str [, key_str]),
    // ENCODE(str, pass_str), DECODE(crypt_str, pass_str), ENCRYPT(str [, salt])
    // (str is the password hashed by crypt(3)), VALIDATE_PASSWORD_STRENGTH(str).
    // Oracle DBMS_CRYPTO, https://docs.oracle.com/en/database/oracle/oracle-database/19/arpls/DBMS_CRYPTO.html:
    // ENCRYPT/DECRYPT(src, typ, key [, iv]) as functions, (dst, src, typ, key [, iv])
    // as procedures, MAC(src, typ, key). `encrypt`/`decrypt` therefore cover
    // pgcrypto, MySQL and DBMS_CRYPTO positions at once.
    func("aes_encrypt", &[2]),
    func("aes_decrypt", &[2]),
    func("des_encrypt", &[2]),
    func("des_decrypt", &[2]),
    FuncSpec {
        name: "encode",
        positions: &[2],
        named: &[],
        format_names: true,
    },
    FuncSpec {
        name: "decode",
        positions: &[2],
        named: &[],
        format_names: true,
    },
    FuncSpec {
        name: "encrypt",
        positions: &[1, 2, 3, 4],
        named: &["key"],
        format_names: false,
    },
    FuncSpec {
        name: "decrypt",
        positions: &[2, 3, 4],
        named: &["key"],
        format_names: false,
    },
    FuncSpec {
        name: "mac",
        positions: &[3],
        named: &["key"],
        format_names: false,
    },
    func("validate_password_strength", &[1]),
    // SQL Server, https://learn.microsoft.com/sql/t-sql/functions/cryptographic-functions-transact-sql:
    // ENCRYPTBYPASSPHRASE(passphrase, cleartext …), DECRYPTBYPASSPHRASE(passphrase,
    // ciphertext …), DECRYPTBYKEYAUTOCERT(cert_ID, cert_password, …),
    // DECRYPTBYKEYAUTOASYMKEY(akey_ID, akey_password, …),
    // DECRYPTBYCERT(cert_ID, ciphertext, cert_password),
    // DECRYPTBYASYMKEY(asym_key_ID, ciphertext, asym_key_password).
    // (ENCRYPTBYKEY takes a key GUID, no secret.)
    func("encryptbypassphrase", &[1]),
    func("decryptbypassphrase", &[1]),
    func("decryptbykeyautocert", &[2]),
    func("decryptbykeyautoasymkey", &[2]),
    func("decryptbycert", &[3]),
    func("decryptbyasymkey", &[3]),
    // Oracle DBMS_CREDENTIAL, https://docs.oracle.com/en/database/oracle/oracle-database/19/arpls/DBMS_CREDENTIAL.html:
    // CREATE_CREDENTIAL(credential_name, username, password, database_role,
    // windows_domain, comments, enabled), UPDATE_CREDENTIAL(credential_name,
    // attribute, value). DBMS_CLOUD, https://docs.oracle.com/iaas/autonomous-database-serverless/doc/dbms-cloud-subprograms.html:
    // CREATE_CREDENTIAL(credential_name, username, password) or
    // (credential_name, user_ocid, tenancy_ocid, private_key, fingerprint),
    // UPDATE_CREDENTIAL(credential_name, attribute, value).
    // DBMS_OBFUSCATION_TOOLKIT DESENCRYPT/DESDECRYPT/DES3ENCRYPT/DES3DECRYPT
    // (input, key) with `key_string =>` / `key =>`.
    FuncSpec {
        name: "create_credential",
        positions: &[3, 4],
        named: &["password", "private_key"],
        format_names: false,
    },
    FuncSpec {
        name: "update_credential",
        positions: &[3],
        named: &["value"],
        format_names: false,
    },
    FuncSpec {
        name: "desencrypt",
        positions: &[2],
        named: &["key", "key_string"],
        format_names: false,
    },
    FuncSpec {
        name: "desdecrypt",
        positions: &[2],
        named: &["key", "key_string"],
        format_names: false,
    },
    FuncSpec {
        name: "des3encrypt",
        positions: &[2],
        named: &["key", "key_string"],
        format_names: false,
    },
    FuncSpec {
        name: "des3decrypt",
        positions: &[2],
        named: &["key", "key_string"],
        format_names: false,
    },
];

/// PostgreSQL `encode`/`decode` formats (https://www.postgresql.org/docs/current/functions-binarystring.html).
const PG_ENCODINGS: [&str; 4] = ["hex", "base64", "escape", "base32hex"];

/// Functions that build statements from a template and arguments.
const DYNAMIC_SQL: [&str; 5] = ["format", "concat", "concat_ws", "formatmessage", "printf"];

fn func_spec(w: &[u8]) -> Option<&'static FuncSpec> {
    if w.len() < 3 || w.len() > 26 {
        return None;
    }
    FUNC_SPECS
        .iter()
        .find(|f| w.eq_ignore_ascii_case(f.name.as_bytes()))
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
            out.push(Span::new(ps, pe));
        }
    }
}
