//! The compliance table: which requirement an event is evidence for.
//!
//! One row per tag, in the order tags are emitted. `docs/compliance.md`
//! prints the same table (a test keeps the two in step). Rules read only the
//! normalized event (after identity, sensitivity and alert enrichment) and
//! the source's `compliance.privileged_users`.

use onetrail_event::{Category, Engine, Event, Outcome};

use super::identity::contains_ignore_case;

/// What a rule may look at besides the event.
pub struct Ctx<'a> {
    /// Database users with administrative access (`compliance.privileged_users`).
    pub privileged_users: &'a [String],
}

/// One requirement.
pub struct Requirement {
    /// The tag written into `compliance` (`pci-dss:10.2.1.2`).
    pub tag: &'static str,
    /// The requirement, abridged.
    pub requirement: &'static str,
    /// The rule in words (as in docs/compliance.md).
    pub rule: &'static str,
    test: fn(&Event, &Ctx<'_>) -> bool,
}

/// Default `compliance.privileged_users`.
pub const DEFAULT_PRIVILEGED_USERS: &[&str] = &[
    "postgres",
    "rdsadmin",
    "azure_superuser",
    "cloudsqladmin",
    "root",
    "admin",
    "sa",
    "sys",
    "system",
];

/// Labels meaning cardholder data / ePHI / personal data.
const PCI_LABELS: &[&str] = &["pci", "chd", "cardholder"];
const PHI_LABELS: &[&str] = &["phi", "ephi"];
const PERSONAL_LABELS: &[&str] = &["pii", "personal", "gdpr", "phi", "ephi"];

/// Names whose appearance in a read means someone reads an audit trail.
const AUDIT_TRAILS: &[&str] = &[
    "unified_audit_trail",
    "dba_audit_trail",
    "dba_fga_audit_trail",
    "aud$",
    "fga_log$",
    "fn_get_audit_file",
    "audit_log_read",
    "pg_read_file",
    "pg_read_binary_file",
];

/// Error codes that mean "permission denied", per engine: an engine's codes
/// are matched only on that engine's events (MySQL 1045 is "access denied",
/// Oracle 1045 — written bare by `RETURN_CODE` — is "lacks CREATE SESSION";
/// MySQL 1031 and 1017 are table-handler errors, not access errors).
fn denied_codes(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Postgresql => &["42501"],
        Engine::Mysql | Engine::Mariadb => &["1044", "1045", "1142", "1143", "1227", "1370"],
        Engine::Sqlserver => &["229", "230", "262", "297", "300"],
        Engine::Oracle => &[
            "ORA-01031",
            "ORA-01017",
            "ORA-01045",
            "ORA-28000",
            "1031",
            "1017",
            "1045",
            "28000",
        ],
    }
}

fn has_label(ev: &Event, labels: &[&str]) -> bool {
    ev.sensitivity
        .iter()
        .any(|l| labels.iter().any(|x| l.eq_ignore_ascii_case(x)))
}

fn data_access(ev: &Event) -> bool {
    matches!(ev.category, Category::Read | Category::Dml)
}

fn auth_failure(ev: &Event) -> bool {
    ev.category == Category::Auth && ev.outcome == Outcome::Failure
}

fn denied(ev: &Event) -> bool {
    ev.outcome == Outcome::Failure
        && ev
            .error
            .as_ref()
            .and_then(|e| e.code.as_deref())
            .is_some_and(|c| {
                denied_codes(ev.engine)
                    .iter()
                    .any(|d| c.eq_ignore_ascii_case(d))
            })
}

fn privileged(ev: &Event, cx: &Ctx<'_>) -> bool {
    ev.db_user.as_deref().is_some_and(|u| {
        cx.privileged_users
            .iter()
            .any(|p| p.eq_ignore_ascii_case(u))
    })
}

fn credential_change(ev: &Event) -> bool {
    if ev.category != Category::Dcl {
        return false;
    }
    let a = ev.action.to_ascii_uppercase();
    let account = [
        "ROLE",
        "USER",
        "LOGIN",
        "PASSWORD",
        "GROUP",
        "CREDENTIAL",
        "USER MAPPING",
    ];
    let verb = [
        "CREATE",
        "ALTER",
        "DROP",
        "RENAME",
        "SET PASSWORD",
        "SET",
        "GRANT ROLE",
    ];
    (verb.iter().any(|v| a.starts_with(v)) && account.iter().any(|x| a.contains(x)))
        || a.contains("PASSWORD")
}

