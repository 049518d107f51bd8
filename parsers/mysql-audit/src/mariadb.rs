//! MariaDB Audit Plugin (`server_audit`) — file output, syslog output, and the
//! AWS RDS / Aurora MySQL variants.
//!
//! # Line anatomy
//! ```text
//! <timestamp>,<serverhost>,<user>,<host>,<connid>,<queryid>,<OP>,<db>,<object>,<retcode>[,<conn type>...]
//! <syslog header> <serverhost>,<user>,<host>,<connid>,<queryid>,<OP>,<db>,<object>,<retcode>
//! ```
//! The header is located by its *anchor*: the first `,<digits>,<digits>,<OP>,`
//! run (OP = upper-case letters and `_`). Everything before it is
//! `timestamp,serverhost,user,host` (file) or `syslog-header serverhost,user,host`
//! (syslog: only one comma before the host). When the first comma-separated field
//! parses as a timestamp the prefix is split from the left (so a user name may
//! contain commas); otherwise it is split from the right (so a custom
//! `server_audit_timestamp_format` may contain commas and spaces).
//! After the anchor: `db` (up to the next comma), then the object and the retcode
//! split from the right; a `'quoted'` object (QUERY) ends at the first unescaped
//! quote followed by `,<digits>` and at most two short trailing fields (the RDS
//! `connection_type`, `,0,SOCKET` / `,0,,`).
//!
//! # Framing and TABLE events
//! TABLE events (READ/WRITE/CREATE/ALTER/DROP/RENAME) are written *before* the
//! QUERY line of their statement, with the same connection and query id. A
//! record is the contiguous run of such lines plus the QUERY line that closes
//! it. The run's tables become the `objects` of the QUERY event.
//! * While the run is the last thing in the buffer, `frame` waits with
//!   `Flush::No` (the QUERY line is written when the statement *ends*).
//!   `Flush::Quiet` and `Flush::Final` return the run on its own: the plugin
//!   checks the file size before each line it writes, so a rotation can put
//!   the QUERY line into the next file, and a run waiting at the end of a
//!   rotated file would otherwise never be delivered. The price: a statement
//!   that runs longer than the runtime's quiet period, with nothing else
//!   written meanwhile, gets its TABLE lines as standalone events.
//! * When another line (another session) interrupts the run, the run is its
//!   own record; `parse` holds it back (`held_since`) keyed by (connection,
//!   query id) and merges it into the QUERY event when that arrives. A held run
//!   is released as standalone table events (one per line) when its connection
//!   disconnects or starts another table run, when more than
//!   [`MAX_PENDING`] runs are held, or on `release_held`.

use std::collections::{HashMap, VecDeque};

use onetrail_event::{Category, DbObject, Engine, Event, Flush, Outcome, RecordFormat, RecordPos};
use serde_json::Value;

use crate::MysqlOptions;
use crate::classify::{classify_statement, contains_ci, looks_cut};
use crate::common::{self, Clock, MAX_RECORD, TimeNote, lossy, opt, trim_eol};
use crate::time;

const ENGINE: Engine = Engine::Mariadb;
/// Runs held back waiting for their QUERY line.
pub const MAX_PENDING: usize = 256;
/// Lines in one framed table run.
const MAX_RUN_LINES: usize = 4096;
/// Connections tracked for query-id gap detection.
const MAX_TRACKED_CONNECTIONS: usize = 65_536;
/// MariaDB's default `server_audit_query_log_limit`.
pub const DEFAULT_QUERY_LOG_LIMIT: usize = 1024;

pub struct MariadbServerAudit {
    opts: MysqlOptions,
    clock: Clock,
    query_log_limit: usize,
    last_qid: HashMap<u64, u64>,
    pending: VecDeque<Pending>,
}

struct Pending {
    conn: u64,
    qid: u64,
    offset: u64,
    events: Vec<Event>,
    objects: Vec<DbObject>,
    ops: Vec<Value>,
}

