//! Splunk HEC sink against the in-test HEC receiver (onetrail_testkit::receivers).

mod sink_common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use onetrail_agent::config::Encoding;
use onetrail_agent::encode;
use onetrail_agent::metrics::SinkMetrics;
use onetrail_testkit::receivers::{Fault, HecReceiver};
use serde_json::{Value, json};
use sink_common::*;

const TOKEN: &str = "0bd1b8d8-6b7e-4c8e-9d4e-1234567890ab";

fn hec_yaml(url: &str, extra: &str) -> String {
    format!(
        "type: splunk_hec\nendpoint: {url}\ntoken: {TOKEN}\nindex: audit\nsourcetype: onetrail:test\nhost: db-01\n{FAST}{extra}"
    )
}

fn ids(v: &[Value]) -> BTreeSet<String> {
    v.iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_exactly_as_encoded_with_acks_and_limits() {
    let rx = HecReceiver::start(TOKEN).await;
    rx.state().use_ack = true;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &hec_yaml(
            &rx.url,
            "acknowledgements: true\nack_poll_interval_ms: 20\nbatch_max_bytes: 8192\nencoding: splunk_cim\n",
        ),
    );
    let mut sink = build(&cfg);
    let evs = events(250);
    let m = SinkMetrics::default();
    deliver(
        &mut sink,
        &batches(evs.clone(), 60),
        &m,
        Duration::from_secs(20),
    )
    .await;

    let channel = {
        let s = rx.state();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        // Every event, once, exactly as the encoder writes it, in order.
        assert_eq!(s.accepted.len(), evs.len());
        for (env, ev) in s.accepted.iter().zip(&evs) {
            assert_eq!(env["event"], encode::to_value(ev, Encoding::SplunkCim));
            let secs = ev.time.timestamp();
            let micros = ev.time.timestamp_subsec_micros();
            let t = env["time"].as_f64().unwrap();
            assert!(
                (t - (secs as f64 + micros as f64 / 1e6)).abs() < 1e-5,
                "{t}"
            );
            assert_eq!(env["host"], "db-01");
            assert_eq!(env["source"], "onetrail:pg");
            assert_eq!(env["sourcetype"], "onetrail:test");
            assert_eq!(env["index"], "audit");
            assert_eq!(env["fields"]["event_id"], ev.id.as_str());
            assert_eq!(env["fields"]["db_system"], "postgresql");
        }
        // Headers and request sizes.
        let posts: Vec<_> = s
            .requests
            .iter()
            .filter(|r| r.path == "/services/collector/event")
            .collect();
        assert!(
            posts.len() >= 5,
            "8 KiB requests: expected several, got {}",
            posts.len()
        );
        let channel = posts[0]
            .header("x-splunk-request-channel")
            .unwrap()
            .to_string();
        assert_eq!(channel.len(), 36);
        for r in &posts {
            assert_eq!(
                r.header("authorization"),
                Some(format!("Splunk {TOKEN}").as_str())
            );
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            assert_eq!(r.header("x-splunk-request-channel"), Some(channel.as_str()));
            assert!(r.body.len() <= 8192, "request of {} bytes", r.body.len());
            assert!(r.wire_len < r.body.len(), "gzip shrinks the body");
        }
        // Acks: polled on the same channel; every ack id came back true before deliver returned.
        let polls: Vec<_> = s
            .requests
            .iter()
            .filter(|r| r.path == "/services/collector/ack")
            .collect();
        assert!(!polls.is_empty());
        assert!(
            polls
                .iter()
                .all(|r| r.header("x-splunk-request-channel") == Some(channel.as_str()))
        );
        assert_eq!(s.acked.len(), posts.len());
        // The channel is kept in data_dir and reused by a new sink.
        let kept = std::fs::read_to_string(cfg.data_dir.join("splunk-hec/out.channel")).unwrap();
        assert_eq!(kept.trim(), channel);
        channel
    };
    let mut again = build(&cfg);
    deliver(
        &mut again,
        &batches(events(3), 3),
        &m,
        Duration::from_secs(10),
    )
    .await;
    let last = rx
        .state()
        .requests
        .iter()
        .rev()
        .find(|r| r.path == "/services/collector/event")
        .cloned()
        .unwrap();
    assert_eq!(
        last.header("x-splunk-request-channel"),
        Some(channel.as_str())
    );
    assert_eq!(
        m.sent_events.load(Ordering::Relaxed),
        0,
        "the runner counts, not deliver"
    );
    assert!(m.is_up());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_503_storm_429_retry_after_resets_and_slow_answers_lose_nothing() {
    let rx = HecReceiver::start(TOKEN).await;
    {
        let mut s = rx.state();
        for _ in 0..6 {
            s.faults.push_back(Fault::Status(
                503,
                json!({"text":"Server is busy","code":9}),
                None,
            ));
        }
        s.faults.push_back(Fault::Status(
            429,
            json!({"text":"Too many requests","code":26}),
            Some("1".into()),
        ));
        s.faults.push_back(Fault::Reset);
        s.faults.push_back(Fault::Delay(Duration::from_millis(300)));
        s.faults.push_back(Fault::Reset);
        s.faults.push_back(Fault::Status(
            500,
            json!({"text":"Internal server error","code":8}),
            None,
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &hec_yaml(&rx.url, "batch_max_bytes: 4096\n"));
    let mut sink = build(&cfg);
    let evs = events(100);
    let m = SinkMetrics::default();
    let t0 = Instant::now();
    deliver(
        &mut sink,
        &batches(evs.clone(), 100),
        &m,
        Duration::from_secs(30),
    )
    .await;
    let took = t0.elapsed();

    let s = rx.state();
    assert!(s.faults.is_empty(), "every fault was hit");
    let got: Vec<Value> = s.accepted.iter().map(|e| e["event"].clone()).collect();
    assert_eq!(
        ids(&got),
        evs.iter().map(|e| e.id.clone()).collect(),
        "zero loss"
    );
    // Timing: Retry-After: 1 was honoured (the request after the 429 came ≥ 1 s later)...
    let posts: Vec<_> = s
        .requests
        .iter()
        .filter(|r| r.path == "/services/collector/event")
        .collect();
    let i429 = s.event_statuses.iter().position(|&c| c == 429).unwrap();
    let gap = posts[i429 + 1].at - posts[i429].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After ignored: {gap:?}"
    );
    // ...and the 503 storm used the small backoff (cap 100 ms), not seconds.
    let storm = posts[5].at - posts[0].at;
    assert!(
        storm < Duration::from_millis(1500),
        "503 storm took {storm:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(m.retries.load(Ordering::Relaxed), 10);
    assert!(m.is_up(), "recovered");
    assert_eq!(m.dead_lettered.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_token_pauses_then_recovers_without_loss_and_never_leaks_the_token() {
    let rx = HecReceiver::start("the-real-token").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &hec_yaml(&rx.url, ""));
    let mut sink = build(&cfg);
    let evs = events(20);
    let m = std::sync::Arc::new(SinkMetrics::default());
    let b = batches(evs.clone(), 20);
    let m2 = m.clone();
    let task = tokio::spawn(async move {
        deliver(&mut sink, &b, &m2, Duration::from_secs(20)).await;
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Paused: refused with 403 code 4, retried every pause_retry_ms, reported down.
    assert!(!m.is_up());
    let err = m.last_error().unwrap();
    assert!(
        err.contains("403") && err.contains("Invalid token"),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
    let refused = rx
        .state()
        .event_statuses
        .iter()
        .filter(|&&c| c == 403)
        .count();
    assert!(
        (3..=8).contains(&refused),
        "slow retries while paused: {refused}"
    );
    assert!(rx.state().accepted.is_empty());
    // The token is accepted again: the sink recovers, nothing lost.
    rx.state().token = TOKEN.into();
    task.await.unwrap();
    let got: Vec<Value> = rx.events();
    assert_eq!(ids(&got), evs.iter().map(|e| e.id.clone()).collect());
    assert!(m.is_up());
    // The token is in no Debug output.
    let dbg = format!("{:?}", cfg.sinks["out"].value);
    assert!(!dbg.contains(TOKEN), "{dbg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invalid_event_is_dead_lettered_and_the_rest_delivered() {
    let rx = HecReceiver::start(TOKEN).await;
    rx.state().reject = Some(|e: &Value| e["statement"] == "SELECT * FROM cards WHERE id = 7");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &hec_yaml(&rx.url, ""));
    let mut sink = build(&cfg);
    let evs = events(30);
    let m = SinkMetrics::default();
    deliver(
        &mut sink,
        &batches(evs.clone(), 10),
        &m,
        Duration::from_secs(20),
    )
    .await;
    let got = rx.events();
    let want: BTreeSet<String> = evs
        .iter()
        .filter(|e| e.session.statement_id != Some(7))
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids(&got), want);
    assert_eq!(got.len(), 29, "each accepted once");
    let dl = std::fs::read_to_string(cfg.data_dir.join("dead-letter/out.jsonl")).unwrap();
    let lines: Vec<Value> = dl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{dl}");
    assert_eq!(lines[0]["event"]["id"], evs[7].id.as_str());
    assert_eq!(lines[0]["sink"], "out");
    assert!(
        lines[0]["reason"].as_str().unwrap().contains("HEC code 6"),
        "{}",
        lines[0]
    );
    assert_eq!(m.dead_lettered.load(Ordering::Relaxed), 1);
    assert_eq!(m.rejected.load(Ordering::Relaxed), 1);
    // One 400 only: the first request, re-sent without the event.
    assert_eq!(rx.state().event_statuses, vec![400, 200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_timeout_resends_and_413_splits() {
    let rx = HecReceiver::start(TOKEN).await;
    {
        let mut s = rx.state();
        s.use_ack = true;
        s.ack_never_first = 1; // ack id 0 never turns true
        s.max_content_length = Some(6000);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &hec_yaml(
            &rx.url,
            "acknowledgements: true\nack_poll_interval_ms: 50\nack_timeout_secs: 1\nbatch_max_bytes: 20000\n",
        ),
    );
    let mut sink = build(&cfg);
    let evs = events(40);
    let m = SinkMetrics::default();
    let t0 = Instant::now();
    deliver(
        &mut sink,
        &batches(evs.clone(), 40),
        &m,
        Duration::from_secs(20),
    )
    .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "waited for the ack timeout"
    );
    let got = rx.events();
    assert_eq!(ids(&got), evs.iter().map(|e| e.id.clone()).collect());
    assert!(got.len() > evs.len(), "the un-acked request was sent again");
    assert_eq!(m.ack_timeouts.load(Ordering::Relaxed), 1);
    let s = rx.state();
    assert!(s.event_statuses.contains(&413));
    assert!(s.acked.len() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_proves_the_token_not_just_the_health_endpoint() {
    // Like the HEC `check` met: its health endpoint answers "healthy" to any token.
    let rx = HecReceiver::start(TOKEN).await;
    assert!(!rx.state().health_checks_token);
    let dir = tempfile::tempdir().unwrap();
    let good = config(dir.path(), &hec_yaml(&rx.url, ""));
    let f = tokio::task::spawn_blocking(move || onetrail_agent::check(&good, None))
        .await
        .unwrap();
    let sink = f.iter().find(|f| f.subject == "sink out").unwrap();
    assert!(sink.ok(), "{}", sink.message);
    assert!(sink.message.contains("token accepted"), "{}", sink.message);
    assert!(sink.message.contains("healthy"), "{}", sink.message);

    let bad = config(
        dir.path(),
        &hec_yaml(&rx.url, "").replace(TOKEN, "wrong-token-123"),
    );
    let f = tokio::task::spawn_blocking(move || onetrail_agent::check(&bad, None))
        .await
        .unwrap();
    let sink = f.iter().find(|f| f.subject == "sink out").unwrap();
    assert!(!sink.ok(), "a wrong token passed check: {}", sink.message);
    assert!(
        sink.message.contains("refuses the token") && sink.message.contains("Invalid token"),
        "{}",
        sink.message
    );
    assert!(!sink.message.contains("wrong-token-123"));
    // The probe was an event request without data (nothing indexed).
    assert!(
        rx.state().requests.iter().any(|r| r.method == "POST"
            && r.path == "/services/collector/event"
            && r.body.is_empty())
    );

    // Something that is not HEC at the endpoint (here a Datadog double).
    let dd = onetrail_testkit::receivers::DatadogReceiver::start("k").await;
    let other = config(dir.path(), &hec_yaml(&dd.url, ""));
    let f = tokio::task::spawn_blocking(move || onetrail_agent::check(&other, None))
        .await
        .unwrap();
    let sink = f.iter().find(|f| f.subject == "sink out").unwrap();
    assert!(!sink.ok(), "{}", sink.message);
    assert!(
        sink.message.contains("did not answer like Splunk HEC") && sink.message.contains("404"),
        "{}",
        sink.message
    );

    let port = onetrail_testkit::free_port();
    let gone = config(
        dir.path(),
        &hec_yaml(&format!("http://127.0.0.1:{port}"), ""),
    );
    let f = tokio::task::spawn_blocking(move || onetrail_agent::check(&gone, None))
        .await
        .unwrap();
    let sink = f.iter().find(|f| f.subject == "sink out").unwrap();
    assert!(!sink.ok());
    assert!(sink.message.contains("unreachable"), "{}", sink.message);
    // check writes nothing for HTTP sinks (no channel file, no dead-letter dir).
    assert!(!dir.path().join("data/splunk-hec").exists());
    assert!(!dir.path().join("data/dead-letter").exists());
    assert_eq!(rx.state().accepted.len(), 0);
}

/// Deliver `evs` to a receiver whose every `/event` answer is `fault`: the
/// sink must not count them delivered (deliver does not return) and must be
/// down with `expect` in its last error. Then the receiver answers properly
/// and everything arrives.
async fn not_delivered_on(fault: Fault, acks: bool, expect: &[&str]) {
    let rx = HecReceiver::start(TOKEN).await;
    rx.state().always = Some(fault.clone());
    let dir = tempfile::tempdir().unwrap();
    let extra = if acks {
        "acknowledgements: true\nack_poll_interval_ms: 20\n"
    } else {
        ""
    };
    let cfg = config(dir.path(), &hec_yaml(&rx.url, extra));
    let mut sink = build(&cfg);
    let evs = events(10);
    let m = SinkMetrics::default();
    let b = batches(evs.clone(), 10);
    let sd = onetrail_agent::pipeline::Shutdown::default();
    let r = tokio::time::timeout(Duration::from_millis(800), sink.deliver(&b, &sd, &m)).await;
    assert!(r.is_err(), "{fault:?}: counted as delivered");
    assert!(!m.is_up(), "{fault:?}: sink up");
    let err = m.last_error().unwrap_or_default();
    for e in expect {
        assert!(err.contains(e), "{fault:?}: {err}");
    }
    assert!(!err.contains(TOKEN), "{err}");
    assert!(
        rx.state().event_statuses.len() >= 2,
        "{fault:?}: retried, not dropped"
    );
    assert_eq!(m.dead_lettered.load(Ordering::Relaxed), 0);
    // The receiver is fixed: the same events arrive.
    {
        let mut s = rx.state();
        s.always = None;
        s.use_ack = acks;
    }
    deliver(&mut sink, &b, &m, Duration::from_secs(10)).await;
    let got: BTreeSet<String> = rx
        .state()
        .accepted
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, evs.iter().map(|e| e.id.clone()).collect());
    assert!(m.is_up());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_that_is_not_hec_success_is_not_a_delivery() {
    // A proxy's login page, echoing the Authorization header.
    not_delivered_on(
        Fault::Body(
            200,
            "text/html",
            format!("<html><body>Login required (Authorization: Splunk {TOKEN})</body></html>"),
        ),
        false,
        &[
            "HTTP 200",
            "not a Splunk HEC answer",
            "Login required",
            "****",
        ],
    )
    .await;
    not_delivered_on(
        Fault::Body(200, "application/json", String::new()),
        false,
        &["HTTP 200", "(empty)"],
    )
    .await;
    not_delivered_on(
        Fault::Body(200, "text/plain", "\u{1}\u{2}garbage{{".into()),
        false,
        &["garbage"],
    )
    .await;
    not_delivered_on(
        Fault::Status(200, json!({"text": "Whatever", "code": 3}), None),
        false,
        &["HEC code 3", "not HEC's success answer"],
    )
    .await;
    // Also with acknowledgements: a login page carries no ackId.
    not_delivered_on(
        Fault::Body(200, "text/html", "<html>Login required</html>".into()),
        true,
        &["Login required"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_short_is_retried() {
    not_delivered_on(
        Fault::Truncated(200, r#"{"text":"Succ"#.into()),
        false,
        &["cut short"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_without_ack_id_is_no_confirmation_when_acks_are_on() {
    // The token has indexer acknowledgement off: code 0, no ackId.
    not_delivered_on(
        Fault::Status(200, json!({"text": "Success", "code": 0}), None),
        true,
        &["without an ackId", "acknowledgements: false"],
    )
    .await;
}

fn reject_everything(_: &Value) -> bool {
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_rejects_everything_leaves_the_sink_down_and_raises_alerts() {
    use onetrail_agent::sinks::{Grouping, Peers, run_sink_with_peers};
    for (what, setup) in [
        (
            "400 code 6",
            (|s: &mut onetrail_testkit::receivers::HecState| s.reject = Some(reject_everything))
                as fn(&mut onetrail_testkit::receivers::HecState),
        ),
        ("413", |s| {
            s.always = Some(Fault::Status(
                413,
                json!({"text":"Content too large","code":27}),
                None,
            ))
        }),
    ] {
        let rx = HecReceiver::start(TOKEN).await;
        setup(&mut rx.state());
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &hec_yaml(&rx.url, ""));
        let sink = build(&cfg);
        let m = std::sync::Arc::new(SinkMetrics::default());
        m.set_ok();
        let (tx, srx) = tokio::sync::mpsc::channel(8);
        // A peer sink (its queue only): it gets the alerts.
        let (peer_tx, mut peer_rx) = tokio::sync::mpsc::channel(8);
        let peers = Peers::default();
        peers.add("out", &tx);
        peers.add("archive", &peer_tx);
        let task = tokio::spawn(run_sink_with_peers(
            "out".into(),
            sink,
            srx,
            Grouping {
                max_events: 100,
                timeout: Duration::from_millis(20),
            },
            onetrail_agent::pipeline::Shutdown::default(),
            m.clone(),
            peers,
        ));
        let evs = events(6);
        for b in batches(evs.clone(), 6) {
            tx.send(b).await.unwrap();
        }
        let alert = tokio::time::timeout(Duration::from_secs(20), peer_rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: no alert reached the peer"))
            .unwrap();
        assert_eq!(alert.events.len(), 1, "{what}: one alert per source");
        let a = &alert.events[0];
        assert_eq!(a.category, onetrail_event::Category::Agent);
        assert_eq!(a.action, "DEAD_LETTER");
        assert!(a.alert, "{what}");
        assert_eq!(a.extra["count"], 6, "{what}");
        assert_eq!(a.extra["sink"], "out");
        assert_eq!(a.extra["source_name"], "pg");
        assert!(
            a.extra["dead_letter_path"]
                .as_str()
                .unwrap()
                .ends_with("dead-letter/out.jsonl"),
            "{what}"
        );
        // Down, with the reason.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while m.is_up() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !m.is_up(),
            "{what}: a sink that dead-letters everything is up"
        );
        let err = m.last_error().unwrap();
        assert!(err.contains("rejected every event"), "{what}: {err}");
        assert_eq!(m.sent_events.load(Ordering::Relaxed), 0, "{what}");
        // Every event, and the alert sent to this receiver too (also
        // rejected), are in the dead-letter file; the alert raised no other.
        let dl_path = cfg.data_dir.join("dead-letter/out.jsonl");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&dl_path)
            .unwrap_or_default()
            .contains("DEAD_LETTER")
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dl = std::fs::read_to_string(&dl_path).unwrap();
        let dead: Vec<Value> = dl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            dead.iter()
                .filter(|d| d["event"]["category"] != "agent")
                .count(),
            6,
            "{what}"
        );
        assert!(
            dead.iter().any(|d| d["event"]["action"] == "DEAD_LETTER"),
            "{what}"
        );
        assert!(
            peer_rx.try_recv().is_err(),
            "{what}: an alert about an alert"
        );
        drop(tx);
        task.await.unwrap();
    }
}

#[test]
fn token_file_is_read_and_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("hec.token");
    std::fs::write(&tf, "file-token-xyz\n").unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "type: splunk_hec\nendpoint: https://splunk.example:8088\ntoken_file: {}\n",
            tf.display()
        ),
    );
    let _sink = build(&cfg);
    assert!(!format!("{:?}", cfg.sinks["out"].value).contains("file-token-xyz"));
    std::fs::write(&tf, "").unwrap();
    let e = onetrail_agent::sinks::Sink::build("out", &cfg.sinks["out"].value, &cfg.data_dir)
        .err()
        .unwrap();
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn deploy_examples_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples");
    for (file, kind) in [
        ("splunk-hec.yaml", "SplunkHec"),
        ("datadog.yaml", "Datadog"),
    ] {
        let p = root.join(file);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("${SPLUNK_HEC_TOKEN}", "t")
            .replace("${DD_API_KEY}", "k");
        let cfg = onetrail_agent::config::Config::from_str_at(&text, &p)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let sink = cfg.sinks.values().next().unwrap();
        assert_eq!(format!("{:?}", sink.value.kind), kind, "{file}");
    }
}
