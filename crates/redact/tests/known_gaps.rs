//! Inputs the fuzzer found that the redactor does not yet handle as its
//! properties say, kept as `#[ignore]`d tests so they are listed (as ignored,
//! never as passed) until fixed: `cargo test -p onetrail-redact --test
//! known_gaps -- --ignored` shows each failing.
//!
//! `not-idempotent-1.bin` (libFuzzer, target `redact`, seeded from the
//! fixtures): fixture JSON and SQL Server lines spliced so that an
//! unterminated literal after `password '` runs across records. The first
//! pass redacts that literal; the quote parity after `<redacted>` then
//! differs, and a second pass finds a double-quoted `",<none>,0"` in a
//! password position and redacts it too. No secret of the input is left by
//! the first pass; the second redaction is of pgaudit's own `<none>` field.

use onetrail_redact::{Redactor, RedactorOptions};

#[test]
#[ignore = "known gap: redaction is not idempotent on this spliced input (see the module doc)"]
fn redaction_is_idempotent_on_spliced_records() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/known/not-idempotent-1.bin"
    ))
    .unwrap();
    let text = String::from_utf8_lossy(&data);
    let r = Redactor::new(RedactorOptions {
        mask_literals: false,
    });
    let (once, _) = r.redact(&text).expect("the input holds a password literal");
    assert!(
        !once.contains("Fdw-S3cr3t"),
        "the secret itself is redacted"
    );
    assert_eq!(r.redact(&once), None, "a second pass changes nothing");
}

/// The part of the property that holds today: the first pass removes the
/// secret (this runs, and must pass).
#[test]
fn the_secret_of_the_spliced_input_is_redacted() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/known/not-idempotent-1.bin"
    ))
    .unwrap();
    let text = String::from_utf8_lossy(&data);
    assert!(text.contains("Fdw-S3cr3t"));
    let r = Redactor::new(RedactorOptions {
        mask_literals: false,
    });
    let (once, _) = r.redact(&text).unwrap();
    assert!(!once.contains("Fdw-S3cr3t"), "{once}");
}
