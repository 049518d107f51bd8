//! End to end: `onetrail run` with a pgaudit file source and a `type: syslog`
//! sink, against a real private rsyslogd (onetrail_testkit::rsyslog). Every
//! record must reach rsyslog exactly once, with a header rsyslog's RFC 5424
//! parser reads as sent, in the configured format, over tcp and tls, with
//! both framings. `onetrail check` connects (and handshakes) and says so.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Agent, PREFIX, append, record, run_command};
use onetrail_testkit::receivers::TlsMaterial;
use onetrail_testkit::rsyslog::{Rsyslog, TlsFiles};

const N: u64 = 40;

fn rsyslog_or_skip() -> bool {
    if Rsyslog::find().is_none() {
        onetrail_corpora::skip("rsyslogd is not installed (Debian: apt-get install rsyslog)");
        return false;
    }
    true
}

/// Run the agent over `N` records with `sink` (YAML lines under the sink,
/// indented 4) and return rsyslog's parsed lines once all `N` data events
/// (msgid `dml`) arrived.
fn deliver(rs: &Rsyslog, sink: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    for n in 1..=N {
        append(&log, &record(n));
    }
    let cfg = config(dir.path(), &rs.address(), sink);
    let agent = Agent::spawn(&mut run_command(&cfg), &dir.path().join("agent.log")).unwrap();
    let data = |rs: &Rsyslog| {
        rs.parsed_messages()
            .into_iter()
            .filter(|l| l.split('|').nth(5) == Some("dml"))
            .collect::<Vec<_>>()
    };
    let mut ok = false;
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < end {
        if data(rs).len() as u64 >= N {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ok,
        "rsyslog got {} of {N} events\nagent: {}\nrsyslogd: {}",
        data(rs).len(),
        agent.log(),
        rs.log_text()
    );
    // Nothing more arrives (no duplicates).
    std::thread::sleep(Duration::from_millis(500));
    agent.terminate();
    data(rs)
}

/// The agent's config: `<dir>/postgresql.log` to a syslog sink at `addr`.
fn config(dir: &std::path::Path, addr: &str, sink: &str) -> std::path::PathBuf {
    let cfg = dir.join("onetrail.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir: {state}
sources:
  pg:
    type: pgaudit
    paths: ["{log}"]
    log_format: stderr
    log_line_prefix: "{PREFIX}"
    poll_interval_ms: 20
sinks:
  siem:
    type: syslog
    address: {addr}
    host: db1
    batch_timeout_ms: 50
    retry_initial_backoff_ms: 20
    retry_max_backoff_ms: 200
{sink}"#,
            state = dir.join("state").display(),
            log = dir.join("postgresql.log").display(),
        ),
    )
    .unwrap();
    cfg
}

/// Statement ids of the `INSERT INTO public.t VALUES (n)` statements in `lines`, counted.
fn counted(lines: &[String], prefix: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        let at = l
            .find(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in {l}"));
        let rest = &l[at + prefix.len()..];
        let n: u64 = rest[..rest.find(')').unwrap()].parse().unwrap();
        *m.entry(n).or_default() += 1;
    }
    m
}

fn assert_each_once(lines: &[String], prefix: &str) {
    let c = counted(lines, prefix);
    assert_eq!(c.len() as u64, N, "{c:?}");
    assert!(c.values().all(|&v| v == 1), "duplicates: {c:?}");
    assert!(c.keys().copied().eq(1..=N));
}

/// The header fields rsyslog parsed: `PRI|TIME|HOST|APP|PROCID|MSGID|SD|MSG`.
fn fields(l: &str) -> Vec<&str> {
    l.splitn(8, '|').collect()
}

#[test]
fn rfc5424_over_tcp_with_octet_counting() {
    if !rsyslog_or_skip() {
        return;
    }
    let rs = Rsyslog::start(None).unwrap();
    let lines = deliver(&rs, "    protocol: tcp\n    format: rfc5424\n");
    for l in &lines {
        let f = fields(l);
        // local4 (20) * 8 + informational (6).
        assert_eq!(f[0], "166", "{l}");
        assert!(f[1].starts_with("2026-11-26T06:15:00."), "{l}");
        assert_eq!((f[2], f[3], f[5]), ("db1", "onetrail", "dml"), "{l}");
        assert!(f[4].parse::<u32>().is_ok(), "PROCID: {l}");
        assert!(
            f[6].starts_with("[onetrail@32473 id=\"")
                && f[6].ends_with("\" engine=\"postgresql\"]"),
            "{l}"
        );
        let ev: serde_json::Value = serde_json::from_str(f[7]).expect("MSG is the event JSON");
        assert_eq!(ev["category"], "dml");
        assert!(f[6].contains(ev["id"].as_str().unwrap()));
    }
    assert_each_once(&lines, "INSERT INTO public.t VALUES (");
    // The raw message: exactly what was sent, header included.
    let raw = rs.raw_messages();
    assert!(
        raw.iter()
            .any(|r| r.starts_with("<166>1 2026-11-26T06:15:00.") && r.contains(" db1 onetrail ")),
        "{raw:?}"
    );
}

