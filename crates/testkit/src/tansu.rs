//! A private Kafka-protocol broker: `tansu` (crates.io, Apache Kafka
//! compatible, written in Rust), in a temp dir on a free port of 127.0.0.1,
//! with its SQLite storage engine (`sqlite://tansu.db` in the temp dir).
//!
//! * Topics are not created automatically: [`Tansu::create_topic`] runs
//!   `tansu topic create`.
//! * [`Tansu::kill`] is SIGKILL, and [`Tansu::restart`] starts it again on
//!   the same port and database. Crashes are simulated with SIGKILL only:
//!   tansu 0.6's graceful stop (SIGTERM) mishandles idempotent producers (a
//!   restart after it can leave the SQLite engine failing every request,
//!   research/feasibility.md), which is a broker bug, not what a test of the
//!   agent should trip over. Drop kills it too.
//! * [`TlsFront`]: a TLS terminator (rustls, the testkit's certificates) in
//!   front of a broker, for TLS clients; start the broker with
//!   [`Tansu::start_advertising`] so that it tells clients the front's port.
//!
//! `tansu` is looked up in `PATH` and `~/.cargo/bin` ([`Tansu::find`]);
//! scripts/test.sh installs it (`cargo install tansu --locked
//! --no-default-features --features libsql`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;

pub struct Tansu {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The port the broker tells clients to connect to (its own, or a [`TlsFront`]'s).
    pub advertised_port: u16,
    /// The broker's stdout and stderr (appended across restarts).
    pub log: PathBuf,
    bin: PathBuf,
}

impl Tansu {
    /// The `tansu` binary, if installed.
    pub fn find() -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        if let Some(home) = std::env::var_os("CARGO_HOME") {
            dirs.push(PathBuf::from(home).join("bin"));
        }
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(PathBuf::from(home).join(".cargo/bin"));
        }
        dirs.into_iter()
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    }

    /// Start a broker and wait (up to 20 s) until its port accepts connections.
    pub fn start() -> io::Result<Tansu> {
        let port = crate::free_port();
        Tansu::start_on(port, port)
    }

    /// Start a broker that advertises `advertised_port` (a [`TlsFront`]'s).
    pub fn start_advertising(advertised_port: u16) -> io::Result<Tansu> {
        Tansu::start_on(crate::free_port(), advertised_port)
    }

    fn start_on(port: u16, advertised_port: u16) -> io::Result<Tansu> {
        let bin = Tansu::find()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "tansu is not installed"))?;
        let dir = tempfile::Builder::new()
            .prefix("onetrail-tansu-")
            .tempdir()?;
        let log = dir.path().join("tansu.log");
        let mut t = Tansu {
            child: None,
            dir,
            port,
            advertised_port,
            log,
            bin,
        };
        t.spawn()?;
        Ok(t)
    }

    /// `127.0.0.1:PORT` of the broker's own listener.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.advertised_port))
            .arg("--storage-engine")
            .arg("sqlite://tansu.db")
            .current_dir(self.dir.path())
            .env(
                "RUST_LOG",
                std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Some(st) = c.try_wait()?
            {
                return Err(io::Error::other(format!(
                    "tansu exited at start ({st}): {}",
                    self.log_text()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "tansu did not listen within 20 s: {}",
                    self.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The broker's log so far (last 4000 bytes).
    pub fn log_text(&self) -> String {
        let t = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut at = t.len().saturating_sub(4000);
        while !t.is_char_boundary(at) {
            at += 1;
        }
        t[at..].to_string()
    }

    /// `tansu topic create NAME --partitions N` against this broker.
    pub fn create_topic(&self, name: &str, partitions: u32) -> io::Result<()> {
        let out = Command::new(&self.bin)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg(name)
            .arg("--partitions")
            .arg(partitions.to_string())
            .current_dir(self.dir.path())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "tansu topic create {name}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// SIGKILL the broker and reap it (a crash: nothing is flushed).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// Start it again on the same port and database (after [`Tansu::kill`]).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// The data directory (holds `tansu.db`).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TLS terminator on a free port of 127.0.0.1: every connection is
/// handshaken with `config` (rustls) and its bytes are copied to and from
/// `upstream` (a plaintext broker). Runs on its own thread until dropped.
pub struct TlsFront {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(
        port: u16,
        upstream: u16,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<TlsFront> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                loop {
                    tokio::select! {
                        _ = &mut rx => return,
                        a = listener.accept() => {
                            let Ok((tcp, _)) = a else { continue };
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                            });
                        }
                    }
                }
            });
        });
        Ok(TlsFront {
            port,
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
