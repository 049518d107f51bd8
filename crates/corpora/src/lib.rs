//! # onetrail-corpora — where the third-party corpora are, for tests
//!
//! The parsers are tested on audit records written by real servers and by
//! public peers' test suites. Those records are third-party data: they live
//! in `shared/corpora/` next to the repository (see `SOURCES.md` there), are
//! read at run time and are never copied into the repository.
//!
//! A fresh clone elsewhere has no `../shared`, and the README's test command
//! must still pass there, so a test that needs the corpora asks [`dir`] and
//! returns early on `None` — after a printed notice, never silently. Under
//! `CI=true` (where the corpora are always laid beside the checkout) their
//! absence is a failure instead, so CI can never pass having checked nothing.
//!
//! The location is `$ONETRAIL_CORPORA` when set, else `../shared/corpora`
//! relative to the workspace root. This crate is a dev-dependency only.

use std::path::PathBuf;

/// The corpora directory, or `None` (with a notice on stderr naming the
/// caller's test) when it is absent outside CI. Panics under `CI=true` when it
/// is absent.
#[track_caller]
pub fn dir() -> Option<PathBuf> {
    let d = std::env::var_os("ONETRAIL_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
        });
    if d.is_dir() {
        return Some(d);
    }
    skip(&format!(
        "third-party corpora not found at {} (set ONETRAIL_CORPORA, or lay shared/corpora \
         beside the checkout; see its SOURCES.md)",
        d.display()
    ));
    None
}

/// Whether this run is CI's (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A visible skip, for any test that cannot check what it is about here
/// (a tool, a binary or data missing): prints `SKIPPED <file>:<line>: why`
/// straight to the process's stderr (the harness captures `eprintln!` of
/// passing tests, and a skip must be seen), and returns so the caller can
/// `return`. Under `CI=true` it panics instead: CI installs what the tests
/// need, so a skip there means a test passed having checked nothing.
#[track_caller]
pub fn skip(why: &str) {
    let caller = std::panic::Location::caller();
    if in_ci() {
        panic!(
            "{}:{}: {why}: under CI=true this test must run, not skip",
            caller.file(),
            caller.line()
        );
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}:{}: {why}",
        caller.file(),
        caller.line()
    );
}

/// The bytes of `rel` inside the corpora directory, `None` when the corpora
/// are absent (see [`dir`]). A missing file inside present corpora panics.
#[track_caller]
pub fn read(rel: &str) -> Option<Vec<u8>> {
    let p = dir()?.join(rel);
    Some(
        std::fs::read(&p)
            .unwrap_or_else(|e| panic!("cannot read corpus file {}: {e}", p.display())),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_override_is_honoured() {
        // A directory that certainly exists stands in for the corpora.
        let here = env!("CARGO_MANIFEST_DIR");
        // SAFETY: single-threaded within this test binary's only test.
        unsafe { std::env::set_var("ONETRAIL_CORPORA", here) };
        assert_eq!(super::dir().unwrap(), std::path::PathBuf::from(here));
        unsafe { std::env::set_var("ONETRAIL_CORPORA", "/nonexistent/onetrail-corpora") };
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            assert!(std::panic::catch_unwind(super::dir).is_err());
        } else {
            assert!(super::dir().is_none());
        }
        unsafe { std::env::remove_var("ONETRAIL_CORPORA") };
    }
}
