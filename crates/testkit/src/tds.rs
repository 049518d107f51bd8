//! A small TDS (SQL Server wire protocol) server that plays
//! `sys.fn_get_audit_file`, for testing the `mssql` source without SQL Server.
//!
//! What it speaks (TDS 7.4, no TLS): PRELOGIN answered with
//! `ENCRYPT_NOT_SUP` (clients must use `encryption: not_supported`), LOGIN7
//! (SQL authentication, credentials checked) answered with
//! LOGINACK/ENVCHANGE/DONE, SQL batches and RPC `sp_executesql` answered with
//! COLMETADATA/ROW/DONE tokens, ATTENTION answered with DONE(ATTN). RPC
//! parameters are decoded (NVARCHAR, INTN, BITN, NULL), so a statement of the
//! shape `SELECT TOP (@P1) * FROM sys.fn_get_audit_file(@P2, @P3, @P4)` gets
//! the real function's resume semantics:
//!
//! - `initial_file_name` NULL → from the oldest file; otherwise from that file,
//!   and an error (33224, "pattern did not return any files") when it no longer
//!   exists (rolled over);
//! - `audit_record_offset` → rows of the buffers *after* that offset only
//!   ("the first record of the buffer immediately following the specified
//!   offset");
//! - then every later file, oldest first; `TOP` limits the rows.
//!
//! Audit rows come from fixture files (a JSON array of objects, one per row,
//! keyed by column name; the same files `onetrail parse --format
//! mssql-audit-json` reads). The column set served is the union of the
//! fixture rows' keys, in the documented column order, with each column's
//! real SQL type (datetime2, int, smallint, bigint, bit, varchar, nvarchar,
//! varbinary, uniqueidentifier). Files can be appended to, rolled over (oldest
//! dropped), and the server stopped and restarted on the same port.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One audit row: column name → value (as in the fixture files).
pub type AuditRow = Map<String, Value>;

/// One flushed audit buffer: rows sharing an `audit_file_offset`.
#[derive(Debug, Clone)]
pub struct Buffer {
    pub offset: i64,
    pub rows: Vec<AuditRow>,
}

/// One `.sqlaudit` file.
#[derive(Debug, Clone)]
pub struct AuditFile {
    pub name: String,
    pub buffers: Vec<Buffer>,
}

/// The audit trail the double serves: files oldest first.
#[derive(Debug, Clone, Default)]
pub struct AuditStore {
    pub files: Vec<AuditFile>,
}

/// A `fn_get_audit_file` call the double answered (or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCall {
    pub pattern: Option<String>,
    pub initial_file_name: Option<String>,
    pub audit_record_offset: Option<i64>,
    pub top: Option<i64>,
    /// Rows returned, or `None` when the call failed.
    pub rows: Option<usize>,
}

