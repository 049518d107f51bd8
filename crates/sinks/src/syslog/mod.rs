//! `type: syslog`: messages to a syslog receiver over TCP, TLS or RELP.
//!
//! * `protocol: udp`: one datagram per message (RFC 5426), delivered when
//!   handed to the kernel; nothing tells a loss. `max_message_bytes`
//!   defaults to 2048 there (what RFC 5426 says receivers SHOULD take).
//! * `protocol: relp` (plain TCP) or `relp_tls` (inside TLS, set up as for
//!   `tls`): every message is acknowledged by the
//!   server; a group is delivered, and the checkpoint moves, only once every
//!   message has its `200` ([`relp`]). `framing` does not apply.
//! * Messages: RFC 5424, CEF or LEEF, one per event ([`encode`]), framed by
//!   octet counting (`<len> <msg>`, RFC 6587 §3.4.1, the default) or a
//!   trailing newline (§3.4.2).
//! * `tcp`/`tls`: delivered means **written and flushed** to the connection: plain syslog
//!   over TCP/TLS has no acknowledgement, so messages in the socket buffers
//!   when the connection drops can be lost without either side knowing. This
//!   is weaker than the HTTP sinks (and than RELP, not implemented yet).
//!   Before each group the connection is checked for a close from the
//!   receiver (a receiver never sends anything on a syslog stream), which
//!   catches a restarted receiver before data is written into a dead socket.
//! * A failed write drops the connection; the whole group is sent again on a
//!   new one, with backoff (`retry_initial_backoff_ms`, `retry_max_backoff_ms`)
//!   until it succeeds or shutdown: at least once, duplicates possible
//!   (the event `id` in every format is the de-duplication key).
//! * TLS (`protocol: tls`, the default): rustls, the system roots plus
//!   `tls.ca_file`, the host name of `address` verified, optional client
//!   certificate. `tls.verify: false` is refused for this sink.

pub mod encode;
pub mod relp;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Aborted, Probe, RetryPolicy};
use crate::config::{SinkConfig, SyslogFraming, SyslogProtocol, TlsConfig};
use crate::http::{Receiver, wait_to_retry};
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;

/// Smallest `max_message_bytes`: RFC 5426 §3.2, what every IPv4 receiver takes.
pub const MIN_MESSAGE_BYTES: usize = 480;

/// Largest UDP message (a datagram's payload over IPv6 is at most 65527; stay under IPv4's 65507).
pub const MAX_UDP_MESSAGE_BYTES: usize = 65_000;

/// Connect (and handshake) timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The facility code of a name (RFC 5424 §6.2.1 and the usual names).
pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" | "security" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "ntp" => 12,
        "audit" | "logaudit" => 13,
        "alert" | "logalert" => 14,
        "clock" => 15,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

