//! Private PostgreSQL 15 + pgaudit instances for integration tests.
//!
//! [`PgInstance::start`] runs `initdb` in a fresh temp dir, writes a
//! `postgresql.conf` that loads pgaudit (and optionally pgauditlogtofile) with
//! full session and object auditing, starts the server on a free port bound to
//! 127.0.0.1 and returns a handle that stops it on drop.
//!
//! PostgreSQL refuses to run as root, so when the test process is root the
//! server binaries run as the `postgres` OS user (`runuser -u postgres --`) and
//! the temp dir is chowned to it; as any other user they run as that user.
//!
//! A crashed or killed test must not leave a server running: besides the
//! `pg_ctl stop` in [`Drop`], every instance has a watchdog shell in its own
//! session that stops the server (`-m immediate`) and removes the temp dir as
//! soon as the test process is gone, whatever way it died.
//!
//! Environment: `ONETRAIL_PG_BINDIR` overrides the binary dir
//! (default `/usr/lib/postgresql/15/bin`), `ONETRAIL_PG_LIBDIR` the extension
//! dir (default `/usr/lib/postgresql/15/lib`), and `ONETRAIL_KEEP_PG=1` keeps
//! the temp dir after the test for inspection.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use tokio_postgres;

const DEFAULT_BINDIR: &str = "/usr/lib/postgresql/15/bin";
const DEFAULT_LIBDIR: &str = "/usr/lib/postgresql/15/lib";

/// Debian's default prefix plus client address, application and session id.
pub const DEFAULT_LOG_LINE_PREFIX: &str = "%m [%p] %q%u@%d %r %a %c ";
/// The prefix RDS / Aurora PostgreSQL force.
pub const RDS_LOG_LINE_PREFIX: &str = "%t:%r:%u@%d:[%p]:";
/// The superuser's password (TCP logins use scram-sha-256).
pub const SUPERUSER_PASSWORD: &str = "Postgres-Sup3r-pw";
/// A role that `pg_hba.conf` rejects on TCP, to provoke SQLSTATE 28000.
pub const HBA_REJECTED_USER: &str = "blocked_user";

/// An error setting up or driving a test server, with a message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError(pub String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<tokio_postgres::Error> for HarnessError {
    fn from(e: tokio_postgres::Error) -> Self {
        HarnessError(format!("postgres: {}", pg_error_text(&e)))
    }
}

fn err(msg: impl Into<String>) -> HarnessError {
    HarnessError(msg.into())
}

/// The error text of a tokio-postgres error including the server's message.
pub fn pg_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Where the server writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgLogFormat {
    /// `log_destination = stderr` with the logging collector: `*.log` files.
    Stderr,
    /// `log_destination = csvlog`: `*.csv` files.
    Csvlog,
    /// `log_destination = jsonlog` (PG 15+): `*.json` files.
    Jsonlog,
    /// pgauditlogtofile: AUDIT records (and, with `pgaudit.log_connections`,
    /// connection records and password failures) go to `audit-*.log` in
    /// [`PgInstance::audit_dir`]; everything else to the stderr log in
    /// [`PgInstance::log_dir`].
    PgAuditLogToFile,
}

impl PgLogFormat {
    pub const ALL: [PgLogFormat; 4] = [
        PgLogFormat::Stderr,
        PgLogFormat::Csvlog,
        PgLogFormat::Jsonlog,
        PgLogFormat::PgAuditLogToFile,
    ];

    /// The name used in onetrail's config (`log_format:`) and fixture dirs.
    pub fn as_str(self) -> &'static str {
        match self {
            PgLogFormat::Stderr => "stderr",
            PgLogFormat::Csvlog => "csvlog",
            PgLogFormat::Jsonlog => "jsonlog",
            PgLogFormat::PgAuditLogToFile => "pgauditlogtofile",
        }
    }

    fn log_destination(self) -> &'static str {
        match self {
            PgLogFormat::Stderr | PgLogFormat::PgAuditLogToFile => "stderr",
            PgLogFormat::Csvlog => "csvlog",
            PgLogFormat::Jsonlog => "jsonlog",
        }
    }

    /// Extension of the server log files for this destination.
    pub fn server_log_extension(self) -> &'static str {
        match self {
            PgLogFormat::Stderr | PgLogFormat::PgAuditLogToFile => "log",
            PgLogFormat::Csvlog => "csv",
            PgLogFormat::Jsonlog => "json",
        }
    }
}

