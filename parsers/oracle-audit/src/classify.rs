//! Oracle action names and codes → onetrail categories; return codes → outcome.

use onetrail_event::{Category, ErrorInfo, Outcome};

/// Numeric action codes (`AUDIT_ACTIONS`), as written by the unified-audit
/// syslog lines (`ACTION:"2"`), the traditional `.aud` files (`ACTION NUMBER`,
/// extended `ACTION:[3] "100"`) and the XML audit files (`<Action>`).
/// Codes not listed here are kept as numbers (`extra.action_code`).
pub fn action_name_of_code(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "UNKNOWN",
        1 => "CREATE TABLE",
        2 => "INSERT",
        3 => "SELECT",
        4 => "CREATE CLUSTER",
        5 => "ALTER CLUSTER",
        6 => "UPDATE",
        7 => "DELETE",
        8 => "DROP CLUSTER",
        9 => "CREATE INDEX",
        10 => "DROP INDEX",
        11 => "ALTER INDEX",
        12 => "DROP TABLE",
        13 => "CREATE SEQUENCE",
        14 => "ALTER SEQUENCE",
        15 => "ALTER TABLE",
        16 => "DROP SEQUENCE",
        17 => "GRANT OBJECT",
        18 => "REVOKE OBJECT",
        19 => "CREATE SYNONYM",
        20 => "DROP SYNONYM",
        21 => "CREATE VIEW",
        22 => "DROP VIEW",
        23 => "VALIDATE INDEX",
        24 => "CREATE PROCEDURE",
        25 => "ALTER PROCEDURE",
        26 => "LOCK",
        27 => "NO-OP",
        28 => "RENAME",
        29 => "COMMENT",
        30 => "AUDIT OBJECT",
        31 => "NOAUDIT OBJECT",
        32 => "CREATE DATABASE LINK",
        33 => "DROP DATABASE LINK",
        34 => "CREATE DATABASE",
        35 => "ALTER DATABASE",
        36 => "CREATE ROLLBACK SEG",
        37 => "ALTER ROLLBACK SEG",
        38 => "DROP ROLLBACK SEG",
        39 => "CREATE TABLESPACE",
        40 => "ALTER TABLESPACE",
        41 => "DROP TABLESPACE",
        42 => "ALTER SESSION",
        43 => "ALTER USER",
        44 => "COMMIT",
        45 => "ROLLBACK",
        46 => "SAVEPOINT",
        47 => "PL/SQL EXECUTE",
        48 => "SET TRANSACTION",
        49 => "ALTER SYSTEM",
        50 => "EXPLAIN",
        51 => "CREATE USER",
        52 => "CREATE ROLE",
        53 => "DROP USER",
        54 => "DROP ROLE",
        55 => "SET ROLE",
        56 => "CREATE SCHEMA",
        57 => "CREATE CONTROL FILE",
        59 => "CREATE TRIGGER",
        60 => "ALTER TRIGGER",
        61 => "DROP TRIGGER",
        62 => "ANALYZE TABLE",
        63 => "ANALYZE INDEX",
        64 => "ANALYZE CLUSTER",
        65 => "CREATE PROFILE",
        66 => "DROP PROFILE",
        67 => "ALTER PROFILE",
        68 => "DROP PROCEDURE",
        70 => "ALTER RESOURCE COST",
        71 => "CREATE MATERIALIZED VIEW LOG",
        72 => "ALTER MATERIALIZED VIEW LOG",
        73 => "DROP MATERIALIZED VIEW LOG",
        74 => "CREATE MATERIALIZED VIEW",
        75 => "ALTER MATERIALIZED VIEW",
        76 => "DROP MATERIALIZED VIEW",
        77 => "CREATE TYPE",
        78 => "DROP TYPE",
        79 => "ALTER ROLE",
        80 => "ALTER TYPE",
        81 => "CREATE TYPE BODY",
        82 => "ALTER TYPE BODY",
        83 => "DROP TYPE BODY",
        84 => "DROP LIBRARY",
        85 => "TRUNCATE TABLE",
        86 => "TRUNCATE CLUSTER",
        91 => "CREATE FUNCTION",
        92 => "ALTER FUNCTION",
        93 => "DROP FUNCTION",
        94 => "CREATE PACKAGE",
        95 => "ALTER PACKAGE",
        96 => "DROP PACKAGE",
        97 => "CREATE PACKAGE BODY",
        98 => "ALTER PACKAGE BODY",
        99 => "DROP PACKAGE BODY",
        100 => "LOGON",
        101 => "LOGOFF",
        102 => "LOGOFF BY CLEANUP",
        103 => "SESSION REC",
        104 => "SYSTEM AUDIT",
        105 => "SYSTEM NOAUDIT",
        106 => "AUDIT DEFAULT",
        107 => "NOAUDIT DEFAULT",
        108 => "SYSTEM GRANT",
        109 => "SYSTEM REVOKE",
        110 => "CREATE PUBLIC SYNONYM",
        111 => "DROP PUBLIC SYNONYM",
        112 => "CREATE PUBLIC DATABASE LINK",
        113 => "DROP PUBLIC DATABASE LINK",
        114 => "GRANT ROLE",
        115 => "REVOKE ROLE",
        116 => "EXECUTE PROCEDURE",
        117 => "USER COMMENT",
        118 => "ENABLE TRIGGER",
        119 => "DISABLE TRIGGER",
        120 => "ENABLE ALL TRIGGERS",
        121 => "DISABLE ALL TRIGGERS",
        122 => "NETWORK ERROR",
        123 => "EXECUTE TYPE",
        // Seen in real SYS audit records (`ACTION :[7] 'STARTUP'`).
        138 => "STARTUP",
        157 => "CREATE DIRECTORY",
        158 => "DROP DIRECTORY",
        _ => return None,
    })
}

