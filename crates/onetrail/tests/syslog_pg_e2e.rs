//! Every event of the real PostgreSQL 15 + pgaudit workload (testkit) reaches
//! three private rsyslogds at once, each exactly once: LEEF over tcp, CEF
//! over tls (a test CA), RFC 5424 over relp. A file sink on the same agent is
//! the reference list of event ids. PostgreSQL missing fails (as pg_e2e);
//! rsyslogd missing skips with the reason (a failure under CI=true).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Agent, run_command, tail};
use onetrail_testkit::pg_workload;
use onetrail_testkit::postgres::{DEFAULT_LOG_LINE_PREFIX, PgInstance, PgLogFormat, PgOptions};
use onetrail_testkit::receivers::TlsMaterial;
use onetrail_testkit::rsyslog::{Rsyslog, TlsFiles};

/// Event ids in the parsed lines (`PRI|TIME|HOST|APP|PROCID|MSGID|SD|MSG`) of
/// non-agent events, with how often each arrived; `key` finds the id.
fn ids(rs: &Rsyslog, key: &str, end: char) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in rs.parsed_messages() {
        if l.split('|').nth(5) == Some("agent") {
            continue;
        }
        let at = l.find(key).unwrap_or_else(|| panic!("no {key:?} in {l}")) + key.len();
        let id = &l[at..];
        let id = &id[..id.find(end).unwrap_or(id.len())];
        *m.entry(id.to_string()).or_default() += 1;
    }
    m
}

fn file_ids(path: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["category"] != "agent")
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_workload_event_reaches_rsyslog_over_tcp_tls_and_relp() {
    if Rsyslog::find().is_none() {
        onetrail_corpora::skip("rsyslogd is not installed (Debian: apt-get install rsyslog)");
        return;
    }
    let pg = PgInstance::start(
        PgOptions::new(PgLogFormat::Stderr).log_line_prefix(DEFAULT_LOG_LINE_PREFIX),
    )
    .unwrap_or_else(|e| panic!("cannot start PostgreSQL 15 + pgaudit: {e}"));
    let m = TlsMaterial::generate();
    let tcp = Rsyslog::start(None).unwrap();
    let tls = Rsyslog::start(Some(&TlsFiles {
        ca: m.ca_cert.clone(),
        cert: m.server_cert.clone(),
        key: m.server_key.clone(),
    }))
    .unwrap();
    let relp = Rsyslog::start_relp().unwrap();
    let work = tempfile::tempdir().unwrap();
    let reference = work.path().join("events.jsonl");
    let cfg = work.path().join("onetrail.yaml");
    let common = "    batch_timeout_ms: 50\n    retry_initial_backoff_ms: 20\n    retry_max_backoff_ms: 200\n";
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir: "{state}"
sources:
  pg:
    type: pgaudit
    paths: ["{glob}"]
    log_format: stderr
    log_line_prefix: "{DEFAULT_LOG_LINE_PREFIX}"
    instance: pg-test
sinks:
  reference: {{ type: file, path: "{reference}" }}
  leef_tcp:
    type: syslog
    address: {tcp}
    protocol: tcp
    format: leef
{common}  cef_tls:
    type: syslog
    address: {tls}
    protocol: tls
    format: cef
    tls: {{ ca_file: "{ca}" }}
{common}  rfc5424_relp:
    type: syslog
    address: {relp}
    protocol: relp
    format: rfc5424
{common}"#,
            state = work.path().join("state").display(),
            glob = pg.audit_glob(),
            reference = reference.display(),
            tcp = tcp.address(),
            tls = tls.address(),
            relp = relp.address(),
            ca = m.ca_cert.display(),
        ),
    )
    .unwrap();
    let agent_log = work.path().join("agent.stderr");
    let mut agent = Agent::spawn(&mut run_command(&cfg), &agent_log).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    agent.check_alive().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = rt
        .block_on(pg_workload::run_workload(&pg))
        .unwrap_or_else(|e| panic!("workload: {e}"));
    assert!(!report.audits.is_empty());

    // The reference settles, then every receiver has as many ids.
    let receivers: [(&str, &Rsyslog, &str, char); 3] = [
        ("leef/tcp", &tcp, "\teventId=", '\t'),
        ("cef/tls", &tls, " externalId=", ' '),
        ("rfc5424/relp", &relp, "[onetrail@32473 id=\"", '"'),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut want = BTreeSet::new();
    let mut stable_since = Instant::now();
    loop {
        let now = file_ids(&reference);
        if now != want {
            want = now;
            stable_since = Instant::now();
        }
        let all_in = receivers
            .iter()
            .all(|(_, rs, key, end)| ids(rs, key, *end).len() >= want.len());
        if !want.is_empty() && all_in && stable_since.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered within 60 s: reference {}, {:?}\n--- agent ---\n{}",
            want.len(),
            receivers
                .iter()
                .map(|(n, rs, k, e)| (*n, ids(rs, k, *e).len()))
                .collect::<Vec<_>>(),
            tail(
                &std::fs::read_to_string(&agent_log).unwrap_or_default(),
                4000
            )
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    agent.terminate_within(Duration::from_secs(15)).unwrap();
    assert!(want.len() > 50, "a real workload: {} events", want.len());
    eprintln!(
        "{} workload events, each checked in 3 receivers",
        want.len()
    );
    for (name, rs, key, end) in receivers {
        let got = ids(rs, key, end);
        let keys: BTreeSet<String> = got.keys().cloned().collect();
        assert_eq!(
            keys, want,
            "{name}: the event ids differ from the file sink's"
        );
        let dups: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dups.is_empty(), "{name}: delivered twice: {dups:?}");
    }
}