fn reads_audit_trail(ev: &Event) -> bool {
    if !matches!(
        ev.category,
        Category::Read | Category::Function | Category::Other
    ) {
        return false;
    }
    let obj = ev.objects.iter().any(|o| {
        o.name
            .as_deref()
            .is_some_and(|n| AUDIT_TRAILS.iter().any(|t| contains_ignore_case(n, t)))
    });
    obj || ev.statement.as_deref().is_some_and(mentions_audit_trail)
}

/// `AUDIT_TRAILS.iter().any(|t| contains_ignore_case(s, t))` in one SIMD pass
/// (statements are long and this runs for every read: BENCHMARKS.md).
fn mentions_audit_trail(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        let alts: Vec<String> = AUDIT_TRAILS.iter().map(|t| regex::escape(t)).collect();
        // ASCII-only case folding, exactly as `contains_ignore_case`.
        regex::bytes::Regex::new(&format!("(?i-u:{})", alts.join("|")))
            .expect("literal alternation")
    });
    RE.is_match(s.as_bytes())
}

/// The table. Keep docs/compliance.md in step (`table_is_documented`).
pub const TABLE: &[Requirement] = &[
    Requirement {
        tag: "pci-dss:10.2.1.1",
        requirement: "all individual user access to cardholder data",
        rule: "`read` or `dml` event on an object labelled `pci`, `chd` or `cardholder`",
        test: |e, _| data_access(e) && has_label(e, PCI_LABELS),
    },
    Requirement {
        tag: "pci-dss:10.2.1.2",
        requirement: "all actions taken by any individual with administrative access",
        rule: "any non-`agent` event whose `db_user` is in `compliance.privileged_users`, and every `ddl`, `dcl`, `admin` and `audit_config` event",
        test: |e, cx| {
            e.category != Category::Agent
                && (privileged(e, cx)
                    || matches!(
                        e.category,
                        Category::Ddl | Category::Dcl | Category::Admin | Category::AuditConfig
                    ))
        },
    },
    Requirement {
        tag: "pci-dss:10.2.1.3",
        requirement: "all access to audit logs",
        rule: "`read`, `function` or `other` event naming an audit trail (`UNIFIED_AUDIT_TRAIL`, `DBA_AUDIT_TRAIL`, `DBA_FGA_AUDIT_TRAIL`, `AUD$`, `FGA_LOG$`, `sys.fn_get_audit_file`, `audit_log_read`, `pg_read_file`, `pg_read_binary_file`) in an object or the statement",
        test: |e, _| reads_audit_trail(e),
    },
    Requirement {
        tag: "pci-dss:10.2.1.4",
        requirement: "all invalid logical access attempts",
        rule: "`auth` failure (`LOGIN FAILED`), or any failure with a permission-denied error code of the event's own engine (PostgreSQL 42501; MySQL and MariaDB 1044, 1045, 1142, 1143, 1227, 1370; SQL Server 229, 230, 262, 297, 300; Oracle ORA-01031, ORA-01017, ORA-01045, ORA-28000, also as the bare `RETURN_CODE` numbers)",
        test: |e, _| auth_failure(e) || denied(e),
    },
    Requirement {
        tag: "pci-dss:10.2.1.5",
        requirement: "all changes to identification and authentication credentials",
        rule: "`dcl` event creating, altering, dropping or renaming a role, user, login, group, credential or user mapping, or whose action mentions PASSWORD",
        test: |e, _| credential_change(e),
    },
    Requirement {
        tag: "pci-dss:10.2.1.6",
        requirement: "all initialization, starting, stopping or pausing of audit logs",
        rule: "every `audit_config` event and every `agent` event (`START`, `STOP`, `GAP`)",
        test: |e, _| matches!(e.category, Category::AuditConfig | Category::Agent),
    },
    Requirement {
        tag: "pci-dss:10.2.1.7",
        requirement: "all creation and deletion of system-level objects",
        rule: "`ddl` event whose action starts with CREATE or DROP",
        test: |e, _| {
            e.category == Category::Ddl
                && (e.action.starts_with("CREATE") || e.action.starts_with("DROP"))
        },
    },
    Requirement {
        tag: "hipaa:164.312(b)",
        requirement: "audit controls: record and examine activity in systems that contain or use ePHI",
        rule: "any event on an object labelled `phi` or `ephi`",
        test: |e, _| has_label(e, PHI_LABELS),
    },
    Requirement {
        tag: "soc2:CC6.1",
        requirement: "logical access security: identifies and authenticates users",
        rule: "every `auth` event (logins, failed logins, logouts)",
        test: |e, _| e.category == Category::Auth,
    },
    Requirement {
        tag: "soc2:CC6.3",
        requirement: "authorizes, modifies or removes access based on roles",
        rule: "every `dcl` event",
        test: |e, _| e.category == Category::Dcl,
    },
    Requirement {
        tag: "soc2:CC7.2",
        requirement: "monitors system components for anomalies",
        rule: "every event with `alert: true` (audit changes, gaps) and every `auth` failure",
        test: |e, _| e.alert || auth_failure(e),
    },
    Requirement {
        tag: "iso27001:A.8.15",
        requirement: "logging: logs that record activities, exceptions, faults and other relevant events",
        rule: "every event except `other` (server lines that are not audit records)",
        test: |e, _| e.category != Category::Other,
    },
    Requirement {
        tag: "gdpr:art30",
        requirement: "records of processing activities (evidence of processing of personal data)",
        rule: "`read` or `dml` event on an object labelled `pii`, `personal`, `gdpr`, `phi` or `ephi`",
        test: |e, _| data_access(e) && has_label(e, PERSONAL_LABELS),
    },
];