impl MariadbServerAudit {
    pub fn new(opts: &MysqlOptions) -> Self {
        MariadbServerAudit {
            opts: opts.clone(),
            clock: Clock::default(),
            query_log_limit: DEFAULT_QUERY_LOG_LIMIT,
            last_qid: HashMap::new(),
            pending: VecDeque::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// Line parsing (zero-copy)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Connect,
    FailedConnect,
    Disconnect,
    ChangeUser,
    ProxyConnect,
    Query,
    Table(TableOp),
    AuditConfig,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableOp {
    Read,
    Write,
    Create,
    Alter,
    Drop,
    Rename,
}

impl TableOp {
    fn as_str(self) -> &'static str {
        match self {
            TableOp::Read => "READ",
            TableOp::Write => "WRITE",
            TableOp::Create => "CREATE",
            TableOp::Alter => "ALTER",
            TableOp::Drop => "DROP",
            TableOp::Rename => "RENAME",
        }
    }
}

fn op_of(b: &[u8]) -> Op {
    match b {
        b"CONNECT" => Op::Connect,
        b"FAILED_CONNECT" => Op::FailedConnect,
        b"DISCONNECT" => Op::Disconnect,
        b"CHANGEUSER" => Op::ChangeUser,
        b"PROXY_CONNECT" => Op::ProxyConnect,
        b"QUERY" => Op::Query,
        b"READ" => Op::Table(TableOp::Read),
        b"WRITE" => Op::Table(TableOp::Write),
        b"CREATE" => Op::Table(TableOp::Create),
        b"ALTER" => Op::Table(TableOp::Alter),
        b"DROP" => Op::Table(TableOp::Drop),
        b"RENAME" => Op::Table(TableOp::Rename),
        b"AUDIT_CONFIG" => Op::AuditConfig,
        _ if b.starts_with(b"QUERY_") => Op::Query,
        _ => Op::Other,
    }
}

/// Position of the header anchor `,<conn>,<qid>,<OP>,`.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// Index of the comma before the connection id.
    start: usize,
    conn: u64,
    qid: u64,
    op_start: usize,
    /// Index of the comma after OP.
    op_end: usize,
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

fn find_anchor(line: &[u8]) -> Option<Anchor> {
    let mut from = 0;
    for _ in 0..64 {
        let c0 = from + memchr::memchr(b',', &line[from..])?;
        from = c0 + 1;
        let c1 = memchr::memchr(b',', &line[c0 + 1..]).map(|p| c0 + 1 + p)?;
        let Some(conn) = parse_u64(&line[c0 + 1..c1]) else {
            continue;
        };
        let c2 = memchr::memchr(b',', &line[c1 + 1..]).map(|p| c1 + 1 + p)?;
        let Some(qid) = parse_u64(&line[c1 + 1..c2]) else {
            continue;
        };
        let c3 = memchr::memchr(b',', &line[c2 + 1..]).map(|p| c2 + 1 + p)?;
        let op = &line[c2 + 1..c3];
        if op.len() >= 2 && op.iter().all(|c| c.is_ascii_uppercase() || *c == b'_') {
            return Some(Anchor {
                start: c0,
                conn,
                qid,
                op_start: c2 + 1,
                op_end: c3,
            });
        }
    }
    None
}

#[derive(Debug)]
enum Object<'a> {
    Plain(&'a [u8]),
    /// Inner text of a `'...'` object (still escaped); `terminated` is false
    /// when no closing quote was found.
    Quoted {
        inner: &'a [u8],
        terminated: bool,
    },
}

#[derive(Debug, Default)]
struct SyslogHdr<'a> {
    time: Option<&'a [u8]>,
    rfc3164: Option<(u32, u32, u32, u32, u32)>,
    host: &'a [u8],
    ident: &'a [u8],
    info: &'a [u8],
    unparsed: Option<&'a [u8]>,
}

#[derive(Debug)]
struct Line<'a> {
    ts: &'a [u8],
    syslog: Option<SyslogHdr<'a>>,
    serverhost: &'a [u8],
    user: &'a [u8],
    host: &'a [u8],
    conn: u64,
    qid: u64,
    op_raw: &'a [u8],
    op: Op,
    db: &'a [u8],
    object: Object<'a>,
    retcode: &'a [u8],
    conn_type: &'a [u8],
}

fn is_conn_type(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 32
        && b.iter().any(u8::is_ascii_alphabetic)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b' ' | b'.'))
}

/// After a closing quote: `,<retcode>` plus at most two trailing short fields.
fn quoted_tail(t: &[u8]) -> Option<(&[u8], &[u8])> {
    let t = t.strip_prefix(b",")?;
    let mut it = t.split(|c| *c == b',');
    let rc = it.next()?;
    parse_u64(rc)?;
    let mut conn_type: &[u8] = b"";
    for (n, f) in it.enumerate() {
        if n >= 2 || !(f.is_empty() || is_conn_type(f)) {
            return None;
        }
        if conn_type.is_empty() {
            conn_type = f;
        }
    }
    Some((rc, conn_type))
}

fn rsplit_comma(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let p = memchr::memrchr(b',', b)?;
    Some((&b[..p], &b[p + 1..]))
}

