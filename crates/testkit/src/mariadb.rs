//! Private MariaDB instances (see crate docs), with the `server_audit` plugin
//! writing to a file in the instance's temp dir.
//!
//! ```no_run
//! let db = onetrail_testkit::mariadb::MariaDb::start().unwrap();
//! db.sql("root", None, "CREATE DATABASE shop").unwrap();
//! let log = std::fs::read(&db.audit_log).unwrap();
//! # drop(log);
//! ```
//!
//! How it runs:
//! * `mariadb-install-db --no-defaults --datadir=<tmp>/data
//!   --auth-root-authentication-method=normal --user=<me> --skip-test-db`
//!   (root can then log in over the socket without a password);
//! * `mariadbd --no-defaults --user=<me> --datadir --socket --port=<free>
//!   --bind-address=127.0.0.1 --skip-name-resolve --plugin-load-add=server_audit
//!   --server-audit-logging=ON --server-audit-file-path=<tmp>/server_audit.log
//!   --server-audit-file-rotate-size=... --server-audit-events=CONNECT,QUERY,TABLE`.
//!
//! `--user=<me>`: mariadbd refuses to run as root unless told to, and a
//! mysql-owned datadir would need a chown (and a `mysql` account). Passing the
//! current user name (`root` on the CI machine) keeps everything in the temp
//! dir owned by whoever runs the tests.
//!
//! The server is stopped (SIGTERM, then SIGKILL after 30 s) and the temp dir
//! removed on drop. Binaries are taken from `PATH` (Debian puts `mariadbd` in
//! `/usr/sbin`, which is searched as well), or from `$MARIADB_BIN_DIR`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Settings for [`MariaDb::start_with`].
#[derive(Debug, Clone)]
pub struct MariaDbOptions {
    /// `server_audit_events` (default `CONNECT,QUERY,TABLE`).
    pub audit_events: String,
    /// `server_audit_file_rotate_size` in bytes (default 100 MB: no rotation
    /// during a test).
    pub rotate_size: u64,
    /// Extra `mariadbd` arguments.
    pub extra_args: Vec<String>,
}

impl Default for MariaDbOptions {
    fn default() -> Self {
        MariaDbOptions {
            audit_events: "CONNECT,QUERY,TABLE".to_string(),
            rotate_size: 100_000_000,
            extra_args: Vec::new(),
        }
    }
}

/// A running private MariaDB server.
pub struct MariaDb {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub port: u16,
    /// The `server_audit` log file.
    pub audit_log: PathBuf,
    /// The server's error log (useful when something fails).
    pub error_log: PathBuf,
}

