//! Statement classification for the MySQL dialect family.
//!
//! Only the leading keywords are looked at (after whitespace, `-- `/`#`/`/* */`
//! comments and opening parentheses); MySQL executable comments `/*! ... */`,
//! `/*!50100 ... */` and MariaDB's `/*M! ... */` are *transparent* (their body
//! is SQL the server runs). Matching is ASCII case-insensitive; nothing is
//! allocated except the returned action string.

use onetrail_event::Category;

/// A cursor over SQL text that yields upper-cased keywords.
struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Lexer {
            b: s.as_bytes(),
            i: 0,
        }
    }

    /// Skip whitespace, comments, `(` and the markers of executable comments.
    fn skip_trivia(&mut self) {
        let b = self.b;
        loop {
            while self.i < b.len() && (b[self.i].is_ascii_whitespace() || b[self.i] == b'(') {
                self.i += 1;
            }
            let rest = &b[self.i..];
            if rest.starts_with(b"/*!") || rest.starts_with(b"/*M!") || rest.starts_with(b"/*m!") {
                // executable comment: skip the marker and optional version digits
                self.i += if rest[2] == b'!' { 3 } else { 4 };
                while self.i < b.len() && b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                continue;
            }
            if rest.starts_with(b"/*") {
                match memchr::memmem::find(&rest[2..], b"*/") {
                    Some(p) => self.i += 2 + p + 2,
                    None => self.i = b.len(),
                }
                continue;
            }
            if rest.starts_with(b"*/") {
                // end of an executable comment we entered
                self.i += 2;
                continue;
            }
            if rest.starts_with(b"#") || rest.starts_with(b"--") {
                // MySQL requires whitespace after `--`, MariaDB's server_audit
                // corpus shows `--A comment` accepted by the client; accept both.
                match memchr::memchr(b'\n', rest) {
                    Some(p) => self.i += p + 1,
                    None => self.i = b.len(),
                }
                continue;
            }
            break;
        }
    }

    /// Next word (identifier-like token), or `None` at a non-word char / end.
    fn word(&mut self) -> Option<&'a str> {
        self.skip_trivia();
        let start = self.i;
        while self.i < self.b.len() && is_word(self.b[self.i]) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        // Safe: `is_word` never splits a UTF-8 sequence (all bytes >= 0x80 are
        // word bytes) and the input is a &str.
        std::str::from_utf8(&self.b[start..self.i]).ok()
    }

    fn peek_word(&mut self) -> Option<&'a str> {
        let save = self.i;
        let w = self.word();
        self.i = save;
        w
    }

    /// Skip `= value` / `value` forms such as `DEFINER = user@host`.
    fn skip_assignment(&mut self) {
        self.skip_trivia();
        if self.i < self.b.len() && self.b[self.i] == b'=' {
            self.i += 1;
        }
        self.skip_trivia();
        // value: a run of non-whitespace
        while self.i < self.b.len() && !self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn rest(&self) -> &'a [u8] {
        &self.b[self.i.min(self.b.len())..]
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Case-insensitive substring search (ASCII needle, lower case).
pub(crate) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    debug_assert!(needle.iter().all(|c| !c.is_ascii_uppercase()));
    if needle.is_empty() {
        return true;
    }
    let first = needle[0];
    let mut start = 0;
    while let Some(p) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[start..]) {
        let at = start + p;
        if hay.len() - at < needle.len() {
            return false;
        }
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return true;
        }
        start = at + 1;
    }
    false
}

fn mentions_audit_settings(b: &[u8]) -> bool {
    contains_ci(b, b"server_audit") || contains_ci(b, b"audit_log")
}

/// Object kinds whose CREATE/ALTER/DROP/RENAME is a privilege change.
fn is_principal(kind: &str) -> bool {
    eq(kind, "USER") || eq(kind, "ROLE")
}