fn tls_files(m: &TlsMaterial) -> TlsFiles {
    TlsFiles {
        ca: m.ca_cert.clone(),
        cert: m.server_cert.clone(),
        key: m.server_key.clone(),
    }
}

#[test]
fn cef_over_tls_with_newline_framing() {
    if !rsyslog_or_skip() {
        return;
    }
    let m = TlsMaterial::generate();
    let rs = Rsyslog::start(Some(&tls_files(&m))).unwrap();
    let sink = format!(
        "    protocol: tls\n    framing: newline\n    format: cef\n    facility: local7\n    tls:\n      ca_file: {}\n",
        m.ca_cert.display()
    );
    // The certificate names localhost and 127.0.0.1; connect by name.
    let lines = deliver(&rs, &sink);
    for l in &lines {
        let f = fields(l);
        assert_eq!(f[0], "190", "local7.info: {l}");
        assert_eq!(f[6], "-", "{l}");
        assert!(
            f[7].starts_with(&format!(
                "CEF:0|onetrail|onetrail|{}|INSERT|dml INSERT|3|rt=",
                env!("CARGO_PKG_VERSION")
            )),
            "{l}"
        );
        // pgaudit's outcome is known only once the next line shows no error.
        assert!(
            f[7].contains(" cat=dml act=INSERT outcome=success suser=app ")
                || f[7].contains(" cat=dml act=INSERT outcome=unknown suser=app "),
            "{l}"
        );
        assert!(f[7].contains(" cs1=appdb cs1Label=database "), "{l}");
    }
    assert_each_once(&lines, "cs2=INSERT INTO public.t VALUES (");
}

#[test]
fn leef_over_tcp_keeps_tabs() {
    if !rsyslog_or_skip() {
        return;
    }
    let rs = Rsyslog::start(None).unwrap();
    let lines = deliver(
        &rs,
        "    protocol: tcp\n    format: leef\n    app_name: dbaudit\n",
    );
    for l in &lines {
        let f = fields(l);
        assert_eq!(f[3], "dbaudit", "{l}");
        let msg = f[7];
        assert!(
            msg.starts_with(&format!(
                "LEEF:2.0|onetrail|onetrail|{}|INSERT|x09|devTime=Nov 26 2026 06:15:00.",
                env!("CARGO_PKG_VERSION")
            )),
            "{l}"
        );
        let attrs: BTreeMap<&str, &str> = msg
            .splitn(7, '|')
            .nth(6)
            .unwrap()
            .split('\t')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        assert_eq!(attrs["devTimeFormat"], "MMM dd yyyy HH:mm:ss.SSS z");
        assert_eq!(attrs["cat"], "dml");
        assert_eq!(attrs["sev"], "3");
        assert_eq!(attrs["usrName"], "app");
        assert_eq!(attrs["dbName"], "appdb");
        assert!(attrs["eventId"].len() > 10);
    }
    assert_each_once(&lines, "\tstatement=INSERT INTO public.t VALUES (");
}