/// Split `object,retcode[,trailing]` from the right for unquoted objects.
fn plain_tail(after: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (a, last) = rsplit_comma(after)?;
    if is_conn_type(last) && parse_u64(last).is_none() {
        let (obj, rc) = rsplit_comma(a)?;
        parse_u64(rc)?;
        return Some((obj, rc, last));
    }
    if last.is_empty() {
        if let Some((b, second)) = rsplit_comma(a)
            && second.is_empty()
            && let Some((obj, third)) = rsplit_comma(b)
            && parse_u64(third).is_some()
        {
            return Some((obj, third, b""));
        }
        return Some((a, last, b""));
    }
    parse_u64(last)?;
    Some((a, last, b""))
}

fn parse_syslog_header(h: &[u8]) -> SyslogHdr<'_> {
    let mut out = SyslogHdr::default();
    let mut rest = h.trim_ascii();
    // optional <PRI>
    if rest.first() == Some(&b'<')
        && let Some(p) = memchr::memchr(b'>', rest)
        && p <= 4
    {
        rest = &rest[p + 1..];
    }
    if let Some((mo, d, hh, mi, ss, n)) = time::parse_rfc3164(rest) {
        out.rfc3164 = Some((mo, d, hh, mi, ss));
        rest = rest[n..].trim_ascii_start();
    } else {
        let sp = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        if time::parse(&rest[..sp]).is_some() {
            out.time = Some(&rest[..sp]);
            rest = rest[sp..].trim_ascii_start();
        } else {
            out.unparsed = Some(h);
            return out;
        }
    }
    let sp = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    out.host = &rest[..sp];
    rest = rest[sp..].trim_ascii_start();
    match memchr::memchr(b':', rest) {
        Some(c) => {
            out.ident = &rest[..c];
            out.info = rest[c + 1..].trim_ascii();
        }
        None => out.ident = rest,
    }
    out
}

fn looks_like_syslog(line: &[u8]) -> bool {
    let mut l = line;
    if l.first() == Some(&b'<')
        && let Some(p) = memchr::memchr(b'>', l)
        && p <= 4
    {
        l = &l[p + 1..];
    }
    if time::parse_rfc3164(l).is_some() {
        return true;
    }
    let sp = memchr::memchr(b' ', l).unwrap_or(l.len());
    sp >= 19 && time::parse(&l[..sp]).is_some()
}

fn parse_line(line: &[u8]) -> Result<Line<'_>, &'static str> {
    let a = find_anchor(line).ok_or("no `,connid,queryid,OPERATION,` header found")?;
    let prefix = &line[..a.start];
    let hc = memchr::memrchr(b',', prefix).ok_or("missing user/host fields")?;
    let host = &prefix[hc + 1..];
    let q = &prefix[..hc];
    let first = memchr::memchr(b',', q).ok_or("missing server host/user fields")?;
    let (ts, syslog, serverhost, user);
    let commas = memchr::memchr_iter(b',', q).take(2).count();
    if commas == 1 {
        // syslog: "<header> serverhost,user"
        let a_part = q[..first].trim_ascii_end();
        user = &q[first + 1..];
        let sp = memchr::memrchr(b' ', a_part).ok_or("syslog line without server host")?;
        serverhost = &a_part[sp + 1..];
        let hdr = parse_syslog_header(&a_part[..sp]);
        ts = hdr.time.unwrap_or(b"");
        syslog = Some(hdr);
    } else if time::parse(&q[..first]).is_some() {
        ts = &q[..first];
        let rest = &q[first + 1..];
        let c = memchr::memchr(b',', rest).ok_or("missing user field")?;
        serverhost = &rest[..c];
        user = &rest[c + 1..];
        syslog = None;
    } else {
        let (r, u) = rsplit_comma(q).ok_or("missing user field")?;
        let (t, s) = rsplit_comma(r).ok_or("missing server host field")?;
        ts = t;
        serverhost = s;
        user = u;
        syslog = None;
    }
    let op_raw = &line[a.op_start..a.op_end];
    let after_op = &line[a.op_end + 1..];
    let dbc = memchr::memchr(b',', after_op).ok_or("missing object/retcode fields")?;
    let db = &after_op[..dbc];
    let after = &after_op[dbc + 1..];

    let (object, retcode, conn_type) = if after.first() == Some(&b'\'') {
        let mut i = 1;
        let mut found = None;
        while let Some(p) = memchr::memchr2(b'\\', b'\'', &after[i..]) {
            let j = i + p;
            if after[j] == b'\\' {
                i = j + 2;
                if i > after.len() {
                    break;
                }
                continue;
            }
            if let Some((rc, ct)) = quoted_tail(&after[j + 1..]) {
                found = Some((j, rc, ct));
                break;
            }
            i = j + 1;
        }
        match found {
            Some((j, rc, ct)) => (
                Object::Quoted {
                    inner: &after[1..j],
                    terminated: true,
                },
                rc,
                ct,
            ),
            None => {
                let (obj, rc, ct) =
                    plain_tail(after).ok_or("unterminated quoted object without retcode")?;
                (
                    Object::Quoted {
                        inner: &obj[1..],
                        terminated: false,
                    },
                    rc,
                    ct,
                )
            }
        }
    } else {
        let (obj, rc, ct) = plain_tail(after).ok_or("retcode field is not a number")?;
        (Object::Plain(obj), rc, ct)
    };
    Ok(Line {
        ts,
        syslog,
        serverhost,
        user,
        host,
        conn: a.conn,
        qid: a.qid,
        op_raw,
        op: op_of(op_raw),
        db,
        object,
        retcode,
        conn_type,
    })
}

