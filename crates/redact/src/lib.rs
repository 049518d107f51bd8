//! # onetrail-redact — SQL credential redactor
//!
//! onetrail promises never to forward a cleartext password that sits in an
//! audited statement. The pipeline runs [`Redactor::redact`] on every
//! statement-bearing field of every event (statement, raw line, parameters,
//! error text), for all engines, before anything leaves the agent.
//!
//! Unlike pgaudit (which drops everything after the first `password` token and
//! prints `<REDACTED>`), only the secret itself is replaced; the rest of the
//! statement is kept byte for byte.
//!
//! ## Replacement text
//!
//! The secret is replaced by `<redacted>`, keeping its quoting so the statement
//! stays recognisable: `'<redacted>'`, `N'<redacted>'`, `E'<redacted>'`,
//! `"<redacted>"`, `$tag$<redacted>$tag$`, `q'[<redacted>]'`; unquoted secrets
//! (Oracle `IDENTIFIED BY pw`, conninfo `password=pw`, hex `0x…` hashes, URI
//! userinfo) become a bare `<redacted>`. Only the secret's content is
//! replaced, so a literal nested in another keeps its outer escaping
//! (`''<redacted>''`, `\'<redacted>\'`). An unterminated secret literal
//! (truncated record) is redacted to the end of the text and left
//! unterminated (`PASSWORD '<redacted>`). Already-masked values
//! (`<REDACTED>`, `<redacted>`, `<secret>`, runs of `*`, empty strings) are
//! left alone and not counted, so redaction is idempotent. The count is the
//! number of replaced (merged) spans: one per secret.
//!
//! ## What is redacted (case-insensitive, comments/newlines allowed between tokens)
//!
//! * **Credential keys** — a word that is `password`, `passwd`, `pwd`, `secret`
//!   or ends in one of them (`MASTER_PASSWORD`, `SOURCE_PASSWORD`,
//!   `OLD_PASSWORD`, `MEDIAPASSWORD`, `sslpassword`, `@rmtpassword`, …) followed by
//!   * a literal: `PASSWORD 'x'` (PostgreSQL roles, `OPTIONS (password 'x')`,
//!     `OPTIONS (ADD|SET password 'x')`, MySQL `CREATE SERVER … OPTIONS (PASSWORD 'x')`),
//!     `SECRET 'x'`;
//!   * `=`, `:=` or `=>` and a literal or number: `WITH PASSWORD = N'x' [HASHED]`,
//!     `PASSWORD = 0x02… HASHED`, `SECRET = 'x'`, `MASTER_PASSWORD = 'x'`,
//!     `ENCRYPTION|DECRYPTION BY PASSWORD = 'x'`, `SET PASSWORD = 'x'`,
//!     `START REPLICA … PASSWORD = 'x'`;
//!   * `(` and a literal: `PASSWORD('x')`, `OLD_PASSWORD('x')` anywhere (also
//!     `SELECT PASSWORD('x')`), `PWDENCRYPT('x')`, `PWDCOMPARE('x', …)`;
//!   * an unquoted value written `key=value` (no spaces; conninfo/ODBC/raw log
//!     style: `password=s3cret`, `Pwd=x;`, `Pwd={a;b}`), or `key = value` inside
//!     a string literal (libpq conninfo allows spaces). Bind variables (`$1`,
//!     `?`, `:v`, `@v`), `NULL`/`DEFAULT`/booleans and function calls are not values.
//! * **`IDENTIFIED BY`** `'x'` | `"x"` | unquoted `x` (Oracle, also when the
//!   secret is a keyword such as `password`) | `VALUES 'hash'` | `PASSWORD 'hash'`;
//!   not `RANDOM PASSWORD`, `EXTERNAL STORE`, bind variables. Covers CREATE/ALTER
//!   USER, GRANT … IDENTIFIED BY, CREATE ROLE (Oracle), CREATE DATABASE LINK …
//!   CONNECT TO u IDENTIFIED BY pw, ADMINISTER KEY MANAGEMENT … IDENTIFIED BY
//!   (incl. `FORCE KEYSTORE`, `WITH BACKUP`, `SET KEY`, and the new password in
//!   `ALTER KEYSTORE PASSWORD IDENTIFIED BY old SET new`, and `WITH SECRET s`).
//! * **`IDENTIFIED VIA|WITH plugin USING|AS|BY 'x'`** (MySQL/MariaDB, including
//!   `USING PASSWORD('x')` and `OR plugin …` chains) and a following
//!   `REPLACE 'current'`.
//! * **`SET PASSWORD [FOR user] = 'x' | TO 'x'`**, `= PASSWORD('x')`.
//! * **SQL Server procedures**: `sp_addlogin` (2nd arg / `@passwd`),
//!   `sp_password` (1st and 2nd / `@old`, `@new`), `sp_addlinkedsrvlogin` (5th /
//!   `@rmtpassword`), `sp_setapprole` (2nd / `@password`, also
//!   `{Encrypt N'x'}`), `sp_addapprole`, `sp_approlepassword`,
//!   `sp_change_users_login` (4th).
//! * **Nested text** — every string literal, dollar-quoted body and comment that
//!   contains a trigger word is decoded (doubled quotes, backslash escapes) and
//!   scanned recursively with all rules (depth ≤ 6; deeper, redacted whole): DO blocks and function
//!   bodies (`EXECUTE 'CREATE ROLE x PASSWORD ''s'''`), `dblink_connect('host=h
//!   password=s')`, conninfo values quoted as `password='sec ret'`,
//!   `CREATE SUBSCRIPTION … CONNECTION '…'`, `OPENROWSET('…', 'Server=…;Pwd=…')`,
//!   statements quoted inside raw log lines (CSV `"…"`, MariaDB `'…\'…'`,
//!   JSON `"…"`), and `"password": "…"` JSON pairs.
//! * **URIs** `scheme://user:secret@host` anywhere.
//! * **Key and password arguments of crypto and credential functions**
//!   (table with documentation links in `rules.rs`): pgcrypto
//!   `pgp_sym_encrypt|decrypt[_bytea](…, psw)`, `pgp_pub_decrypt[_bytea](…,
//!   key, psw)`, `encrypt|decrypt[_iv](…, key, …)`, `crypt(pw, salt)`,
//!   `hmac(…, key, …)`; MySQL/MariaDB `AES_|DES_ENCRYPT|DECRYPT(…, key)`,
//!   `ENCODE|DECODE(…, pass)` (not PostgreSQL's `encode(x, 'hex')` format
//!   names), `ENCRYPT(pw, salt)`, `VALIDATE_PASSWORD_STRENGTH(pw)`; SQL Server
//!   `ENCRYPTBYPASSPHRASE|DECRYPTBYPASSPHRASE(phrase, …)`,
//!   `DECRYPTBYKEYAUTOCERT|DECRYPTBYKEYAUTOASYMKEY(id, pw, …)`,
//!   `DECRYPTBYCERT|DECRYPTBYASYMKEY(id, …, pw)`; Oracle
//!   `DBMS_CREDENTIAL|DBMS_CLOUD.CREATE_CREDENTIAL` (3rd/4th or `password =>`,
//!   `private_key =>`), `UPDATE_CREDENTIAL` (3rd), `DBMS_CRYPTO.ENCRYPT|DECRYPT|MAC`
//!   (key by position or `key =>`), `DBMS_OBFUSCATION_TOOLKIT.DES[3]ENCRYPT|DECRYPT`.
//!   Every literal inside such an argument is redacted (`HEXTORAW('…')`,
//!   `UTL_RAW.CAST_TO_RAW('…')`, numbers included).
//! * **Dynamic SQL** that writes a credential keyword (`password`, `pwd`,
//!   `identified`, `secret`): `format('ALTER ROLE %I PASSWORD %L', r, 'p')`,
//!   `CONCAT('… IDENTIFIED BY ', QUOTE('p'))`, `CONCAT_WS`, `FORMATMESSAGE`,
//!   `printf` — every literal of the arguments after the template; and a
//!   concatenation after such a literal (`'… PASSWORD ' || 'p'`,
//!   `|| quote_literal('p')`, Oracle `EXECUTE IMMEDIATE '… IDENTIFIED BY ' ||
//!   'p'`, SQL Server `N'… PASSWORD = ''' + N'p' + ''''`) — every literal
//!   operand that follows (quote-only literals such as `''''` are kept).
//! * **A server's partial mask**: MariaDB's `IDENTIFIED BY *****'tail'` — the
//!   literal right after the asterisks is redacted too.
//!
//! Literal forms read as one value: `'…'` with doubled quotes or backslash
//! escapes, `E'…'`, `U&'…'` (and its `UESCAPE`), `B'…'`, `X'…'`, `N'…'`,
//! `$tag$…$tag$`, Oracle `q'[…]'`/`q'{…}'`/`q'<…>'`/`q'(…)'`/`q'!…!'` and
//! `nq'…'`, MySQL introducers `_utf8mb4'…'`, `_binary 'x'`, `_latin1 X'…'`,
//! `_utf8mb4 0x…`, hex numbers `0x…`, and **adjacent literals** `'abc' 'p'`
//! separated by whitespace (PostgreSQL needs a newline, MySQL does not; the
//! whole run is one value). A quoted option name counts as a key in
//! `OPTIONS ("password" 'p')`.
//!
//! **XML records** (Percona and MySQL Enterprise audit XML, Oracle XML audit)
//! go through [`Redactor::redact_xml`]: each text node and attribute value is
//! entity-decoded (`&apos;`, `&quot;`, `&#39;`, `&#x27;`, `&amp;`, …),
//! redacted, and the mark written back escaped (`&lt;redacted&gt;`), so the
//! record stays well-formed.
//!
//! Literal escaping is ambiguous across engines (`'a\'b'` is one MySQL string
//! but a complete PostgreSQL string followed by `b'`). When the text contains a
//! backslash both readings are scanned and the union of secrets is redacted, so a
//! misread literal can only cause over-redaction, not a leak.
//!
//! ## Limits (known gaps)
//!
//! * Data, not credentials: `INSERT`/`UPDATE` of `mysql.user`, bind values
//!   and variables (`|| v_pw`, `format(…, $1)`) that are not literals, and
//!   functions not in the table are not redacted. Conversely, application
//!   queries such as `WHERE password = 'x'` *are* redacted, and so are the
//!   data arguments of `encrypt`/`decrypt` (a name shared by pgcrypto, MySQL
//!   and DBMS_CRYPTO takes the union of their key positions) — deliberate
//!   over-redaction.
//! * Text that is encoded beyond SQL quoting (URL/percent or base64 encoding)
//!   is not decoded; XML entities only through [`Redactor::redact_xml`].
//! * A rule looks at most 2048 tokens ahead of the word that starts it (a
//!   function call with an argument list longer than that may keep a later
//!   key argument).
//! * Nested literals are re-read to a depth of 6, within a budget of 8 × the
//!   text's length (bytes re-read) and 2 × its length (decoded copies alive):
//!   past either, a nested literal or comment that holds a trigger word is
//!   redacted whole instead (over-redaction, never a leak).
//! * A text of 4 GiB or more that holds a trigger is redacted whole.
//! * SQL*Plus `CONNECT user/pw@db` and other client commands are not SQL and
//!   are not recognised.
//! * A quoted identifier (`"password"`, `` `password` ``) is not a credential key,
//!   except as a JSON key and as an option name followed by a literal
//!   (`OPTIONS ("password" 'p')`).
//! * [`mask_literals`] does not mask double-quoted tokens (identifiers in
//!   PostgreSQL/Oracle/SQL Server) nor text inside comments.
//!
//! ## Performance
//!
//! The common case — no trigger word (`passw`, `pwd`, `identified`, `secret`,
//! `sp_addlogin`/`sp_addlinkedsrvlogin`/`sp_setapprole`/`sp_addapprole`/
//! `sp_change_users_login`, `://`) — is a case-insensitive SIMD `memmem` scan of
//! a lowercased stack window: no allocation, `None` returned. Only when a
//! trigger is present is the text tokenized and the rules run. The triggers
//! also include `crypt`, `hmac`, `encode`, `decode` and `_credential` for the
//! function table.
//!
//! On the slow path, time and memory are linear in the text, whatever its
//! shape: tokens stream through a window of at most 4096 tokens (never a
//! token vector of the whole text), nested literals without escapes are
//! re-read in place and decoded copies are budgeted (see Limits), a secret
//! costs 8 bytes until the output is built, and every scan that could be
//! repeated (unquoted values, argument lists, concatenations) is amortized.
//! A hostile 4 MiB text peaks below 4 × its size (tests/hostile.rs).

