//! Every file in deploy/examples/ passes `onetrail check` in a fake
//! environment: its absolute paths are moved under a temp root (data_dir,
//! sink files, secret and CA files), a file matching each log glob is
//! created there, every HTTP sink `endpoint` points at a local responder that
//! answers like a healthy Splunk HEC and a valid Datadog key, and every
//! `${VAR}` gets a value. Nothing is skipped: an example whose source or
//! sink is not implemented yet fails `check`, and so this test, by name.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "onetrail-examples-test-secret";

/// A responder for every HTTP probe `check` makes: an empty HEC event request
/// (a valid token gets 400 code 5 "No data"), HEC `/services/collector/health`
/// and Datadog `/api/v1/validate` (200 with a body both understand).
fn start_responder() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = if head.starts_with(b"POST /services/collector/event") {
                    ("400 Bad Request", r#"{"text":"No data","code":5}"#)
                } else {
                    (
                        "200 OK",
                        r#"{"text":"HEC is healthy","code":17,"valid":true}"#,
                    )
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://{addr}")
}

/// Real records of `format` from the repository's fixtures; for pgaudit
/// stderr a server line every `log_line_prefix` explains (through `%q`).
fn sample_lines(repo: &Path, format: &str) -> Vec<u8> {
    let fixture = match format {
        "pgaudit-csvlog" => "postgresql/csvlog-pg15.csv",
        "pgaudit-jsonlog" => "postgresql/jsonlog-pg16.json",
        "pgauditlogtofile" => "postgresql/pgauditlogtofile-mixed.log",
        "mariadb-server-audit" => "mysql/mariadb-server-audit.basic.log",
        "mysql-enterprise-json" => "mysql/mysql-enterprise-json.ea.json",
        "mysql-enterprise-xml" => "mysql/mysql-enterprise-xml.new.xml",
        "percona-audit-json" => "mysql/percona-audit-json.sample.json",
        "percona-audit-xml" => "mysql/percona-audit-xml.new.xml",
        "percona-audit-csv" => "mysql/percona-audit-csv.multiline.csv",
        "oracle-aud" => "oracle/oracle-aud.classic.aud",
        "oracle-audit-xml" => "oracle/oracle-audit-xml.basic.xml",
        "oracle-unified-csv" => "oracle/oracle-unified-csv.basic.csv",
        "oracle-unified-syslog" => "oracle/oracle-unified-syslog.basic.log",
        _ => return b"2026-11-26 06:15:54.358 UTC [1] LOG:  database system is ready\n".to_vec(),
    };
    std::fs::read(repo.join("fixtures").join(fixture)).unwrap()
}

/// Prefix every absolute path in value position (after a space, quote, `[`
/// or `,`) with `root`. URLs (`https://…`) are not touched: their `/` follows `:`.
fn rebase_paths(text: &str, root: &Path) -> String {
    let root = root.to_string_lossy();
    let mut out = String::with_capacity(text.len() + 256);
    let mut prev = '\n';
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            prev = '\n';
            continue;
        }
        for c in line.chars() {
            if c == '/' && matches!(prev, ' ' | '"' | '\'' | '[' | ',') {
                out.push_str(&root);
            }
            out.push(c);
            prev = c;
        }
    }
    out
}

/// Point every HTTP sink at `url`: rewrite `endpoint:` values, and add one to
/// block-style `type: splunk_hec` / `type: datadog` sinks that have none.
fn redirect_endpoints(text: &str, url: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("endpoint:") {
            Some(_) => format!("{}endpoint: {url}", &l[..indent(l)]),
            None => l.to_string(),
        })
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t.starts_with("type: splunk_hec") || t.starts_with("type: datadog") {
            let ind = indent(&lines[i]);
            let in_block = |l: &String| {
                l.trim().is_empty() || l.trim_start().starts_with('#') || indent(l) >= ind
            };
            let mut start = i;
            while start > 0 && in_block(&lines[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < lines.len() && in_block(&lines[end]) {
                end += 1;
            }
            let has = lines[start..end]
                .iter()
                .any(|l| indent(l) == ind && l.trim_start().starts_with("endpoint:"));
            if !has {
                lines.insert(i + 1, format!("{}endpoint: {url}", " ".repeat(ind)));
            }
        }
        i += 1;
    }
    lines.join("\n") + "\n"
}

/// Names referenced as `${NAME}` (with or without a default).
fn env_refs(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let t = &rest[i + 2..];
        let end = t.find('}').unwrap_or(t.len());
        let name = t[..end].split(":-").next().unwrap_or("").to_string();
        if !name.is_empty() && !v.contains(&name) {
            v.push(name);
        }
        rest = &t[end..];
    }
    v
}

/// A file name matching one glob path component (`*`/`?` → `x`, `[ab]` → `a`).
fn instantiate(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push('x'),
            '[' => {
                let mut first = None;
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    if first.is_none() && d != '!' {
                        first = Some(d);
                    }
                }
                out.push(first.unwrap_or('x'));
            }
            c => out.push(c),
        }
    }
    out
}

/// A self-signed certificate for `tls.ca_file` / `client_cert` keys.
fn make_pem(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=localhost", "-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some((cert, key))
}