/// Undo server_audit's escaping (`\'`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`);
/// unknown escapes are kept verbatim.
fn unescape(inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\\', &inner[i..]) {
        out.extend_from_slice(&inner[i..i + p]);
        let j = i + p;
        match inner.get(j + 1) {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'b') => out.push(0x08),
            Some(b'f') => out.push(0x0c),
            Some(&c @ (b'\'' | b'\\' | b'"')) => out.push(c),
            Some(&c) => {
                out.push(b'\\');
                out.push(c);
            }
            None => {
                out.push(b'\\');
                i = j + 1;
                break;
            }
        }
        i = j + 2;
    }
    if i < inner.len() {
        out.extend_from_slice(&inner[i..]);
    }
    out
}

/// Does the text end inside a UTF-8 sequence (cut mid-character)?
fn ends_mid_utf8(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(_) => false,
        Err(e) => e.error_len().is_none(),
    }
}

fn table_objects(db: &[u8], object: &[u8]) -> Vec<DbObject> {
    let mk = |schema: &[u8], name: &[u8]| DbObject {
        kind: Some("table".to_string()),
        schema: opt(schema),
        name: opt(name),
    };
    // RENAME: `old|newdb.new`
    if let Some(bar) = memchr::memchr(b'|', object) {
        let old = &object[..bar];
        let new = &object[bar + 1..];
        let (nschema, nname) = match memchr::memchr(b'.', new) {
            Some(d) => (&new[..d], &new[d + 1..]),
            None => (db, new),
        };
        return vec![mk(db, old), mk(nschema, nname)];
    }
    vec![mk(db, object)]
}

/// `host`, `host:port`, `host:unavailable`, IPv4/IPv6 literal.
fn set_host(ev: &mut Event, host: &[u8]) {
    let Ok(h) = std::str::from_utf8(host) else {
        ev.client.host = opt(host);
        return;
    };
    if h.is_empty() {
        return;
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        ev.client.ip = Some(h.to_string());
        return;
    }
    if let Some((name, port)) = h.rsplit_once(':') {
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if port == "unavailable" {
            common::set_client_addr(&mut ev.client, name);
            return;
        }
        if let Ok(p) = port.parse::<u16>()
            && (!name.contains(':') || name.parse::<std::net::Ipv6Addr>().is_ok())
        {
            common::set_client_addr(&mut ev.client, name);
            ev.client.port = Some(p);
            return;
        }
    }
    common::set_client_addr(&mut ev.client, h);
}