mod lex;
mod rules;
mod scan;
mod xml;

use rules::{Engine, MARK, Span};
use scan::Triggers;

/// Redactor configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedactorOptions {
    /// After credential redaction, also replace every literal by `?`
    /// (see [`mask_literals`]). Default `false`.
    pub mask_literals: bool,
}

/// Credential redactor. Cheap to share (`Send + Sync`); build once, call per field.
pub struct Redactor {
    opts: RedactorOptions,
    triggers: Triggers,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(RedactorOptions::default())
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("opts", &self.opts)
            .finish()
    }
}

/// The most scans [`Redactor::redact`] makes of one text. Each pass that
/// changes the text replaces at least one byte that is not part of a
/// `<redacted>` mark, and real statements settle after one pass (two when an
/// earlier redaction closed a literal); the bound keeps hostile input linear.
pub const MAX_PASSES: usize = 8;

impl Redactor {
    pub fn new(opts: RedactorOptions) -> Redactor {
        Redactor {
            opts,
            triggers: Triggers::new(),
        }
    }

    /// Redact the credentials in `text`.
    ///
    /// Returns `None` when nothing was changed (fast path: no allocation), or
    /// `Some((new_text, count))` where `count` is the number of secrets
    /// replaced (masked literals are not counted; with `mask_literals` the
    /// result may be `Some((_, 0))`).
    ///
    /// Redaction is idempotent: replacing a secret can change how the rest of
    /// a hostile text lexes (an unterminated literal that ran across records
    /// is now closed by `<redacted>`), so the text is scanned again after each
    /// pass that changed it, until a pass finds nothing, at most
    /// [`MAX_PASSES`] times (each pass is linear; only text that held a
    /// secret is scanned twice).
    pub fn redact(&self, text: &str) -> Option<(String, usize)> {
        let redacted = until_stable(text, |cur| {
            let spans = self.secret_spans(cur.as_bytes());
            (!spans.is_empty()).then(|| (apply(cur, &spans, MARK), spans.len()))
        });
        if !self.opts.mask_literals {
            return redacted;
        }
        let count = redacted.as_ref().map_or(0, |r| r.1);
        let base = redacted.as_ref().map_or(text, |r| r.0.as_str());
        match mask_spans(base) {
            Some(masked) => Some((masked, count)),
            None => redacted,
        }
    }

