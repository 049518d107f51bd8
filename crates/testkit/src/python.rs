//! Python tools the tests check onetrail's output with (the OCSF validator,
//! Splunk AppInspect, pySigma, the Datadog API client), each in a venv of its
//! own with pinned versions, installed once and reused.
//!
//! The venv is built in a staging directory and renamed into place, so a run
//! killed halfway, or another process installing at the same time, never
//! leaves a broken venv where the next run looks. Callers keep the result in
//! a `OnceLock` so the tests of one binary install once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The python of the venv `dir` (created when missing or broken) in which
/// `import` (a Python import statement's modules, e.g. `sigma.backends.splunk`)
/// works after `pip install packages`. `Err` says why it could not be made:
/// no python3, or pip could not install (no network). Panics when the
/// packages installed but do not import: that is a broken pin, not a
/// missing tool.
pub fn venv(dir: &Path, packages: &[&str], import: &str) -> Result<PathBuf, String> {
    let ready = |venv: &Path| {
        Command::new(venv.join("bin/python"))
            .args(["-c", &format!("import {import}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(dir) {
        return Ok(dir.join("bin/python"));
    }
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let staging = dir.with_file_name(format!("{name}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&staging)
        .output()
        .map_err(|e| format!("python3 is needed (to install {}): {e}", packages.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let out = Command::new(staging.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet"])
        .args(packages)
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!(
            "cannot install pip install {}: {}",
            packages.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let broken = || {
        format!(
            "{} installed but `import {import}` fails",
            packages.join(" ")
        )
    };
    if !ready(dir) {
        // A leftover from an interrupted run is not usable: replace it.
        let _ = std::fs::remove_dir_all(dir);
        if std::fs::rename(&staging, dir).is_err() && !ready(dir) {
            // Could not move it into place and nobody else did: use it where it is.
            if !ready(&staging) {
                broken();
            }
            return Ok(staging.join("bin/python"));
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    if !ready(dir) {
        broken();
    }
    Ok(dir.join("bin/python"))
}
