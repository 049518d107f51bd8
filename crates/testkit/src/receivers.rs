//! In-test HTTP receivers implementing the documented Splunk HEC and Datadog
//! Logs intake contracts, on 127.0.0.1, with fault injection.
//!
//! A small hand-rolled HTTP/1.1 server (keep-alive, `Content-Length` bodies,
//! gzip request bodies) is enough for the agent's reqwest client and keeps
//! the receivers' behaviour explicit. Each receiver records what it accepted
//! and every request it saw, and notes every contract violation by the
//! client (missing channel, oversized batch, ...) in `violations`, so a test
//! can assert there were none.
//!
//! Both receivers also speak HTTPS (`start_tls`, and `start_mtls` to require
//! a client certificate) with certificates made at test time by
//! [`TlsMaterial::generate`] (the `openssl` command-line tool), over rustls
//! with the aws-lc-rs provider.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body after `Content-Encoding: gzip` was undone.
    pub body: Vec<u8>,
    /// Bytes on the wire (before decompression).
    pub wire_len: usize,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without answering (a reset as the client sees it).
    Reset,
    /// Answer with this status, `Content-Type` and body as they are (a proxy's
    /// login page, an empty body, garbage).
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    /// Announce a `Content-Length` larger than `body`, send `body`, close:
    /// an answer cut short as the client sees it.
    Truncated { status: u16, body: String },
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Respond {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }
    pub fn with_header(self, k: &str, v: &str) -> Reply {
        match self {
            Reply::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((k.to_string(), v.to_string()));
                Reply::Respond {
                    status,
                    headers,
                    body,
                }
            }
            r => r,
        }
    }
}

/// A fault to inject on the next data request (`/event` or `/api/v2/logs`),
/// in order. The request is recorded but its data is not accepted.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and JSON body (and `Retry-After` when given).
    Status(u16, Value, Option<String>),
    /// Close the connection without answering.
    Reset,
    /// Wait this long, then handle the request normally (data is accepted).
    Delay(Duration),
    /// Answer with this status and a raw body of this content type (e.g.
    /// `200 text/html <html>Login required</html>`, or an empty 200).
    Body(u16, &'static str, String),
    /// Answer with this status and a body cut short (the connection closes
    /// before `Content-Length` bytes came).
    Truncated(u16, String),
}

impl Fault {
    /// The reply of a fault that answers at once (`None` for `Delay`).
    fn reply(&self) -> Option<Reply> {
        Some(match self {
            Fault::Status(code, body, ra) => {
                let mut r = Reply::json(*code, body.clone());
                if let Some(ra) = ra {
                    r = r.with_header("Retry-After", ra);
                }
                r
            }
            Fault::Reset => Reply::Reset,
            Fault::Body(status, ctype, body) => Reply::Raw {
                status: *status,
                content_type: ctype.to_string(),
                body: body.clone(),
            },
            Fault::Truncated(status, body) => Reply::Truncated {
                status: *status,
                body: body.clone(),
            },
            Fault::Delay(_) => return None,
        })
    }
}

type Handler = Arc<dyn Fn(Request) -> (Option<Duration>, Reply) + Send + Sync>;

/// Called with the reason of every failed TLS handshake.
type TlsErrorLog = Arc<dyn Fn(String) + Send + Sync>;

/// A connection the receivers serve: plain TCP or TLS over TCP.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send {
    /// Make the coming close a reset (RST) as the client sees it.
    fn zero_linger(&self);
}

impl Conn for TcpStream {
    fn zero_linger(&self) {
        let _ = self.set_zero_linger();
    }
}

impl Conn for tokio_rustls::server::TlsStream<TcpStream> {
    fn zero_linger(&self) {
        let _ = self.get_ref().0.set_zero_linger();
    }
}

async fn serve(listener: TcpListener, handler: Handler, tls: Option<(TlsAcceptor, TlsErrorLog)>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let h = handler.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let _ = connection(sock, h).await;
                }
                Some((acceptor, log)) => match acceptor.accept(sock).await {
                    Ok(s) => {
                        let _ = connection(s, h).await;
                    }
                    Err(e) => log(e.to_string()),
                },
            }
        });
    }
}