    /// Redact the credentials in an XML document or fragment (Percona and
    /// MySQL Enterprise audit XML, Oracle XML audit files), where the quotes
    /// of a statement are written as entities (`PASSWORD &apos;p&apos;`).
    ///
    /// Each text node and attribute value is decoded (predefined and numeric
    /// character references), redacted on its own, and the replacement is
    /// written escaped (`&lt;redacted&gt;`), so markup is never touched and
    /// the result stays well-formed. CDATA sections and comments are redacted
    /// as they are. Same return convention as [`Redactor::redact`];
    /// `mask_literals` does not apply.
    /// Idempotent like [`Redactor::redact`], by the same repeated passes.
    pub fn redact_xml(&self, text: &str) -> Option<(String, usize)> {
        until_stable(text, |cur| self.redact_xml_once(cur))
    }

    fn redact_xml_once(&self, text: &str) -> Option<(String, usize)> {
        let b = text.as_bytes();
        if !self.triggers.any(b) && memchr::memchr(b'&', b).is_none() {
            return None;
        }
        // Segments come in text order and their spans stay inside them, so
        // the spans are sorted; `raw` says which need the unescaped mark.
        let mut spans = Vec::new();
        let mut raw = Vec::new();
        xml::for_each_value(b, |seg| match seg {
            xml::Segment::Raw(s, e) => {
                for sp in self.secret_spans(&b[s..e]) {
                    spans.push(Span::new(s + sp.start(), s + sp.end()));
                    raw.push(true);
                }
            }
            xml::Segment::Escaped(s, e) => {
                let dec = xml::unescape(&b[s..e], s);
                for sp in self.secret_spans(&dec.text) {
                    spans.push(Span::new(dec.map(sp.start()), dec.map(sp.end())));
                    raw.push(false);
                }
            }
        });
        if spans.is_empty() {
            return None;
        }
        let count = spans.len();
        let out = apply_with(text, &spans, |i| {
            // CDATA and comments take the mark as it is; elsewhere `<` is markup.
            if raw[i] { MARK } else { "&lt;redacted&gt;" }
        });
        Some((out, count))
    }

