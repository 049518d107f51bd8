//! A file read in the wrong format is reported (exit 3, naming what the file
//! looks like), not "0 events, exit 0", whatever the format.

use std::path::Path;
use std::process::Command;

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn parse(format: &str, file: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["parse", "--format", format])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_file_in_another_format_exits_3_and_says_what_it_looks_like() {
    let mariadb = fixture("mysql/mariadb-server-audit.basic.log");
    let oracle_xml = fixture("oracle/oracle-audit-xml.basic.xml");
    let mysql_xml = fixture("mysql/mysql-enterprise-xml.new.xml");
    // Known: oracle-audit-xml on a non-Oracle XML file gave 0 events, exit 0.
    let mut checked = 0;
    for (format, file, looks) in [
        ("oracle-audit-xml", &mysql_xml, "mysql-enterprise-xml"),
        ("oracle-audit-xml", &mariadb, "mariadb-server-audit"),
        ("mariadb-server-audit", &oracle_xml, "oracle-audit-xml"),
        ("mssql-audit-json", &mariadb, "mariadb-server-audit"),
    ] {
        let (code, _, err) = parse(format, file);
        assert_eq!(code, Some(3), "{format} on {}: {err}", file.display());
        assert!(err.contains("not one record recognised"), "{err}");
        assert!(err.contains(looks), "{format}: {err}");
        checked += 1;
    }
    assert_eq!(checked, 4);
    // The right format still exits 0.
    let (code, out, err) = parse("mariadb-server-audit", &mariadb);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.is_empty());
}

/// `import` checks every file before it sends anything: a file in another
/// format than the source's is refused (exit 3, nothing written), the right
/// one is imported.
#[test]
fn import_refuses_a_file_in_another_format_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let cfg = dir.path().join("onetrail.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\nsources:\n  maria:\n    type: mysql_audit\n    paths: [\"/nonexistent/*.log\"]\n    format: mariadb-server-audit\nsinks:\n  out:\n    type: file\n    path: {}\n",
            dir.path().join("state").display(),
            out.display()
        ),
    )
    .unwrap();
    let import = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_onetrail"))
            .args(["import", "--config"])
            .arg(&cfg)
            .args(["--source", "maria"])
            .arg(fixture("mysql/mariadb-server-audit.basic.log"))
            .arg(file)
            .output()
            .unwrap()
    };
    let o = import(&fixture("oracle/oracle-audit-xml.basic.xml"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("oracle-audit-xml.basic.xml"), "{err}");
    assert!(err.contains("it looks like oracle-audit-xml"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        std::fs::read_to_string(&out).unwrap_or_default().is_empty(),
        "something was sent before the refusal"
    );
    let o = import(&fixture("mysql/mariadb-server-audit.interleaved.log"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!std::fs::read_to_string(&out).unwrap().is_empty());
}