fn check(sink: &str, addr: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("onetrail.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\nsources:\n  pg:\n    type: pgaudit\n    paths: [\"{}/pg.log\"]\n    log_format: stderr\n    log_line_prefix: \"{PREFIX}\"\nsinks:\n  siem:\n    type: syslog\n    address: {addr}\n{sink}",
            dir.path().join("state").display(),
            dir.path().display(),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_onetrail"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_connects_and_handshakes() {
    if !rsyslog_or_skip() {
        return;
    }
    let m = TlsMaterial::generate();
    let rs = Rsyslog::start(Some(&tls_files(&m))).unwrap();
    let addr = format!("localhost:{}", rs.port);
    let good = check(
        &format!("    tls:\n      ca_file: {}\n", m.ca_cert.display()),
        &addr,
    );
    assert!(
        good.contains("TLS handshake done, certificate verified"),
        "{good}"
    );
    let wrong = check(
        &format!("    tls:\n      ca_file: {}\n", m.other_ca_cert.display()),
        &addr,
    );
    assert!(wrong.contains("TLS handshake with"), "{wrong}");
    assert!(wrong.contains("`tls.ca_file`"), "{wrong}");
    let plain = check(
        "    protocol: tcp\n",
        &format!("127.0.0.1:{}", common::free_port()),
    );
    assert!(plain.contains("cannot connect to 127.0.0.1:"), "{plain}");
    assert!(
        !plain.contains("unencrypted"),
        "loopback is not the network: {plain}"
    );
    let remote = check("    protocol: relp\n", "siem.invalid:2514");
    assert!(
        remote.contains("`protocol: relp` to siem.invalid, another host: audit events cross the network unencrypted"),
        "{remote}"
    );
}

#[test]
fn reconnects_after_an_rsyslog_restart() {
    if !rsyslog_or_skip() {
        return;
    }
    let mut rs = Rsyslog::start(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    let cfg = config(dir.path(), &rs.address(), "    protocol: tcp\n");
    let agent = Agent::spawn(&mut run_command(&cfg), &dir.path().join("agent.log")).unwrap();
    let data = |rs: &Rsyslog| {
        rs.raw_messages()
            .into_iter()
            .filter(|l| l.contains(" dml [onetrail@32473 "))
            .collect::<Vec<_>>()
    };
    let wait = |rs: &Rsyslog, n: usize| {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < end && data(rs).len() < n {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            data(rs).len() >= n,
            "rsyslog got {} of {n}\nagent: {}",
            data(rs).len(),
            agent.log()
        );
    };
    for n in 1..=N / 2 {
        append(&log, &record(n));
    }
    wait(&rs, (N / 2) as usize);
    // The receiver goes away (its connection closed), events come while it is down.
    rs.stop();
    for n in N / 2 + 1..=N {
        append(&log, &record(n));
    }
    std::thread::sleep(Duration::from_millis(800));
    rs.restart().unwrap();
    wait(&rs, N as usize);
    std::thread::sleep(Duration::from_millis(500));
    let log_text = agent.log();
    agent.terminate();
    assert_each_once(&data(&rs), "INSERT INTO public.t VALUES (");
    assert!(
        log_text.contains("cannot connect to 127.0.0.1:"),
        "the agent retried while rsyslog was down: {log_text}"
    );
}

#[test]
fn relp_delivers_every_event_acknowledged() {
    if !rsyslog_or_skip() {
        return;
    }
    let rs = Rsyslog::start_relp().unwrap();
    let lines = deliver(&rs, "    protocol: relp\n    format: rfc5424\n");
    for l in &lines {
        let f = fields(l);
        assert_eq!((f[0], f[2], f[5]), ("166", "db1", "dml"), "{l}");
        serde_json::from_str::<serde_json::Value>(f[7]).expect("MSG is the event JSON");
    }
    assert_each_once(&lines, "INSERT INTO public.t VALUES (");
    let out = check("    protocol: relp\n", &rs.address());
    assert!(
        out.contains("RELP session opened (the server answered `open` with 200)"),
        "{out}"
    );
}

#[test]
fn relp_through_an_rsyslog_restart_mid_stream_loses_nothing() {
    if !rsyslog_or_skip() {
        return;
    }
    const M: u64 = 400;
    let mut rs = Rsyslog::start_relp().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    let cfg = config(
        dir.path(),
        &rs.address(),
        "    protocol: relp\n    batch_max_events: 20\n",
    );
    let agent = Agent::spawn(&mut run_command(&cfg), &dir.path().join("agent.log")).unwrap();
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for n in 1..=M {
                append(&log, &record(n));
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let data = |rs: &Rsyslog| {
        rs.raw_messages()
            .into_iter()
            .filter(|l| l.contains(" dml [onetrail@32473 "))
            .collect::<Vec<_>>()
    };
    // Restart while records are being written and sent.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while data(&rs).len() < 50 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(data(&rs).len() >= 50, "agent: {}", agent.log());
    rs.restart().unwrap();
    writer.join().unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while counted(&data(&rs), "INSERT INTO public.t VALUES (").len() < M as usize
        && std::time::Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log_text = agent.log();
    agent.terminate();
    let c = counted(&data(&rs), "INSERT INTO public.t VALUES (");
    let missing: Vec<u64> = (1..=M).filter(|n| !c.contains_key(n)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}\nagent: {log_text}");
    let dups = c.values().filter(|&&v| v > 1).count();
    eprintln!("relp restart: {M} events, {dups} delivered twice (at least once)");
    assert!(
        log_text.contains("syslog receiver: "),
        "the restart was not noticed by the sink: {log_text}"
    );
}

#[test]
fn relp_through_an_rsyslog_kill_mid_stream_loses_nothing() {
    if !rsyslog_or_skip() {
        return;
    }
    const M: u64 = 400;
    let mut rs = Rsyslog::start_relp().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    let cfg = config(
        dir.path(),
        &rs.address(),
        "    protocol: relp\n    batch_max_events: 20\n",
    );
    let agent = Agent::spawn(&mut run_command(&cfg), &dir.path().join("agent.log")).unwrap();
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for n in 1..=M {
                append(&log, &record(n));
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let data = |rs: &Rsyslog| {
        rs.raw_messages()
            .into_iter()
            .filter(|l| l.contains(" dml [onetrail@32473 "))
            .collect::<Vec<_>>()
    };
    // Restart while records are being written and sent.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while data(&rs).len() < 50 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(data(&rs).len() >= 50, "agent: {}", agent.log());
    // SIGKILL: what imrelp acknowledged was already written (omfile, no queue delay).
    rs.kill();
    std::thread::sleep(Duration::from_millis(300));
    rs.start_again().unwrap();
    writer.join().unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while counted(&data(&rs), "INSERT INTO public.t VALUES (").len() < M as usize
        && std::time::Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log_text = agent.log();
    agent.terminate();
    let c = counted(&data(&rs), "INSERT INTO public.t VALUES (");
    let missing: Vec<u64> = (1..=M).filter(|n| !c.contains_key(n)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}\nagent: {log_text}");
    let dups = c.values().filter(|&&v| v > 1).count();
    eprintln!("relp restart: {M} events, {dups} delivered twice (at least once)");
    assert!(
        log_text.contains("syslog receiver: "),
        "the restart was not noticed by the sink: {log_text}"
    );
}

#[test]
fn udp_delivers_and_cuts_long_messages_to_2048_bytes_flagged() {
    if !rsyslog_or_skip() {
        return;
    }
    let rs = Rsyslog::start_udp().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log");
    for n in 1..=N {
        append(&log, &record(n));
    }
    // One statement of 10 000 bytes: over UDP's 2048-byte default.
    let long = record(N + 1).replace(
        &format!("VALUES ({}),<none>", N + 1),
        &format!("VALUES ({}) -- {},<none>", N + 1, "x".repeat(9950)),
    );
    append(&log, &long);
    let cfg = config(dir.path(), &rs.address(), "    protocol: udp\n");
    let agent = Agent::spawn(&mut run_command(&cfg), &dir.path().join("agent.log")).unwrap();
    let data = |rs: &Rsyslog| {
        rs.raw_messages()
            .into_iter()
            .filter(|l| l.contains(" dml [onetrail@32473 "))
            .collect::<Vec<_>>()
    };
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while data(&rs).len() < N as usize + 1 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let log_text = agent.log();
    agent.terminate();
    let lines = data(&rs);
    let c = counted(&lines, "INSERT INTO public.t VALUES (");
    assert_eq!(c.len() as u64, N + 1, "{c:?}\nagent: {log_text}");
    assert!(c.values().all(|&v| v == 1), "{c:?}");
    let cut = lines
        .iter()
        .find(|l| l.contains(&format!("VALUES ({}) -- x", N + 1)))
        .unwrap();
    assert!(cut.len() <= 2048, "{}", cut.len());
    assert!(cut.contains(" truncated=\"true\"] {"), "{cut}");
    let json: serde_json::Value =
        serde_json::from_str(&cut[cut.find("] {").unwrap() + 2..]).unwrap();
    assert_eq!(json["extra"]["truncated_for_sink"], true);
    assert!(json["extra"]["original_statement_bytes"].as_u64().unwrap() > 9950);
}

#[test]
fn relp_inside_tls_delivers_and_check_handshakes() {
    if !rsyslog_or_skip() {
        return;
    }
    let m = TlsMaterial::generate();
    let rs = Rsyslog::start_relp_tls(&tls_files(&m)).unwrap();
    // librelp wants a client certificate (mutual TLS).
    let client = format!(
        "      client_cert: {}\n      client_key: {}\n",
        m.client_cert.display(),
        m.client_key.display()
    );
    let sink = format!(
        "    protocol: relp_tls\n    format: leef\n    tls:\n      ca_file: {}\n{client}",
        m.ca_cert.display()
    );
    let lines = deliver(&rs, &sink);
    for l in &lines {
        assert!(fields(l)[7].starts_with("LEEF:2.0|onetrail|"), "{l}");
    }
    assert_each_once(&lines, "\tstatement=INSERT INTO public.t VALUES (");
    let out = check(
        &format!(
            "    protocol: relp_tls\n    tls:\n      ca_file: {}\n{client}",
            m.ca_cert.display()
        ),
        &rs.address(),
    );
    assert!(out.contains("RELP session opened"), "{out}");
    assert!(!out.contains("unencrypted"), "{out}");
    let wrong = check(
        &format!(
            "    protocol: relp_tls\n    tls:\n      ca_file: {}\n{client}",
            m.other_ca_cert.display()
        ),
        &rs.address(),
    );
    assert!(wrong.contains("TLS handshake with"), "{wrong}");
}