/// Append the tags of every matching row to `ev.compliance` (no duplicates).
pub fn tag(ev: &mut Event, cx: &Ctx<'_>) {
    for r in TABLE {
        if (r.test)(ev, cx) && !ev.compliance.iter().any(|t| t == r.tag) {
            ev.compliance.push(std::borrow::Cow::Borrowed(r.tag));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onetrail_event::{DbObject, Engine, ErrorInfo, RecordPos};

    #[test]
    fn audit_trail_matcher_equals_the_naive_scan() {
        for s in [
            "SELECT * FROM UNIFIED_AUDIT_TRAIL",
            "select * from sys.aud$ where x",
            "SELECT pg_read_file('/etc/passwd')",
            "select * from Dba_Fga_Audit_Trail",
            "SELECT 1",
            "select aud from t",
            "SELECT fga_log FROM x",
            "SELECT * FROM sys.fn_get_audit_file('x', default, default)",
            "",
            "Ａudit_log_read",
        ] {
            let naive = AUDIT_TRAILS.iter().any(|t| contains_ignore_case(s, t));
            assert_eq!(mentions_audit_trail(s), naive, "{s}");
        }
    }

    fn ev(cat: Category, action: &str) -> Event {
        let pos = RecordPos {
            source_key: "k",
            path: None,
            offset: 0,
            format: "t",
        };
        let mut e = Event::new(Engine::Postgresql, chrono::Utc::now(), &pos, 0);
        e.category = cat;
        e.action = action.into();
        e.outcome = Outcome::Success;
        e.db_user = Some("app".into());
        e
    }

    fn tags(e: &mut Event) -> Vec<String> {
        let users: Vec<String> = DEFAULT_PRIVILEGED_USERS
            .iter()
            .map(|s| s.to_string())
            .collect();
        tag(
            e,
            &Ctx {
                privileged_users: &users,
            },
        );
        e.compliance.iter().map(|t| t.to_string()).collect()
    }

    fn has(e: &mut Event, t: &str) -> bool {
        tags(e).iter().any(|x| x == t)
    }

    #[test]
    fn pci_rows() {
        let mut e = ev(Category::Read, "SELECT");
        e.sensitivity = vec!["pci".into()];
        assert!(has(&mut e, "pci-dss:10.2.1.1"));
        assert!(!has(&mut ev(Category::Read, "SELECT"), "pci-dss:10.2.1.1"));

        assert!(has(
            &mut ev(Category::Ddl, "ALTER TABLE"),
            "pci-dss:10.2.1.2"
        ));
        let mut e = ev(Category::Read, "SELECT");
        e.db_user = Some("postgres".into());
        assert!(has(&mut e, "pci-dss:10.2.1.2"));
        assert!(!has(&mut ev(Category::Dml, "INSERT"), "pci-dss:10.2.1.2"));

        let mut e = ev(Category::Read, "SELECT");
        e.statement = Some("SELECT * FROM unified_audit_trail".into());
        assert!(has(&mut e, "pci-dss:10.2.1.3"));
        let mut e = ev(Category::Read, "SELECT");
        e.objects.push(DbObject {
            kind: None,
            schema: Some("SYS".into()),
            name: Some("AUD$".into()),
        });
        assert!(has(&mut e, "pci-dss:10.2.1.3"));

        let mut e = ev(Category::Auth, "LOGIN FAILED");
        e.outcome = Outcome::Failure;
        let t = tags(&mut e);
        assert!(
            t.contains(&"pci-dss:10.2.1.4".into())
                && t.contains(&"soc2:CC7.2".into())
                && t.contains(&"soc2:CC6.1".into())
        );
        let mut e = ev(Category::Read, "SELECT");
        e.outcome = Outcome::Failure;
        e.error = Some(ErrorInfo {
            code: Some("42501".into()),
            message: None,
        });
        assert!(has(&mut e, "pci-dss:10.2.1.4"));

        assert!(has(
            &mut ev(Category::Dcl, "ALTER ROLE"),
            "pci-dss:10.2.1.5"
        ));
        assert!(has(
            &mut ev(Category::Dcl, "CREATE USER MAPPING"),
            "pci-dss:10.2.1.5"
        ));
        assert!(has(
            &mut ev(Category::Dcl, "SET PASSWORD"),
            "pci-dss:10.2.1.5"
        ));
        assert!(!has(&mut ev(Category::Dcl, "GRANT"), "pci-dss:10.2.1.5"));

        assert!(has(
            &mut ev(Category::AuditConfig, "SET"),
            "pci-dss:10.2.1.6"
        ));
        assert!(has(&mut ev(Category::Agent, "START"), "pci-dss:10.2.1.6"));

        assert!(has(
            &mut ev(Category::Ddl, "CREATE TABLE"),
            "pci-dss:10.2.1.7"
        ));
        assert!(has(
            &mut ev(Category::Ddl, "DROP TABLE"),
            "pci-dss:10.2.1.7"
        ));
        assert!(!has(
            &mut ev(Category::Ddl, "ALTER TABLE"),
            "pci-dss:10.2.1.7"
        ));
    }

    #[test]
    fn denied_codes_are_matched_per_engine() {
        let failed = |engine: Engine, code: &str| {
            let mut e = ev(Category::Dml, "UPDATE");
            e.engine = engine;
            e.outcome = Outcome::Failure;
            e.error = Some(ErrorInfo {
                code: Some(code.into()),
                message: None,
            });
            has(&mut e, "pci-dss:10.2.1.4")
        };
        // MySQL 1031 (table storage engine lacks the option) and 1017 (can't
        // find file) are not access errors; on Oracle the same numbers are
        // ORA-01031 and ORA-01017.
        for engine in [Engine::Mysql, Engine::Mariadb] {
            for code in ["1031", "1017", "28000", "42501", "229"] {
                assert!(!failed(engine, code), "{engine} {code}");
            }
            for code in ["1044", "1045", "1142", "1143", "1227", "1370"] {
                assert!(failed(engine, code), "{engine} {code}");
            }
        }
        for code in ["1031", "1017", "1045", "28000", "ORA-01031", "ora-28000"] {
            assert!(failed(Engine::Oracle, code), "oracle {code}");
        }
        for code in ["1142", "1227", "42501", "229"] {
            assert!(!failed(Engine::Oracle, code), "oracle {code}");
        }
        assert!(failed(Engine::Postgresql, "42501"));
        for code in ["1045", "1031", "229", "28000"] {
            assert!(!failed(Engine::Postgresql, code), "postgresql {code}");
        }
        for code in ["229", "230", "262", "297", "300"] {
            assert!(failed(Engine::Sqlserver, code), "sqlserver {code}");
        }
        for code in ["1045", "42501", "1031"] {
            assert!(!failed(Engine::Sqlserver, code), "sqlserver {code}");
        }
    }

    #[test]
    fn other_frameworks() {
        let mut e = ev(Category::Dml, "UPDATE");
        e.sensitivity = vec!["phi".into()];
        let t = tags(&mut e);
        assert!(t.contains(&"hipaa:164.312(b)".into()) && t.contains(&"gdpr:art30".into()));
        assert!(has(&mut ev(Category::Dcl, "GRANT"), "soc2:CC6.3"));
        let mut e = ev(Category::Session, "SET");
        e.alert = true;
        assert!(has(&mut e, "soc2:CC7.2"));
        assert!(has(&mut ev(Category::Dml, "INSERT"), "iso27001:A.8.15"));
        assert!(tags(&mut ev(Category::Other, "LOG")).is_empty());
        // Idempotent.
        let mut e = ev(Category::Dcl, "GRANT");
        let a = tags(&mut e);
        assert_eq!(tags(&mut e), a);
    }

    #[test]
    fn table_is_documented() {
        let doc = include_str!("../../../docs/compliance.md");
        for r in TABLE {
            assert!(
                doc.contains(&format!("`{}`", r.tag)),
                "docs/compliance.md lacks {}",
                r.tag
            );
            assert!(
                doc.contains(r.rule),
                "docs/compliance.md: rule of {} differs:\n{}",
                r.tag,
                r.rule
            );
        }
    }
}