/// Modifiers that may sit between CREATE and the object kind.
fn skip_create_modifiers<'a>(lx: &mut Lexer<'a>) -> Option<&'a str> {
    loop {
        let w = lx.word()?;
        let u = w;
        if eq(u, "OR") {
            // OR REPLACE
            lx.word();
            continue;
        }
        if eq(u, "DEFINER") {
            lx.skip_assignment();
            continue;
        }
        if eq(u, "ALGORITHM") {
            lx.skip_assignment();
            continue;
        }
        if eq(u, "SQL") {
            // SQL SECURITY {DEFINER|INVOKER}
            lx.word();
            lx.word();
            continue;
        }
        if [
            "TEMPORARY",
            "UNIQUE",
            "FULLTEXT",
            "SPATIAL",
            "AGGREGATE",
            "ONLINE",
            "OFFLINE",
            "IGNORE",
            "UNDO",
            "EXTERNAL",
        ]
        .iter()
        .any(|m| eq(u, m))
        {
            continue;
        }
        return Some(w);
    }
}

/// Classify a MySQL/MariaDB statement: returns its category and an upper-case
/// action (`SELECT`, `CREATE TABLE`, `GRANT`, `SET`, ...). See the crate docs
/// and `docs/schema.md` ("MySQL family") for the rules.
///
/// ```
/// use onetrail_event::Category;
/// use onetrail_mysql_audit::classify_statement;
/// assert_eq!(classify_statement("/* x */ select 1"), (Category::Read, "SELECT".into()));
/// assert_eq!(classify_statement("CREATE USER u IDENTIFIED BY *****"), (Category::Dcl, "CREATE USER".into()));
/// assert_eq!(classify_statement("set global server_audit_logging=off"), (Category::AuditConfig, "SET".into()));
/// ```
pub fn classify_statement(sql: &str) -> (Category, String) {
    let (c, a) = classify_inner(sql);
    (c, a)
}

fn up(w: &str) -> String {
    w.to_ascii_uppercase()
}

fn two(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + 1 + b.len());
    s.push_str(a);
    s.push(' ');
    s.push_str(b);
    s.make_ascii_uppercase();
    s
}