/// `SET GLOBAL server_audit_query_log_limit = N` / `= DEFAULT`.
fn learned_limit(sql: &[u8]) -> Option<usize> {
    const VAR: &[u8] = b"server_audit_query_log_limit";
    if !contains_ci(sql, VAR) {
        return None;
    }
    let lower = sql.to_ascii_lowercase();
    let p = memchr::memmem::find(&lower, VAR)? + VAR.len();
    let rest = lower[p..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    if rest.starts_with(b"default") {
        return Some(DEFAULT_QUERY_LOG_LIMIT);
    }
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Event building
// ---------------------------------------------------------------------------

impl MariadbServerAudit {
    fn line_time(&mut self, l: &Line<'_>) -> (chrono::DateTime<chrono::Utc>, TimeNote) {
        if let Some(h) = &l.syslog
            && let Some(parts) = h.rfc3164
        {
            let year = self.clock.year().unwrap_or(1970);
            return match time::from_rfc3164(year, parts) {
                Some(t) => (t, TimeNote::YearAssumed),
                None => self.clock.fallback(),
            };
        }
        self.clock.resolve(l.ts, false)
    }

    fn base_event(&mut self, l: &Line<'_>, pos: &RecordPos<'_>, index: u32) -> Event {
        let (t, note) = self.line_time(l);
        let mut ev = Event::new(ENGINE, t, pos, index);
        note.apply(&mut ev.extra, l.ts);
        ev.db_user = opt(l.user);
        ev.database = opt(l.db);
        set_host(&mut ev, l.host);
        ev.session.id = Some(l.conn.to_string());
        if l.qid != 0 {
            ev.session.statement_id = i64::try_from(l.qid).ok();
        }
        let x = &mut ev.extra;
        x.insert("audit_operation".into(), Value::from(lossy(l.op_raw)));
        if !l.serverhost.is_empty() {
            x.insert("server_host".into(), Value::from(lossy(l.serverhost)));
        }
        if !l.conn_type.is_empty() {
            x.insert("connection_type".into(), Value::from(lossy(l.conn_type)));
        }
        if let Some(h) = &l.syslog {
            if let Some(u) = h.unparsed {
                x.insert("syslog_header".into(), Value::from(lossy(u)));
            } else {
                if !h.host.is_empty() {
                    x.insert("syslog_host".into(), Value::from(lossy(h.host)));
                }
                if !h.ident.is_empty() {
                    x.insert("syslog_ident".into(), Value::from(lossy(h.ident)));
                }
                if !h.info.is_empty() {
                    x.insert("syslog_info".into(), Value::from(lossy(h.info)));
                }
            }
        }
        ev
    }

    fn retcode(l: &Line<'_>) -> Option<i64> {
        parse_u64(l.retcode).and_then(|v| i64::try_from(v).ok())
    }

    fn build_query(&mut self, l: &Line<'_>, pos: &RecordPos<'_>, index: u32) -> Event {
        let mut ev = self.base_event(l, pos, index);
        let (inner, terminated) = match l.object {
            Object::Quoted { inner, terminated } => (inner, terminated),
            Object::Plain(p) => (p, true),
        };
        let text = unescape(inner);
        let rc = Self::retcode(l);
        let sql = String::from_utf8_lossy(&text);
        let (cat, action) = classify_statement(&sql);
        ev.category = cat;
        ev.action = action;
        if let Some(rc) = rc {
            common::set_status(&mut ev, rc);
        }
        // truncation heuristic (see docs/schema.md)
        // The plugin escapes into a buffer of `query_log_limit` bytes and stops
        // when the next (escaped) character does not fit, so a cut statement
        // has an escaped length of `limit` or, when an escape pair did not
        // fit, `limit - 1`.
        let cut_lexically = looks_cut(&text);
        let rule = if !terminated {
            Some("unterminated_quote")
        } else if inner.len() == self.query_log_limit
            || (inner.len() + 1 == self.query_log_limit && cut_lexically)
        {
            Some("length_at_limit")
        } else if ends_mid_utf8(&text) {
            Some("cut_utf8")
        } else if rc == Some(0) && cut_lexically {
            Some("unbalanced_at_end")
        } else {
            None
        };
        if let Some(rule) = rule {
            ev.extra.insert("truncated".into(), Value::from(true));
            ev.extra.insert("truncation_rule".into(), Value::from(rule));
        } else if rc == Some(0)
            && cat == Category::AuditConfig
            && let Some(n) = learned_limit(&text)
        {
            self.query_log_limit = n;
        }
        // query id gaps within a connection
        if l.qid != 0 {
            match self.last_qid.get(&l.conn).copied() {
                Some(last) if l.qid > last + 1 => {
                    ev.extra
                        .insert("query_id_gap".into(), Value::from(l.qid - last - 1));
                    self.last_qid.insert(l.conn, l.qid);
                }
                Some(last) if l.qid <= last => {
                    ev.extra
                        .insert("query_id_out_of_order".into(), Value::from(true));
                }
                _ => {
                    if self.last_qid.len() >= MAX_TRACKED_CONNECTIONS {
                        self.last_qid.clear();
                    }
                    self.last_qid.insert(l.conn, l.qid);
                }
            }
        }
        ev.statement = Some(match String::from_utf8(text) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        });
        ev
    }

    fn build_single(&mut self, l: &Line<'_>, pos: &RecordPos<'_>, index: u32) -> Event {
        if l.op == Op::Query {
            return self.build_query(l, pos, index);
        }
        let mut ev = self.base_event(l, pos, index);
        let rc = Self::retcode(l);
        let object = match l.object {
            Object::Plain(p) => p,
            Object::Quoted { inner, .. } => inner,
        };
        match l.op {
            Op::Connect | Op::FailedConnect => {
                ev.category = Category::Auth;
                let failed = l.op == Op::FailedConnect || rc.is_some_and(|r| r != 0);
                ev.action = if failed { "LOGIN FAILED" } else { "LOGIN" }.to_string();
                match rc {
                    Some(r) if failed && r == 0 => ev.outcome = Outcome::Failure,
                    Some(r) => common::set_status(&mut ev, r),
                    None if failed => ev.outcome = Outcome::Failure,
                    None => {}
                }
                if !object.is_empty() {
                    ev.extra
                        .insert("tls_version".into(), Value::from(lossy(object)));
                }
            }
            Op::Disconnect | Op::ChangeUser | Op::ProxyConnect => {
                ev.category = Category::Auth;
                ev.action = match l.op {
                    Op::Disconnect => "LOGOUT",
                    Op::ChangeUser => "CHANGE USER",
                    _ => "PROXY LOGIN",
                }
                .to_string();
                if let Some(r) = rc {
                    common::set_status(&mut ev, r);
                }
                if !object.is_empty() {
                    let key = if l.op == Op::ProxyConnect {
                        "proxy_user"
                    } else {
                        "tls_version"
                    };
                    ev.extra.insert(key.into(), Value::from(lossy(object)));
                }
            }
            Op::Table(t) => {
                ev.category = match t {
                    TableOp::Read => Category::Read,
                    TableOp::Write => Category::Dml,
                    _ => Category::Ddl,
                };
                ev.action = t.as_str().to_string();
                ev.objects = table_objects(l.db, object);
                ev.extra.insert(
                    "table_ops".into(),
                    Value::Array(vec![Value::from(t.as_str()); ev.objects.len()]),
                );
            }
            Op::AuditConfig => {
                ev.category = Category::AuditConfig;
                ev.action = "AUDIT_CONFIG".to_string();
                if let Some(r) = rc {
                    common::set_status(&mut ev, r);
                }
                ev.extra
                    .insert("audit_setting".into(), Value::from(lossy(object)));
                if let Some(v) = object.strip_prefix(b"query_log_limit=")
                    && let Some(n) = parse_u64(v)
                {
                    self.query_log_limit = usize::try_from(n).unwrap_or(DEFAULT_QUERY_LOG_LIMIT);
                }
            }
            Op::Query => unreachable!("handled above"),
            Op::Other => {
                ev.category = Category::Other;
                ev.action = lossy(l.op_raw);
                if let Some(r) = rc {
                    common::set_status(&mut ev, r);
                }
                if !object.is_empty() {
                    ev.extra.insert("object".into(), Value::from(lossy(object)));
                }
            }
        }
        ev
    }

    fn release_where(&mut self, out: &mut Vec<Event>, pred: impl Fn(&Pending) -> bool) {
        if !self.pending.iter().any(&pred) {
            return;
        }
        let mut keep = VecDeque::with_capacity(self.pending.len());
        for p in self.pending.drain(..) {
            if pred(&p) {
                out.extend(p.events);
            } else {
                keep.push_back(p);
            }
        }
        self.pending = keep;
    }

    fn take_pending(&mut self, conn: u64, qid: u64) -> Option<Pending> {
        let i = self
            .pending
            .iter()
            .position(|p| p.conn == conn && p.qid == qid)?;
        self.pending.remove(i)
    }

    fn handle_non_audit(
        &mut self,
        line: &[u8],
        pos: &RecordPos<'_>,
        why: &str,
        out: &mut Vec<Event>,
    ) {
        if line.trim_ascii().is_empty() {
            return; // blank line: nothing to report
        }
        if looks_like_syslog(line) {
            if self.opts.forward_other {
                out.push(common::other_line(ENGINE, &self.clock, pos, line));
            }
            return;
        }
        out.push(common::unparsed(ENGINE, &self.clock, pos, line, why));
    }
}

// ---------------------------------------------------------------------------
// RecordFormat
// ---------------------------------------------------------------------------

fn table_key(line: &[u8]) -> Option<(u64, u64, Op)> {
    let a = find_anchor(line)?;
    Some((a.conn, a.qid, op_of(&line[a.op_start..a.op_end])))
}

impl RecordFormat for MariadbServerAudit {
    fn name(&self) -> &'static str {
        "mariadb-server-audit"
    }

    fn frame(&mut self, buf: &[u8], flush: Flush) -> Option<usize> {
        let first_len = common::frame_line(buf, flush)?;
        let first = trim_eol(&buf[..first_len]);
        let Some((conn, qid, Op::Table(_))) = table_key(first) else {
            return Some(first_len);
        };
        if first_len == buf.len() && buf.last() != Some(&b'\n') {
            return Some(first_len); // Final, partial last line
        }
        let mut end = first_len;
        let mut lines = 1;
        loop {
            let rest = &buf[end..];
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                // run is the last complete thing in the buffer (see module docs)
                return match flush {
                    Flush::Final | Flush::Quiet => Some(end),
                    Flush::No if end > MAX_RECORD => Some(end),
                    Flush::No => None,
                };
            };
            let next = trim_eol(&rest[..nl + 1]);
            match table_key(next) {
                Some((c, q, Op::Table(_))) if c == conn && q == qid && lines < MAX_RUN_LINES => {
                    end += nl + 1;
                    lines += 1;
                }
                Some((c, q, Op::Query)) if c == conn && q == qid => return Some(end + nl + 1),
                _ => return Some(end),
            }
        }
    }

    fn parse(&mut self, record: &[u8], pos: &RecordPos<'_>, out: &mut Vec<Event>) {
        let mut index: u32 = 0;
        let mut run: Option<Pending> = None;
        let mut line_off = 0usize;
        for raw in record.split_inclusive(|c| *c == b'\n') {
            let line_pos_offset = pos.offset + line_off as u64;
            line_off += raw.len();
            let line = trim_eol(raw);
            let l = match parse_line(line) {
                Ok(l) => l,
                Err(why) => {
                    let p = RecordPos {
                        offset: line_pos_offset,
                        ..*pos
                    };
                    self.handle_non_audit(line, &p, why, out);
                    if line_pos_offset == pos.offset {
                        // That event's id is (record offset, 0), like the
                        // record's first event: the next event takes index 1.
                        index += 1;
                    }
                    continue;
                }
            };
            match l.op {
                Op::Table(t) => {
                    if run.is_none() {
                        // a new run on this connection: earlier held runs of the
                        // same connection will not get their QUERY any more
                        let (conn, qid) = (l.conn, l.qid);
                        self.release_where(out, |p| p.conn == conn && p.qid != qid);
                        run = Some(self.take_pending(l.conn, l.qid).unwrap_or(Pending {
                            conn: l.conn,
                            qid: l.qid,
                            offset: pos.offset,
                            events: Vec::new(),
                            objects: Vec::new(),
                            ops: Vec::new(),
                        }));
                    }
                    let ev = self.build_single(&l, pos, index);
                    index += 1;
                    let r = run.as_mut().expect("set above");
                    let object = match l.object {
                        Object::Plain(p) => p,
                        Object::Quoted { inner, .. } => inner,
                    };
                    for o in table_objects(l.db, object) {
                        let op = Value::from(t.as_str());
                        let dup = r
                            .objects
                            .iter()
                            .zip(r.ops.iter())
                            .any(|(eo, eop)| *eo == o && *eop == op);
                        if !dup {
                            r.objects.push(o);
                            r.ops.push(op);
                        }
                    }
                    r.events.push(ev);
                }
                Op::Query => {
                    let mut held = self.take_pending(l.conn, l.qid);
                    if let Some(r) = run.take() {
                        if r.conn == l.conn && r.qid == l.qid {
                            match &mut held {
                                Some(h) => {
                                    h.objects.extend(r.objects);
                                    h.ops.extend(r.ops);
                                }
                                None => held = Some(r),
                            }
                        } else {
                            self.hold(r, out);
                        }
                    }
                    let mut ev = self.build_query(&l, pos, index);
                    index += 1;
                    if let Some(h) = held
                        && !h.objects.is_empty()
                    {
                        ev.objects = h.objects;
                        ev.extra.insert("table_ops".into(), Value::Array(h.ops));
                    }
                    out.push(ev);
                }
                _ => {
                    if let Some(r) = run.take() {
                        self.hold(r, out);
                    }
                    if l.op == Op::Disconnect {
                        let conn = l.conn;
                        self.release_where(out, |p| p.conn == conn);
                        self.last_qid.remove(&conn);
                    }
                    let ev = self.build_single(&l, pos, index);
                    index += 1;
                    out.push(ev);
                }
            }
        }
        if let Some(r) = run.take() {
            self.hold(r, out);
        }
    }

    fn held_since(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.offset).min()
    }

    fn release_held(&mut self, out: &mut Vec<Event>) {
        for p in self.pending.drain(..) {
            out.extend(p.events);
        }
    }
}