/// `host` and `port` of `address` (`host:port`, `[v6]:port`).
pub fn split_address(addr: &str) -> Result<(String, u16), String> {
    let bad =
        || format!("`address: {addr}` must be host:port (`siem.example.com:6514`, `[::1]:514`)");
    let (host, port) = addr.trim().rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// `max_message_bytes`, or its default: 2048 for udp (RFC 5426 §3.2: what
/// receivers SHOULD take), 65536 otherwise.
pub fn max_message_bytes(cfg: &SinkConfig) -> usize {
    cfg.max_message_bytes.unwrap_or(match cfg.protocol {
        SyslogProtocol::Udp => 2048,
        _ => 65536,
    })
}

/// The checks `Config::load` runs on a syslog sink.
pub fn validate(cfg: &SinkConfig) -> Result<(), String> {
    let addr = cfg
        .address
        .as_deref()
        .ok_or("`address` is required for `type: syslog`")?;
    split_address(addr)?;
    if let Some(f) = &cfg.facility
        && facility_code(f).is_none()
    {
        return Err(format!(
            "unknown `facility: {f}`; expected kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock or local0..local7"
        ));
    }
    if cfg.protocol == SyslogProtocol::Udp && max_message_bytes(cfg) > MAX_UDP_MESSAGE_BYTES {
        return Err(format!(
            "`max_message_bytes` must be at most {MAX_UDP_MESSAGE_BYTES} with `protocol: udp` (one datagram per message)"
        ));
    }
    if max_message_bytes(cfg) < MIN_MESSAGE_BYTES {
        return Err(format!(
            "`max_message_bytes` must be at least {MIN_MESSAGE_BYTES} (RFC 5426)"
        ));
    }
    let t = &cfg.tls;
    let uses_tls = matches!(cfg.protocol, SyslogProtocol::Tls | SyslogProtocol::RelpTls);
    if !uses_tls
        && (t.ca_file.is_some()
            || t.client_cert.is_some()
            || t.client_key.is_some()
            || t.verify.is_some())
    {
        return Err("`tls` settings need `protocol: tls` or `protocol: relp_tls`".into());
    }
    if uses_tls && cfg.tls.verify == Some(false) {
        return Err("`tls.verify: false` is not supported by the syslog sink; put the receiver's CA in `tls.ca_file`".into());
    }
    Ok(())
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {
    /// The TCP connection under it.
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

pub struct SyslogSink {
    name: String,
    address: String,
    host: String,
    port: u16,
    framing: SyslogFraming,
    tls: Option<tokio_rustls::TlsConnector>,
    header: encode::Header,
    retry: RetryPolicy,
    conn: Option<Box<dyn Stream>>,
    /// `protocol: relp`: the session on `conn`.
    relp: Option<relp::Session>,
    is_relp: bool,
    is_udp: bool,
    /// `protocol: udp`: the connected socket.
    udp: Option<tokio::net::UdpSocket>,
    buf: Vec<u8>,
    msgs: Vec<Vec<u8>>,
}

/// A rustls client config: system roots plus `tls.ca_file`, optional client certificate.
fn tls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(ca) = &tls.ca_file {
        let certs: Vec<_> = CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "tls.ca_file {}: not a PEM certificate bundle: {e}",
                    ca.display()
                )
            })?;
        if certs.is_empty() {
            return Err(format!(
                "tls.ca_file {}: no certificate in it",
                ca.display()
            ));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    match (&tls.client_cert, &tls.client_key) {
        (Some(c), Some(k)) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(c)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| format!("tls.client_cert {}: {e}", c.display()))?;
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| format!("tls.client_key {}: {e}", k.display()))?;
            b.with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls.client_cert/client_key: {e}"))
        }
        (None, None) => Ok(b.with_no_client_auth()),
        _ => Err("tls.client_cert and tls.client_key go together".into()),
    }
}

impl SyslogSink {
    pub fn new(name: &str, cfg: &SinkConfig) -> Result<SyslogSink, String> {
        validate(cfg)?;
        let address = cfg.address.clone().unwrap_or_default();
        let (host, port) = split_address(&address)?;
        let tls = match cfg.protocol {
            SyslogProtocol::Tcp | SyslogProtocol::Relp | SyslogProtocol::Udp => None,
            SyslogProtocol::Tls | SyslogProtocol::RelpTls => Some(
                tokio_rustls::TlsConnector::from(Arc::new(tls_config(&cfg.tls)?)),
            ),
        };
        Ok(SyslogSink {
            name: name.to_string(),
            address: address.trim().to_string(),
            host,
            port,
            framing: cfg.framing,
            tls,
            header: encode::Header {
                format: cfg.format,
                encoding: cfg.encoding,
                facility: cfg
                    .facility
                    .as_deref()
                    .and_then(facility_code)
                    .unwrap_or(20),
                hostname: cfg.host.clone().unwrap_or_else(crate::common::hostname),
                app_name: cfg.app_name.clone().unwrap_or_else(|| "onetrail".into()),
                procid: std::process::id().to_string(),
                max_bytes: max_message_bytes(cfg),
            },
            retry: RetryPolicy::from_config(cfg),
            conn: None,
            relp: None,
            is_relp: matches!(cfg.protocol, SyslogProtocol::Relp | SyslogProtocol::RelpTls),
            is_udp: cfg.protocol == SyslogProtocol::Udp,
            udp: None,
            buf: Vec::with_capacity(64 * 1024),
            msgs: Vec::new(),
        })
    }

