//! The agent's own HTTP endpoint (`metrics: { listen: 127.0.0.1:9834 }`):
//!
//! - `GET /metrics`: Prometheus text format 0.0.4 (every counter of
//!   [`crate::metrics`], per source, per file and per sink);
//! - `GET /health`: `200` when the agent is running, its checkpoints can be
//!   written and every sink is up, else `503`; a small JSON body says why;
//! - `GET /status`: the state of every source and sink as JSON (what
//!   `onetrail status` prints).
//!
//! A tiny HTTP/1.1 server on tokio: one request per connection, `GET` only,
//! request head ≤ 8 KiB, 5 s to send it. It is unauthenticated and read-only;
//! keep it on localhost.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use onetrail_core::metrics::Registry;

/// Facts about the running agent shown by `/status`.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub config_path: Option<std::path::PathBuf>,
    pub started: chrono::DateTime<chrono::Utc>,
}

/// Bind `addr` now (a start-up error if taken), then serve in the background.
pub async fn start(
    addr: std::net::SocketAddr,
    registry: Arc<Registry>,
    info: AgentInfo,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics.listen: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if !local.ip().is_loopback() {
        tracing::warn!(
            "metrics endpoint on {local} is reachable from other hosts; it has no authentication"
        );
    }
    tracing::info!("metrics endpoint on http://{local}/metrics (also /health, /status)");
    let info = Arc::new(info);
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    let (r, i) = (registry.clone(), info.clone());
                    tokio::spawn(async move {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), serve(conn, &r, &i)).await;
                    });
                }
                Err(e) => {
                    tracing::warn!("metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn serve(mut conn: TcpStream, registry: &Registry, info: &AgentInfo) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            return respond(&mut conn, 431, "text/plain", "request head too large\n").await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" {
        return respond(&mut conn, 405, "text/plain", "only GET\n").await;
    }
    match path {
        "/metrics" => {
            let body = render_prometheus(registry);
            respond(
                &mut conn,
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
            .await
        }
        "/health" => {
            let (ok, body) = health(registry);
            respond(
                &mut conn,
                if ok { 200 } else { 503 },
                "application/json",
                &body.to_string(),
            )
            .await
        }
        "/status" => {
            let body = serde_json::to_string_pretty(&status(registry, info)).expect("serializes");
            respond(&mut conn, 200, "application/json", &body).await
        }
        _ => {
            respond(
                &mut conn,
                404,
                "text/plain",
                "not found: try /metrics, /health or /status\n",
            )
            .await
        }
    }
}

async fn respond(conn: &mut TcpStream, code: u16, ctype: &str, body: &str) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}

fn checkpoints_ok(registry: &Registry) -> bool {
    !registry.checkpoints.is_failing()
}

/// `/health`: running, checkpoints writable, and every sink up.
pub fn health(registry: &Registry) -> (bool, Value) {
    let ready = registry.ready.load(Ordering::Relaxed);
    let down: Vec<Value> = registry
        .sinks()
        .into_iter()
        .filter(|(_, _, m)| !m.is_up())
        .map(|(name, _, m)| json!({"sink": name, "last_error": m.last_error()}))
        .collect();
    let checkpoints = registry.checkpoints.failing();
    let status = if !ready {
        "not ready"
    } else if checkpoints.is_some() {
        "checkpoints not writable"
    } else if down.is_empty() {
        "ok"
    } else {
        "sink down"
    };
    // Detail only: a source that collects nothing is the operator's to fix,
    // restarting the agent (what a failing health check leads to) would not.
    let problems: Vec<Value> = registry
        .sources()
        .into_iter()
        .flat_map(|(name, _, m)| {
            m.problems()
                .into_iter()
                .map(move |p| json!({"source": name, "problem": p.kind, "detail": p.detail}))
        })
        .collect();
    let mut body = json!({"status": status, "sinks_down": down, "source_problems": problems});
    if let Some((since, error)) = checkpoints {
        body["checkpoints_failing"] = json!({"since_unix_ms": since, "last_error": error});
    }
    (ready && checkpoints_ok(registry) && down.is_empty(), body)
}

/// `/status`: every source and sink with its counters.
pub fn status(registry: &Registry, info: &AgentInfo) -> Value {
    let sources: serde_json::Map<String, Value> = registry
        .sources()
        .into_iter()
        .map(|(name, kind, m)| {
            let files: Vec<Value> = m
                .files
                .lock()
                .expect("poisoned")
                .iter()
                .map(|f| {
                    json!({"path": f.path, "size": f.size, "read": f.read,
                           "delivered": f.delivered, "bytes_behind": f.behind()})
                })
                .collect();
            let v = json!({
                "type": kind,
                "events_read": m.events.load(Ordering::Relaxed),
                "events_unparsed": m.unparsed.load(Ordering::Relaxed),
                "events_delivered": m.delivered.load(Ordering::Relaxed),
                "events_filtered": m.filtered.load(Ordering::Relaxed),
                "gaps": m.gaps.load(Ordering::Relaxed),
                "oldest_undelivered_secs": m.oldest_undelivered_secs(),
                "checkpoint_age_secs": m.checkpoint_age_secs(),
                "unparsed_ratio": m.unparsed_ratio(),
                "problems": m.problems().into_iter()
                    .map(|p| json!({"problem": p.kind, "detail": p.detail}))
                    .collect::<Vec<_>>(),
                "files": files,
            });
            (name, v)
        })
        .collect();
    let sinks: serde_json::Map<String, Value> = registry
        .sinks()
        .into_iter()
        .map(|(name, kind, m)| {
            let v = json!({
                "type": kind,
                "up": m.is_up(),
                "last_error": m.last_error(),
                "events_delivered": m.sent_events.load(Ordering::Relaxed),
                "retries": m.retries.load(Ordering::Relaxed),
                "rejected": m.rejected.load(Ordering::Relaxed),
                "dead_lettered": m.dead_lettered.load(Ordering::Relaxed),
            });
            (name, v)
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "started": info.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "config": info.config_path.as_ref().map(|p| p.display().to_string()),
        "ready": registry.ready.load(Ordering::Relaxed),
        "reloads": registry.reloads.load(Ordering::Relaxed),
        "reload_failures": registry.reload_failures.load(Ordering::Relaxed),
        "sources": sources,
        "sinks": sinks,
    })
}

/// Prometheus text exposition of every counter.
pub fn render_prometheus(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    family(
        "onetrail_build_info",
        "gauge",
        "Always 1; the version is a label.",
        vec![(
            format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            1.0,
        )],
    );
    family(
        "onetrail_ready",
        "gauge",
        "1 while the agent delivers (0 while starting, reloading or stopping).",
        one(f64::from(u8::from(registry.ready.load(Ordering::Relaxed)))),
    );
    family(
        "onetrail_reloads_total",
        "counter",
        "Configuration reloads applied (SIGHUP).",
        one(registry.reloads.load(Ordering::Relaxed) as f64),
    );
    family(
        "onetrail_reload_failures_total",
        "counter",
        "Reloads refused (invalid configuration); the previous one kept running.",
        one(registry.reload_failures.load(Ordering::Relaxed) as f64),
    );

    let sources = registry.sources();
    let src = |f: &dyn Fn(&onetrail_core::metrics::SourceMetrics) -> f64| -> Vec<(String, f64)> {
        sources
            .iter()
            .map(|(n, k, m)| {
                (
                    format!("{{source=\"{}\",type=\"{}\"}}", esc(n), esc(k)),
                    f(m),
                )
            })
            .collect()
    };
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    family(
        "onetrail_source_events_read_total",
        "counter",
        "Events a source produced (audit records, other server lines, agent events).",
        src(&|m| load(&m.events)),
    );
    family(
        "onetrail_source_events_parsed_total",
        "counter",
        "Events a source's parser understood (read minus unparsed).",
        src(&|m| {
            (m.events
                .load(Ordering::Relaxed)
                .saturating_sub(m.unparsed.load(Ordering::Relaxed))) as f64
        }),
    );
    family(
        "onetrail_source_events_unparsed_total",
        "counter",
        "Records forwarded as `category: unparsed`.",
        src(&|m| load(&m.unparsed)),
    );
    family(
        "onetrail_source_events_filtered_total",
        "counter",
        "Events the source's `filter` dropped on purpose (not sent, position still advances).",
        src(&|m| load(&m.filtered)),
    );
    family(
        "onetrail_source_gaps_total",
        "counter",
        "GAP agent events: data lost before it was read, or a span the trail shows auditing was off.",
        src(&|m| load(&m.gaps)),
    );
    family(
        "onetrail_source_events_delivered_total",
        "counter",
        "Events every sink acknowledged.",
        src(&|m| load(&m.delivered)),
    );
    family(
        "onetrail_source_oldest_undelivered_seconds",
        "gauge",
        "Age of the oldest event read but not yet acknowledged by every sink (0: none in flight).",
        src(&|m| m.oldest_undelivered_secs()),
    );
    family(
        "onetrail_source_checkpoint_age_seconds",
        "gauge",
        "Seconds since the source's checkpoint was last confirmed on disk (-1: never).",
        src(&|m| m.checkpoint_age_secs().unwrap_or(-1.0)),
    );
    family(
        "onetrail_source_unparsed_ratio",
        "gauge",
        "Share of unparsed records in the source's last window (over 0.5: wrong log_line_prefix or format?).",
        src(&|m| m.unparsed_ratio()),
    );
    family(
        "onetrail_source_problems",
        "gauge",
        "Problems that keep a source from collecting (paths matching no file, a directory, permissions, mostly unparsed records); details in /health and the log.",
        src(&|m| m.problems().len() as f64),
    );
    let mut problem = Vec::new();
    for (n, k, m) in &sources {
        for p in m.problems() {
            problem.push((
                format!(
                    "{{source=\"{}\",type=\"{}\",problem=\"{}\"}}",
                    esc(n),
                    esc(k),
                    p.kind
                ),
                1.0,
            ));
        }
    }
    family(
        "onetrail_source_problem",
        "gauge",
        "1 for each kind of problem a source has right now (no_file, directory, permission, unparsed, prefix).",
        problem,
    );
    let mut behind = Vec::new();
    let mut unread = Vec::new();
    for (n, _, m) in &sources {
        for f in m.files.lock().expect("poisoned").iter() {
            let labels = format!("{{source=\"{}\",path=\"{}\"}}", esc(n), esc(&f.path));
            behind.push((labels.clone(), f.behind() as f64));
            unread.push((labels, f.size.saturating_sub(f.read) as f64));
        }
    }
    family(
        "onetrail_file_bytes_behind",
        "gauge",
        "Bytes of an open file not yet delivered to every sink (size minus checkpoint).",
        behind,
    );
    family(
        "onetrail_file_bytes_unread",
        "gauge",
        "Bytes of an open file not yet read.",
        unread,
    );

    let sinks = registry.sinks();
    let snk = |f: &dyn Fn(&onetrail_core::metrics::SinkMetrics) -> f64| -> Vec<(String, f64)> {
        sinks
            .iter()
            .map(|(n, k, m)| (format!("{{sink=\"{}\",type=\"{}\"}}", esc(n), esc(k)), f(m)))
            .collect()
    };
    family(
        "onetrail_sink_events_delivered_total",
        "counter",
        "Events the sink's receiver accepted.",
        snk(&|m| load(&m.sent_events)),
    );
    family(
        "onetrail_sink_batches_delivered_total",
        "counter",
        "Groups of batches delivered and acknowledged.",
        snk(&|m| load(&m.sent_batches)),
    );
    family(
        "onetrail_sink_retries_total",
        "counter",
        "Delivery attempts that failed and were retried.",
        snk(&|m| load(&m.retries)),
    );
    family(
        "onetrail_sink_events_rejected_total",
        "counter",
        "Events the receiver refused as invalid.",
        snk(&|m| load(&m.rejected)),
    );
    family(
        "onetrail_sink_events_dead_lettered_total",
        "counter",
        "Events written to the sink's dead-letter file.",
        snk(&|m| load(&m.dead_lettered)),
    );
    family(
        "onetrail_sink_events_late_total",
        "counter",
        "datadog: events sent past the intake window (timestamp now, their own time in original_time).",
        snk(&|m| load(&m.late_events)),
    );
    family(
        "onetrail_sink_requests_total",
        "counter",
        "HTTP sinks: requests sent, retries included.",
        snk(&|m| load(&m.requests)),
    );
    family(
        "onetrail_sink_bytes_sent_total",
        "counter",
        "HTTP sinks: request body bytes on the wire.",
        snk(&|m| load(&m.bytes_sent)),
    );
    family(
        "onetrail_sink_up",
        "gauge",
        "1 when the sink's last attempt succeeded, 0 after an error, while paused, or after a delivery that was all dead-lettered.",
        snk(&|m| f64::from(u8::from(m.is_up()))),
    );
    out
}

/// Escape a Prometheus label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_escaped_and_counters() {
        let r = Registry::default();
        let s = r.source("pg\"1", "pgaudit");
        s.events.fetch_add(5, Ordering::Relaxed);
        s.unparsed.fetch_add(1, Ordering::Relaxed);
        s.count_filtered(3);
        s.files
            .lock()
            .unwrap()
            .push(onetrail_core::metrics::FileLag {
                path: "/var/log/a.log".into(),
                size: 100,
                read: 80,
                delivered: 60,
            });
        r.sink("out", "file").set_ok();
        let text = render_prometheus(&r);
        assert!(
            text.contains(
                "onetrail_source_events_read_total{source=\"pg\\\"1\",type=\"pgaudit\"} 5"
            ),
            "{text}"
        );
        assert!(text.contains(
            "onetrail_source_events_parsed_total{source=\"pg\\\"1\",type=\"pgaudit\"} 4"
        ));
        assert!(text.contains(
            "onetrail_source_events_filtered_total{source=\"pg\\\"1\",type=\"pgaudit\"} 3"
        ));
        assert!(
            text.contains(
                "onetrail_file_bytes_behind{source=\"pg\\\"1\",path=\"/var/log/a.log\"} 40"
            )
        );
        assert!(text.contains("onetrail_sink_up{sink=\"out\",type=\"file\"} 1"));
        assert!(text.contains(
            "onetrail_source_checkpoint_age_seconds{source=\"pg\\\"1\",type=\"pgaudit\"} -1"
        ));
        // Every family has HELP and TYPE.
        assert_eq!(
            text.matches("# HELP").count(),
            text.matches("# TYPE").count()
        );
    }

    #[test]
    fn health_needs_ready_and_sinks_up() {
        let r = Registry::default();
        r.sink("out", "file").set_ok();
        assert!(!health(&r).0);
        r.ready.store(true, Ordering::Relaxed);
        assert!(health(&r).0);
        r.sink("out", "file").set_error("disk full");
        let (ok, body) = health(&r);
        assert!(!ok);
        assert_eq!(body["sinks_down"][0]["last_error"], "disk full");
    }
}