/// Message of the Oracle errors that matter for auditing (others keep only the code).
pub fn return_code_message(code: i64) -> Option<&'static str> {
    Some(match code {
        1017 => "invalid username/password; logon denied",
        28000 => "the account is locked",
        28001 => "the password has expired",
        28002 => "the password will expire soon",
        1045 => "user lacks CREATE SESSION privilege; logon denied",
        1005 => "null password given; logon denied",
        28009 => "connection as SYS should be as SYSDBA or SYSOPER",
        1031 => "insufficient privileges",
        942 => "table or view does not exist",
        1918 => "user does not exist",
        1920 => "user name conflicts with another user or role name",
        1035 => "ORACLE only available to users with RESTRICTED SESSION privilege",
        _ => return None,
    })
}

/// `ORA-01017` spelling of a return code.
pub fn ora_code(code: i64) -> String {
    format!("ORA-{code:05}")
}

/// Outcome and error of a `RETURN_CODE`. 0 is success; 28002 ("password will
/// expire") accompanies a *successful* logon, so it is a success too.
pub fn outcome_of(code: Option<i64>) -> (Outcome, Option<ErrorInfo>) {
    match code {
        None => (Outcome::Unknown, None),
        Some(0) | Some(28002) => (Outcome::Success, None),
        Some(c) => (
            Outcome::Failure,
            Some(ErrorInfo {
                code: Some(ora_code(c)),
                message: return_code_message(c).map(str::to_string),
            }),
        ),
    }
}

/// Collapse whitespace runs and upper-case (`ALTER DATABASE   MOUNT`).
pub fn normalize_action(a: &str) -> String {
    let mut s = String::with_capacity(a.len());
    for w in a.split_whitespace() {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&w.to_ascii_uppercase());
    }
    s
}

const AUDIT_CONFIG_ACTIONS: &[&str] = &[
    "CREATE AUDIT POLICY",
    "ALTER AUDIT POLICY",
    "DROP AUDIT POLICY",
    "AUDIT",
    "NOAUDIT",
    "AUDIT OBJECT",
    "NOAUDIT OBJECT",
    "SYSTEM AUDIT",
    "SYSTEM NOAUDIT",
    "AUDIT DEFAULT",
    "NOAUDIT DEFAULT",
];

/// Packages whose execution changes auditing (mandatorily audited by Oracle).
const AUDIT_PACKAGES: &[&str] = &["DBMS_AUDIT_MGMT", "DBMS_FGA", "DBMS_AUDIT_UTIL"];

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_ascii_uppercase().contains(needle)
}

/// What the classifier needs to know about a record.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClassifyInput<'a> {
    /// Normalized action name (`LOGON`, `CREATE AUDIT POLICY`, ...).
    pub action: &'a str,
    pub return_code: Option<i64>,
    pub object_schema: Option<&'a str>,
    pub object_name: Option<&'a str>,
    pub sql_text: Option<&'a str>,
}

/// The classification of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub category: Category,
    /// onetrail action: `LOGIN`, `LOGIN FAILED`, `LOGOUT`, or the Oracle action name.
    pub action: String,
    pub alert: bool,
}