fn classify_inner(sql: &str) -> (Category, String) {
    let mut lx = Lexer::new(sql);
    let Some(first) = lx.word() else {
        return (Category::Other, String::new());
    };
    let f = first;
    let k = |s: &str| eq(f, s);

    if k("SELECT") || k("WITH") || k("VALUES") || k("TABLE") {
        // audit_log_filter_*() UDFs and audit_log_rotate() are called via SELECT
        let rest = lx.rest();
        if contains_ci(rest, b"audit_log_filter_")
            || contains_ci(rest, b"audit_log_rotate")
            || contains_ci(rest, b"audit_log_encryption_password_set")
        {
            return (Category::AuditConfig, up(f));
        }
        return (Category::Read, up(f));
    }
    if k("SHOW") || k("DESCRIBE") || k("DESC") || k("EXPLAIN") || k("HELP") {
        return (Category::Read, up(f));
    }
    if k("INSERT") || k("UPDATE") || k("DELETE") || k("REPLACE") || k("TRUNCATE") {
        return (Category::Dml, up(f));
    }
    if k("LOAD") {
        return match lx.word() {
            Some(w) if eq(w, "DATA") || eq(w, "XML") => (Category::Dml, two(f, w)),
            Some(w) if eq(w, "INDEX") => (Category::Admin, two(f, w)),
            _ => (Category::Dml, up(f)),
        };
    }
    if k("GRANT") || k("REVOKE") {
        return (Category::Dcl, up(f));
    }
    if k("CREATE") || k("ALTER") || k("DROP") || k("RENAME") {
        let kind = if k("CREATE") {
            skip_create_modifiers(&mut lx)
        } else {
            let mut w = lx.word();
            // ALTER ONLINE/IGNORE TABLE, DROP TEMPORARY TABLE
            while let Some(x) = w {
                if [
                    "ONLINE",
                    "OFFLINE",
                    "IGNORE",
                    "TEMPORARY",
                    "UNDO",
                    "DEFINER",
                    "ALGORITHM",
                    "SQL",
                ]
                .iter()
                .any(|m| eq(x, m))
                {
                    if eq(x, "DEFINER") || eq(x, "ALGORITHM") {
                        lx.skip_assignment();
                    } else if eq(x, "SQL") {
                        lx.word();
                        lx.word();
                    }
                    w = lx.word();
                } else {
                    break;
                }
            }
            w
        };
        let Some(kind) = kind else {
            return (Category::Ddl, up(f));
        };
        if is_principal(kind) {
            return (Category::Dcl, two(f, kind));
        }
        // ALTER INSTANCE / ALTER SYSTEM are server administration
        if k("ALTER") && (eq(kind, "INSTANCE") || eq(kind, "SYSTEM")) {
            return (Category::Admin, two(f, kind));
        }
        return (Category::Ddl, two(f, kind));
    }
    if k("SET") {
        let rest = lx.rest();
        match lx.peek_word() {
            Some(w) if eq(w, "PASSWORD") => return (Category::Dcl, two(f, w)),
            Some(w) if eq(w, "DEFAULT") => {
                lx.word();
                if lx.peek_word().is_some_and(|r| eq(r, "ROLE")) {
                    return (Category::Dcl, "SET DEFAULT ROLE".to_string());
                }
            }
            _ => {}
        }
        if mentions_audit_settings(rest) {
            return (Category::AuditConfig, up(f));
        }
        let global = contains_ci(rest, b"global")
            || contains_ci(rest, b"persist")
            || contains_ci(rest, b"@@global.");
        if global {
            return (Category::Admin, up(f));
        }
        return (Category::Session, up(f));
    }
    if k("INSTALL") || k("UNINSTALL") {
        let what = lx.word();
        let rest = lx.rest();
        let action = match what {
            Some(w) => two(f, w),
            None => up(f),
        };
        if mentions_audit_settings(rest) {
            return (Category::AuditConfig, action);
        }
        return (Category::Admin, action);
    }
    if k("CALL") || k("DO") {
        if contains_ci(lx.rest(), b"audit_log_filter_") {
            return (Category::AuditConfig, up(f));
        }
        return (Category::Function, up(f));
    }
    if k("USE")
        || k("BEGIN")
        || k("COMMIT")
        || k("ROLLBACK")
        || k("SAVEPOINT")
        || k("RELEASE")
        || k("XA")
        || k("LOCK")
        || k("UNLOCK")
        || k("PREPARE")
        || k("EXECUTE")
        || k("DEALLOCATE")
        || k("HANDLER")
    {
        return (Category::Session, up(f));
    }
    if k("START") {
        return match lx.word() {
            Some(w) if eq(w, "TRANSACTION") => (Category::Session, two(f, w)),
            Some(w) => (Category::Admin, two(f, w)),
            None => (Category::Admin, up(f)),
        };
    }
    if k("STOP") || k("CHANGE") || k("RESET") {
        return match lx.word() {
            Some(w) => (Category::Admin, two(f, w)),
            None => (Category::Admin, up(f)),
        };
    }
    if k("FLUSH")
        || k("KILL")
        || k("SHUTDOWN")
        || k("RESTART")
        || k("PURGE")
        || k("ANALYZE")
        || k("OPTIMIZE")
        || k("REPAIR")
        || k("CHECK")
        || k("CHECKSUM")
        || k("CACHE")
        || k("BINLOG")
        || k("CLONE")
        || k("BACKUP")
    {
        return (Category::Admin, up(f));
    }
    (Category::Other, up(f))
}

