//! The `action_id` and `class_type` code tables, checked in as data files
//! (`data/audit_actions.tsv`, `data/class_types.tsv`; their headers name the
//! sources) and parsed once.

use std::collections::HashMap;
use std::sync::OnceLock;

use onetrail_event::Category;

const ACTIONS_TSV: &str = include_str!("../data/audit_actions.tsv");
const CLASSES_TSV: &str = include_str!("../data/class_types.tsv");

/// One `sys.dm_audit_actions` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    pub name: &'static str,
    pub category: Category,
}

/// What a `class_type` says about CREATE/ALTER/DROP on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    Object,
    Principal,
    Audit,
    Config,
}

/// One `sys.dm_audit_class_type_map` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    pub desc: &'static str,
    pub kind: ClassKind,
}

fn rows(tsv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
}

fn category(s: &str) -> Category {
    match s {
        "auth" => Category::Auth,
        "ddl" => Category::Ddl,
        "dml" => Category::Dml,
        "read" => Category::Read,
        "dcl" => Category::Dcl,
        "function" => Category::Function,
        "session" => Category::Session,
        "audit_config" => Category::AuditConfig,
        "admin" => Category::Admin,
        _ => Category::Other,
    }
}

fn actions() -> &'static HashMap<&'static str, ActionInfo> {
    static T: OnceLock<HashMap<&'static str, ActionInfo>> = OnceLock::new();
    T.get_or_init(|| {
        rows(ACTIONS_TSV)
            .filter(|r| r.len() >= 3)
            .map(|r| {
                (
                    r[0],
                    ActionInfo {
                        name: r[1],
                        category: category(r[2]),
                    },
                )
            })
            .collect()
    })
}

fn classes() -> &'static HashMap<&'static str, ClassInfo> {
    static T: OnceLock<HashMap<&'static str, ClassInfo>> = OnceLock::new();
    T.get_or_init(|| {
        rows(CLASSES_TSV)
            .filter(|r| r.len() >= 3)
            .map(|r| {
                let kind = match r[2] {
                    "principal" => ClassKind::Principal,
                    "audit" => ClassKind::Audit,
                    "config" => ClassKind::Config,
                    _ => ClassKind::Object,
                };
                (r[0], ClassInfo { desc: r[1], kind })
            })
            .collect()
    })
}

/// The action behind a (trimmed) `action_id`.
pub fn action(code: &str) -> Option<ActionInfo> {
    actions().get(code).copied()
}

/// The class behind a (trimmed) `class_type`.
pub fn class(code: &str) -> Option<ClassInfo> {
    classes().get(code).copied()
}

/// Every action code in the table (tests, documentation).
pub fn action_codes() -> Vec<&'static str> {
    let mut v: Vec<_> = actions().keys().copied().collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_and_have_the_key_codes() {
        assert!(action_codes().len() > 100);
        assert_eq!(action("LGIS").unwrap().category, Category::Auth);
        assert_eq!(action("AUSC").unwrap().category, Category::AuditConfig);
        assert_eq!(action("SL").unwrap().name, "SELECT");
        assert_eq!(class("U").unwrap().desc, "TABLE");
        assert_eq!(class("SA").unwrap().kind, ClassKind::Audit);
        assert_eq!(class("SL").unwrap().kind, ClassKind::Principal);
        // Every line of the files parsed (no stray spaces instead of tabs).
        for l in ACTIONS_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert_eq!(l.split('\t').count(), 3, "{l:?}");
        }
        for l in CLASSES_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert_eq!(l.split('\t').count(), 3, "{l:?}");
        }
    }
}
