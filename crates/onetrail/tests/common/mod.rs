//! Shared by the integration tests that run the real binary (`mod common;`):
//! an `onetrail run` child process that is killed if the test ends without
//! stopping it.

// Each test file uses a part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `onetrail run --config <config>` with stdin and stdout null: add `.env(…)`
/// as needed, then start it with [`Agent::spawn`].
pub fn run_command(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_onetrail"));
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// A running `onetrail run`; killed on drop if still running.
pub struct Agent {
    child: Child,
    /// Where its stderr goes, if anywhere.
    stderr: Option<PathBuf>,
}

impl Agent {
    /// Start `cmd` (see [`run_command`]) with its stderr in the file
    /// `stderr` (created, or truncated).
    pub fn spawn(cmd: &mut Command, stderr: &Path) -> Result<Agent, String> {
        let file = fs::File::create(stderr).map_err(|e| e.to_string())?;
        Agent::spawn_to(cmd, file.into(), Some(stderr))
    }

    /// [`Agent::spawn`], appending to `stderr` (several runs, one log).
    pub fn spawn_appending(cmd: &mut Command, stderr: &Path) -> Result<Agent, String> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr)
            .map_err(|e| e.to_string())?;
        Agent::spawn_to(cmd, file.into(), Some(stderr))
    }

    /// [`Agent::spawn`], its stderr discarded.
    pub fn spawn_quiet(cmd: &mut Command) -> Result<Agent, String> {
        Agent::spawn_to(cmd, Stdio::null(), None)
    }

    /// Start `cmd` with its stderr going to `err` (`path`: where [`Agent::log`] reads it).
    pub fn spawn_to(cmd: &mut Command, err: Stdio, path: Option<&Path>) -> Result<Agent, String> {
        let child = cmd
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start onetrail: {e}"))?;
        Ok(Agent {
            child,
            stderr: path.map(Path::to_path_buf),
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far (empty when discarded or unreadable).
    pub fn log(&self) -> String {
        self.stderr
            .as_ref()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Wait for it to exit.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// SIGKILL (without waiting).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// SIGTERM (without waiting).
    pub fn sigterm(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Wait up to `timeout` for it to exit (polling every 50 ms); `None` if
    /// it still runs.
    pub fn wait_timeout(&mut self, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `Err`, with the end of its stderr, if `onetrail run` has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "`onetrail run` exited early ({status}) instead of running until SIGTERM\n\
                 --- agent stderr ---\n{}",
                tail(&self.log(), 4000)
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// SIGTERM, then wait for the exit (however long it takes).
    pub fn terminate(mut self) -> ExitStatus {
        self.sigterm();
        self.child.wait().unwrap()
    }

    /// SIGTERM, then wait for the exit; SIGKILL and `Err` after `timeout`.
    pub fn terminate_within(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        self.sigterm();
        match self.wait_timeout(timeout).map_err(|e| e.to_string())? {
            Some(status) => Ok(status),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(format!(
                    "onetrail did not exit within {timeout:?} of SIGTERM"
                ))
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `n` bytes of `s` (at a character boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The Debian-like `log_line_prefix` of the synthetic records below.
pub const PREFIX: &str = "%m [%p] %q%u@%d ";

/// A pgaudit INSERT record number `n` (statement id `n`), as PostgreSQL 15
/// writes it with [`PREFIX`].
pub fn record(n: u64) -> String {
    format!(
        "2026-11-26 06:15:{:02}.{:03} UTC [4242] app@appdb LOG:  AUDIT: SESSION,{n},1,WRITE,INSERT,TABLE,public.t,INSERT INTO public.t VALUES ({n}),<none>\n",
        (n / 1000) % 60,
        n % 1000
    )
}

/// Append `text` to `path` (created if missing), as a server writes its log.
pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on the agent's metrics endpoint: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let (head, body) = r.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
}

/// Poll `f` every 50 ms until it holds; panic naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