/// Fallback when a record has no statement text: map the server's
/// `sql_command` / `COMMAND_CLASS` (`create_user`, `show_databases`, ...).
pub(crate) fn classify_sql_command(cmd: &str) -> Option<(Category, String)> {
    if cmd.is_empty() || eq(cmd, "error") {
        return None;
    }
    let action = cmd.replace('_', " ").to_ascii_uppercase();
    let c = cmd.to_ascii_lowercase();
    let cat = match c.as_str() {
        "grant"
        | "revoke"
        | "revoke_all"
        | "grant_roles"
        | "revoke_roles"
        | "create_user"
        | "drop_user"
        | "alter_user"
        | "rename_user"
        | "set_password"
        | "create_role"
        | "drop_role"
        | "alter_user_default_role" => Category::Dcl,
        "select" => Category::Read,
        "insert" | "insert_select" | "update" | "update_multi" | "delete" | "delete_multi"
        | "replace" | "replace_select" | "load" | "truncate" => Category::Dml,
        "call" => Category::Function,
        "set_option"
        | "change_db"
        | "begin"
        | "commit"
        | "rollback"
        | "savepoint"
        | "release_savepoint"
        | "rollback_to_savepoint"
        | "lock_tables"
        | "unlock_tables"
        | "prepare"
        | "execute"
        | "dealloc_prepare" => Category::Session,
        "kill" | "flush" | "shutdown" | "install_plugin" | "uninstall_plugin" | "purge"
        | "reset" | "change_master" | "slave_start" | "slave_stop" => Category::Admin,
        _ if c.starts_with("show_") => Category::Read,
        _ if c.starts_with("create_")
            || c.starts_with("alter_")
            || c.starts_with("drop_")
            || c.starts_with("rename_") =>
        {
            Category::Ddl
        }
        _ => Category::Other,
    };
    Some((cat, action))
}