    /// Connect (and handshake with TLS).
    async fn connect(&self) -> Result<Box<dyn Stream>, String> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| format!("connecting to {} timed out", self.address))?
        .map_err(|e| format!("cannot connect to {}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| format!("`address` host {}: {e}", self.host))?;
        let s = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {} timed out", self.address))?
            .map_err(|e| {
                let m = crate::common::error_chain(&e);
                format!("TLS handshake with {} failed: {m}", self.address)
            })?;
        Ok(Box::new(s))
    }

    /// Append the framed message of every event to `self.buf`.
    fn frame_all(&mut self, batches: &[Arc<Batch>]) {
        self.buf.clear();
        self.msgs.clear();
        for ev in batches.iter().flat_map(|b| b.events.iter()) {
            let msg = encode::encode(ev, &self.header);
            if self.is_relp || self.is_udp {
                self.msgs.push(msg);
                continue;
            }
            match self.framing {
                SyslogFraming::OctetCounting => {
                    self.buf
                        .extend_from_slice(format!("{} ", msg.len()).as_bytes());
                    self.buf.extend_from_slice(&msg);
                }
                SyslogFraming::Newline => {
                    self.buf.extend_from_slice(&msg);
                    self.buf.push(b'\n');
                }
            }
        }
    }

    /// The connection, unless the receiver closed it (EOF or anything to read).
    fn live_conn(&mut self) -> Option<&mut Box<dyn Stream>> {
        let alive = match &self.conn {
            Some(c) => {
                let mut b = [0u8; 1];
                matches!(c.tcp().try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
            None => false,
        };
        if !alive {
            self.conn = None;
            self.relp = None;
        }
        self.conn.as_mut()
    }

    /// `protocol: udp`: one datagram per message on a connected socket.
    async fn attempt_udp(&mut self, metrics: &SinkMetrics) -> Result<(), String> {
        if self.udp.is_none() {
            let addr = tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", self.address))?
                .next()
                .ok_or_else(|| format!("cannot resolve {}", self.address))?;
            let local = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = tokio::net::UdpSocket::bind(local)
                .await
                .map_err(|e| format!("UDP socket: {e}"))?;
            sock.connect(addr)
                .await
                .map_err(|e| format!("UDP to {}: {e}", self.address))?;
            self.udp = Some(sock);
        }
        let sock = self.udp.as_ref().expect("bound above");
        for m in &self.msgs {
            metrics.requests.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = sock.send(m).await {
                self.udp = None;
                return Err(format!("sending to {} failed: {e}", self.address));
            }
            metrics
                .bytes_sent
                .fetch_add(m.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn attempt(&mut self, metrics: &SinkMetrics) -> Result<(), String> {
        if self.is_udp {
            return self.attempt_udp(metrics).await;
        }
        if self.live_conn().is_none() {
            self.conn = Some(self.connect().await?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        metrics.requests.fetch_add(1, Ordering::Relaxed);
        if self.is_relp {
            let r = async {
                if self.relp.is_none() {
                    self.relp = Some(relp::Session::open(conn).await?);
                }
                let sess = self.relp.as_mut().expect("opened above");
                let mut sent = 0;
                let r = sess.send_all(conn, &self.msgs, &mut sent).await;
                metrics.bytes_sent.fetch_add(sent, Ordering::Relaxed);
                r
            }
            .await;
            if let Err(e) = r {
                self.conn = None;
                self.relp = None;
                return Err(format!("{}: {e}", self.address));
            }
            return Ok(());
        }
        let r = async {
            conn.write_all(&self.buf).await?;
            conn.flush().await
        }
        .await;
        match r {
            Ok(()) => {
                metrics
                    .bytes_sent
                    .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.conn = None;
                Err(format!("writing to {} failed: {e}", self.address))
            }
        }
    }

    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        self.frame_all(batches);
        if self.buf.is_empty() && self.msgs.is_empty() {
            return Ok(());
        }
        let name = self.name.clone();
        let who = Receiver {
            sink: &name,
            label: "syslog receiver",
            pause_hint: "",
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(metrics).await {
                Ok(()) => {
                    metrics.set_ok();
                    return Ok(());
                }
                Err(msg) => {
                    let retry = self.retry.transient(attempt, None, msg);
                    wait_to_retry(&who, retry, shutdown, metrics).await?;
                }
            }
        }
    }

    /// `onetrail check`: connect (and handshake with TLS), send nothing.
    pub async fn probe(&self) -> Result<Probe, String> {
        if self.is_udp {
            return Ok(Probe::Unverified(format!(
                "{}: UDP: nothing to check (datagrams are not acknowledged)",
                self.address
            )));
        }
        let mut c = self.connect().await?;
        if self.is_relp {
            relp::Session::open(&mut c).await?;
            return Ok(Probe::Verified(format!(
                "{}: RELP session opened (the server answered `open` with 200)",
                self.address
            )));
        }
        let what = if self.tls.is_some() {
            "TLS handshake done, certificate verified"
        } else {
            "TCP connection accepted (plain, unencrypted)"
        };
        Ok(Probe::Unverified(format!(
            "{}: {what}; syslog has no way to prove the receiver stores the messages",
            self.address
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_facilities() {
        assert_eq!(
            split_address("siem:6514").unwrap(),
            ("siem".to_string(), 6514)
        );
        assert_eq!(
            split_address("[::1]:514").unwrap(),
            ("::1".to_string(), 514)
        );
        assert!(split_address("siem").is_err());
        assert!(split_address("siem:0").is_err());
        assert!(split_address(":514").is_err());
        assert_eq!(facility_code("local4"), Some(20));
        assert_eq!(facility_code("AUTHPRIV"), Some(10));
        assert_eq!(facility_code("local8"), None);
    }
}