#[test]
fn every_example_passes_check() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples");
    let repo = examples.join("../..").canonicalize().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the example configs in {}",
        examples.display()
    );
    let url = start_responder();
    let pems = tempfile::tempdir().unwrap();
    let pem = make_pem(pems.path());

    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let original = std::fs::read_to_string(file).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        // The config sits where the original does relative to the repository,
        // so relative paths (`../../fixtures/...`) resolve to the same files.
        let cfg_dir = tmp.path().join("deploy/examples");
        std::fs::create_dir_all(&cfg_dir).unwrap();
        for top in ["fixtures", "docs"] {
            if repo.join(top).exists() {
                std::os::unix::fs::symlink(repo.join(top), tmp.path().join(top)).unwrap();
            }
        }
        let text = redirect_endpoints(&rebase_paths(&original, &root), &url);
        let cfg_path = cfg_dir.join(&name);
        std::fs::write(&cfg_path, &text).unwrap();

        let mut envs: Vec<(String, String)> = env_refs(&text)
            .into_iter()
            .map(|k| (k, SECRET.to_string()))
            .collect();
        envs.push((
            "ONETRAIL_QUICKSTART_DIR".into(),
            tmp.path().join("quickstart").display().to_string(),
        ));

        // What the config names under the fake root: log files, secrets, certificates.
        let vars = envs.iter().cloned().collect();
        let cfg = match onetrail_agent::config::Config::from_str_with_vars(&text, &cfg_path, vars) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: the configuration does not load: {e}"));
                continue;
            }
        };
        for (src, sc) in &cfg.sources {
            for glob in &sc.value.paths {
                let p = Path::new(glob);
                if !p.starts_with(&root) {
                    continue; // inside the repository (fixtures): must exist as is
                }
                let matched = glob::glob(glob)
                    .map(|mut g| g.next().is_some())
                    .unwrap_or(false);
                if !matched {
                    let parent = p.parent().unwrap();
                    assert!(
                        !parent.to_string_lossy().contains(['*', '?', '[']),
                        "{name}: source {src}: globs in directory names are not supported by this test: {glob}"
                    );
                    std::fs::create_dir_all(parent).unwrap();
                    let f = parent.join(instantiate(&p.file_name().unwrap().to_string_lossy()));
                    // `check` reads the file's lines: give it real ones of its format.
                    let format = onetrail_agent::formats::source_format(&cfg, src)
                        .map(|(f, _)| f)
                        .unwrap_or("pgaudit-stderr");
                    std::fs::write(f, sample_lines(&repo, format)).unwrap();
                }
            }
            if let Some(f) = &sc.value.password_file {
                write_secret(f);
            }
            if let Some(f) = &sc.value.ca_file {
                write_pem(f, pem.as_ref().map(|p| &p.0), &name);
            }
        }
        for sk in cfg.sinks.values() {
            let s = &sk.value;
            for f in [&s.token_file, &s.api_key_file].into_iter().flatten() {
                write_secret(f);
            }
            if let Some(f) = &s.tls.ca_file {
                write_pem(f, pem.as_ref().map(|p| &p.0), &name);
            }
            if let Some(f) = &s.tls.client_cert {
                write_pem(f, pem.as_ref().map(|p| &p.0), &name);
            }
            if let Some(f) = &s.tls.client_key {
                write_pem(f, pem.as_ref().map(|p| &p.1), &name);
            }
        }

        let out = Command::new(env!("CARGO_BIN_EXE_onetrail"))
            .args(["check", "--config"])
            .arg(&cfg_path)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("--- {name}: exit {:?}\n{report}", out.status.code());
        if !out.status.success() {
            failures.push(format!(
                "{name}: `onetrail check` exited {:?}:\n{report}",
                out.status.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "examples that fail `onetrail check`:\n\n{}",
        failures.join("\n")
    );
}

fn write_secret(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("{SECRET}\n")).unwrap();
}

fn write_pem(path: &Path, pem: Option<&PathBuf>, example: &str) {
    let pem = pem.unwrap_or_else(|| {
        panic!("{example} names a certificate file; this test makes one with the `openssl` command, which is missing (apt-get install openssl)")
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(pem, path).unwrap();
}

#[test]
fn rewriting_helpers() {
    let root = Path::new("/tmp/r");
    assert_eq!(
        rebase_paths(
            "data_dir: /var/lib/x\npaths: [\"/a/*.log\", '/b']\nurl: https://h:1/p\n# /c\n",
            root
        ),
        "data_dir: /tmp/r/var/lib/x\npaths: [\"/tmp/r/a/*.log\", '/tmp/r/b']\nurl: https://h:1/p\n# /c\n"
    );
    let t = "sinks:\n  dd:\n    type: datadog\n    site: x\n  hec:\n    endpoint: https://s:8088\n    type: splunk_hec\n";
    assert_eq!(
        redirect_endpoints(t, "http://l"),
        "sinks:\n  dd:\n    type: datadog\n    endpoint: http://l\n    site: x\n  hec:\n    endpoint: http://l\n    type: splunk_hec\n"
    );
    assert_eq!(instantiate("audit-[0-9]*.lo?"), "audit-0x.lox");
    assert_eq!(env_refs("a ${X} ${Y:-d} $$ ${X}"), vec!["X", "Y"]);
}