impl MariadbServerAudit {
    fn hold(&mut self, r: Pending, out: &mut Vec<Event>) {
        self.pending.push_back(r);
        while self.pending.len() > MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                out.extend(old.events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_tails() {
        let l =
            parse_line(b"20201130 23:08:34,db1,root,localhost,7,12,QUERY,test,'select 1,\\n2',0")
                .unwrap();
        assert_eq!((l.conn, l.qid, l.op), (7, 12, Op::Query));
        assert_eq!(l.ts, b"20201130 23:08:34");
        assert!(matches!(
            l.object,
            Object::Quoted {
                inner: b"select 1,\\n2",
                terminated: true
            }
        ));
        let l = parse_line(b"TIME,HOSTNAME,root,localhost,7,8,CONNECT,mysql,,0,SOCKET").unwrap();
        assert_eq!(l.conn_type, b"SOCKET");
        assert_eq!(l.ts, b"TIME");
        let l = parse_line(b"TIME,HOSTNAME,root,localhost,7,8,QUERY,,'x',1231,,").unwrap();
        assert_eq!(l.retcode, b"1231");
        let l =
            parse_line(b"CUSTOM-DATE 2024,01,01,srv,root,localhost,7,8,WRITE,test,t1,").unwrap();
        assert_eq!(l.ts, b"CUSTOM-DATE 2024,01,01");
        assert_eq!(l.serverhost, b"srv");
        assert!(matches!(l.object, Object::Plain(b"t1")));
        let l = parse_line(b"20201130 23:08:34,srv,us,er1,localhost,7,8,CONNECT,test,,0").unwrap();
        assert_eq!(l.user, b"us,er1");
        let l = parse_line(
            b"Nov 26 06:10:00 web1 mysql-server_auditing:  db1,root,localhost,7,8,QUERY,test,'select 1',0",
        )
        .unwrap();
        assert_eq!(l.serverhost, b"db1");
        assert_eq!(l.syslog.as_ref().unwrap().host, b"web1");
    }

    fn pos(offset: u64) -> RecordPos<'static> {
        RecordPos {
            source_key: "k",
            path: None,
            offset,
            format: "mariadb-server-audit",
        }
    }

    /// A rotation between a statement's TABLE lines and its QUERY line: the
    /// old file ends with the run and never grows again. A quiet flush must
    /// deliver the run (standalone), not wait for a QUERY line that is in the
    /// next file.
    #[test]
    fn trailing_table_run_is_delivered_on_quiet_flush() {
        let old_file: &[u8] = b"20240501 09:00:00,db1,app,10.0.0.1,7,0,CONNECT,shop,,0\n\
20240501 09:00:01,db1,app,10.0.0.1,7,12,WRITE,shop,orders,\n\
20240501 09:00:01,db1,app,10.0.0.1,7,12,READ,mysql,table_stats,\n";
        let mut f = MariadbServerAudit::new(&MysqlOptions::default());
        let mut out = Vec::new();
        let n = f.frame(old_file, Flush::No).unwrap();
        f.parse(&old_file[..n], &pos(0), &mut out);
        assert_eq!(out.len(), 1, "the CONNECT line");
        let rest = &old_file[n..];
        assert_eq!(f.frame(rest, Flush::No), None, "more lines may follow");
        let m = f
            .frame(rest, Flush::Quiet)
            .expect("quiet: the run is complete");
        assert_eq!(m, rest.len());
        f.parse(rest, &pos(n as u64), &mut out);
        assert_eq!(f.held_since(), Some(n as u64));
        f.release_held(&mut out);
        assert_eq!(f.held_since(), None);
        let actions: Vec<&str> = out.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["LOGIN", "WRITE", "READ"]);
        assert_eq!(out[1].objects[0].name.as_deref(), Some("orders"));
        assert_eq!(out[1].session.statement_id, Some(12));

        // The next file starts with the QUERY line: an event of its own.
        let new_file: &[u8] =
            b"20240501 09:00:01,db1,app,10.0.0.1,7,12,QUERY,shop,'INSERT INTO orders VALUES (1)',0\n";
        let mut g = MariadbServerAudit::new(&MysqlOptions::default());
        let mut out = Vec::new();
        let n = g.frame(new_file, Flush::No).unwrap();
        g.parse(&new_file[..n], &pos(0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].action, "INSERT");
        assert!(out[0].objects.is_empty());
    }