/// Lexical completeness check used by the truncation heuristic: true when the
/// text ends inside a quoted string / identifier / block comment, or with
/// unclosed parentheses. Backslash escapes inside quotes are honoured.
pub(crate) fn looks_cut(sql: &[u8]) -> bool {
    let mut i = 0;
    let mut depth: i64 = 0;
    while i < sql.len() {
        match sql[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                loop {
                    if i >= sql.len() {
                        return true;
                    }
                    let c = sql[i];
                    if c == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if c == q {
                        if sql.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                match memchr::memmem::find(&sql[i + 2..], b"*/") {
                    Some(p) => i += 2 + p + 1,
                    None => return true,
                }
            }
            b'#' => match memchr::memchr(b'\n', &sql[i..]) {
                Some(p) => i += p,
                None => return false,
            },
            b'-' if sql.get(i + 1) == Some(&b'-') => match memchr::memchr(b'\n', &sql[i..]) {
                Some(p) => i += p,
                None => return false,
            },
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    depth > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> (Category, String) {
        classify_statement(s)
    }

    #[test]
    fn categories() {
        use Category::*;
        let cases: &[(&str, Category, &str)] = &[
            ("select 1", Read, "SELECT"),
            ("(select 2)", Read, "SELECT"),
            ("/*! select 2*/", Read, "SELECT"),
            ("/*M!100100 SELECT 7 */", Read, "SELECT"),
            ("/*comment*/ select 2", Read, "SELECT"),
            ("-- A comment\nselect 1", Read, "SELECT"),
            ("--A comment\nselect 2", Read, "SELECT"),
            ("# A comment\nselect 3", Read, "SELECT"),
            ("with foo as (select 1) select 6", Read, "WITH"),
            ("values (7, 'a')", Read, "VALUES"),
            ("SHOW WARNINGS", Read, "SHOW"),
            ("insert into t1 values (1)", Dml, "INSERT"),
            ("LOAD DATA INFILE 'x' INTO TABLE t", Dml, "LOAD DATA"),
            ("truncate table t", Dml, "TRUNCATE"),
            ("create table t2 (id int)", Ddl, "CREATE TABLE"),
            (
                "CREATE OR REPLACE DEFINER=`root`@`%` VIEW v AS select 1",
                Ddl,
                "CREATE VIEW",
            ),
            ("create temporary table t (a int)", Ddl, "CREATE TABLE"),
            ("drop table renamed_t1, t2", Ddl, "DROP TABLE"),
            ("alter table t1 rename renamed_t1", Ddl, "ALTER TABLE"),
            ("create database sa_db", Ddl, "CREATE DATABASE"),
            ("CREATE USER u1 IDENTIFIED BY *****", Dcl, "CREATE USER"),
            (
                "crEAtE  uSeR  'evil user'@elastic IDENTIFIED BY <secret>",
                Dcl,
                "CREATE USER",
            ),
            ("DrOp usEr IF EXISTS 'evil user'@%", Dcl, "DROP USER"),
            ("ALTER USER u3 IDENTIFIED BY *****", Dcl, "ALTER USER"),
            ("RENAME USER a TO b", Dcl, "RENAME USER"),
            ("CREATE ROLE r", Dcl, "CREATE ROLE"),
            ("GRANT ALL ON sa_db TO u2", Dcl, "GRANT"),
            ("revoke all on *.* from u", Dcl, "REVOKE"),
            ("SET PASSWORD FOR u1 = PASSWORD(*****)", Dcl, "SET PASSWORD"),
            ("SET DEFAULT ROLE r FOR u", Dcl, "SET DEFAULT ROLE"),
            ("set global server_audit_logging= off", AuditConfig, "SET"),
            (
                "SET @@global.server_audit_events='connect'",
                AuditConfig,
                "SET",
            ),
            ("SET GLOBAL audit_log_flush=ON", AuditConfig, "SET"),
            (
                "install plugin server_audit soname 'server_audit'",
                AuditConfig,
                "INSTALL PLUGIN",
            ),
            (
                "INSTALL SONAME 'server_audit'",
                AuditConfig,
                "INSTALL SONAME",
            ),
            (
                "uninstall plugin server_audit",
                AuditConfig,
                "UNINSTALL PLUGIN",
            ),
            (
                "INSTALL PLUGIN audit_log SONAME 'audit_log.so'",
                AuditConfig,
                "INSTALL PLUGIN",
            ),
            (
                "uninstall plugin test_plugin_server",
                Admin,
                "UNINSTALL PLUGIN",
            ),
            (
                "SELECT audit_log_filter_set_filter('f', '{}')",
                AuditConfig,
                "SELECT",
            ),
            ("set names utf8", Session, "SET"),
            ("set sql_mode=\"\"", Session, "SET"),
            ("set global max_connections=10", Admin, "SET"),
            ("use sa_db", Session, "USE"),
            ("BEGIN", Session, "BEGIN"),
            ("START TRANSACTION", Session, "START TRANSACTION"),
            ("commit", Session, "COMMIT"),
            ("CALL test_procedure(NULL)", Function, "CALL"),
            ("FLUSH PRIVILEGES", Admin, "FLUSH"),
            ("KILL 12", Admin, "KILL"),
            ("CHANGE MASTER TO MASTER_HOST='h'", Admin, "CHANGE MASTER"),
            ("syntax_error_query", Other, "SYNTAX_ERROR_QUERY"),
            ("", Other, ""),
            ("   /* only a comment */", Other, ""),
        ];
        for (sql, cat, action) in cases {
            assert_eq!(c(sql), (*cat, action.to_string()), "{sql}");
        }
    }

    #[test]
    fn cut_detection() {
        assert!(looks_cut(b"select length('0123"));
        assert!(looks_cut(b"select (1, 2"));
        assert!(looks_cut(b"select 1 /* unterminated"));
        assert!(!looks_cut(b"select 'it\\'s', \"a\"\"b\" -- c"));
        assert!(!looks_cut(b"select (1), (2)"));
    }
}