impl fmt::Display for PgLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to configure a [`PgInstance`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub log_format: PgLogFormat,
    /// `log_line_prefix`; used by stderr-format logs only (the server ignores it
    /// for csvlog/jsonlog, pgauditlogtofile has its own layout).
    pub log_line_prefix: String,
    /// `log_timezone` (and `timezone`).
    pub log_timezone: String,
    /// Extra `postgresql.conf` lines, appended last (so they win).
    pub extra_conf: Vec<String>,
    /// Server binaries; default `$ONETRAIL_PG_BINDIR` or `/usr/lib/postgresql/15/bin`.
    pub bindir: Option<PathBuf>,
    /// Extension libraries; default `$ONETRAIL_PG_LIBDIR` or `/usr/lib/postgresql/15/lib`.
    pub libdir: Option<PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            log_format: PgLogFormat::Stderr,
            log_line_prefix: DEFAULT_LOG_LINE_PREFIX.to_string(),
            log_timezone: "UTC".to_string(),
            extra_conf: Vec::new(),
            bindir: None,
            libdir: None,
        }
    }
}

impl PgOptions {
    pub fn new(log_format: PgLogFormat) -> Self {
        PgOptions {
            log_format,
            ..PgOptions::default()
        }
    }

    pub fn log_line_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.log_line_prefix = prefix.into();
        self
    }

    pub fn log_timezone(mut self, tz: impl Into<String>) -> Self {
        self.log_timezone = tz.into();
        self
    }

    pub fn conf(mut self, line: impl Into<String>) -> Self {
        self.extra_conf.push(line.into());
        self
    }
}

/// Versions of the server and extensions, as installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgVersions {
    /// `SELECT version()`.
    pub server: String,
    /// `pgaudit` extension version from `pg_available_extensions`.
    pub pgaudit: String,
    /// Debian package versions (`dpkg-query`), when dpkg knows them.
    pub pgaudit_package: Option<String>,
    pub pgauditlogtofile_package: Option<String>,
    /// `pgauditlogtofile` extension version, when available.
    pub pgauditlogtofile: Option<String>,
}

/// A running private PostgreSQL server. Stops and cleans up on drop.
pub struct PgInstance {
    root: Option<tempfile::TempDir>,
    root_path: PathBuf,
    bindir: PathBuf,
    data_dir: PathBuf,
    log_dir: PathBuf,
    audit_dir: PathBuf,
    port: u16,
    options: PgOptions,
    as_postgres_user: bool,
    watchdog: Option<Child>,
    running: bool,
}

impl fmt::Debug for PgInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgInstance")
            .field("root", &self.root_path)
            .field("port", &self.port)
            .field("log_format", &self.options.log_format)
            .finish()
    }
}

