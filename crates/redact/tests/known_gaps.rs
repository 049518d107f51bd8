//! Inputs the fuzzer found that broke one of the redactor's properties, kept
//! as regression tests.
//!
//! `not-idempotent-1.bin` (libFuzzer, target `redact`, seeded from the
//! fixtures): fixture JSON and SQL Server lines spliced so that an
//! unterminated literal after `password '` runs across records. The first
//! scan redacts that literal; the quote parity after `<redacted>` then
//! differs, and a second scan finds a double-quoted `",<none>,0"` in a
//! password position. `Redactor::redact` now scans again until nothing
//! changes, so one call gives the fixpoint.

use onetrail_redact::{Redactor, RedactorOptions};

fn spliced() -> String {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/known/not-idempotent-1.bin"
    ))
    .unwrap();
    String::from_utf8_lossy(&data).into_owned()
}

#[test]
fn redaction_is_idempotent_on_spliced_records() {
    let text = spliced();
    assert!(text.contains("Fdw-S3cr3t"));
    let r = Redactor::new(RedactorOptions {
        mask_literals: false,
    });
    let (once, n) = r.redact(&text).expect("the input holds a password literal");
    assert!(
        !once.contains("Fdw-S3cr3t"),
        "the secret is redacted: {once}"
    );
    assert!(n >= 2, "both password literals and the re-lexed one: {n}");
    assert_eq!(r.redact(&once), None, "a second call changes nothing");
}

#[test]
fn masking_after_redaction_keeps_the_secret_out() {
    let text = spliced();
    let r = Redactor::new(RedactorOptions {
        mask_literals: true,
    });
    let (out, _) = r.redact(&text).unwrap();
    assert!(!out.contains("Fdw-S3cr3t"), "{out}");
}