fn bin(name: &str) -> PathBuf {
    if let Some(d) = std::env::var_os("MARIADB_BIN_DIR") {
        return Path::new(&d).join(name);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/local/sbin".into()]) {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from(name)
}

fn current_user() -> String {
    // SAFETY: geteuid has no preconditions; getpwuid returns a pointer to static
    // storage or null, read immediately.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "root".to_string())
}

fn check(out: Output, what: &str) -> io::Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl MariaDb {
    /// Start with [`MariaDbOptions::default`].
    pub fn start() -> io::Result<MariaDb> {
        MariaDb::start_with(&MariaDbOptions::default())
    }

    pub fn start_with(opts: &MariaDbOptions) -> io::Result<MariaDb> {
        let dir = tempfile::Builder::new()
            .prefix("onetrail-mariadb-")
            .tempdir()?;
        let data = dir.path().join("data");
        let user = current_user();
        let out = Command::new(bin("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg(format!("--user={user}"))
            .arg("--skip-test-db")
            .stdin(Stdio::null())
            .output()?;
        check(out, "mariadb-install-db")?;

        let socket = dir.path().join("mariadb.sock");
        let audit_log = dir.path().join("server_audit.log");
        let error_log = dir.path().join("error.log");
        let port = crate::free_port();
        let child = Command::new(bin("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--user={user}"))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-name-resolve")
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mariadbd.pid").display()
            ))
            .arg(format!("--log-error={}", error_log.display()))
            .arg("--innodb-buffer-pool-size=16M")
            .arg("--plugin-load-add=server_audit")
            .arg("--server-audit-logging=ON")
            .arg(format!("--server-audit-file-path={}", audit_log.display()))
            .arg(format!(
                "--server-audit-file-rotate-size={}",
                opts.rotate_size
            ))
            .arg(format!("--server-audit-events={}", opts.audit_events))
            .args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut db = MariaDb {
            child: Some(child),
            dir,
            socket,
            port,
            audit_log,
            error_log,
        };
        db.wait_ready(Duration::from_secs(60))?;
        Ok(db)
    }

    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let t0 = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "mariadbd exited during startup ({status}): {}",
                    std::fs::read_to_string(&self.error_log).unwrap_or_default()
                )));
            }
            if self.socket.exists()
                && self
                    .client("root", None)
                    .arg("-e")
                    .arg("SELECT 1")
                    .output()?
                    .status
                    .success()
            {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                return Err(io::Error::other(format!(
                    "mariadbd not ready after {timeout:?}: {}",
                    std::fs::read_to_string(&self.error_log).unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A `mariadb` client command connected over the socket as `user`.
    pub fn client(&self, user: &str, password: Option<&str>) -> Command {
        let mut c = Command::new(bin("mariadb"));
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--user={user}"))
            .arg("--batch")
            .arg("--comments")
            .arg("--default-character-set=utf8mb4")
            .stdin(Stdio::null());
        if let Some(p) = password {
            c.arg(format!("--password={p}"));
        }
        c
    }

    /// A `mariadb` client command connected over TCP (127.0.0.1:port).
    pub fn tcp_client(&self, user: &str, password: Option<&str>) -> Command {
        let mut c = Command::new(bin("mariadb"));
        c.arg("--no-defaults")
            .arg("--protocol=TCP")
            .arg("--host=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={user}"))
            .arg("--batch")
            .arg("--comments")
            .arg("--default-character-set=utf8mb4")
            .stdin(Stdio::null());
        if let Some(p) = password {
            c.arg(format!("--password={p}"));
        }
        c
    }

    /// Run SQL (one client session, statements separated by `;`) and fail if
    /// the client fails.
    pub fn sql(&self, user: &str, password: Option<&str>, sql: &str) -> io::Result<String> {
        let out = self.client(user, password).arg("-e").arg(sql).output()?;
        Ok(String::from_utf8_lossy(&check(out, sql)?.stdout).into_owned())
    }

    /// Run SQL and return the raw client output, success or not.
    pub fn sql_output(&self, user: &str, password: Option<&str>, sql: &str) -> io::Result<Output> {
        self.client(user, password).arg("-e").arg(sql).output()
    }

    /// The instance's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stop the server now (also done on drop).
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(c.id()) {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One step of [`capture_workload`]: who runs what, and whether it must succeed.
struct Step {
    user: &'static str,
    password: Option<&'static str>,
    tcp: bool,
    sql: String,
    expect_ok: bool,
}

fn step(user: &'static str, password: Option<&'static str>, sql: impl Into<String>) -> Step {
    Step {
        user,
        password,
        tcp: false,
        sql: sql.into(),
        expect_ok: true,
    }
}

/// The workload behind `fixtures/mysql/real-mariadb-10.11/server_audit.log`:
/// logins (one failed), CREATE USER ... IDENTIFIED BY, GRANT/REVOKE, DDL, DML,
/// SELECT, unicode / quotes / backslashes / multi-line text, a statement over
/// `server_audit_query_log_limit`, a denied statement, a TCP session, and
/// `SET GLOBAL server_audit_logging=OFF/ON`.
fn workload() -> Vec<Step> {
    let long = format!("SELECT '{}' AS long_literal", "0123456789".repeat(110));
    vec![
        step("root", None, "CREATE DATABASE shop"),
        step(
            "root",
            None,
            "USE shop; CREATE TABLE orders (\n  id INT PRIMARY KEY,\n  note VARCHAR(200)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ),
        step(
            "root",
            None,
            "CREATE USER 'app'@'%' IDENTIFIED BY 'S3cret-pw'",
        ),
        step("root", None, "GRANT SELECT, INSERT ON shop.* TO 'app'@'%'"),
        Step {
            password: Some("wrong-password"),
            expect_ok: false,
            ..step("app", None, "SELECT 1")
        },
        step(
            "app",
            Some("S3cret-pw"),
            "INSERT INTO shop.orders VALUES (1, 'Crème brûlée — 日本語 🍮'), (2, 'it''s \"quoted\" and back\\\\slash')",
        ),
        step(
            "app",
            Some("S3cret-pw"),
            "/* app=billing */ SELECT id,\n       note\n  FROM shop.orders\n WHERE note LIKE '%é%'",
        ),
        Step {
            expect_ok: false,
            ..step(
                "app",
                Some("S3cret-pw"),
                "UPDATE shop.orders SET note = 'x' WHERE id = 1",
            )
        },
        Step {
            tcp: true,
            ..step("app", Some("S3cret-pw"), "SELECT COUNT(*) FROM shop.orders")
        },
        step("root", None, "REVOKE INSERT ON shop.* FROM 'app'@'%'"),
        step(
            "root",
            None,
            "ALTER TABLE shop.orders ADD COLUMN created DATETIME NULL",
        ),
        step("root", None, "RENAME TABLE shop.orders TO shop.orders_2024"),
        step("root", None, "TRUNCATE TABLE shop.orders_2024"),
        step("root", None, long),
        Step {
            expect_ok: false,
            ..step("root", None, "SELECT * FROM shop.no_such_table")
        },
        step("root", None, "SET GLOBAL server_audit_logging=OFF"),
        step("root", None, "SELECT 'this statement is not audited'"),
        step("root", None, "SET GLOBAL server_audit_logging=ON"),
        step("root", None, "DROP USER 'app'@'%'"),
        step("root", None, "DROP DATABASE shop"),
    ]
}

/// Start a private MariaDB, run the capture workload and copy the audit log to
/// `dest`. Reproduce the committed capture with
/// `ONETRAIL_CAPTURE_MARIADB=$PWD/fixtures/mysql/real-mariadb-10.11/server_audit.log
/// cargo test -p onetrail-testkit --lib mariadb::tests::capture -- --ignored`.
pub fn capture_workload(dest: &Path) -> io::Result<()> {
    let db = MariaDb::start()?;
    for s in workload() {
        let mut c = if s.tcp {
            db.tcp_client(s.user, s.password)
        } else {
            db.client(s.user, s.password)
        };
        let out = c.arg("-e").arg(&s.sql).output()?;
        if out.status.success() != s.expect_ok {
            return Err(io::Error::other(format!(
                "step {:?} as {}: expected success={}, got {}: {}",
                s.sql,
                s.user,
                s.expect_ok,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    // server_audit writes synchronously; give the file system a moment anyway
    std::thread::sleep(Duration::from_millis(200));
    std::fs::copy(&db.audit_log, dest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "starts a real MariaDB; run with --ignored"]
    fn starts_audits_and_stops() {
        let mut db = MariaDb::start().expect("start MariaDB");
        db.sql("root", None, "SELECT 1").unwrap();
        let log = std::fs::read_to_string(&db.audit_log).unwrap();
        assert!(log.contains(",QUERY,,'SELECT 1',0"), "{log}");
        let pid_file = db.dir().join("mariadbd.pid");
        assert!(pid_file.exists());
        db.stop();
        assert!(!db.socket.exists() || db.sql("root", None, "SELECT 1").is_err());
    }

    /// Writes the capture to `$ONETRAIL_CAPTURE_MARIADB` (see [`capture_workload`]).
    #[test]
    #[ignore = "starts a real MariaDB; run with --ignored"]
    fn capture() {
        let dest = std::env::var_os("ONETRAIL_CAPTURE_MARIADB")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("onetrail-server_audit.log"));
        capture_workload(&dest).expect("capture");
        eprintln!("captured {}", dest.display());
    }
}