impl AuditStore {
    /// Load rows from a fixture file (JSON array of row objects). Rows are
    /// grouped into files and buffers by their `file_name` and
    /// `audit_file_offset`, in file order.
    pub fn from_fixture(path: &Path) -> io::Result<AuditStore> {
        let text = std::fs::read_to_string(path)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let rows = match v {
            Value::Array(a) => a
                .into_iter()
                .filter_map(|r| match r {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "expected an array",
                ));
            }
        };
        Ok(AuditStore::from_rows(rows))
    }

    /// Group rows (in order) into files and buffers.
    pub fn from_rows(rows: Vec<AuditRow>) -> AuditStore {
        let mut s = AuditStore::default();
        for r in rows {
            let file = r
                .get("file_name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let off = r
                .get("audit_file_offset")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            s.push_row(&file, off, r);
        }
        s
    }

    fn push_row(&mut self, file: &str, offset: i64, row: AuditRow) {
        if self.files.last().is_none_or(|f| f.name != file) {
            self.files.push(AuditFile {
                name: file.to_string(),
                buffers: Vec::new(),
            });
        }
        let f = self.files.last_mut().expect("just pushed");
        if f.buffers.last().is_none_or(|b| b.offset != offset) {
            f.buffers.push(Buffer {
                offset,
                rows: Vec::new(),
            });
        }
        f.buffers.last_mut().expect("just pushed").rows.push(row);
    }

    /// Append one buffer to `file` (created as the newest file if new). The
    /// rows' `file_name` and `audit_file_offset` are set; the offset is the
    /// next multiple of 4096 after the file's last buffer. Returns the offset.
    pub fn append_buffer(&mut self, file: &str, rows: Vec<AuditRow>) -> i64 {
        let next = self
            .files
            .iter()
            .find(|f| f.name == file)
            .and_then(|f| f.buffers.last())
            .map_or(4096, |b| (b.offset / 4096 + 1) * 4096);
        if !self.files.iter().any(|f| f.name == file) {
            self.files.push(AuditFile {
                name: file.to_string(),
                buffers: Vec::new(),
            });
        }
        let f = self
            .files
            .iter_mut()
            .find(|f| f.name == file)
            .expect("exists");
        let rows = rows
            .into_iter()
            .map(|mut r| {
                r.insert("file_name".into(), file.into());
                r.insert("audit_file_offset".into(), next.into());
                r
            })
            .collect();
        f.buffers.push(Buffer { offset: next, rows });
        next
    }

    /// Delete the `n` oldest files (MAX_ROLLOVER_FILES at work). Returns their names.
    pub fn drop_oldest(&mut self, n: usize) -> Vec<String> {
        let n = n.min(self.files.len());
        self.files.drain(..n).map(|f| f.name).collect()
    }

    /// Every row, in file order.
    pub fn rows(&self) -> impl Iterator<Item = &AuditRow> {
        self.files
            .iter()
            .flat_map(|f| f.buffers.iter().flat_map(|b| b.rows.iter()))
    }

    /// What `fn_get_audit_file(pattern, initial, offset)` returns, limited to `top` rows.
    pub fn read(
        &self,
        initial: Option<&str>,
        offset: Option<i64>,
        top: Option<i64>,
    ) -> Result<Vec<&AuditRow>, String> {
        let start = match initial {
            None => 0,
            Some(f) => self.files.iter().position(|x| x.name == f).ok_or_else(|| {
                "The specified pattern did not return any files or does not represent a valid file share. Verify the pattern parameter and rerun the command.".to_string()
            })?,
        };
        let limit = top.map_or(usize::MAX, |t| t.max(0) as usize);
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate().skip(start) {
            for b in &f.buffers {
                if i == start && initial.is_some() && offset.is_some_and(|o| b.offset <= o) {
                    continue;
                }
                for r in &b.rows {
                    if out.len() >= limit {
                        return Ok(out);
                    }
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

struct Shared {
    store: Mutex<AuditStore>,
    calls: Mutex<Vec<AuditCall>>,
    logins: AtomicUsize,
    connections: AtomicUsize,
    refusing: std::sync::atomic::AtomicBool,
    user: String,
    password: String,
}

/// The running double.
pub struct TdsDouble {
    shared: Arc<Shared>,
    port: u16,
    task: Option<JoinHandle<()>>,
}

impl TdsDouble {
    /// Start on a free port of 127.0.0.1, accepting `user`/`password`.
    pub async fn start(store: AuditStore, user: &str, password: &str) -> io::Result<TdsDouble> {
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            calls: Mutex::new(Vec::new()),
            logins: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            refusing: std::sync::atomic::AtomicBool::new(false),
            user: user.to_string(),
            password: password.to_string(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut d = TdsDouble {
            shared,
            port,
            task: None,
        };
        d.serve(listener);
        Ok(d)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn serve(&mut self, listener: TcpListener) {
        let shared = self.shared.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => {
                        let Ok((sock, _)) = acc else { continue };
                        shared.connections.fetch_add(1, Ordering::SeqCst);
                        let sh = shared.clone();
                        conns.spawn(async move {
                            let _ = serve_conn(sock, sh).await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        }));
    }

    /// Stop listening and drop every connection (the port is closed).
    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listen again on the same port, with the same store.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        let mut last = None;
        for _ in 0..100 {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => {
                    self.serve(l);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot rebind")))
    }

    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// The audit trail, to append to or roll over.
    pub fn store(&self) -> MutexGuard<'_, AuditStore> {
        self.shared.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every `fn_get_audit_file` call so far.
    pub fn calls(&self) -> Vec<AuditCall> {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// While refusing, every connection is accepted (and counted) and closed
    /// at once, like a server that is down or restarting.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        self.shared.logins.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TdsDouble {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------- packets

const PKT_SQL_BATCH: u8 = 0x01;
const PKT_RPC: u8 = 0x03;
const PKT_REPLY: u8 = 0x04;
const PKT_ATTENTION: u8 = 0x06;
const PKT_LOGIN7: u8 = 0x10;
const PKT_PRELOGIN: u8 = 0x12;
const PACKET_SIZE: usize = 4096;
/// Latin1_General_CI_AS.
const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Read one message (packets until end-of-message): `(type, payload)`.
async fn read_message(sock: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; 8];
        sock.read_exact(&mut h).await?;
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if len < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad packet length",
            ));
        }
        let mut body = vec![0u8; len - 8];
        sock.read_exact(&mut body).await?;
        payload.extend_from_slice(&body);
        if h[1] & 0x01 != 0 {
            return Ok((h[0], payload));
        }
    }
}

/// Write a reply message split into packets of at most [`PACKET_SIZE`].
async fn write_message(sock: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let chunk = PACKET_SIZE - 8;
    let mut out = Vec::with_capacity(payload.len() + payload.len() / chunk * 8 + 8);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(chunk).collect()
    };
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        out.push(PKT_REPLY);
        out.push(if i + 1 == n { 0x01 } else { 0x00 });
        out.extend_from_slice(&((p.len() + 8) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.push((i + 1) as u8);
        out.push(0);
        out.extend_from_slice(p);
    }
    sock.write_all(&out).await?;
    sock.flush().await
}

async fn serve_conn(mut sock: TcpStream, sh: Arc<Shared>) -> io::Result<()> {
    let _ = sock.set_nodelay(true);
    if sh.refusing.load(Ordering::SeqCst) {
        return Ok(());
    }
    let mut logged_in = false;
    loop {
        let (ty, msg) = read_message(&mut sock).await?;
        match ty {
            PKT_PRELOGIN => write_message(&mut sock, &prelogin_reply()).await?,
            PKT_LOGIN7 => {
                let (user, pw) = decode_login7(&msg)?;
                if user == sh.user && pw == sh.password {
                    logged_in = true;
                    sh.logins.fetch_add(1, Ordering::SeqCst);
                    write_message(&mut sock, &login_reply()).await?;
                } else {
                    let mut t = Vec::new();
                    error_token(
                        &mut t,
                        18456,
                        14,
                        &format!("Login failed for user '{user}'."),
                    );
                    done(&mut t, 0xFD, 0x0002, 0, 0);
                    write_message(&mut sock, &t).await?;
                    return Ok(());
                }
            }
            PKT_ATTENTION => {
                let mut t = Vec::new();
                done(&mut t, 0xFD, 0x0020, 0, 0);
                write_message(&mut sock, &t).await?;
            }
            PKT_SQL_BATCH | PKT_RPC if logged_in => {
                let reply = if ty == PKT_RPC {
                    answer_rpc(&msg, &sh)
                } else {
                    answer_batch(&msg)
                };
                write_message(&mut sock, &reply).await?;
            }
            _ => return Ok(()),
        }
    }
}

fn prelogin_reply() -> Vec<u8> {
    // (token, data): VERSION, ENCRYPTION = NOT_SUP, INSTOPT, THREADID (empty), MARS.
    let opts: [(u8, &[u8]); 5] = [
        (0x00, &[16, 0, 0x03, 0xE8, 0, 0]),
        (0x01, &[0x02]),
        (0x02, &[0x00]),
        (0x03, &[]),
        (0x04, &[0x00]),
    ];
    let mut head = Vec::new();
    let mut data = Vec::new();
    let base = opts.len() * 5 + 1;
    for (tok, d) in opts {
        head.push(tok);
        head.extend_from_slice(&((base + data.len()) as u16).to_be_bytes());
        head.extend_from_slice(&(d.len() as u16).to_be_bytes());
        data.extend_from_slice(d);
    }
    head.push(0xFF);
    head.extend_from_slice(&data);
    head
}

fn ucs2(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

fn decode_login7(p: &[u8]) -> io::Result<(String, String)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short LOGIN7");
    let field = |at: usize| -> io::Result<&[u8]> {
        let off = u16::from_le_bytes([*p.get(at).ok_or_else(bad)?, *p.get(at + 1).ok_or_else(bad)?])
            as usize;
        let cch = u16::from_le_bytes([
            *p.get(at + 2).ok_or_else(bad)?,
            *p.get(at + 3).ok_or_else(bad)?,
        ]) as usize;
        p.get(off..off + cch * 2).ok_or_else(bad)
    };
    let user = ucs2(field(40)?);
    let pw: Vec<u8> = field(44)?
        .iter()
        .map(|b| {
            let x = b ^ 0xA5;
            x.rotate_left(4)
        })
        .collect();
    Ok((user, ucs2(&pw)))
}

fn b_varchar(out: &mut Vec<u8>, s: &str) {
    let u: Vec<u16> = s.encode_utf16().collect();
    out.push(u.len() as u8);
    for c in u {
        out.extend_from_slice(&c.to_le_bytes());
    }
}

fn us_varchar(out: &mut Vec<u8>, s: &str) {
    let u: Vec<u16> = s.encode_utf16().collect();
    out.extend_from_slice(&(u.len() as u16).to_le_bytes());
    for c in u {
        out.extend_from_slice(&c.to_le_bytes());
    }
}

fn with_len16(out: &mut Vec<u8>, body: Vec<u8>) {
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
}

fn env_change(out: &mut Vec<u8>, ty: u8, new: &str, old: &str) {
    out.push(0xE3);
    let mut b = vec![ty];
    b_varchar(&mut b, new);
    b_varchar(&mut b, old);
    with_len16(out, b);
}

fn done(out: &mut Vec<u8>, token: u8, status: u16, cmd: u16, rows: u64) {
    out.push(token);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&cmd.to_le_bytes());
    out.extend_from_slice(&rows.to_le_bytes());
}

fn error_token(out: &mut Vec<u8>, number: i32, class: u8, msg: &str) {
    out.push(0xAA);
    let mut b = Vec::new();
    b.extend_from_slice(&number.to_le_bytes());
    b.push(1); // state
    b.push(class);
    us_varchar(&mut b, msg);
    b_varchar(&mut b, "tds-double");
    b_varchar(&mut b, "");
    b.extend_from_slice(&1i32.to_le_bytes());
    with_len16(out, b);
}

fn login_reply() -> Vec<u8> {
    let mut t = Vec::new();
    // LOGINACK
    t.push(0xAD);
    let mut b = vec![0x01];
    b.extend_from_slice(&0x7400_0004u32.to_be_bytes());
    b_varchar(&mut b, "Microsoft SQL Server");
    b.extend_from_slice(&[16, 0, 0x03, 0xE8]);
    with_len16(&mut t, b);
    env_change(&mut t, 1, "master", "");
    // Collation: B_VARBYTE new (5 bytes), old (empty).
    t.push(0xE3);
    let mut c = vec![7, 5];
    c.extend_from_slice(&COLLATION);
    c.push(0);
    with_len16(&mut t, c);
    env_change(
        &mut t,
        4,
        &PACKET_SIZE.to_string(),
        &PACKET_SIZE.to_string(),
    );
    done(&mut t, 0xFD, 0, 0, 0);
    t
}

// ---------------------------------------------------------------- requests

/// An RPC/batch parameter value as decoded.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Null,
    Int(i64),
    Text(String),
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn skip_all_headers(&mut self) -> Option<()> {
        let total = self.u32()? as usize;
        self.take(total.checked_sub(4)?)?;
        Some(())
    }
    fn param_value(&mut self) -> Option<Param> {
        let ty = self.u8()?;
        Some(match ty {
            0x1F => Param::Null,
            0x26 => {
                let _size = self.u8()?;
                let len = self.u8()? as usize;
                let v = self.take(len)?;
                match len {
                    0 => Param::Null,
                    1 => Param::Int(v[0] as i64),
                    2 => Param::Int(i16::from_le_bytes([v[0], v[1]]) as i64),
                    4 => Param::Int(i32::from_le_bytes(v.try_into().ok()?) as i64),
                    8 => Param::Int(i64::from_le_bytes(v.try_into().ok()?)),
                    _ => return None,
                }
            }
            0x68 => {
                let _ = self.u8()?;
                match self.u8()? {
                    0 => Param::Null,
                    _ => Param::Int(self.u8()? as i64),
                }
            }
            0xE7 => {
                let max = self.u16()?;
                self.take(5)?;
                if max == 0xFFFF {
                    // PLP: total length, then chunks until a zero chunk.
                    let total = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
                    if total == u64::MAX {
                        return Some(Param::Null);
                    }
                    let mut data = Vec::new();
                    loop {
                        let n = self.u32()? as usize;
                        if n == 0 {
                            break;
                        }
                        data.extend_from_slice(self.take(n)?);
                    }
                    Param::Text(ucs2(&data))
                } else {
                    let len = self.u16()?;
                    if len == 0xFFFF {
                        Param::Null
                    } else {
                        Param::Text(ucs2(self.take(len as usize)?))
                    }
                }
            }
            _ => return None,
        })
    }
}

/// Decode an RPC request: procedure name/id and named parameters.
fn decode_rpc(msg: &[u8]) -> Option<(String, Vec<(String, Param)>)> {
    let mut r = Reader { b: msg, at: 0 };
    r.skip_all_headers()?;
    let n = r.u16()?;
    let proc_name = if n == 0xFFFF {
        match r.u16()? {
            10 => "sp_executesql".to_string(),
            id => format!("proc#{id}"),
        }
    } else {
        ucs2(r.take(n as usize * 2)?)
    };
    r.u16()?; // option flags
    let mut params = Vec::new();
    while r.at < msg.len() {
        let cch = r.u8()? as usize;
        let name = ucs2(r.take(cch * 2)?);
        r.u8()?; // status flags
        params.push((name, r.param_value()?));
    }
    Some((proc_name, params))
}

fn answer_batch(msg: &[u8]) -> Vec<u8> {
    let mut r = Reader { b: msg, at: 0 };
    let _sql = r
        .skip_all_headers()
        .map(|_| ucs2(&msg[r.at..]))
        .unwrap_or_default();
    let mut t = Vec::new();
    done(&mut t, 0xFD, 0, 0, 0);
    t
}

/// `@Pn` references in the statement: (TOP, pattern, initial file, offset).
fn audit_call_shape(stmt: &str) -> Option<[Option<String>; 4]> {
    let lower = stmt.to_ascii_lowercase();
    let f = lower.find("fn_get_audit_file")?;
    let open = f + lower[f..].find('(')?;
    let close = open + lower[open..].find(')')?;
    let args: Vec<Option<String>> = stmt[open + 1..close]
        .split(',')
        .map(|a| {
            let a = a.trim();
            a.starts_with('@').then(|| a.to_string())
        })
        .collect();
    if args.len() != 3 {
        return None;
    }
    let top = lower.find("top").and_then(|t| {
        let rest = &stmt[t + 3..];
        let at = rest.find('@')?;
        let name: String = rest[at..]
            .chars()
            .take_while(|c| *c == '@' || c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        Some(name)
    });
    Some([top, args[0].clone(), args[1].clone(), args[2].clone()])
}

fn answer_rpc(msg: &[u8], sh: &Shared) -> Vec<u8> {
    let mut t = Vec::new();
    let Some((_proc, params)) = decode_rpc(msg) else {
        error_token(
            &mut t,
            8009,
            16,
            "tds-double: cannot decode the RPC request",
        );
        done(&mut t, 0xFE, 0x0002, 0, 0);
        return t;
    };
    let stmt = params
        .iter()
        .find(|(n, _)| n == "stmt" || n == "@stmt")
        .and_then(|(_, v)| match v {
            Param::Text(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let lookup = |name: &Option<String>| -> Param {
        name.as_ref()
            .and_then(|n| params.iter().find(|(p, _)| p == n))
            .map_or(Param::Null, |(_, v)| v.clone())
    };
    let text = |p: Param| match p {
        Param::Text(s) => Some(s),
        _ => None,
    };
    let int = |p: Param| match p {
        Param::Int(i) => Some(i),
        _ => None,
    };
    let Some(shape) = audit_call_shape(&stmt) else {
        done(&mut t, 0xFF, 0, 0xC1, 0);
        t.push(0x79);
        t.extend_from_slice(&0i32.to_le_bytes());
        done(&mut t, 0xFE, 0, 0xE0, 0);
        return t;
    };
    let top = int(lookup(&shape[0]));
    let pattern = text(lookup(&shape[1]));
    let initial = text(lookup(&shape[2]));
    let offset = int(lookup(&shape[3]));
    let store = sh.store.lock().unwrap_or_else(|p| p.into_inner());
    let result = store.read(initial.as_deref(), offset, top);
    let mut call = AuditCall {
        pattern,
        initial_file_name: initial,
        audit_record_offset: offset,
        top,
        rows: None,
    };
    match result {
        Ok(rows) => {
            call.rows = Some(rows.len());
            let cols = columns_of(store.rows());
            encode_result(&mut t, &cols, &rows);
            done(&mut t, 0xFF, 0x0010, 0xC1, rows.len() as u64);
            t.push(0x79);
            t.extend_from_slice(&0i32.to_le_bytes());
            done(&mut t, 0xFE, 0, 0xE0, 0);
        }
        Err(e) => {
            error_token(&mut t, 33224, 16, &e);
            done(&mut t, 0xFE, 0x0002, 0xE0, 0);
        }
    }
    drop(store);
    sh.calls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(call);
    t
}

// ---------------------------------------------------------------- result sets

/// SQL type of a `fn_get_audit_file` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    DateTime2,
    Int(u8),
    Bit,
    VarChar(u16),
    NVarChar(u16),
    VarBinary(u16),
    Guid,
}

/// Documented columns in documented order, with their types.
const COLUMN_TYPES: &[(&str, ColType)] = &[
    ("event_time", ColType::DateTime2),
    ("sequence_number", ColType::Int(4)),
    ("action_id", ColType::VarChar(4)),
    ("succeeded", ColType::Bit),
    ("permission_bitmask", ColType::VarBinary(16)),
    ("is_column_permission", ColType::Bit),
    ("session_id", ColType::Int(2)),
    ("server_principal_id", ColType::Int(4)),
    ("database_principal_id", ColType::Int(4)),
    ("target_server_principal_id", ColType::Int(4)),
    ("target_database_principal_id", ColType::Int(4)),
    ("object_id", ColType::Int(4)),
    ("class_type", ColType::VarChar(2)),
    ("session_server_principal_name", ColType::NVarChar(128)),
    ("server_principal_name", ColType::NVarChar(128)),
    ("server_principal_sid", ColType::VarBinary(85)),
    ("database_principal_name", ColType::NVarChar(128)),
    ("target_server_principal_name", ColType::NVarChar(128)),
    ("target_server_principal_sid", ColType::VarBinary(85)),
    ("target_database_principal_name", ColType::NVarChar(128)),
    ("server_instance_name", ColType::NVarChar(128)),
    ("database_name", ColType::NVarChar(128)),
    ("schema_name", ColType::NVarChar(128)),
    ("object_name", ColType::NVarChar(128)),
    ("statement", ColType::NVarChar(4000)),
    ("additional_information", ColType::NVarChar(4000)),
    ("file_name", ColType::VarChar(260)),
    ("audit_file_offset", ColType::Int(8)),
    ("user_defined_event_id", ColType::Int(2)),
    ("user_defined_information", ColType::NVarChar(4000)),
    ("audit_schema_version", ColType::Int(4)),
    ("sequence_group_id", ColType::VarBinary(85)),
    ("transaction_id", ColType::Int(8)),
    ("client_ip", ColType::NVarChar(128)),
    ("application_name", ColType::NVarChar(128)),
    ("duration_milliseconds", ColType::Int(8)),
    ("response_rows", ColType::Int(8)),
    ("affected_rows", ColType::Int(8)),
    ("connection_id", ColType::Guid),
    ("data_sensitivity_information", ColType::NVarChar(4000)),
    ("host_name", ColType::NVarChar(128)),
    ("session_context", ColType::NVarChar(4000)),
    ("client_tls_version", ColType::Int(8)),
    ("client_tls_version_name", ColType::NVarChar(128)),
    ("database_transaction_id", ColType::Int(8)),
    ("ledger_start_sequence_number", ColType::Int(8)),
    (
        "external_policy_permissions_checked",
        ColType::NVarChar(4000),
    ),
    ("obo_middle_tier_app_id", ColType::VarChar(120)),
    ("is_local_secondary_replica", ColType::Bit),
];

/// The columns served: documented columns present in any row (documented
/// order), then unknown keys as nvarchar(4000).
fn columns_of<'a>(rows: impl Iterator<Item = &'a AuditRow>) -> Vec<(String, ColType)> {
    let mut present: BTreeMap<String, ()> = BTreeMap::new();
    for r in rows {
        for k in r.keys() {
            present.insert(k.clone(), ());
        }
    }
    let mut cols: Vec<(String, ColType)> = COLUMN_TYPES
        .iter()
        .filter(|(n, _)| present.contains_key(*n))
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
    for k in present.keys() {
        if !COLUMN_TYPES.iter().any(|(n, _)| n == k) {
            cols.push((k.clone(), ColType::NVarChar(4000)));
        }
    }
    cols
}

fn encode_result(t: &mut Vec<u8>, cols: &[(String, ColType)], rows: &[&AuditRow]) {
    t.push(0x81);
    t.extend_from_slice(&(cols.len() as u16).to_le_bytes());
    for (name, ty) in cols {
        t.extend_from_slice(&0u32.to_le_bytes()); // user type
        t.extend_from_slice(&0x0001u16.to_le_bytes()); // nullable
        match ty {
            ColType::DateTime2 => t.extend_from_slice(&[0x2A, 7]),
            ColType::Int(n) => t.extend_from_slice(&[0x26, *n]),
            ColType::Bit => t.extend_from_slice(&[0x68, 1]),
            ColType::VarChar(n) => {
                t.push(0xA7);
                t.extend_from_slice(&n.to_le_bytes());
                t.extend_from_slice(&COLLATION);
            }
            ColType::NVarChar(n) => {
                t.push(0xE7);
                t.extend_from_slice(&(n * 2).to_le_bytes());
                t.extend_from_slice(&COLLATION);
            }
            ColType::VarBinary(n) => {
                t.push(0xA5);
                t.extend_from_slice(&n.to_le_bytes());
            }
            ColType::Guid => t.extend_from_slice(&[0x24, 16]),
        }
        b_varchar(t, name);
    }
    for r in rows {
        t.push(0xD1);
        for (name, ty) in cols {
            encode_value(t, *ty, r.get(name).unwrap_or(&Value::Null));
        }
    }
}

fn encode_value(t: &mut Vec<u8>, ty: ColType, v: &Value) {
    let text = match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        other => Some(other.to_string()),
    };
    match ty {
        ColType::DateTime2 => match text.as_deref().and_then(datetime2) {
            Some((days, ticks)) => {
                t.push(8);
                t.extend_from_slice(&ticks.to_le_bytes()[..5]);
                t.extend_from_slice(&days.to_le_bytes()[..3]);
            }
            None => t.push(0),
        },
        ColType::Int(n) => match text.as_deref().and_then(|s| s.trim().parse::<i64>().ok()) {
            Some(i) => {
                t.push(n);
                t.extend_from_slice(&i.to_le_bytes()[..n as usize]);
            }
            None => t.push(0),
        },
        ColType::Bit => {
            let b = match v {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => n.as_i64().map(|i| i != 0),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" => Some(true),
                    "0" | "false" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            match b {
                Some(b) => t.extend_from_slice(&[1, b as u8]),
                None => t.push(0),
            }
        }
        ColType::VarChar(max) => match text {
            Some(s) => {
                let bytes: Vec<u8> = s
                    .chars()
                    .map(|c| {
                        if (c as u32) < 256 {
                            c as u32 as u8
                        } else {
                            b'?'
                        }
                    })
                    .take(max as usize)
                    .collect();
                t.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                t.extend_from_slice(&bytes);
            }
            None => t.extend_from_slice(&0xFFFFu16.to_le_bytes()),
        },
        ColType::NVarChar(max) => match text {
            Some(s) => {
                let units: Vec<u16> = s.encode_utf16().take(max as usize).collect();
                t.extend_from_slice(&((units.len() * 2) as u16).to_le_bytes());
                for u in units {
                    t.extend_from_slice(&u.to_le_bytes());
                }
            }
            None => t.extend_from_slice(&0xFFFFu16.to_le_bytes()),
        },
        ColType::VarBinary(max) => match text.as_deref().and_then(unhex) {
            Some(mut b) => {
                b.truncate(max as usize);
                t.extend_from_slice(&(b.len() as u16).to_le_bytes());
                t.extend_from_slice(&b);
            }
            None => t.extend_from_slice(&0xFFFFu16.to_le_bytes()),
        },
        ColType::Guid => match text.as_deref().and_then(guid_bytes) {
            Some(b) => {
                t.push(16);
                t.extend_from_slice(&b);
            }
            None => t.push(0),
        },
    }
}

/// `0x0105…` or `0105…` → bytes.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// `FBB762BA-B0C5-4D09-9349-4A408C909199` → the wire's mixed-endian bytes.
fn guid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let b = unhex(&hex)?;
    if b.len() != 16 {
        return None;
    }
    let mut o = [0u8; 16];
    o[0..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    o[4..6].copy_from_slice(&[b[5], b[4]]);
    o[6..8].copy_from_slice(&[b[7], b[6]]);
    o[8..16].copy_from_slice(&b[8..16]);
    Some(o)
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.fffffff]` → (days since 0001-01-01, 100 ns ticks since midnight).
fn datetime2(s: &str) -> Option<(u32, u64)> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let h: u64 = t.next()?.parse().ok()?;
    let mi: u64 = t.next()?.parse().ok()?;
    let sec: u64 = t.next()?.parse().ok()?;
    let mut f = frac.chars().take(7).collect::<String>();
    while f.len() < 7 {
        f.push('0');
    }
    let f: u64 = f.parse().ok()?;
    // Days from civil (proleptic Gregorian), relative to 0001-01-01.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days_from_0000_03_01 = era * 146_097 + doe;
    // 0001-01-01 is 306 days after 0000-03-01.
    let days = days_from_0000_03_01 - 306;
    Some((
        u32::try_from(days).ok()?,
        ((h * 60 + mi) * 60 + sec) * 10_000_000 + f,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime2_days() {
        assert_eq!(datetime2("0001-01-01 00:00:00"), Some((0, 0)));
        // 2024-05-01 is day 739_006 since 0001-01-01.
        assert_eq!(
            datetime2("2024-05-01 00:00:01.5").unwrap(),
            (739_006, 15_000_000)
        );
    }

    #[test]
    fn reads_resume_after_the_given_buffer() {
        let mut s = AuditStore::default();
        let row = |i: i64| {
            let mut m = Map::new();
            m.insert("sequence_number".into(), i.into());
            m
        };
        s.append_buffer("a", vec![row(1), row(2)]);
        s.append_buffer("a", vec![row(3)]);
        s.append_buffer("b", vec![row(4)]);
        assert_eq!(s.read(None, None, None).unwrap().len(), 4);
        assert_eq!(s.read(Some("a"), Some(4096), None).unwrap().len(), 2);
        assert_eq!(s.read(Some("a"), Some(8192), None).unwrap().len(), 1);
        assert_eq!(s.read(Some("a"), None, Some(3)).unwrap().len(), 3);
        assert!(s.read(Some("zz"), None, None).is_err());
        assert_eq!(s.drop_oldest(1), vec!["a"]);
        assert!(s.read(Some("a"), Some(4096), None).is_err());
    }
}
