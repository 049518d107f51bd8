//! RELP (rsyslog's Reliable Event Logging Protocol), the client side.
//!
//! A frame is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; TXNR counts from 1
//! and wraps after 999 999 999 back to 1. A session starts with `open`
//! (offers `relp_version=0`, `relp_software=onetrail`, `commands=syslog`,
//! LF-separated), each message is one `syslog` command, and the server
//! answers every command with a `rsp` frame of the same TXNR whose data
//! starts with the status: `200 OK` is the acknowledgement. A `serverclose`
//! frame (TXNR 0) announces the server is going away.
//!
//! The sink sends a group's messages pipelined (at most [`WINDOW`] not yet
//! answered) and counts the group as delivered only once every message has
//! its `200`: the checkpoint follows the acknowledgements. Anything else
//! (another status, a `serverclose`, a dropped connection, no answer within
//! the timeout) drops the session and the whole group is sent again on a new
//! one (at least once: a message whose answer was lost arrives twice).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most messages sent and not yet answered (librelp's default window).
pub const WINDOW: usize = 128;

/// Longest wait for an answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest TXNR; the next one is 1.
const MAX_TXNR: u32 = 999_999_999;

/// Largest answer accepted (a `rsp` is a status line and offers).
const MAX_ANSWER: usize = 64 * 1024;

/// Append one frame.
pub fn frame(txnr: u32, command: &str, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{txnr} {command} {}", data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// The TXNR after `t`.
pub fn next_txnr(t: u32) -> u32 {
    if t >= MAX_TXNR { 1 } else { t + 1 }
}

/// A frame the server sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u32,
    pub command: String,
    pub data: Vec<u8>,
}

impl Frame {
    /// The status code of a `rsp` (`200`), if its data starts with one.
    pub fn status(&self) -> Option<u16> {
        let end = self
            .data
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(self.data.len());
        std::str::from_utf8(&self.data[..end]).ok()?.parse().ok()
    }

    /// The first line of the data, for messages.
    pub fn text(&self) -> String {
        let line = self.data.split(|&b| b == b'\n').next().unwrap_or_default();
        String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()
    }
}

/// Parse one frame from the start of `buf`: `Ok(Some((frame, used)))`,
/// `Ok(None)` when more bytes are needed, `Err` when it is not RELP.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    let bad = |why: &str| Err(format!("not a RELP frame ({why})"));
    // Header: three space-separated tokens.
    let mut pos = 0;
    let mut tokens: Vec<&[u8]> = Vec::with_capacity(3);
    while tokens.len() < 3 {
        let rest = &buf[pos..];
        let Some(end) = rest.iter().position(|&b| b == b' ' || b == b'\n') else {
            if rest.len() > 40 {
                return bad("header too long");
            }
            return Ok(None);
        };
        tokens.push(&rest[..end]);
        pos += end;
        if tokens.len() < 3 {
            if rest[end] != b' ' {
                return bad("short header");
            }
            pos += 1;
        }
    }
    let num = |t: &[u8]| -> Option<usize> {
        if t.is_empty() || t.len() > 9 || !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(t).ok()?.parse().ok()
    };
    let Some(txnr) = num(tokens[0]) else {
        return bad("TXNR");
    };
    if tokens[1].is_empty()
        || tokens[1].len() > 32
        || !tokens[1].iter().all(u8::is_ascii_alphabetic)
    {
        return bad("command");
    }
    let Some(len) = num(tokens[2]) else {
        return bad("DATALEN");
    };
    if len > MAX_ANSWER {
        return bad("DATALEN too large");
    }
    // pos is at the byte after DATALEN: SP DATA LF, or LF when len is 0.
    let data_start = if len == 0 { pos } else { pos + 1 };
    let need = data_start + len + 1;
    if buf.len() < need {
        return Ok(None);
    }
    if len > 0 && buf[pos] != b' ' {
        return bad("no space before DATA");
    }
    if buf[need - 1] != b'\n' {
        return bad("no LF after DATA");
    }
    Ok(Some((
        Frame {
            txnr: txnr as u32,
            command: String::from_utf8_lossy(tokens[1]).into_owned(),
            data: buf[data_start..data_start + len].to_vec(),
        },
        need,
    )))
}