    /// True when `text` contains a trigger word (and so may hold a secret).
    pub fn may_contain_secret(&self, text: &str) -> bool {
        self.triggers.any(text.as_bytes())
    }

    fn secret_spans(&self, b: &[u8]) -> Vec<Span> {
        if !self.triggers.any(b) {
            return Vec::new();
        }
        if b.len() > u32::MAX as usize {
            // Beyond 32-bit offsets: the whole text counts as one secret.
            return vec![Span::whole()];
        }
        Engine::new(&self.triggers, b.len()).collect_top(b)
    }
}

/// Tokens the redactor has lexed on the calling thread (a work counter for
/// tests that check linear time without a clock). Not a stable API.
#[doc(hidden)]
pub fn lexed_tokens() -> u64 {
    lex::lexed()
}

/// Replace every literal — strings (`'…'`, `E'…'`, `N'…'`, `q'[…]'`),
/// numbers, hex/bit literals (`X'…'`, `B'…'`, `0x…`) and dollar-quoted bodies —
/// with `?`. Identifiers, keywords, comments and bind placeholders are kept.
pub fn mask_literals(text: &str) -> String {
    mask_spans(text).unwrap_or_else(|| text.to_string())
}

fn mask_spans(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut modes = vec![false];
    if memchr::memchr(b'\\', b).is_some() {
        modes.push(true);
    }
    for bs in modes {
        for t in lex::Lexer::new(b, bs) {
            let lit = match t.kind {
                lex::Kind::Number => true,
                lex::Kind::Str(q) => !matches!(q, lex::Quote::Double | lex::Quote::Backtick),
                _ => false,
            };
            if lit {
                spans.push(Span::new(t.start, t.end));
            }
        }
    }
    if spans.is_empty() {
        return None;
    }
    rules::merge(&mut spans);
    Some(apply(text, &spans, "?"))
}

