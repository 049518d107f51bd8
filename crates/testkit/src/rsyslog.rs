//! A private rsyslogd: a temp dir, a free port on 127.0.0.1, one `imtcp`
//! input (plain or TLS through the `gtls` stream driver), or an `imrelp` or
//! `imudp` input, every message
//! written to two files:
//!
//! * `raw`: `%rawmsg%`, the message exactly as received (framing removed);
//! * `parsed`: what rsyslog's RFC 5424 parser made of the header, one line
//!   per message: `PRI|TIMESTAMP|HOSTNAME|APP-NAME|PROCID|MSGID|SD|MSG`.
//!
//! Control characters are kept as received
//! (`parser.escapeControlCharactersOnReceive="off"`), so a LEEF tab arrives
//! as a tab. Started with `rsyslogd -n -f <conf> -i <pidfile>`; stopped with
//! SIGTERM (SIGKILL after 10 s) on drop. `rsyslogd` is looked up in `PATH`
//! and `/usr/sbin`; [`Rsyslog::find`] says whether it is installed.
//! [`Rsyslog::restart`] stops it (SIGTERM) and starts it again on the same port.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// TLS files for the `gtls` driver (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Rsyslog {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// `%rawmsg%`, one line per message.
    pub raw: PathBuf,
    /// The parsed header fields and MSG, `|`-separated, one line per message.
    pub parsed: PathBuf,
    /// rsyslogd's own stdout/stderr.
    pub log: PathBuf,
    conf: PathBuf,
    udp: bool,
}

impl Rsyslog {
    /// The `rsyslogd` binary, if installed.
    pub fn find() -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d| d.join("rsyslogd"))
            .find(|p| p.is_file())
    }

    /// Start with an `imtcp` input (TLS with `tls`), and wait (up to 20 s)
    /// until the port accepts connections.
    pub fn start(tls: Option<&TlsFiles>) -> io::Result<Rsyslog> {
        Rsyslog::start_input(tls, "tcp")
    }

    /// Start with an `imudp` input instead (readiness: the port is bound).
    pub fn start_udp() -> io::Result<Rsyslog> {
        Rsyslog::start_input(None, "udp")
    }

    /// Start with an `imrelp` input (plain TCP) instead.
    pub fn start_relp() -> io::Result<Rsyslog> {
        Rsyslog::start_input(None, "relp")
    }

    /// Start with an `imrelp` input inside TLS (`tls="on"`). librelp requires a
    /// client certificate there: `tls.authMode="certvalid"` accepts any signed by `tls.ca`.
    pub fn start_relp_tls(tls: &TlsFiles) -> io::Result<Rsyslog> {
        Rsyslog::start_input(Some(tls), "relp")
    }

    fn start_input(tls: Option<&TlsFiles>, kind: &str) -> io::Result<Rsyslog> {
        let dir = tempfile::Builder::new()
            .prefix("onetrail-rsyslog-")
            .tempdir()?;
        let d = dir.path();
        let work = d.join("work");
        std::fs::create_dir_all(&work)?;
        let port = crate::free_port();
        let raw = d.join("raw.log");
        let parsed = d.join("parsed.log");
        let log = d.join("rsyslogd.log");
        let (global_tls, module_tls) = match tls {
            Some(t) => (
                format!(
                    " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"",
                    t.ca.display(),
                    t.cert.display(),
                    t.key.display()
                ),
                " streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\"",
            ),
            None => (String::new(), ""),
        };
        let input = if let (Some(t), "relp") = (tls, kind) {
            format!(
                "module(load=\"imrelp\")\ninput(type=\"imrelp\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"out\" tls=\"on\" tls.caCert=\"{}\" tls.myCert=\"{}\" tls.myPrivKey=\"{}\" tls.authMode=\"certvalid\")",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            )
        } else if kind == "relp" || kind == "udp" {
            format!(
                "module(load=\"im{kind}\")\ninput(type=\"im{kind}\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"out\")"
            )
        } else {
            format!(
                "module(load=\"imtcp\"{module_tls})\ninput(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"out\")"
            )
        };
        let conf = format!(
            r#"global(workDirectory="{work}" maxMessageSize="256k" parser.escapeControlCharactersOnReceive="off"{global_tls})
template(name="raw" type="string" string="%rawmsg%\n")
template(name="parsed" type="string" string="%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\n")
ruleset(name="out") {{
  action(type="omfile" file="{raw}" template="raw")
  action(type="omfile" file="{parsed}" template="parsed")
}}
{input}
"#,
            work = work.display(),
            raw = raw.display(),
            parsed = parsed.display(),
        );
        let conf_path = d.join("rsyslog.conf");
        std::fs::write(&conf_path, conf)?;
        let mut r = Rsyslog {
            child: None,
            dir,
            port,
            raw,
            parsed,
            log,
            conf: conf_path,
            udp: kind == "udp",
        };
        r.spawn()?;
        Ok(r)
    }

    /// Stop rsyslogd (SIGTERM, as a service restart does) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill rsyslogd (SIGKILL: no flush, no goodbye to clients) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again after [`Rsyslog::stop`] or [`Rsyslog::kill`].
    pub fn start_again(&mut self) -> io::Result<()> {
        self.spawn()
    }

    /// Start it again: same port, same config, same output files.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> io::Result<()> {
        let bin = Rsyslog::find().ok_or_else(|| io::Error::other("rsyslogd not found"))?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        self.child = Some(child);
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = if self.udp {
                // Bound by rsyslogd: we can no longer bind it ourselves.
                std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
            } else {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            };
            if ready {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Some(st) = c.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "rsyslogd exited ({st}): {}",
                    self.log_text()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "rsyslogd did not listen on {port} within 20 s: {}",
                    self.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// rsyslogd's own output.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every message received so far, as received.
    pub fn raw_messages(&self) -> Vec<String> {
        Rsyslog::lines(&self.raw)
    }

    /// Every message received so far, as rsyslog parsed it.
    pub fn parsed_messages(&self) -> Vec<String> {
        Rsyslog::lines(&self.parsed)
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}