/// Category and action of an Oracle action name.
pub fn classify(i: ClassifyInput<'_>) -> Classified {
    let a = i.action;
    let mk = |category, action: &str, alert| Classified {
        category,
        action: action.to_string(),
        alert,
    };
    match a {
        "LOGON" | "CONNECT" => {
            let failed = !matches!(i.return_code, None | Some(0) | Some(28002));
            return mk(
                Category::Auth,
                if failed { "LOGIN FAILED" } else { "LOGIN" },
                false,
            );
        }
        "LOGOFF" | "LOGOFF BY CLEANUP" | "DISCONNECT" => {
            return mk(Category::Auth, "LOGOUT", false);
        }
        _ => {}
    }
    if AUDIT_CONFIG_ACTIONS.contains(&a) {
        return mk(Category::AuditConfig, a, true);
    }
    let schema_upper = i.object_schema.map(str::to_ascii_uppercase);
    let name_upper = i.object_name.map(str::to_ascii_uppercase);
    let is_exec = matches!(
        a,
        "EXECUTE" | "PL/SQL EXECUTE" | "EXECUTE PROCEDURE" | "CALL METHOD" | "CALL"
    );
    if is_exec {
        let pkg_obj = name_upper
            .as_deref()
            .is_some_and(|n| AUDIT_PACKAGES.contains(&n));
        let pkg_sql = i
            .sql_text
            .is_some_and(|t| AUDIT_PACKAGES.iter().any(|p| contains_ci(t, p)));
        if pkg_obj || pkg_sql {
            return mk(Category::AuditConfig, a, true);
        }
        return mk(Category::Function, a, false);
    }
    if a == "ALTER SYSTEM"
        && i.sql_text.is_some_and(|t| {
            let u = t.to_ascii_uppercase();
            u.contains("AUDIT")
        })
    {
        return mk(Category::AuditConfig, a, true);
    }
    // Changes to the audit trail itself (AUDSYS, SYS.AUD$, SYS.FGA_LOG$): tampering.
    let audit_table = schema_upper.as_deref() == Some("AUDSYS")
        || (schema_upper.as_deref() == Some("SYS")
            && matches!(name_upper.as_deref(), Some("AUD$" | "FGA_LOG$")));
    if audit_table && a != "SELECT" {
        return mk(Category::AuditConfig, a, true);
    }
    let category = match a {
        "SELECT" => Category::Read,
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "UPSERT" | "TRUNCATE TABLE"
        | "TRUNCATE CLUSTER" | "LOCK" | "LOCK TABLE" => Category::Dml,
        "GRANT"
        | "REVOKE"
        | "GRANT OBJECT"
        | "REVOKE OBJECT"
        | "SYSTEM GRANT"
        | "SYSTEM REVOKE"
        | "GRANT ROLE"
        | "REVOKE ROLE"
        | "SET ROLE"
        | "CREATE USER"
        | "ALTER USER"
        | "DROP USER"
        | "CREATE ROLE"
        | "ALTER ROLE"
        | "DROP ROLE"
        | "CREATE PROFILE"
        | "ALTER PROFILE"
        | "DROP PROFILE"
        | "BECOME USER"
        | "PROXY AUTHENTICATION ONLY" => Category::Dcl,
        "ALTER SESSION" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "SET TRANSACTION"
        | "SET CONTAINER" | "SESSION REC" | "EXPLAIN" | "NO-OP" => Category::Session,
        "ALTER SYSTEM"
        | "ALTER DATABASE"
        | "CREATE DATABASE"
        | "STARTUP"
        | "SHUTDOWN"
        | "ANALYZE TABLE"
        | "ANALYZE INDEX"
        | "ANALYZE CLUSTER"
        | "ALTER RESOURCE COST"
        | "CREATE CONTROL FILE"
        | "ADMINISTER KEY MANAGEMENT"
        | "CREATE SPFILE"
        | "CREATE PFILE"
        | "CREATE PLUGGABLE DATABASE"
        | "ALTER PLUGGABLE DATABASE"
        | "DROP PLUGGABLE DATABASE"
        | "CREATE TABLESPACE"
        | "ALTER TABLESPACE"
        | "DROP TABLESPACE"
        | "CREATE ROLLBACK SEG"
        | "ALTER ROLLBACK SEG"
        | "DROP ROLLBACK SEG"
        | "PURGE DBA_RECYCLEBIN" => Category::Admin,
        _ if a.starts_with("CREATE ")
            || a.starts_with("ALTER ")
            || a.starts_with("DROP ")
            || a.starts_with("RENAME")
            || a.starts_with("COMMENT")
            || a.starts_with("TRUNCATE ")
            || a.starts_with("ENABLE ")
            || a.starts_with("DISABLE ")
            || a.starts_with("FLASHBACK")
            || a.starts_with("PURGE")
            || a == "VALIDATE INDEX" =>
        {
            Category::Ddl
        }
        _ => Category::Other,
    };
    mk(category, a, false)
}