impl PgInstance {
    /// Checks the installation, runs `initdb`, configures and starts the server,
    /// and waits until it accepts connections.
    pub fn start(options: PgOptions) -> Result<PgInstance, HarnessError> {
        let from_env = |var: &str, default: &str| {
            PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()))
        };
        let bindir = (options.bindir.clone())
            .unwrap_or_else(|| from_env("ONETRAIL_PG_BINDIR", DEFAULT_BINDIR));
        let libdir = (options.libdir.clone())
            .unwrap_or_else(|| from_env("ONETRAIL_PG_LIBDIR", DEFAULT_LIBDIR));
        check_installation(&bindir, &libdir, options.log_format)?;

        let as_postgres_user = unsafe { libc::geteuid() } == 0;
        let root = tempfile::Builder::new()
            .prefix("onetrail-pg-")
            .tempdir()
            .map_err(|e| err(format!("cannot create temp dir: {e}")))?;
        let root_path = root.path().to_path_buf();
        fs::set_permissions(&root_path, fs::Permissions::from_mode(0o755))
            .map_err(|e| err(format!("chmod {}: {e}", root_path.display())))?;
        let data_dir = root_path.join("data");
        let log_dir = root_path.join("log");
        let audit_dir = root_path.join("audit");
        for d in [&log_dir, &audit_dir] {
            fs::create_dir(d).map_err(|e| err(format!("mkdir {}: {e}", d.display())))?;
        }
        let pwfile = root_path.join("pwfile");
        fs::write(&pwfile, format!("{SUPERUSER_PASSWORD}\n"))
            .map_err(|e| err(format!("write {}: {e}", pwfile.display())))?;
        if as_postgres_user {
            chown_to_postgres(&root_path)?;
        }

        let mut inst = PgInstance {
            root: Some(root),
            root_path: root_path.clone(),
            bindir,
            data_dir: data_dir.clone(),
            log_dir,
            audit_dir,
            port: crate::free_port(),
            options,
            as_postgres_user,
            watchdog: None,
            running: false,
        };
        // Before anything slow, so even a kill during initdb cleans up.
        inst.spawn_watchdog();

        let initdb = inst.pg_command(
            "initdb",
            &[
                "-D",
                path_str(&data_dir)?,
                "-U",
                "postgres",
                "--pwfile",
                path_str(&pwfile)?,
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        run_checked(initdb, "initdb")?;
        let _ = fs::remove_file(&pwfile);

        inst.write_config()?;
        inst.start_server()?;
        Ok(inst)
    }

    fn write_config(&self) -> Result<(), HarnessError> {
        let o = &self.options;
        let libs = if o.log_format == PgLogFormat::PgAuditLogToFile {
            "pgaudit,pgauditlogtofile"
        } else {
            "pgaudit"
        };
        let mut conf = format!(
            "\n# --- onetrail testkit ---\n\
             port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{sock}'\n\
             shared_preload_libraries = '{libs}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             logging_collector = on\n\
             log_destination = '{dest}'\n\
             log_directory = '{logdir}'\n\
             log_file_mode = 0640\n\
             log_rotation_size = 0\n\
             log_rotation_age = 0\n\
             log_line_prefix = '{prefix}'\n\
             log_timezone = '{tz}'\n\
             timezone = '{tz}'\n\
             lc_messages = 'C'\n\
             log_connections = on\n\
             log_disconnections = on\n\
             log_min_error_statement = error\n\
             pgaudit.log = 'all'\n\
             pgaudit.log_catalog = off\n\
             pgaudit.log_relation = on\n\
             pgaudit.log_parameter = on\n\
             pgaudit.log_rows = on\n\
             pgaudit.role = 'auditor'\n",
            port = self.port,
            sock = conf_str(&self.root_path)?,
            dest = o.log_format.log_destination(),
            logdir = conf_str(&self.log_dir)?,
            prefix = o.log_line_prefix.replace('\'', "''"),
            tz = o.log_timezone.replace('\'', "''"),
        );
        if o.log_format == PgLogFormat::PgAuditLogToFile {
            // GUC names of pgauditlogtofile 1.5 (Debian 12): no log_format /
            // log_file_mode yet.
            conf.push_str(&format!(
                "pgaudit.log_directory = '{}'\n\
                 pgaudit.log_filename = 'audit-%Y%m%d_%H%M.log'\n\
                 pgaudit.log_rotation_age = 0\n\
                 pgaudit.log_connections = on\n\
                 pgaudit.log_disconnections = on\n",
                conf_str(&self.audit_dir)?
            ));
        }
        for line in &o.extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        append(&self.data_dir.join("postgresql.conf"), &conf)?;

        // A reject rule first, so one TCP login fails with SQLSTATE 28000.
        let hba_path = self.data_dir.join("pg_hba.conf");
        let hba = fs::read_to_string(&hba_path)
            .map_err(|e| err(format!("read {}: {e}", hba_path.display())))?;
        let hba = format!("host all {HBA_REJECTED_USER} 127.0.0.1/32 reject\n{hba}");
        fs::write(&hba_path, hba).map_err(|e| err(format!("write {}: {e}", hba_path.display())))
    }

    fn start_server(&mut self) -> Result<(), HarnessError> {
        let startup_log = self.root_path.join("startup.log");
        let cmd = self.pg_command(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir)?,
                "-l",
                path_str(&startup_log)?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if let Err(e) = run_checked(cmd, "pg_ctl start") {
            let log = fs::read_to_string(&startup_log).unwrap_or_default();
            let server_log = self.read_server_logs();
            return Err(err(format!(
                "{e}\n--- startup.log ---\n{log}\n--- server log ---\n{server_log}"
            )));
        }
        self.running = true;
        // pg_ctl -w waits for the postmaster; also make sure a TCP connect works.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(err(format!(
                    "server not reachable on 127.0.0.1:{}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// A detached shell that stops the server once this process is gone.
    fn spawn_watchdog(&mut self) {
        let me = std::process::id();
        let keep = std::env::var_os("ONETRAIL_KEEP_PG").is_some();
        let stop = self.shell_command_line(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir.to_string_lossy(),
                "-m",
                "immediate",
                "stop",
            ],
        );
        let cleanup = if keep {
            String::new()
        } else {
            format!(
                "; rm -rf {}",
                shell_quote(&self.root_path.to_string_lossy())
            )
        };
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1{cleanup}"
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        self.watchdog = cmd.spawn().ok();
    }

    /// Stops the server (`pg_ctl -m fast stop`), flushing its logs. Idempotent.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let cmd = self.pg_command(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir)?,
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
        let res = run_checked(cmd, "pg_ctl stop");
        if res.is_err() {
            self.kill_postmaster();
        }
        res
    }

    fn kill_postmaster(&self) {
        if let Ok(s) = fs::read_to_string(self.data_dir.join("postmaster.pid"))
            && let Some(pid) = s.lines().next().and_then(|l| l.trim().parse::<i32>().ok())
            && pid > 0
        {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding the Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.root_path
    }

    /// `log_directory` of the server log.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// `pgaudit.log_directory` (pgauditlogtofile only; empty otherwise).
    pub fn audit_dir(&self) -> &Path {
        &self.audit_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    pub fn log_format(&self) -> PgLogFormat {
        self.options.log_format
    }

    /// Glob matching the files that carry the AUDIT records.
    pub fn audit_glob(&self) -> String {
        match self.options.log_format {
            PgLogFormat::PgAuditLogToFile => format!("{}/*.log", self.audit_dir.display()),
            f => format!("{}/*.{}", self.log_dir.display(), f.server_log_extension()),
        }
    }

    /// Glob matching the server log files (connections, errors).
    pub fn server_log_glob(&self) -> String {
        format!(
            "{}/*.{}",
            self.log_dir.display(),
            self.options.log_format.server_log_extension()
        )
    }

    /// Files written to the server log dir and (pgauditlogtofile) the audit dir, sorted.
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in [&self.log_dir, &self.audit_dir] {
            if let Ok(rd) = fs::read_dir(d) {
                out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
            }
        }
        out.sort();
        out
    }

    /// Concatenated text of all log files (for diagnostics and self-checks).
    pub fn read_server_logs(&self) -> String {
        let mut s = String::new();
        for f in self.log_files() {
            s.push_str(&format!("=== {} ===\n", f.display()));
            s.push_str(&String::from_utf8_lossy(&fs::read(&f).unwrap_or_default()));
        }
        s
    }

    /// A tokio-postgres config for a TCP connection to this server.
    pub fn tcp_config(&self, user: &str, password: &str, dbname: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(self.host())
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(dbname)
            .application_name("onetrail-testkit")
            .connect_timeout(Duration::from_secs(10));
        c
    }

    /// Connects over TCP (scram-sha-256) and spawns the connection task on the
    /// current tokio runtime.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
        dbname: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        connect_with(&self.tcp_config(user, password, dbname)).await
    }

    /// Connects as the superuser `postgres` over TCP.
    pub async fn connect_superuser(
        &self,
        dbname: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.connect("postgres", SUPERUSER_PASSWORD, dbname).await
    }

    /// Connects over the Unix socket (trust auth).
    pub async fn connect_socket(
        &self,
        user: &str,
        dbname: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut c = tokio_postgres::Config::new();
        c.host_path(&self.root_path)
            .port(self.port)
            .user(user)
            .dbname(dbname)
            .application_name("onetrail-testkit");
        connect_with(&c).await
    }

    /// Server and extension versions (for fixture documentation).
    pub async fn versions(&self) -> Result<PgVersions, HarnessError> {
        let c = self.connect_superuser("postgres").await?;
        let server: String = c.query_one("SELECT version()", &[]).await?.get(0);
        let ext = |name: &'static str| {
            let c = &c;
            async move {
                c.query_opt(
                    "SELECT default_version FROM pg_available_extensions WHERE name = $1",
                    &[&name],
                )
                .await
                .map(|r| r.map(|r| r.get::<_, String>(0)))
            }
        };
        let pgaudit = ext("pgaudit").await?.unwrap_or_default();
        let pgauditlogtofile = ext("pgauditlogtofile").await?;
        Ok(PgVersions {
            server,
            pgaudit,
            pgaudit_package: dpkg_version("postgresql-15-pgaudit"),
            pgauditlogtofile_package: dpkg_version("postgresql-15-pgauditlogtofile"),
            pgauditlogtofile,
        })
    }

    /// Builds a command that runs a server binary, as `postgres` when we are root.
    fn pg_command(&self, bin: &str, args: &[&str]) -> Command {
        let exe = self.bindir.join(bin);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args).current_dir(&self.root_path);
        cmd.env("LC_ALL", "C.UTF-8");
        cmd
    }

    fn shell_command_line(&self, bin: &str, args: &[&str]) -> String {
        let exe = self.bindir.join(bin);
        let mut words: Vec<String> = Vec::new();
        if self.as_postgres_user {
            words.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        words.push(exe.to_string_lossy().into_owned());
        words.extend(args.iter().map(|a| a.to_string()));
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        let _ = self.stop();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if std::env::var_os("ONETRAIL_KEEP_PG").is_some()
            && let Some(root) = self.root.take()
        {
            let kept = root.keep();
            eprintln!("onetrail-testkit: kept PostgreSQL dir {}", kept.display());
        }
    }
}