async fn connection<S: Conn>(mut sock: S, handler: Handler) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Headers.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let mut tmp = [0u8; 16 * 1024];
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let mut parts = first.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let start = head_end + 4;
        while buf.len() < start + len {
            let mut tmp = [0u8; 64 * 1024];
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        let wire: Vec<u8> = buf[start..start + len].to_vec();
        buf.drain(..start + len);
        let gz = headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v.eq_ignore_ascii_case("gzip"));
        let body = if gz {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(&wire[..]).read_to_end(&mut out) {
                Ok(_) => out,
                Err(_) => b"\0<invalid gzip>".to_vec(),
            }
        } else {
            wire.clone()
        };
        let req = Request {
            method,
            path,
            headers,
            body,
            wire_len: wire.len(),
            at: Instant::now(),
        };
        let (delay, reply) = handler(req);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        match reply {
            Reply::Reset => {
                sock.zero_linger();
                return Ok(());
            }
            Reply::Raw {
                status,
                content_type,
                body,
            } => {
                let out = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                sock.write_all(out.as_bytes()).await?;
            }
            Reply::Truncated { status, body } => {
                let out = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    reason(status),
                    body.len() + 64
                );
                sock.write_all(out.as_bytes()).await?;
                sock.flush().await?;
                return Ok(());
            }
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                let mut out = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                    reason(status),
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                sock.write_all(out.as_bytes()).await?;
            }
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn reason(s: u16) -> &'static str {
    match s {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Other",
    }
}

async fn bind(scheme: &str) -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("{scheme}://{}", l.local_addr().expect("local addr"));
    (l, url)
}

// ---------------------------------------------------------------------------
// TLS

/// Certificates for the HTTPS receivers, made at test time with the `openssl`
/// command-line tool in a temp dir (removed on drop). All keys are P-256,
/// all certificates valid for two days.
pub struct TlsMaterial {
    pub dir: tempfile::TempDir,
    /// The CA (`CA:TRUE`, keyCertSign) that signed the server and client certificates.
    pub ca_cert: PathBuf,
    /// The receivers' certificate, signed by `ca_cert`: `CA:FALSE`, serverAuth,
    /// SAN `DNS:localhost, IP:127.0.0.1`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A second CA that signed nothing the receivers use.
    pub other_ca_cert: PathBuf,
    /// A client certificate (clientAuth) signed by `ca_cert`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate (clientAuth) signed by `other_ca_cert`.
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = onetrail-test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

fn openssl(dir: &Path, args: &[&str]) {
    let out = match std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the `openssl` command-line tool is needed to make the test certificates and is not on PATH: install it (`apt-get install openssl`)"
        ),
        Err(e) => panic!("cannot run `openssl`: {e}"),
    };
    assert!(
        out.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsMaterial {
    /// Make a CA, a server certificate it signs, an unrelated CA, and a
    /// client certificate from each CA. Panics with a clear message when the
    /// `openssl` tool is missing.
    pub fn generate() -> TlsMaterial {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(d.join("openssl.cnf"), OPENSSL_CNF).expect("write openssl.cnf");
        let newkey = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let ca = |name: &str, cn: &str| {
            let mut a = vec!["req", "-config", "openssl.cnf", "-x509", "-new"];
            a.extend(newkey);
            let (key, pem, subj) = (
                format!("{name}.key"),
                format!("{name}.pem"),
                format!("/CN={cn}"),
            );
            a.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
            a.extend(["-extensions", "ca"]);
            openssl(d, &a);
        };
        ca("ca", "onetrail test CA");
        ca("other-ca", "unrelated test CA");
        let leaf = |name: &str, cn: &str, ca: &str, ext: &str, serial: &str| {
            let (key, csr, pem, subj) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("/CN={cn}"),
            );
            let mut a = vec!["req", "-config", "openssl.cnf", "-new"];
            a.extend(newkey);
            a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(d, &a);
            let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_pem,
                    "-CAkey",
                    &ca_key,
                    "-set_serial",
                    serial,
                    "-days",
                    "2",
                    "-out",
                    &pem,
                    "-extfile",
                    "openssl.cnf",
                    "-extensions",
                    ext,
                ],
            );
        };
        leaf("server", "localhost", "ca", "server", "1001");
        leaf("client", "onetrail-agent", "ca", "client", "1002");
        leaf(
            "other-client",
            "onetrail-agent",
            "other-ca",
            "client",
            "2001",
        );
        TlsMaterial {
            ca_cert: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            other_ca_cert: d.join("other-ca.pem"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
            other_client_cert: d.join("other-client.pem"),
            other_client_key: d.join("other-client.key"),
            dir,
        }
    }

    /// A rustls server config (aws-lc-rs provider, HTTP/1.1 by ALPN) serving
    /// `server_cert`. With `require_client_cert`, a client must present a
    /// certificate signed by `ca_cert`.
    pub fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&read(&self.server_cert))
                .collect::<Result<_, _>>()
                .expect("server certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(&read(&self.server_key)).expect("server key PEM");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read(&self.ca_cert)) {
                roots.add(c.expect("CA PEM")).expect("CA certificate");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut cfg = builder
            .with_single_cert(certs, key)
            .expect("server certificate and key");
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    }
}