/// Action name of a traditional `.aud` statement text when the action number
/// is unknown: the leading keywords (`ALTER DATABASE   MOUNT` → `ALTER DATABASE`).
pub fn action_from_statement(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .take(6)
        .map(|w| {
            w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .to_ascii_uppercase()
        })
        .collect();
    let first = words.first().map(String::as_str).unwrap_or("");
    match first {
        "CREATE" | "ALTER" | "DROP" | "TRUNCATE" => {
            let mut i = 1;
            let mut out = first.to_string();
            while let Some(w) = words.get(i) {
                if matches!(
                    w.as_str(),
                    "OR" | "REPLACE" | "PUBLIC" | "UNIQUE" | "GLOBAL"
                ) {
                    i += 1;
                    continue;
                }
                out.push(' ');
                out.push_str(w);
                break;
            }
            out
        }
        "BEGIN" | "DECLARE" | "CALL" | "EXEC" | "EXECUTE" => "PL/SQL EXECUTE".to_string(),
        "WITH" => "SELECT".to_string(),
        "" => "UNKNOWN".to_string(),
        w => w.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(action: &str) -> Classified {
        classify(ClassifyInput {
            action,
            ..Default::default()
        })
    }

    #[test]
    fn categories() {
        assert_eq!(c("SELECT").category, Category::Read);
        assert_eq!(c("MERGE").category, Category::Dml);
        assert_eq!(c("CREATE TABLE").category, Category::Ddl);
        assert_eq!(c("GRANT").category, Category::Dcl);
        assert_eq!(c("ALTER SYSTEM").category, Category::Admin);
        assert_eq!(c("LOGOFF BY CLEANUP").action, "LOGOUT");
        let a = c("CREATE AUDIT POLICY");
        assert_eq!((a.category, a.alert), (Category::AuditConfig, true));
        assert_eq!(c("EXECUTE").category, Category::Function);
    }

    #[test]
    fn failed_logons_and_audit_packages() {
        for (rc, want) in [
            (0, "LOGIN"),
            (28002, "LOGIN"),
            (1017, "LOGIN FAILED"),
            (28000, "LOGIN FAILED"),
        ] {
            let r = classify(ClassifyInput {
                action: "LOGON",
                return_code: Some(rc),
                ..Default::default()
            });
            assert_eq!(r.action, want);
        }
        let r = classify(ClassifyInput {
            action: "EXECUTE",
            object_schema: Some("SYS"),
            object_name: Some("DBMS_AUDIT_MGMT"),
            ..Default::default()
        });
        assert!(r.alert && r.category == Category::AuditConfig);
        let r = classify(ClassifyInput {
            action: "ALTER SYSTEM",
            sql_text: Some("alter system set unified_audit_systemlog='LOCAL0.INFO' scope=spfile"),
            ..Default::default()
        });
        assert!(r.alert);
        let r = classify(ClassifyInput {
            action: "DELETE",
            object_schema: Some("AUDSYS"),
            object_name: Some("AUD$UNIFIED"),
            ..Default::default()
        });
        assert!(r.alert);
    }

    #[test]
    fn outcomes() {
        let (o, e) = outcome_of(Some(1017));
        assert_eq!(o, Outcome::Failure);
        let e = e.unwrap();
        assert_eq!(e.code.as_deref(), Some("ORA-01017"));
        assert!(e.message.unwrap().contains("invalid username"));
        assert_eq!(outcome_of(Some(0)).0, Outcome::Success);
        assert_eq!(outcome_of(None).0, Outcome::Unknown);
    }

    #[test]
    fn statement_actions() {
        assert_eq!(
            action_from_statement("ALTER DATABASE   MOUNT"),
            "ALTER DATABASE"
        );
        assert_eq!(
            action_from_statement("create or replace view v as"),
            "CREATE VIEW"
        );
        assert_eq!(
            action_from_statement("DECLARE x int; BEGIN null; END;"),
            "PL/SQL EXECUTE"
        );
    }
}