/// One RELP session on a connection.
pub struct Session {
    txnr: u32,
    rbuf: Vec<u8>,
}

impl Session {
    /// Send `open` and wait for its `200`.
    pub async fn open<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<Session, String> {
        let mut sess = Session {
            txnr: 0,
            rbuf: Vec::new(),
        };
        let t = sess.take_txnr();
        let mut out = Vec::new();
        frame(
            t,
            "open",
            b"relp_version=0\nrelp_software=onetrail\ncommands=syslog",
            &mut out,
        );
        s.write_all(&out)
            .await
            .map_err(|e| format!("RELP open: {e}"))?;
        s.flush().await.map_err(|e| format!("RELP open: {e}"))?;
        let f = sess.read_frame(s).await?;
        if f.command != "rsp" || f.txnr != t || f.status() != Some(200) {
            return Err(format!(
                "RELP open refused: {} {} {:?}",
                f.txnr,
                f.command,
                f.text()
            ));
        }
        Ok(sess)
    }

    fn take_txnr(&mut self) -> u32 {
        self.txnr = next_txnr(self.txnr);
        self.txnr
    }

    async fn read_frame<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> Result<Frame, String> {
        loop {
            if let Some((f, used)) = parse(&self.rbuf)? {
                self.rbuf.drain(..used);
                return Ok(f);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(ANSWER_TIMEOUT, s.read(&mut chunk))
                .await
                .map_err(|_| format!("no RELP answer within {} s", ANSWER_TIMEOUT.as_secs()))?
                .map_err(|e| format!("reading the RELP answer: {e}"))?;
            if n == 0 {
                return Err("the RELP server closed the connection".into());
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Send every message as a `syslog` command and wait until each is
    /// answered `200`. `sent` counts the bytes written.
    pub async fn send_all<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut S,
        messages: &[Vec<u8>],
        sent: &mut u64,
    ) -> Result<(), String> {
        let mut pending: std::collections::VecDeque<u32> = std::collections::VecDeque::new();
        let mut next = 0;
        let mut out = Vec::new();
        while next < messages.len() || !pending.is_empty() {
            out.clear();
            while next < messages.len() && pending.len() < WINDOW {
                let t = self.take_txnr();
                frame(t, "syslog", &messages[next], &mut out);
                pending.push_back(t);
                next += 1;
            }
            if !out.is_empty() {
                s.write_all(&out)
                    .await
                    .map_err(|e| format!("writing to the RELP server: {e}"))?;
                s.flush()
                    .await
                    .map_err(|e| format!("writing to the RELP server: {e}"))?;
                *sent += out.len() as u64;
            }
            let f = self.read_frame(s).await?;
            match f.command.as_str() {
                "rsp" if pending.front() == Some(&f.txnr) => {
                    if f.status() != Some(200) {
                        return Err(format!(
                            "the RELP server refused message {}: {:?}",
                            f.txnr,
                            f.text()
                        ));
                    }
                    pending.pop_front();
                }
                "serverclose" => return Err("the RELP server is closing the session".into()),
                _ => {
                    return Err(format!(
                        "unexpected RELP frame {} {} (waiting for the answer to {:?})",
                        f.txnr,
                        f.command,
                        pending.front()
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_per_the_relp_grammar() {
        let mut out = Vec::new();
        frame(1, "open", b"relp_version=0", &mut out);
        frame(2, "syslog", b"<166>1 - - - - - - x", &mut out);
        frame(3, "close", b"", &mut out);
        assert_eq!(
            out,
            b"1 open 14 relp_version=0\n2 syslog 20 <166>1 - - - - - - x\n3 close 0\n"
        );
        assert_eq!(next_txnr(999_999_999), 1);
        assert_eq!(next_txnr(7), 8);
    }

    #[test]
    fn parses_answers_whole_or_in_pieces() {
        let msg = b"1 rsp 6 200 OK\n0 serverclose 0\n";
        let (f, used) = parse(msg).unwrap().unwrap();
        assert_eq!(
            f,
            Frame {
                txnr: 1,
                command: "rsp".into(),
                data: b"200 OK".to_vec()
            }
        );
        assert_eq!(f.status(), Some(200));
        let (f2, used2) = parse(&msg[used..]).unwrap().unwrap();
        assert_eq!(
            (f2.txnr, f2.command.as_str(), f2.data.len()),
            (0, "serverclose", 0)
        );
        assert_eq!(used + used2, msg.len());
        for cut in 0..used {
            assert_eq!(parse(&msg[..cut]).unwrap(), None, "{cut}");
        }
        let (f, _) = parse(b"5 rsp 19 500 error\nmore text\n").unwrap().unwrap();
        assert_eq!(f.status(), Some(500));
        assert_eq!(f.text(), "500 error");
    }

    #[test]
    fn garbage_is_an_error_not_a_hang_or_panic() {
        assert!(parse(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(parse(b"1 rsp 6x 200 OK\n").is_err());
        assert!(parse(b"1 rsp 6 200 OKX").is_err());
        assert!(parse(b"1 rsp 99999999 ").is_err());
        assert!(parse(&[b'7'; 100]).is_err());
        assert!(parse(b"1 r\xffp 2 ok\n").is_err());
    }

    /// A server that answers `open` and the first `acked` messages with 200,
    /// then closes: `send_all` must fail (the group is not delivered).
    async fn server(mut io: tokio::io::DuplexStream, acked: usize) {
        let mut buf = Vec::new();
        let mut seen = 0;
        let mut chunk = [0u8; 4096];
        loop {
            while let Ok(Some((f, used))) = parse(&buf) {
                buf.drain(..used);
                if f.command == "syslog" {
                    if seen == acked {
                        return; // drop: connection closed, answers missing
                    }
                    seen += 1;
                }
                let mut out = Vec::new();
                frame(f.txnr, "rsp", b"200 OK", &mut out);
                io.write_all(&out).await.unwrap();
            }
            let n = io.read(&mut chunk).await.unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn delivered_only_when_every_message_is_acknowledged() {
        let msgs: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("<14>1 - - - - - - m{i}").into_bytes())
            .collect();
        for (acked, ok) in [(300, true), (299, false), (0, false), (150, false)] {
            let (mut client, srv) = tokio::io::duplex(1 << 16);
            let h = tokio::spawn(server(srv, acked));
            let mut sess = Session::open(&mut client).await.unwrap();
            let mut sent = 0;
            let r = sess.send_all(&mut client, &msgs, &mut sent).await;
            assert_eq!(r.is_ok(), ok, "{acked} acked: {r:?}");
            assert!(sent > 0);
            drop(client);
            h.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_refusal_or_serverclose_is_not_a_delivery() {
        for answer in [
            &b"2 rsp 9 500 error\n"[..],
            b"0 serverclose 0\n",
            b"7 rsp 6 200 OK\n",
        ] {
            let (mut client, mut srv) = tokio::io::duplex(1 << 16);
            let reply = answer.to_vec();
            let h = tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                let _ = srv.read(&mut chunk).await.unwrap();
                srv.write_all(b"1 rsp 6 200 OK\n").await.unwrap();
                let _ = srv.read(&mut chunk).await.unwrap();
                srv.write_all(&reply).await.unwrap();
                srv
            });
            let mut sess = Session::open(&mut client).await.unwrap();
            let r = sess.send_all(&mut client, &[b"x".to_vec()], &mut 0).await;
            assert!(r.is_err(), "{:?}", String::from_utf8_lossy(answer));
            drop(h.await.unwrap());
        }
    }
}
