//! A lean local Splunk HEC receiver: HTTP/1.1 keep-alive, answers
//! `{"text":"Success","code":0}` to every `POST /services/collector/event`,
//! gunzips the body only to count the events (and, when asked, to note when
//! each `seq=N` marker first arrived). Stores nothing.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver saw.
#[derive(Default)]
pub struct HecStats {
    pub requests: AtomicU64,
    pub events: AtomicU64,
    /// Body bytes as sent (compressed).
    pub wire_bytes: AtomicU64,
    /// Body bytes after gunzip.
    pub raw_bytes: AtomicU64,
    /// Record `seq=N` arrival times.
    pub track_seq: AtomicBool,
    /// (seq, first arrival) in arrival order; may hold duplicates.
    pub arrivals: Mutex<Vec<(u64, Instant)>>,
}

/// A receiver running on its own thread (single-threaded tokio runtime).
pub struct HecReceiver {
    pub addr: SocketAddr,
    pub stats: Arc<HecStats>,
}

impl HecReceiver {
    pub fn start() -> std::io::Result<HecReceiver> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let stats = Arc::new(HecStats::default());
        let st = stats.clone();
        std::thread::Builder::new()
            .name("hec-receiver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    loop {
                        let Ok((sock, _)) = listener.accept().await else {
                            continue;
                        };
                        let st = st.clone();
                        tokio::spawn(async move {
                            let _ = serve(sock, st).await;
                        });
                    }
                });
            })?;
        Ok(HecReceiver { addr, stats })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn events(&self) -> u64 {
        self.stats.events.load(Ordering::Relaxed)
    }
}

async fn serve(mut sock: TcpStream, st: Arc<HecStats>) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut raw = Vec::with_capacity(4 << 20);
    loop {
        // Headers.
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            if read_more(&mut sock, &mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = std::str::from_utf8(&buf[..head_end])
            .unwrap_or("")
            .to_ascii_lowercase();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut len = 0usize;
        let mut gzip = false;
        for line in head.lines() {
            if let Some(v) = line.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("content-encoding:") {
                gzip = v.contains("gzip");
            }
        }
        while buf.len() < head_end + len {
            if read_more(&mut sock, &mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = &buf[head_end..head_end + len];
        let reply: &[u8] = if path.starts_with("/services/collector/health") {
            br#"{"text":"HEC is healthy","code":17}"#
        } else if path.starts_with("/services/collector/ack") {
            br#"{"acks":{}}"#
        } else {
            st.requests.fetch_add(1, Ordering::Relaxed);
            st.wire_bytes.fetch_add(len as u64, Ordering::Relaxed);
            let data: &[u8] = if gzip {
                raw.clear();
                flate2::read::GzDecoder::new(body).read_to_end(&mut raw)?;
                &raw
            } else {
                body
            };
            st.raw_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            if !data.is_empty() {
                // Envelopes are separated by '\n'; JSON strings never hold a raw newline.
                let n = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                st.events.fetch_add(n, Ordering::Relaxed);
            }
            if st.track_seq.load(Ordering::Relaxed) {
                let now = Instant::now();
                let mut seen = Vec::new();
                let mut at = 0;
                while let Some(p) = find(&data[at..], b"seq=") {
                    let s = at + p + 4;
                    let e = data[s..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(data.len(), |k| s + k);
                    if let Ok(n) = std::str::from_utf8(&data[s..e])
                        .unwrap_or("")
                        .parse::<u64>()
                    {
                        seen.push((n, now));
                    }
                    at = e;
                }
                st.arrivals.lock().expect("poisoned").extend(seen);
            }
            br#"{"text":"Success","code":0}"#
        };
        let mut resp = Vec::with_capacity(160);
        resp.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                reply.len()
            )
            .as_bytes(),
        );
        resp.extend_from_slice(reply);
        sock.write_all(&resp).await?;
        buf.drain(..head_end + len);
    }
}

async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let old = buf.len();
    buf.resize(old + 256 * 1024, 0);
    let n = sock.read(&mut buf[old..]).await?;
    buf.truncate(old + n);
    Ok(n)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}
