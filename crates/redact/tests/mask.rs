use onetrail_redact::{Redactor, RedactorOptions, mask_literals};

#[test]
fn masks_strings_numbers_and_keeps_structure() {
    assert_eq!(
        mask_literals("SELECT * FROM t WHERE name = 'bob' AND age > 42 AND score < 1.5e-3"),
        "SELECT * FROM t WHERE name = ? AND age > ? AND score < ?"
    );
}

#[test]
fn masks_prefixed_and_special_literals() {
    assert_eq!(
        mask_literals(
            "INSERT INTO t VALUES (N'ü', E'a\\'b', X'DEADBEEF', B'1010', 0xFF, .5, 'it''s')"
        ),
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)"
    );
}

#[test]
fn masks_dollar_bodies_and_q_quotes() {
    assert_eq!(
        mask_literals("CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1 $fn$ LANGUAGE sql"),
        "CREATE FUNCTION f() RETURNS int AS ? LANGUAGE sql"
    );
    assert_eq!(mask_literals("SELECT $$a'b$$, q'[x'y]'"), "SELECT ?, ?");
}

#[test]
fn keeps_identifiers_params_comments() {
    let s = r#"SELECT "Col1", `c2`, t1.x FROM t1 WHERE a = $1 AND b = ? AND c = :v -- 'keep'"#;
    assert_eq!(mask_literals(s), s);
}

#[test]
fn mysql_backslash_escapes_do_not_leak() {
    let out = mask_literals(r"SELECT 'O\'Brien', 'x'");
    assert!(!out.contains("Brien"), "{out}");
    assert!(out.starts_with("SELECT ?"), "{out}");
}

#[test]
fn unterminated_literal_masked_to_end() {
    assert_eq!(mask_literals("SELECT 'abc"), "SELECT ?");
}

#[test]
fn mask_literals_is_idempotent_and_no_literal_is_identity() {
    let s = "UPDATE t SET a = 'x', b = 2 WHERE id IN (1, 2, 3)";
    let m = mask_literals(s);
    assert_eq!(mask_literals(&m), m);
    assert_eq!(mask_literals("SELECT a FROM b"), "SELECT a FROM b");
}

#[test]
fn redact_with_masking_counts_only_secrets() {
    let r = Redactor::new(RedactorOptions {
        mask_literals: true,
    });
    assert_eq!(
        r.redact("ALTER USER 'u'@'%' IDENTIFIED BY 'pw1' REPLACE 'pw0' PASSWORD HISTORY 5"),
        Some((
            "ALTER USER ?@? IDENTIFIED BY ? REPLACE ? PASSWORD HISTORY ?".into(),
            2
        ))
    );
    assert_eq!(
        r.redact("CREATE USER scott IDENTIFIED BY tiger QUOTA 10 ON users"),
        Some((
            "CREATE USER scott IDENTIFIED BY <redacted> QUOTA ? ON users".into(),
            1
        ))
    );
    assert_eq!(
        r.redact("SELECT name FROM t WHERE id = 7"),
        Some(("SELECT name FROM t WHERE id = ?".into(), 0))
    );
    assert_eq!(r.redact("SELECT name FROM t"), None);
}
