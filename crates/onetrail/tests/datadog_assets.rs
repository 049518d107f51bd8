//! The Datadog assets in `deploy/datadog` (log pipelines, the dashboard, the monitors) load
//! into the official `datadog-api-client` model classes (`LogsPipeline`, `Dashboard`,
//! `Monitor`) with type checking, and nothing in them is left unmatched
//! (`deploy/datadog/validate.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Pinned: the assets were checked with this version.
const PACKAGES: &[&str] = &["datadog-api-client==2.62.0"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, or why it could not be made (no network for pip, no python3).
fn datadog_python() -> Result<PathBuf, String> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(install).clone()
}

fn install() -> Result<PathBuf, String> {
    onetrail_testkit::python::venv(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("datadog-venv"),
        PACKAGES,
        "datadog_api_client.v1.model.logs_pipeline",
    )
}

#[test]
fn datadog_assets_load_into_the_client_models() {
    let python = match datadog_python() {
        Ok(p) => p,
        Err(why) => return onetrail_corpora::skip(&why),
    };
    let dir = repo().join("deploy/datadog");
    let out = Command::new(python)
        .arg(dir.join("validate.py"))
        .arg(&dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Datadog asset validation failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "onetrail-late-events.pipeline.json as LogsPipeline",
        "onetrail.pipeline.json as LogsPipeline",
        "onetrail.dashboard.json as Dashboard",
        "monitors/audit-disabled.json as Monitor",
        "monitors/collection-gap.json as Monitor",
        "monitors/failed-login-burst.json as Monitor",
        "monitors/privilege-grant.json as Monitor",
    ] {
        assert!(
            report.contains(&format!("ok   {name}")),
            "{name} not checked:\n{report}"
        );
    }
}