// ---------------------------------------------------------------------------
// Splunk HEC

/// State of a [`HecReceiver`]; lock it through [`HecReceiver::state`].
#[derive(Default)]
pub struct HecState {
    /// The token the receiver accepts (`Authorization: Splunk <token>`).
    pub token: String,
    /// Indexer acknowledgement on (`useACK`): answers carry `ackId`, and a channel is required.
    pub use_ack: bool,
    /// The first this-many ack ids never turn true (to exercise the ack timeout).
    pub ack_never_first: u64,
    /// Requests above this decoded size get 413. Default: no limit.
    pub max_content_length: Option<usize>,
    /// Events (the envelope's `event`) matching this are invalid: the request
    /// gets 400 code 6 with `invalid-event-number` and nothing of it is indexed.
    pub reject: Option<fn(&Value) -> bool>,
    /// Faults applied, in order, to the next `/event` requests.
    pub faults: VecDeque<Fault>,
    /// A fault applied to every `/event` request once `faults` is empty (a
    /// receiver that answers 400, 413 or a login page to everything).
    pub always: Option<Fault>,
    /// `/services/collector/health` checks the token. Default false: like
    /// the health endpoint `check` met, it answers "healthy" to any token.
    pub health_checks_token: bool,
    /// Accepted envelopes, in order (duplicates included).
    pub accepted: Vec<Value>,
    /// Every request seen, on any endpoint.
    pub requests: Vec<Request>,
    /// HTTP status answered to each `/event` request, in order.
    pub event_statuses: Vec<u16>,
    /// Contract violations by the client.
    pub violations: Vec<String>,
    /// HTTPS receivers: why each failed TLS handshake failed (as the server saw it).
    pub tls_errors: Vec<String>,
    /// Pending ack ids per channel → whether indexed.
    acks: BTreeMap<String, BTreeMap<u64, bool>>,
    next_ack: u64,
    /// Ack ids acknowledged true to a poll.
    pub acked: Vec<u64>,
}