async fn connect_with(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn check_installation(
    bindir: &Path,
    libdir: &Path,
    format: PgLogFormat,
) -> Result<(), HarnessError> {
    for bin in ["initdb", "pg_ctl", "postgres"] {
        if !bindir.join(bin).is_file() {
            return Err(err(format!(
                "PostgreSQL 15 server binaries not found: {} is missing \
                 (install with `apt-get install -y postgresql-15`, or set ONETRAIL_PG_BINDIR)",
                bindir.join(bin).display()
            )));
        }
    }
    let mut needed = vec![("pgaudit", "postgresql-15-pgaudit")];
    if format == PgLogFormat::PgAuditLogToFile {
        needed.push(("pgauditlogtofile", "postgresql-15-pgauditlogtofile"));
    }
    for (lib, pkg) in needed {
        let so = libdir.join(format!("{lib}.so"));
        if !so.is_file() {
            return Err(err(format!(
                "{lib} is not installed ({} is missing): install it with \
                 `apt-get install -y {pkg}` (or set ONETRAIL_PG_LIBDIR)",
                so.display()
            )));
        }
    }
    if unsafe { libc::geteuid() } == 0 {
        let ok = Command::new("id")
            .args(["-u", "postgres"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(err(
                "running as root but there is no `postgres` OS user to run the server as \
                 (it comes with `apt-get install -y postgresql-15`)",
            ));
        }
    }
    Ok(())
}

fn chown_to_postgres(path: &Path) -> Result<(), HarnessError> {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .map_err(|e| err(format!("chown: {e}")))?;
    if !out.status.success() {
        return Err(err(format!(
            "chown -R postgres {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn run_checked(mut cmd: Command, what: &str) -> Result<(), HarnessError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("{what}: cannot run {cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(err(format!(
            "{what} failed ({}): {cmd:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn dpkg_version(pkg: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", pkg])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

fn append(path: &Path, text: &str) -> Result<(), HarnessError> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| err(format!("open {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| err(format!("write {}: {e}", path.display())))
}

fn path_str(p: &Path) -> Result<&str, HarnessError> {
    p.to_str()
        .ok_or_else(|| err(format!("non-UTF-8 path {}", p.display())))
}

fn conf_str(p: &Path) -> Result<String, HarnessError> {
    Ok(path_str(p)?.replace('\'', "''"))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