/// Build the output from sorted, non-overlapping spans, each replaced by `mark`.
/// Run `pass` on `text`, then on its own output, until a pass changes
/// nothing or [`MAX_PASSES`] passes ran: the last text and the sum of the
/// passes' counts, `None` when the first pass changed nothing.
fn until_stable(
    text: &str,
    mut pass: impl FnMut(&str) -> Option<(String, usize)>,
) -> Option<(String, usize)> {
    let mut done: Option<(String, usize)> = None;
    for _ in 0..MAX_PASSES {
        let cur = done.as_ref().map_or(text, |(s, _)| s.as_str());
        let Some((out, n)) = pass(cur) else {
            break;
        };
        let total = done.as_ref().map_or(0, |(_, c)| *c) + n;
        done = Some((out, total));
    }
    done
}

fn apply(text: &str, spans: &[Span], mark: &str) -> String {
    apply_with(text, spans, |_| mark)
}

/// [`apply`] with the mark of span `i` given by `mark(i)`.
fn apply_with<'m>(text: &str, spans: &[Span], mark: impl Fn(usize) -> &'m str) -> String {
    let mut out = String::with_capacity(text.len() + spans.len() * 16);
    let mut last = 0;
    for (i, s) in spans.iter().enumerate() {
        let mark = mark(i);
        let (mut st, mut en) = (s.start(), s.end().min(text.len()));
        // Spans always fall on ASCII boundaries; stay panic-free regardless.
        while st > last && !text.is_char_boundary(st) {
            st -= 1;
        }
        while en < text.len() && !text.is_char_boundary(en) {
            en += 1;
        }
        if st < last {
            st = last;
        }
        if en < st {
            continue;
        }
        out.push_str(&text[last..st]);
        out.push_str(mark);
        last = en;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Option<(String, usize)> {
        Redactor::default().redact(s)
    }

    #[test]
    fn fast_path_none() {
        assert_eq!(r("SELECT * FROM t WHERE id = 1"), None);
        assert_eq!(r("SELECT password FROM users"), None);
    }

    #[test]
    fn basic() {
        assert_eq!(
            r("CREATE ROLE x PASSWORD 'abc'"),
            Some(("CREATE ROLE x PASSWORD '<redacted>'".into(), 1))
        );
    }

    #[test]
    fn truncated_secret_redacted_to_end() {
        assert_eq!(
            r("CREATE ROLE x PASSWORD 'abc-truncat"),
            Some(("CREATE ROLE x PASSWORD '<redacted>".into(), 1))
        );
        assert_eq!(r("CREATE ROLE x PASSWORD '<redacted>"), None);
    }

    #[test]
    fn non_sql_text_is_handled() {
        assert_eq!(
            r("FATAL: could not connect, conninfo: host=a password=x1 port=5"),
            Some((
                "FATAL: could not connect, conninfo: host=a password=<redacted> port=5".into(),
                1
            ))
        );
    }

    #[test]
    fn mask_option_counts_only_secrets() {
        let red = Redactor::new(RedactorOptions {
            mask_literals: true,
        });
        assert_eq!(
            red.redact("CREATE ROLE x PASSWORD 'abc' CONNECTION LIMIT 5"),
            Some(("CREATE ROLE x PASSWORD ? CONNECTION LIMIT ?".into(), 1))
        );
        assert_eq!(red.redact("SELECT 1"), Some(("SELECT ?".into(), 0)));
        assert_eq!(red.redact("SELECT a FROM t"), None);
    }
}