/// A Splunk HEC double: `/services/collector/event`, `/ack`, `/health`.
pub struct HecReceiver {
    pub url: String,
    state: Arc<Mutex<HecState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HecReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HecReceiver {
    pub async fn start(token: &str) -> HecReceiver {
        HecReceiver::start_with(token, None).await
    }

    /// The same receiver over HTTPS (`url` is `https://127.0.0.1:<port>`),
    /// serving `tls.server_cert`; no client certificate asked for.
    pub async fn start_tls(token: &str, tls: &TlsMaterial) -> HecReceiver {
        HecReceiver::start_with(token, Some(tls.server_config(false))).await
    }

    /// HTTPS requiring a client certificate signed by `tls.ca_cert` (mTLS).
    pub async fn start_mtls(token: &str, tls: &TlsMaterial) -> HecReceiver {
        HecReceiver::start_with(token, Some(tls.server_config(true))).await
    }

    /// Plain HTTP without `tls`, else HTTPS with this server config.
    pub async fn start_with(token: &str, tls: Option<Arc<rustls::ServerConfig>>) -> HecReceiver {
        let (l, url) = bind(if tls.is_some() { "https" } else { "http" }).await;
        let state = Arc::new(Mutex::new(HecState {
            token: token.to_string(),
            ..Default::default()
        }));
        let st = state.clone();
        let handler: Handler = Arc::new(move |req| hec_handle(&st, req));
        let tls = tls.map(|cfg| {
            let st = state.clone();
            let log: TlsErrorLog =
                Arc::new(move |e| st.lock().expect("poisoned").tls_errors.push(e));
            (TlsAcceptor::from(cfg), log)
        });
        let task = tokio::spawn(serve(l, handler, tls));
        HecReceiver { url, state, task }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, HecState> {
        self.state.lock().expect("poisoned")
    }

    /// The accepted events (`event` of each accepted envelope).
    pub fn events(&self) -> Vec<Value> {
        self.state()
            .accepted
            .iter()
            .map(|e| e["event"].clone())
            .collect()
    }
}

fn hec_err(status: u16, code: i64, text: &str) -> Reply {
    Reply::json(status, json!({"text": text, "code": code}))
}

fn hec_handle(st: &Mutex<HecState>, req: Request) -> (Option<Duration>, Reply) {
    let mut s = st.lock().expect("poisoned");
    s.requests.push(req.clone());
    let path = req.path.split('?').next().unwrap_or("").to_string();
    // Auth, the same on every endpoint.
    let auth = req.header("authorization").map(str::to_string);
    let auth_reply = match auth.as_deref() {
        None => Some(hec_err(401, 2, "Token is required")),
        Some(a) if !a.starts_with("Splunk ") => Some(hec_err(401, 3, "Invalid authorization")),
        Some(a) if a["Splunk ".len()..] != s.token => Some(hec_err(403, 4, "Invalid token")),
        _ => None,
    };
    let channel = req.header("x-splunk-request-channel").map(str::to_string);
    match (req.method.as_str(), path.as_str()) {
        ("GET", "/services/collector/health") => {
            if s.health_checks_token && auth_reply.is_some() {
                return (None, hec_err(400, 21, "Invalid token"));
            }
            (None, hec_err(200, 17, "HEC is healthy"))
        }
        ("POST", "/services/collector/ack") => {
            if let Some(r) = auth_reply {
                return (None, r);
            }
            if !s.use_ack {
                return (None, hec_err(400, 14, "ACK is disabled"));
            }
            let Some(ch) = channel else {
                s.violations.push("ack poll without a channel".into());
                return (None, hec_err(400, 10, "Data channel is missing"));
            };
            let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(ids) = v.get("acks").and_then(Value::as_array) else {
                s.violations.push(format!(
                    "bad ack poll body {:?}",
                    String::from_utf8_lossy(&req.body)
                ));
                return (None, hec_err(400, 6, "Invalid data format"));
            };
            let never = s.ack_never_first;
            let mut out = serde_json::Map::new();
            let mut acked = Vec::new();
            for id in ids.iter().filter_map(Value::as_u64) {
                let known = s.acks.get_mut(&ch).and_then(|m| m.remove(&id)).is_some();
                let ok = known && id >= never;
                if known && !ok {
                    // Not indexed (yet): stays pending forever.
                    s.acks.entry(ch.clone()).or_default().insert(id, false);
                }
                if ok {
                    acked.push(id);
                }
                out.insert(id.to_string(), ok.into());
            }
            s.acked.extend(acked);
            (None, Reply::json(200, json!({ "acks": out })))
        }
        (
            "POST",
            "/services/collector/event" | "/services/collector/event/1.0" | "/services/collector",
        ) => {
            if let Some(r) = auth_reply {
                s.event_statuses.push(status_of(&r));
                return (None, r);
            }
            let mut delay = None;
            if let Some(f) = s.faults.pop_front().or_else(|| s.always.clone()) {
                match f.reply() {
                    Some(r) => {
                        s.event_statuses.push(status_of(&r));
                        return (None, r);
                    }
                    None => {
                        if let Fault::Delay(d) = f {
                            delay = Some(d);
                        }
                    }
                }
            }
            if s.use_ack && channel.is_none() {
                s.violations
                    .push("event request without a channel while acks are on".into());
                s.event_statuses.push(400);
                return (None, hec_err(400, 10, "Data channel is missing"));
            }
            if let Some(max) = s.max_content_length
                && req.body.len() > max
            {
                s.violations
                    .push(format!("request of {} bytes > {max}", req.body.len()));
                s.event_statuses.push(413);
                return (delay, hec_err(413, 27, "Content too large"));
            }
            // Concatenated JSON envelopes.
            let mut envs = Vec::new();
            let it = serde_json::Deserializer::from_slice(&req.body).into_iter::<Value>();
            for (i, v) in it.enumerate() {
                let Ok(v) = v else {
                    s.event_statuses.push(400);
                    return (
                        delay,
                        Reply::json(
                            400,
                            json!({"text":"Invalid data format","code":6,"invalid-event-number":i}),
                        ),
                    );
                };
                envs.push(v);
            }
            if envs.is_empty() {
                s.event_statuses.push(400);
                return (delay, hec_err(400, 5, "No data"));
            }
            for (i, e) in envs.iter().enumerate() {
                let bad = match e.get("event") {
                    None => Some((12, "Event field is required")),
                    Some(Value::String(x)) if x.trim().is_empty() => {
                        Some((13, "Event field cannot be blank"))
                    }
                    Some(Value::Null) => Some((13, "Event field cannot be blank")),
                    _ => None,
                };
                if let Some((code, text)) = bad {
                    s.event_statuses.push(400);
                    return (
                        delay,
                        Reply::json(
                            400,
                            json!({"text": text, "code": code, "invalid-event-number": i}),
                        ),
                    );
                }
                if !e.get("time").is_none_or(Value::is_number) {
                    s.violations
                        .push(format!("envelope time is not a number: {}", e["time"]));
                }
                if let Some(f) = s.reject
                    && f(&e["event"])
                {
                    s.event_statuses.push(400);
                    return (
                        delay,
                        Reply::json(
                            400,
                            json!({"text":"Invalid data format","code":6,"invalid-event-number":i}),
                        ),
                    );
                }
            }
            s.accepted.extend(envs);
            s.event_statuses.push(200);
            if s.use_ack {
                let id = s.next_ack;
                s.next_ack += 1;
                s.acks
                    .entry(channel.unwrap_or_default())
                    .or_default()
                    .insert(id, true);
                (
                    delay,
                    Reply::json(200, json!({"text":"Success","code":0,"ackId":id})),
                )
            } else {
                (delay, Reply::json(200, json!({"text":"Success","code":0})))
            }
        }
        _ => (None, hec_err(404, 404, "Not Found")),
    }
}

fn status_of(r: &Reply) -> u16 {
    match r {
        Reply::Respond { status, .. }
        | Reply::Raw { status, .. }
        | Reply::Truncated { status, .. } => *status,
        Reply::Reset => 0,
    }
}

// ---------------------------------------------------------------------------
// Datadog

/// Datadog's documented intake limits.
pub const DD_MAX_ENTRIES: usize = 1000;
pub const DD_MAX_PAYLOAD: usize = 5_000_000;
pub const DD_MAX_ENTRY: usize = 1_000_000;

#[derive(Default)]
pub struct DatadogState {
    pub api_key: String,
    /// Entries matching this make the request fail with 400 (nothing kept).
    pub reject: Option<fn(&Value) -> bool>,
    pub faults: VecDeque<Fault>,
    /// A fault applied to every `/api/v2/logs` request once `faults` is empty.
    pub always: Option<Fault>,
    /// `GET /api/v1/validate` is not served (404), like a proxy that only
    /// forwards logs.
    pub validate_missing: bool,
    pub accepted: Vec<Value>,
    pub requests: Vec<Request>,
    pub statuses: Vec<u16>,
    pub violations: Vec<String>,
    /// HTTPS receivers: why each failed TLS handshake failed (as the server saw it).
    pub tls_errors: Vec<String>,
}

/// A Datadog Logs intake double: `POST /api/v2/logs`, `GET /api/v1/validate`.
pub struct DatadogReceiver {
    pub url: String,
    state: Arc<Mutex<DatadogState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DatadogReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DatadogReceiver {
    pub async fn start(api_key: &str) -> DatadogReceiver {
        DatadogReceiver::start_with(api_key, None).await
    }

    /// The same receiver over HTTPS (`url` is `https://127.0.0.1:<port>`),
    /// serving `tls.server_cert`; no client certificate asked for.
    pub async fn start_tls(api_key: &str, tls: &TlsMaterial) -> DatadogReceiver {
        DatadogReceiver::start_with(api_key, Some(tls.server_config(false))).await
    }

    /// HTTPS requiring a client certificate signed by `tls.ca_cert` (mTLS).
    pub async fn start_mtls(api_key: &str, tls: &TlsMaterial) -> DatadogReceiver {
        DatadogReceiver::start_with(api_key, Some(tls.server_config(true))).await
    }

    /// Plain HTTP without `tls`, else HTTPS with this server config.
    pub async fn start_with(
        api_key: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> DatadogReceiver {
        let (l, url) = bind(if tls.is_some() { "https" } else { "http" }).await;
        let state = Arc::new(Mutex::new(DatadogState {
            api_key: api_key.to_string(),
            ..Default::default()
        }));
        let st = state.clone();
        let handler: Handler = Arc::new(move |req| dd_handle(&st, req));
        let tls = tls.map(|cfg| {
            let st = state.clone();
            let log: TlsErrorLog =
                Arc::new(move |e| st.lock().expect("poisoned").tls_errors.push(e));
            (TlsAcceptor::from(cfg), log)
        });
        let task = tokio::spawn(serve(l, handler, tls));
        DatadogReceiver { url, state, task }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, DatadogState> {
        self.state.lock().expect("poisoned")
    }
}

/// Now, in Unix milliseconds.
fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn dd_handle(st: &Mutex<DatadogState>, req: Request) -> (Option<Duration>, Reply) {
    let mut s = st.lock().expect("poisoned");
    s.requests.push(req.clone());
    let path = req.path.split('?').next().unwrap_or("").to_string();
    let key_ok = req.header("dd-api-key") == Some(s.api_key.as_str());
    match (req.method.as_str(), path.as_str()) {
        ("GET", "/api/v1/validate") if !s.validate_missing => {
            if key_ok {
                (None, Reply::json(200, json!({"valid": true})))
            } else {
                (None, Reply::json(403, json!({"errors": ["Forbidden"]})))
            }
        }
        ("POST", "/api/v2/logs") => {
            if req.header("dd-api-key").is_none() {
                s.statuses.push(401);
                return (None, Reply::json(401, json!({"errors": ["Unauthorized"]})));
            }
            if !key_ok {
                s.statuses.push(403);
                return (None, Reply::json(403, json!({"errors": ["Forbidden"]})));
            }
            let mut delay = None;
            if let Some(f) = s.faults.pop_front().or_else(|| s.always.clone()) {
                match f.reply() {
                    Some(r) => {
                        s.statuses.push(status_of(&r));
                        return (None, r);
                    }
                    None => {
                        if let Fault::Delay(d) = f {
                            delay = Some(d);
                        }
                    }
                }
            }
            if req.body.len() > DD_MAX_PAYLOAD {
                s.violations
                    .push(format!("payload of {} bytes > 5 MB", req.body.len()));
                s.statuses.push(413);
                return (
                    delay,
                    Reply::json(413, json!({"errors": ["Payload too large"]})),
                );
            }
            let v: Value = match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(e) => {
                    s.violations.push(format!("body is not JSON: {e}"));
                    s.statuses.push(400);
                    return (delay, Reply::json(400, json!({"errors": ["Bad request"]})));
                }
            };
            let Some(arr) = v.as_array() else {
                s.violations.push("body is not a JSON array".into());
                s.statuses.push(400);
                return (delay, Reply::json(400, json!({"errors": ["Bad request"]})));
            };
            if arr.len() > DD_MAX_ENTRIES {
                s.violations.push(format!("{} entries > 1000", arr.len()));
                s.statuses.push(400);
                return (
                    delay,
                    Reply::json(400, json!({"errors": ["Too many entries"]})),
                );
            }
            for e in arr {
                let n = serde_json::to_vec(e).map(|b| b.len()).unwrap_or(0);
                if n > DD_MAX_ENTRY {
                    // Datadog would truncate it (and still answer 2xx).
                    s.violations.push(format!("entry of {n} bytes > 1 MB"));
                }
                if e.get("message").is_none() {
                    s.violations.push("entry without `message`".into());
                }
                // Datadog indexes logs up to 18 h in the past (it answers 202
                // and drops older ones): an entry sent like that is lost.
                if let Some(ts) = e.get("timestamp").and_then(Value::as_i64) {
                    let age_ms = unix_now_ms() - ts;
                    if age_ms > 18 * 3600 * 1000 {
                        s.violations.push(format!(
                            "entry with a timestamp {} h old: Datadog would drop it",
                            age_ms / 3_600_000
                        ));
                    }
                }
                if let Some(f) = s.reject
                    && f(e)
                {
                    s.statuses.push(400);
                    return (delay, Reply::json(400, json!({"errors": ["Bad request"]})));
                }
            }
            s.accepted.extend(arr.iter().cloned());
            s.statuses.push(202);
            (delay, Reply::json(202, json!({})))
        }
        _ => (None, Reply::json(404, json!({"errors": ["Not found"]}))),
    }
}