    /// Without a quiet period, a run and its QUERY line read in two steps are
    /// still merged.
    #[test]
    fn run_split_across_reads_is_merged() {
        let run: &[u8] = b"20240501 09:00:01,db1,app,10.0.0.1,7,12,WRITE,shop,orders,\n";
        let all = [
            run,
            b"20240501 09:00:01,db1,app,10.0.0.1,7,12,QUERY,shop,'INSERT INTO orders VALUES (1)',0\n",
        ]
        .concat();
        let mut f = MariadbServerAudit::new(&MysqlOptions::default());
        assert_eq!(f.frame(run, Flush::No), None);
        let n = f.frame(&all, Flush::No).unwrap();
        assert_eq!(n, all.len());
        let mut out = Vec::new();
        f.parse(&all, &pos(0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].objects[0].name.as_deref(), Some("orders"));
        assert_eq!(out[0].extra["table_ops"], serde_json::json!(["WRITE"]));
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(br"a\'b\\c\nd\x"), b"a'b\\c\nd\\x".to_vec());
    }

    #[test]
    fn limits() {
        assert_eq!(
            learned_limit(b"set global server_audit_query_log_limit= 15"),
            Some(15)
        );
        assert_eq!(
            learned_limit(b"SET GLOBAL server_audit_query_log_limit=DEFAULT"),
            Some(1024)
        );
        assert_eq!(learned_limit(b"set global server_audit_logging=on"), None);
    }
}
