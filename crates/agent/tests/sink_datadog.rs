//! Datadog sink against the in-test Logs intake receiver (onetrail_testkit::receivers).

mod sink_common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use onetrail_agent::config::Encoding;
use onetrail_agent::encode;
use onetrail_agent::metrics::SinkMetrics;
use onetrail_event::Engine;
use onetrail_testkit::receivers::{
    DD_MAX_ENTRIES, DD_MAX_ENTRY, DD_MAX_PAYLOAD, DatadogReceiver, Fault,
};
use serde_json::{Value, json};
use sink_common::*;

const KEY: &str = "dd0123456789abcdef0123456789abcd";

fn dd_yaml(url: &str, extra: &str) -> String {
    format!(
        "type: datadog\nendpoint: {url}\napi_key: {KEY}\nservice: orders-db\nhost: db-01\ntags: [\"env:test\", \"team:db\"]\nencoding: datadog\n{FAST}{extra}"
    )
}

fn ids(v: &[Value]) -> BTreeSet<String> {
    v.iter()
        .map(|e| e["onetrail"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_arrive_as_encoded_within_the_intake_limits() {
    let rx = DatadogReceiver::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &dd_yaml(
            &rx.url,
            "batch_max_events: 5000\nbatch_max_bytes: 5000000\n",
        ),
    );
    let mut sink = build(&cfg);
    let mut evs = events(2500);
    evs[5].engine = Engine::Mariadb;
    let m = SinkMetrics::default();
    deliver(
        &mut sink,
        &batches(evs.clone(), 500),
        &m,
        Duration::from_secs(30),
    )
    .await;

    let s = rx.state();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert_eq!(s.accepted.len(), evs.len());
    assert!(s.requests.len() >= 3, "≤ 1000 entries per request");
    for r in &s.requests {
        assert_eq!(r.header("dd-api-key"), Some(KEY));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert!(r.body.len() <= DD_MAX_PAYLOAD);
        let n = serde_json::from_slice::<Value>(&r.body)
            .unwrap()
            .as_array()
            .unwrap()
            .len();
        assert!(n <= DD_MAX_ENTRIES, "{n}");
    }
    for (e, ev) in s.accepted.iter().zip(&evs) {
        let mut want = encode::to_value(ev, Encoding::Datadog);
        let w = want.as_object_mut().unwrap();
        w.insert(
            "ddsource".into(),
            if ev.engine == Engine::Mariadb {
                "mysql"
            } else {
                "postgresql"
            }
            .into(),
        );
        w.insert("ddtags".into(), "env:test,team:db".into());
        w.insert("hostname".into(), "db-01".into());
        w.insert("service".into(), "orders-db".into());
        assert_eq!(e, &want);
        assert_eq!(e["db"]["statement"], ev.statement.as_deref().unwrap());
        assert_eq!(e["network"]["client"]["ip"], "10.0.3.17");
        assert_eq!(e["evt"]["outcome"], "success");
        assert_eq!(e["timestamp"], ev.time.timestamp_millis());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_statement_is_cut_and_flagged() {
    let rx = DatadogReceiver::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &dd_yaml(&rx.url, ""));
    let mut sink = build(&cfg);
    let mut evs = events(3);
    let big = format!("INSERT INTO t VALUES ('{}')", "é".repeat(750_000));
    evs[1].statement = Some(big.clone());
    let m = SinkMetrics::default();
    deliver(
        &mut sink,
        &batches(evs.clone(), 3),
        &m,
        Duration::from_secs(20),
    )
    .await;
    let s = rx.state();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert_eq!(s.accepted.len(), 3);
    let e = &s.accepted[1];
    assert!(serde_json::to_vec(e).unwrap().len() <= DD_MAX_ENTRY);
    assert_eq!(e["onetrail"]["extra"]["truncated_for_sink"], true);
    assert_eq!(
        e["onetrail"]["extra"]["original_statement_bytes"],
        big.len()
    );
    let st = e["db"]["statement"].as_str().unwrap();
    assert!(big.starts_with(st) && st.len() > 100_000 && st.len() < big.len());
    // The others are untouched.
    assert!(
        s.accepted[0]["onetrail"]["extra"]
            .get("truncated_for_sink")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_older_than_the_intake_window_are_sent_late_with_their_own_time_kept() {
    // The double flags any entry whose `timestamp` Datadog would drop (> 18 h old).
    let rx = DatadogReceiver::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &dd_yaml(&rx.url, ""));
    let mut sink = build(&cfg);
    let old = Utc::now() - chrono::Duration::hours(19);
    let week = Utc::now() - chrono::Duration::days(7);
    let mut evs = events(5);
    evs[0] = event_at(100, old);
    evs[3] = event_at(103, week);
    let m = SinkMetrics::default();
    let t0 = Utc::now().timestamp_millis();
    deliver(
        &mut sink,
        &batches(evs.clone(), 5),
        &m,
        Duration::from_secs(20),
    )
    .await;
    let s = rx.state();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    // Every event reached Datadog, the old ones too; nothing dead-lettered.
    assert_eq!(ids(&s.accepted), evs.iter().map(|e| e.id.clone()).collect());
    assert_eq!(s.accepted.len(), 5);
    for (i, e) in evs.iter().enumerate() {
        let got = s
            .accepted
            .iter()
            .find(|a| a["onetrail"]["id"] == e.id.as_str())
            .unwrap();
        if i == 0 || i == 3 {
            assert_eq!(got["late"], true, "event {i}");
            let ts = got["timestamp"].as_i64().unwrap();
            assert!(
                ts >= t0 && ts <= Utc::now().timestamp_millis(),
                "event {i}: {ts}"
            );
            assert_eq!(
                got["original_time"],
                e.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "event {i}"
            );
            assert_eq!(got["original_timestamp"], e.time.timestamp_millis());
        } else {
            assert!(got.get("late").is_none(), "event {i}");
            assert!(got.get("original_time").is_none(), "event {i}");
            assert_eq!(got["timestamp"], e.time.timestamp_millis(), "event {i}");
        }
    }
    // None of the attributes Datadog reads the date from holds the old time.
    for a in &s.accepted {
        for k in [
            "date",
            "_timestamp",
            "Timestamp",
            "eventTime",
            "published_date",
            "@timestamp",
        ] {
            assert!(a.get(k).is_none(), "{k} in {a}");
        }
    }
    assert!(
        !s.accepted.iter().any(|e| e["onetrail"]["action"] == "GAP"),
        "no GAP event: nothing was lost"
    );
    assert!(!cfg.data_dir.join("dead-letter/out.jsonl").exists());
    assert_eq!(m.late_events.load(Ordering::Relaxed), 2);
    assert_eq!(m.dead_lettered.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_that_is_not_the_intake_answer_is_not_a_delivery() {
    for (fault, expect) in [
        (
            Fault::Body(
                200,
                "text/html",
                format!("<html>Login required; DD-API-KEY {KEY}</html>"),
            ),
            &[
                "HTTP 200",
                "Login required",
                "****",
                "not the intake's success answer",
            ][..],
        ),
        (
            Fault::Body(202, "application/json", String::new()),
            &["HTTP 202", "(empty)"][..],
        ),
        (Fault::Body(202, "text/plain", "OK".into()), &["\"OK\""][..]),
        (Fault::Truncated(202, "{".into()), &["cut short"][..]),
    ] {
        let rx = DatadogReceiver::start(KEY).await;
        rx.state().always = Some(fault.clone());
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &dd_yaml(&rx.url, ""));
        let mut sink = build(&cfg);
        let evs = events(4);
        let b = batches(evs.clone(), 4);
        let m = SinkMetrics::default();
        let sd = onetrail_agent::pipeline::Shutdown::default();
        let r = tokio::time::timeout(Duration::from_millis(800), sink.deliver(&b, &sd, &m)).await;
        assert!(r.is_err(), "{fault:?}: counted as delivered");
        assert!(!m.is_up(), "{fault:?}");
        let err = m.last_error().unwrap_or_default();
        for e in expect {
            assert!(err.contains(e), "{fault:?}: {err}");
        }
        assert!(!err.contains(KEY), "{err}");
        assert!(rx.state().statuses.len() >= 2, "{fault:?}: retried");
        rx.state().always = None;
        deliver(&mut sink, &b, &m, Duration::from_secs(10)).await;
        assert_eq!(
            ids(&rx.state().accepted),
            evs.iter().map(|e| e.id.clone()).collect()
        );
        assert!(m.is_up());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_a_bad_key_lose_nothing() {
    let rx = DatadogReceiver::start("not-yet").await;
    {
        let mut s = rx.state();
        for _ in 0..4 {
            s.faults
                .push_back(Fault::Status(503, json!({"errors":["unavailable"]}), None));
        }
        s.faults.push_back(Fault::Status(
            429,
            json!({"errors":["slow down"]}),
            Some("1".into()),
        ));
        s.faults.push_back(Fault::Reset);
        s.faults.push_back(Fault::Status(408, json!({}), None));
        // Slow, but accepted: the last fault.
        s.faults.push_back(Fault::Delay(Duration::from_millis(200)));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &dd_yaml(&rx.url, "compression: false\n"));
    let mut sink = build(&cfg);
    let evs = events(50);
    let m = std::sync::Arc::new(SinkMetrics::default());
    let (b, m2) = (batches(evs.clone(), 25), m.clone());
    let task =
        tokio::spawn(async move { deliver(&mut sink, &b, &m2, Duration::from_secs(30)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!m.is_up(), "paused on 403");
    let err = m.last_error().unwrap();
    assert!(err.contains("403") && !err.contains(KEY), "{err}");
    assert!(rx.state().statuses.iter().all(|&c| c == 403));
    rx.state().api_key = KEY.into();
    task.await.unwrap();
    let s = rx.state();
    assert!(s.faults.is_empty());
    assert_eq!(ids(&s.accepted), evs.iter().map(|e| e.id.clone()).collect());
    assert!(
        s.requests
            .iter()
            .all(|r| r.header("content-encoding").is_none())
    );
    assert!(m.is_up());
    assert_eq!(m.dead_lettered.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_entry_is_isolated_and_dead_lettered() {
    let rx = DatadogReceiver::start(KEY).await;
    rx.state().reject =
        Some(|e: &Value| e["db"]["statement"] == "SELECT * FROM cards WHERE id = 13");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &dd_yaml(
            &rx.url,
            &format!("dead_letter_path: {}/dl.jsonl\n", dir.path().display()),
        ),
    );
    let mut sink = build(&cfg);
    let evs = events(40);
    let m = SinkMetrics::default();
    deliver(
        &mut sink,
        &batches(evs.clone(), 40),
        &m,
        Duration::from_secs(20),
    )
    .await;
    let s = rx.state();
    let want: BTreeSet<String> = evs
        .iter()
        .filter(|e| e.session.statement_id != Some(13))
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids(&s.accepted), want);
    assert_eq!(s.accepted.len(), 39, "no duplicates: a 400 keeps nothing");
    let dl = std::fs::read_to_string(dir.path().join("dl.jsonl")).unwrap();
    assert_eq!(dl.lines().count(), 1);
    assert!(dl.contains(&evs[13].id));
    assert_eq!(m.dead_lettered.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_validates_the_key_or_says_it_cannot() {
    let rx = DatadogReceiver::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let probe = |cfg: onetrail_agent::config::Config| async move {
        let f = tokio::task::spawn_blocking(move || onetrail_agent::check(&cfg, None))
            .await
            .unwrap();
        f.into_iter().find(|f| f.subject == "sink out").unwrap()
    };
    // The endpoint passes /api/v1/validate on: the key is validated.
    let sink = probe(config(dir.path(), &dd_yaml(&rx.url, ""))).await;
    assert!(
        sink.level == onetrail_agent::Level::Ok && sink.message.contains("API key valid"),
        "{}",
        sink.message
    );
    // A wrong key fails, without printing it.
    let sink = probe(config(
        dir.path(),
        &dd_yaml(&rx.url, "").replace(KEY, "wrong-key-0123"),
    ))
    .await;
    assert!(!sink.ok(), "{}", sink.message);
    assert!(sink.message.contains("not valid"), "{}", sink.message);
    assert!(!sink.message.contains("wrong-key-0123"));
    // An endpoint that cannot validate keys: said so, as a warning, not "reachable (HTTP 404)".
    rx.state().validate_missing = true;
    let sink = probe(config(dir.path(), &dd_yaml(&rx.url, ""))).await;
    assert_eq!(sink.level, onetrail_agent::Level::Warn, "{}", sink.message);
    assert!(
        sink.message.contains("cannot be validated") && sink.message.contains("404"),
        "{}",
        sink.message
    );
    let port = onetrail_testkit::free_port();
    let sink = probe(config(
        dir.path(),
        &dd_yaml(&format!("http://127.0.0.1:{port}"), ""),
    ))
    .await;
    assert!(
        !sink.ok() && sink.message.contains("unreachable"),
        "{}",
        sink.message
    );
    assert!(rx.state().accepted.is_empty());
}

#[test]
fn sites_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("dd.key");
    std::fs::write(&kf, "key-from-file\n").unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "type: datadog\nsite: datadoghq.eu\napi_key_file: {}\n",
            kf.display()
        ),
    );
    match build(&cfg) {
        onetrail_agent::sinks::Sink::Datadog(d) => {
            assert_eq!(d.url(), "https://http-intake.logs.datadoghq.eu/api/v2/logs")
        }
        _ => panic!("not a datadog sink"),
    }
    assert!(!format!("{:?}", cfg.sinks["out"].value).contains("key-from-file"));
    let cfg = config(
        dir.path(),
        "type: datadog\nsite: datadoghq.moon\napi_key: k\n",
    );
    let e = onetrail_agent::sinks::Sink::build("out", &cfg.sinks["out"].value, &cfg.data_dir)
        .err()
        .unwrap();
    assert!(e.contains("unknown Datadog `site"), "{e}");
}

/// The pipeline asset in `deploy/datadog/` selects and reads the attributes the
/// sink writes on late events (`late`, `original_timestamp`).
#[test]
fn late_events_pipeline_asset_matches_the_attributes_sent() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/datadog/onetrail-late-events.pipeline.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(v["filter"]["query"], "@late:true");
    let sources: Vec<&str> = v["processors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["sources"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sources, ["late", "original_timestamp"]);
    for p in v["processors"].as_array().unwrap() {
        assert_eq!(p["type"], "attribute-remapper");
    }
}
