//! Event categories for PostgreSQL statements.
//!
//! pgaudit's CLASS decides most categories; the statement text decides the
//! ones the class cannot express (changes to auditing itself, ALTER SYSTEM,
//! session vs admin MISC commands). [`classify_statement`] works from the
//! command tag and text alone, so it also classifies statements pgaudit never
//! logged (failed statements from `STATEMENT:` lines).

use onetrail_event::Category;

/// Leading SQL keywords of `statement`, upper-cased, after whitespace and
/// comments: up to `n` words (letters, digits, `_`, `.`).
fn leading_words(statement: &str, n: usize) -> Vec<String> {
    let mut slices = vec![""; n];
    let found = leading_word_slices(statement, &mut slices);
    slices[..found]
        .iter()
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

const CREATE_MODIFIERS: &[&str] = &[
    "OR",
    "REPLACE",
    "TEMP",
    "TEMPORARY",
    "UNLOGGED",
    "UNIQUE",
    "GLOBAL",
    "LOCAL",
    "TRUSTED",
    "PROCEDURAL",
    "CONSTRAINT",
    "RECURSIVE",
    "DEFAULT",
];

/// Object types written with two words.
const TWO_WORD_TYPES: &[(&str, &str)] = &[
    ("MATERIALIZED", "VIEW"),
    ("FOREIGN", "TABLE"),
    ("EVENT", "TRIGGER"),
    ("USER", "MAPPING"),
    ("ACCESS", "METHOD"),
    ("OPERATOR", "CLASS"),
    ("OPERATOR", "FAMILY"),
    ("DEFAULT", "PRIVILEGES"),
    ("FOREIGN", "DATA"),
    ("TEXT", "SEARCH"),
];

/// The command tag a statement would get, from its leading keywords:
/// `CREATE ROLE` for `create user x`, `CREATE TABLE` for
/// `CREATE UNLOGGED TABLE`, `SELECT` for `select 1`. Empty for no keyword.
pub fn statement_action(statement: &str) -> String {
    let w = leading_words(statement, 8);
    let Some(first) = w.first() else {
        return String::new();
    };
    match first.as_str() {
        "CREATE" | "ALTER" | "DROP" => {
            let mut i = 1;
            if first == "CREATE" {
                while i < w.len()
                    && CREATE_MODIFIERS.contains(&w[i].as_str())
                    && !(w[i] == "DEFAULT" && w.get(i + 1).is_some_and(|x| x == "PRIVILEGES"))
                {
                    i += 1;
                }
            }
            let Some(obj) = w.get(i) else {
                return first.clone();
            };
            let obj = match obj.as_str() {
                "USER" | "GROUP" if w.get(i + 1).is_none_or(|x| x != "MAPPING") => "ROLE",
                o => o,
            };
            if let Some(second) = w.get(i + 1)
                && TWO_WORD_TYPES.contains(&(obj, second.as_str()))
            {
                return format!("{first} {obj} {second}");
            }
            format!("{first} {obj}")
        }
        "REFRESH" | "IMPORT" | "SECURITY" | "REASSIGN" | "START" | "PREPARE" | "LOCK" => {
            // REFRESH MATERIALIZED VIEW, IMPORT FOREIGN SCHEMA, SECURITY LABEL,
            // REASSIGN OWNED, START TRANSACTION, PREPARE TRANSACTION, LOCK TABLE
            match (first.as_str(), w.get(1).map(String::as_str)) {
                ("REFRESH", Some("MATERIALIZED")) => "REFRESH MATERIALIZED VIEW".into(),
                ("IMPORT", Some("FOREIGN")) => "IMPORT FOREIGN SCHEMA".into(),
                ("SECURITY", Some("LABEL")) => "SECURITY LABEL".into(),
                ("REASSIGN", Some("OWNED")) => "REASSIGN OWNED".into(),
                ("START", Some("TRANSACTION")) => "START TRANSACTION".into(),
                ("PREPARE", Some("TRANSACTION")) => "PREPARE TRANSACTION".into(),
                ("LOCK", _) => "LOCK TABLE".into(),
                _ => first.clone(),
            }
        }
        "TRUNCATE" => "TRUNCATE TABLE".into(),
        "WITH" | "TABLE" | "VALUES" => "SELECT".into(),
        _ => first.clone(),
    }
}

/// [`leading_words`] without allocating: the words as they are written
/// (compare them with `eq_ignore_ascii_case`). Returns how many were found.
fn leading_word_slices<'a>(statement: &'a str, out: &mut [&'a str]) -> usize {
    let b = statement.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() && n < out.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b'(' {
            i += 1;
        } else if b[i..].starts_with(b"--") {
            i += memchr::memchr(b'\n', &b[i..]).unwrap_or(b.len() - i);
        } else if b[i..].starts_with(b"/*") {
            i += memchr::memmem::find(&b[i + 2..], b"*/").map_or(b.len() - i, |p| p + 4);
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out[n] = &statement[start..i];
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// Does the statement change what pgaudit audits? (Runs for every AUDIT
/// record: no allocation unless the statement mentions `set_config`.)
pub fn is_audit_config(statement: &str) -> bool {
    let mut w = [""; 6];
    let n = leading_word_slices(statement, &mut w);
    let word = |i: usize| if i < n { w[i] } else { "" };
    let is = |i: usize, kws: &[&str]| kws.iter().any(|k| word(i).eq_ignore_ascii_case(k));
    let is_pgaudit_name =
        |s: &str| s.len() >= 8 && s.as_bytes()[..8].eq_ignore_ascii_case(b"PGAUDIT.");
    if is(0, &["SET", "RESET"]) {
        let i = usize::from(is(1, &["SESSION", "LOCAL"]));
        return is_pgaudit_name(word(1 + i));
    }
    if is(0, &["ALTER"]) && is(1, &["SYSTEM"]) {
        return is_pgaudit_name(word(3));
    }
    if is(0, &["ALTER"]) && is(1, &["ROLE", "USER", "DATABASE", "GROUP"]) {
        return contains_ci(statement, "set pgaudit.") || contains_ci(statement, "reset pgaudit.");
    }
    if is(0, &["CREATE", "ALTER", "DROP"]) && is(1, &["EXTENSION"]) {
        let mut i = 2;
        while is(i, &["IF", "NOT", "EXISTS"]) {
            i += 1;
        }
        return is(i, &["PGAUDIT", "PGAUDITLOGTOFILE"]);
    }
    contains_ci(statement, "set_config") && {
        let lower = statement.to_ascii_lowercase();
        lower.match_indices("set_config").any(|(p, _)| {
            lower[p..]
                .trim_start_matches(|c: char| c != '\'')
                .starts_with("'pgaudit.")
        })
    }
}

/// ASCII case-insensitive substring test. Anchors on a byte of the needle
/// that has no case (`.`, `_`, …) found with `memchr`, so the full compare
/// runs rarely.
fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    if n.is_empty() {
        return true;
    }
    if h.len() < n.len() {
        return false;
    }
    let Some(k) = n
        .iter()
        .rposition(|c| !c.is_ascii_alphabetic() && *c != b' ')
    else {
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    };
    memchr::memchr_iter(n[k], h).any(|p| {
        p >= k && p - k + n.len() <= h.len() && h[p - k..p - k + n.len()].eq_ignore_ascii_case(n)
    })
}

const SESSION_COMMANDS: &[&str] = &[
    "SET",
    "RESET",
    "SHOW",
    "DISCARD",
    "BEGIN",
    "START TRANSACTION",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE TRANSACTION",
    "COMMIT PREPARED",
    "ROLLBACK PREPARED",
    "DEALLOCATE",
    "DEALLOCATE ALL",
    "PREPARE",
    "EXECUTE",
    "FETCH",
    "MOVE",
    "CLOSE",
    "CLOSE CURSOR",
    "CLOSE CURSOR ALL",
    "LISTEN",
    "UNLISTEN",
    "NOTIFY",
    "LOCK TABLE",
    "SET CONSTRAINTS",
    "EXPLAIN",
    "DISCARD ALL",
    "DISCARD PLANS",
    "DISCARD SEQUENCES",
    "DISCARD TEMP",
];

const ADMIN_COMMANDS: &[&str] = &[
    "VACUUM",
    "ANALYZE",
    "CHECKPOINT",
    "CLUSTER",
    "REINDEX",
    "LOAD",
    "ALTER SYSTEM",
    "REFRESH MATERIALIZED VIEW",
];

const DCL_COMMANDS: &[&str] = &[
    "GRANT",
    "REVOKE",
    "GRANT ROLE",
    "REVOKE ROLE",
    "CREATE ROLE",
    "ALTER ROLE",
    "DROP ROLE",
    "ALTER DEFAULT PRIVILEGES",
    "CREATE USER MAPPING",
    "ALTER USER MAPPING",
    "DROP USER MAPPING",
    "REASSIGN OWNED",
    "DROP OWNED",
];

/// Category of a statement from its command tag (upper-case, e.g. `CREATE
/// TABLE`; derived from the text when empty) and its text. Used for
/// statements pgaudit did not classify (failed statements) and for the MISC
/// class.
pub fn classify_statement(command: &str, statement: &str) -> Category {
    if is_audit_config(statement) {
        return Category::AuditConfig;
    }
    let derived;
    let command = if command.is_empty() {
        derived = statement_action(statement);
        derived.as_str()
    } else {
        command
    };
    if command == "COPY" {
        // COPY ... FROM writes, COPY ... TO reads.
        let w = leading_words(statement, 64);
        return if w.iter().any(|x| x == "FROM") && !w.iter().any(|x| x == "TO") {
            Category::Dml
        } else {
            Category::Read
        };
    }
    if ADMIN_COMMANDS.contains(&command) {
        return Category::Admin;
    }
    if DCL_COMMANDS.contains(&command) {
        return Category::Dcl;
    }
    if SESSION_COMMANDS.contains(&command) || command.starts_with("SET ") {
        return Category::Session;
    }
    match command {
        "SELECT" | "SELECT INTO" | "DECLARE CURSOR" | "TABLE" | "VALUES" | "WITH" => Category::Read,
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE TABLE" | "TRUNCATE" => Category::Dml,
        "DO" | "CALL" => Category::Function,
        c if c.starts_with("CREATE ")
            || c.starts_with("ALTER ")
            || c.starts_with("DROP ")
            || c.starts_with("COMMENT")
            || c.starts_with("SECURITY LABEL")
            || c.starts_with("IMPORT FOREIGN") =>
        {
            Category::Ddl
        }
        _ => Category::Other,
    }
}

/// Category of a pgaudit record: the CLASS, refined by the statement where
/// the class cannot say it (auditing changes, ALTER SYSTEM, MISC commands).
pub fn classify_audit(class: &str, command: &str, statement: &str) -> Category {
    if is_audit_config(statement) {
        return Category::AuditConfig;
    }
    match class {
        "READ" => Category::Read,
        "WRITE" => Category::Dml,
        "DDL" if command == "ALTER SYSTEM" => Category::Admin,
        // pgaudit < 16 logs user mappings (which carry credentials) as DDL;
        // 16+ logs them as ROLE. Either way they are about who may connect as whom.
        "DDL" if command.ends_with("USER MAPPING") => Category::Dcl,
        "DDL" => Category::Ddl,
        "ROLE" => Category::Dcl,
        "FUNCTION" => Category::Function,
        "MISC" | "MISC_SET" => match classify_statement(command, statement) {
            Category::Admin => Category::Admin,
            _ if ADMIN_COMMANDS.contains(&command) => Category::Admin,
            _ => Category::Session,
        },
        _ => classify_statement(command, statement),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_from_text() {
        assert_eq!(
            statement_action("create user bob password 'x'"),
            "CREATE ROLE"
        );
        assert_eq!(
            statement_action("  /* c */ CREATE OR REPLACE FUNCTION f()"),
            "CREATE FUNCTION"
        );
        assert_eq!(
            statement_action("CREATE UNLOGGED TABLE t()"),
            "CREATE TABLE"
        );
        assert_eq!(
            statement_action("create materialized view v as select 1"),
            "CREATE MATERIALIZED VIEW"
        );
        assert_eq!(
            statement_action("CREATE USER MAPPING FOR bob SERVER s"),
            "CREATE USER MAPPING"
        );
        assert_eq!(statement_action("-- hi\nselect 1"), "SELECT");
        assert_eq!(statement_action("(select 1)"), "SELECT");
        assert_eq!(statement_action("truncate t"), "TRUNCATE TABLE");
        assert_eq!(statement_action(""), "");
    }

    /// The allocating implementation `is_audit_config` replaced.
    fn is_audit_config_reference(statement: &str) -> bool {
        let w = leading_words(statement, 6);
        let word = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
        let is_pgaudit_name = |s: &str| s.starts_with("PGAUDIT.");
        let is_pgaudit_ext = |s: &str| matches!(s, "PGAUDIT" | "PGAUDITLOGTOFILE");
        let ci = |hay: &str, n: &str| {
            hay.as_bytes()
                .windows(n.len())
                .any(|w| w.eq_ignore_ascii_case(n.as_bytes()))
        };
        match word(0) {
            "SET" | "RESET" => {
                let i = usize::from(matches!(word(1), "SESSION" | "LOCAL"));
                is_pgaudit_name(word(1 + i))
            }
            "ALTER" if word(1) == "SYSTEM" => is_pgaudit_name(word(3)),
            "ALTER" if matches!(word(1), "ROLE" | "USER" | "DATABASE" | "GROUP") => {
                ci(statement, "set pgaudit.") || ci(statement, "reset pgaudit.")
            }
            "CREATE" | "ALTER" | "DROP" if word(1) == "EXTENSION" => {
                let mut i = 2;
                while matches!(word(i), "IF" | "NOT" | "EXISTS") {
                    i += 1;
                }
                is_pgaudit_ext(word(i))
            }
            _ => {
                ci(statement, "set_config") && {
                    let lower = statement.to_ascii_lowercase();
                    lower.match_indices("set_config").any(|(p, _)| {
                        lower[p..]
                            .trim_start_matches(|c: char| c != '\'')
                            .starts_with("'pgaudit.")
                    })
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn audit_config_matches_reference(
            s in "((set|SET|Reset|alter|ALTER|drop|create|session|local|system|role|user|extension|if|not|exists|pgaudit|PGAUDIT\\.log|pgauditlogtofile|set_config|SeT_CoNfIg|'pgaudit\\.x'|/\\* c \\*/|--x\n|[ (_.a-z$é]){0,12})"
        ) {
            proptest::prop_assert_eq!(is_audit_config(&s), is_audit_config_reference(&s), "{}", s);
        }
    }

    #[test]
    fn audit_config_detection() {
        for s in [
            "SET pgaudit.log = 'none'",
            "set session pgaudit.log_level = notice",
            "RESET pgaudit.log",
            "ALTER SYSTEM SET pgaudit.log TO 'none'",
            "ALTER ROLE bob SET pgaudit.log = 'ddl, ROLE';",
            "alter database app reset pgaudit.log",
            "DROP EXTENSION pgaudit",
            "drop extension if exists pgaudit cascade",
            "CREATE EXTENSION IF NOT EXISTS pgaudit;",
            "SELECT set_config('pgaudit.log', 'none', false)",
        ] {
            assert!(is_audit_config(s), "{s}");
        }
        for s in [
            "SET search_path = public",
            "ALTER SYSTEM SET work_mem = '64MB'",
            "ALTER ROLE bob SET work_mem = '1MB'",
            "CREATE EXTENSION pg_stat_statements",
            "SELECT set_config('search_path', 'x', false)",
            "SELECT 'pgaudit.log'",
        ] {
            assert!(!is_audit_config(s), "{s}");
        }
    }

    #[test]
    fn categories() {
        assert_eq!(
            classify_audit("MISC", "SET", "SET pgaudit.log = 'none'"),
            Category::AuditConfig
        );
        assert_eq!(
            classify_audit("MISC", "SET", "SET search_path = x"),
            Category::Session
        );
        assert_eq!(
            classify_audit("MISC", "VACUUM", "vacuum t"),
            Category::Admin
        );
        assert_eq!(
            classify_audit("MISC", "CHECKPOINT", "<not logged>"),
            Category::Admin
        );
        assert_eq!(
            classify_audit("DDL", "ALTER SYSTEM", "ALTER SYSTEM SET work_mem = 1"),
            Category::Admin
        );
        assert_eq!(
            classify_audit("ROLE", "ALTER ROLE", "ALTER ROLE x SET pgaudit.log = 'all'"),
            Category::AuditConfig
        );
        assert_eq!(
            classify_audit(
                "DDL",
                "CREATE USER MAPPING",
                "CREATE USER MAPPING FOR bob SERVER s"
            ),
            Category::Dcl
        );
        assert_eq!(classify_audit("READ", "SELECT", "select 1"), Category::Read);
        assert_eq!(
            classify_audit("WRITE", "INSERT", "insert into t values (1)"),
            Category::Dml
        );
        assert_eq!(
            classify_audit("FUNCTION", "EXECUTE", "select f()"),
            Category::Function
        );
        assert_eq!(classify_statement("", "CREATE ROLE x"), Category::Dcl);
        assert_eq!(classify_statement("", "copy t from stdin"), Category::Dml);
        assert_eq!(classify_statement("", "copy t to stdout"), Category::Read);
        assert_eq!(classify_statement("", "selec 1"), Category::Other);
        assert_eq!(
            classify_statement("", "DROP EXTENSION pgaudit"),
            Category::AuditConfig
        );
    }
}
