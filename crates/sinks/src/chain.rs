//! Tamper-evident hash chain over a sink's output (`chain: true` on a file sink).
//!
//! Every encoded event (in the sink's `encoding`, always a JSON object) gets
//! a top-level key `chain: {seq, prev, hash}`:
//!
//! - `seq`: 1, 2, 3, … per sink, continuing across restarts and file rotations;
//! - `prev`: the `hash` of the event before it (64 `0`s for seq 1);
//! - `hash`: lowercase hex SHA-256 of
//!   `"onetrail-chain-v1\n" + seq (decimal) + "\n" + prev + "\n" + canonical(event)`,
//!   where `canonical(event)` is the encoded object **without** its `chain`
//!   key, as compact JSON with object keys sorted (by their UTF-8 bytes) at every
//!   level, strings escaped as serde_json does and numbers as serde_json prints them.
//!
//! Deleting, altering, inserting or reordering lines breaks the chain at the
//! first such line, which `onetrail verify` reports. The chain proves the
//! *order and content* of what is in the file; deleting events at the very end
//! is visible only against the state file (`verify --state`) or a later copy,
//! and a chain can be re-forged by anyone who rewrites every following line,
//! so ship the file (or its last hash) off the host promptly (PCI DSS 10.3.3).
//!
//! State: the sink file's own last line is authoritative (it survives any
//! crash that the file survives); `<data_dir>/chain/<sink>.json` carries the
//! chain over to a new file after rotation. It is rewritten (temp + rename)
//! after every delivered group.
//!
//! One chain per file, whoever writes: the agent and `onetrail import` may
//! append to the same chained file. Each writer holds an exclusive lock on
//! the file (`flock`) while it appends, and before encoding it takes up the
//! chain from the file's last line ([`Chain::resume_from`]), so both writers
//! extend one chain and share one state file.

use std::fs::{self, File};
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use onetrail_event::Event;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::Encoding;

/// `prev` of the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a chain stands: the last link written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    pub seq: u64,
    pub hash: String,
}

impl Default for ChainState {
    fn default() -> Self {
        ChainState {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// Append the canonical encoding of `v` to `out` (sorted keys, compact).
pub fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("strings serialize");
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("scalars serialize"),
    }
}

/// The `hash` of a link.
pub fn link_hash(seq: u64, prev: &str, canonical_event: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"onetrail-chain-v1\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical_event);
    let d = h.finalize();
    let mut s = String::with_capacity(64);
    for b in d {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The chain of one sink.
#[derive(Debug)]
pub struct Chain {
    state_path: PathBuf,
    state: ChainState,
    scratch: Vec<u8>,
}

impl Chain {
    /// Resume the chain of the sink writing `sink_file`, with its state file
    /// `state_path` (`<data_dir>/chain/<sink>.json`).
    pub fn open(state_path: &Path, sink_file: &Path) -> Result<Chain, String> {
        let from_file = match File::open(sink_file) {
            Ok(mut f) => link_at_end(&mut f)
                .map_err(|e| format!("cannot read {}: {e}", sink_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", sink_file.display())),
        };
        let from_state = read_state_file(state_path)?;
        let state = from_file.or(from_state).unwrap_or_default();
        Ok(Chain {
            state_path: state_path.to_path_buf(),
            state,
            scratch: Vec::new(),
        })
    }

    /// Take up the chain where `file` (the sink file, locked by the caller)
    /// ends: its last line's link, else (an empty or unchained file) the state
    /// file, else the state held. Another writer (`onetrail import` next to
    /// the agent) may have appended since this chain last wrote.
    pub fn resume_from(&mut self, file: &mut File) -> Result<(), String> {
        let found = match link_at_end(file).map_err(|e| e.to_string())? {
            Some(s) => Some(s),
            None => read_state_file(&self.state_path)?,
        };
        if let Some(s) = found {
            self.state = s;
        }
        Ok(())
    }
}

/// The link of the last complete line of `file`, if it has one.
fn link_at_end(file: &mut File) -> std::io::Result<Option<ChainState>> {
    Ok(last_line_of(file)?.and_then(|line| {
        serde_json::from_slice::<Value>(&line)
            .ok()
            .and_then(|v| link_of(&v).map(|(seq, _, hash)| ChainState { seq, hash }))
    }))
}

/// The state file, if there is one.
fn read_state_file(state_path: &Path) -> Result<Option<ChainState>, String> {
    match fs::read(state_path) {
        Ok(b) => serde_json::from_slice::<ChainState>(&b)
            .map(Some)
            .map_err(|e| {
                format!(
                    "{}: unreadable chain state ({e}); move it away to start a new chain",
                    state_path.display()
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", state_path.display())),
    }
}

impl Chain {
    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// Append `ev`, encoded in `encoding` with its `chain` link, and a newline.
    pub fn encode(&mut self, ev: &Event, encoding: Encoding, out: &mut Vec<u8>) {
        let mut v = onetrail_encode::to_value(ev, encoding);
        if !v.is_object() {
            // Every encoding yields an object; wrap anything else to stay verifiable.
            v = Value::Object(Map::from_iter([("event".to_string(), v)]));
        }
        let obj = v.as_object_mut().expect("an object");
        obj.remove("chain");
        let seq = self.state.seq + 1;
        self.scratch.clear();
        canonical(&v, &mut self.scratch);
        let hash = link_hash(seq, &self.state.hash, &self.scratch);
        v.as_object_mut().expect("an object").insert(
            "chain".into(),
            serde_json::json!({"seq": seq, "prev": self.state.hash, "hash": hash}),
        );
        serde_json::to_writer(&mut *out, &v).expect("events serialize");
        out.push(b'\n');
        self.state = ChainState { seq, hash };
    }

    /// Write the state file (temp file, fsync, rename: a torn state file
    /// would stop the next start).
    pub fn persist(&self) -> std::io::Result<()> {
        let tmp = self.state_path.with_extension("json.tmp");
        onetrail_core::files::replace_atomically(
            &self.state_path,
            &tmp,
            &serde_json::to_vec(&self.state).map_err(std::io::Error::other)?,
        )
    }
}

/// `(seq, prev, hash)` of a chained line.
fn link_of(v: &Value) -> Option<(u64, String, String)> {
    let c = v.get("chain")?;
    Some((
        c.get("seq")?.as_u64()?,
        c.get("prev")?.as_str()?.to_string(),
        c.get("hash")?.as_str()?.to_string(),
    ))
}

/// The last complete (newline-terminated) line of a file, if any.
#[cfg(test)]
fn last_line(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(mut f) => last_line_of(&mut f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The last complete (newline-terminated) line of an open file, if any.
fn last_line_of(f: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    let len = f.metadata()?.len();
    let mut end = len;
    let mut tail: Vec<u8> = Vec::new();
    // Find the last '\n' (end of the last complete line), then the one before it.
    let mut buf = vec![0u8; 64 * 1024];
    let mut newlines: Vec<u64> = Vec::new();
    while end > 0 && newlines.len() < 2 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        for i in (0..n).rev() {
            if buf[i] == b'\n' {
                newlines.push(start + i as u64);
                if newlines.len() == 2 {
                    break;
                }
            }
        }
        end = start;
    }
    let Some(&last_nl) = newlines.first() else {
        return Ok(None);
    };
    let from = newlines.get(1).map_or(0, |p| p + 1);
    f.seek(SeekFrom::Start(from))?;
    tail.resize((last_nl - from) as usize, 0);
    f.read_exact(&mut tail)?;
    Ok(Some(tail))
}

/// What `verify` found wrong first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Events `from..=to` are missing before `line`.
    Deleted { line: u64, from: u64, to: u64 },
    /// The line's content (or the line before it) was changed.
    Altered { line: u64, detail: String },
    /// The line is out of order.
    Reordered { line: u64, seq: u64, expected: u64 },
    /// No line of the file carries a chain link: it was not written by a
    /// `chain: true` sink (or was written before `chain: true` was set).
    /// Nothing can be said about its integrity.
    NotChained { lines: u64 },
    /// Events after the last line are missing (compared with the state file).
    Truncated {
        after_line: u64,
        last_seq: u64,
        state_seq: u64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Deleted { line, from, to } if from == to => {
                write!(
                    f,
                    "line {line}: DELETED: event seq {from} is missing before this line"
                )
            }
            Problem::Deleted { line, from, to } => {
                write!(
                    f,
                    "line {line}: DELETED: events seq {from}..={to} are missing before this line"
                )
            }
            Problem::Altered { line, detail } => write!(f, "line {line}: ALTERED: {detail}"),
            Problem::NotChained { lines } => write!(
                f,
                "NOT CHAINED: none of its {lines} line(s) carries a `chain` link (not written by a `chain: true` file sink, or written before `chain: true` was set); its integrity cannot be checked"
            ),
            Problem::Reordered {
                line,
                seq,
                expected,
            } => write!(
                f,
                "line {line}: REORDERED: event seq {seq} where seq {expected} was expected"
            ),
            Problem::Truncated {
                after_line,
                last_seq,
                state_seq,
            } => write!(
                f,
                "after line {after_line}: DELETED: the file ends at seq {last_seq} but the chain state says {state_seq} events were written"
            ),
        }
    }
}

/// The result of verifying a chained file.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub lines: u64,
    /// Seq of the first line and of the last line.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub last_hash: Option<String>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// Lines before the chain's genesis that carry no link: written before
    /// `chain: true` was set on an existing file. Accepted only when the
    /// first linked line is seq 1 from the genesis hash (stripping the links
    /// of later lines cannot produce that); nothing about them is proven.
    pub unchained_before: u64,
}

/// Verify the lines of a chained file. `anchor` is the link the first line
/// must follow (the last state of the previous file); without it a first
/// line with `seq > 1` is accepted as the start of a continued chain.
pub fn verify(
    reader: impl BufRead,
    anchor: Option<&ChainState>,
    state: Option<&ChainState>,
) -> std::io::Result<Verified> {
    // Pass 1: every line's parsed value (seq needed ahead to tell deletions
    // from reorderings).
    let mut parsed: Vec<Result<Link, String>> = Vec::new();
    let mut buf = Vec::new();
    let mut reader = reader;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        parsed.push(parse_line(&buf));
    }
    let mut out = Verified {
        lines: parsed.len() as u64,
        ..Default::default()
    };
    if !parsed.is_empty() && parsed.iter().all(|p| p.is_err()) {
        out.problem = Some(Problem::NotChained { lines: out.lines });
        return Ok(out);
    }
    // A file that had lines before `chain: true` was set: they lead, and the
    // chain starts after them at seq 1 from the genesis hash.
    let lead = parsed.iter().take_while(|p| p.is_err()).count();
    if lead > 0
        && anchor.is_none()
        && parsed
            .get(lead)
            .is_some_and(|p| p.as_ref().is_ok_and(|l| l.0 == 1 && l.1 == GENESIS))
    {
        parsed.drain(..lead);
        out.unchained_before = lead as u64;
    }
    let seqs: Vec<Option<u64>> = parsed
        .iter()
        .map(|p| p.as_ref().ok().map(|x| x.0))
        .collect();
    let mut last: Option<(u64, String)> = anchor.map(|a| (a.seq, a.hash.clone()));
    for (i, p) in parsed.into_iter().enumerate() {
        let line = out.unchained_before + i as u64 + 1;
        let (seq, prev, hash, canon) = match p {
            Ok(x) => x,
            Err(detail) => {
                out.problem = Some(Problem::Altered { line, detail });
                return Ok(out);
            }
        };
        if link_hash(seq, &prev, &canon) != hash {
            out.problem = Some(Problem::Altered {
                line,
                detail: format!(
                    "event seq {seq} does not match its hash (its content was changed)"
                ),
            });
            return Ok(out);
        }
        out.first_seq.get_or_insert(seq);
        match &last {
            None => {
                if seq == 1 && prev != GENESIS {
                    out.problem = Some(Problem::Altered {
                        line,
                        detail: "seq 1 does not start from the genesis hash".into(),
                    });
                    return Ok(out);
                }
            }
            Some((lseq, lhash)) => {
                let expected = lseq + 1;
                if seq == expected {
                    if &prev != lhash {
                        out.problem = Some(Problem::Altered {
                            line,
                            detail: format!(
                                "its prev does not match the hash of seq {lseq}: the line before it was altered or replaced"
                            ),
                        });
                        return Ok(out);
                    }
                } else if seq > expected {
                    let later = seqs[i + 1..]
                        .iter()
                        .flatten()
                        .any(|s| (expected..seq).contains(s));
                    out.problem = Some(if later {
                        Problem::Reordered {
                            line,
                            seq,
                            expected,
                        }
                    } else {
                        Problem::Deleted {
                            line,
                            from: expected,
                            to: seq - 1,
                        }
                    });
                    return Ok(out);
                } else {
                    out.problem = Some(Problem::Reordered {
                        line,
                        seq,
                        expected,
                    });
                    return Ok(out);
                }
            }
        }
        last = Some((seq, hash));
        out.last_seq = Some(seq);
        out.last_hash = last.as_ref().map(|l| l.1.clone());
    }
    if let Some(st) = state {
        let last_seq = out.last_seq.or(anchor.map(|a| a.seq)).unwrap_or(0);
        if st.seq > last_seq {
            out.problem = Some(Problem::Truncated {
                after_line: out.lines,
                last_seq,
                state_seq: st.seq,
            });
        } else if st.seq == last_seq && out.last_hash.as_deref().is_some_and(|h| h != st.hash) {
            out.problem = Some(Problem::Altered {
                line: out.lines,
                detail: "the last event's hash differs from the chain state".into(),
            });
        }
    }
    Ok(out)
}

/// `(seq, prev, hash, canonical event)` of a line.
type Link = (u64, String, String, Vec<u8>);

fn parse_line(line: &[u8]) -> Result<Link, String> {
    let mut v: Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON event ({e})"))?;
    let (seq, prev, hash) = link_of(&v).ok_or("the line has no valid `chain` link")?;
    if let Some(o) = v.as_object_mut() {
        o.remove("chain");
    }
    let mut canon = Vec::with_capacity(line.len());
    canonical(&v, &mut canon);
    Ok((seq, prev, hash, canon))
}

/// Read a chain state file (`<data_dir>/chain/<sink>.json`).
pub fn read_state(path: &Path) -> Result<ChainState, String> {
    let b = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&b)
        .map_err(|e| format!("{}: not a chain state file: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onetrail_event::{Category, Engine, RecordPos};

    fn event(i: u64) -> Event {
        let pos = RecordPos {
            source_key: "k",
            path: Some("/var/log/x.log"),
            offset: i * 10,
            format: "pgaudit-stderr",
        };
        let mut e = Event::new(Engine::Postgresql, chrono::Utc::now(), &pos, 0);
        e.category = Category::Dml;
        e.action = "INSERT".into();
        e.statement = Some(format!("INSERT INTO t VALUES ({i}, 'Zoë \"q\" 🦀')"));
        e.rows = Some(i as i64);
        e.extra
            .insert("f".into(), serde_json::json!({"z": 1.5, "a": [1, "x"]}));
        e
    }

    fn chained(n: u64, dir: &Path) -> Vec<String> {
        let mut c = Chain::open(&dir.join("state.json"), &dir.join("none.jsonl")).unwrap();
        let mut out = Vec::new();
        for i in 0..n {
            c.encode(&event(i), Encoding::Native, &mut out);
        }
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn check(lines: &[String]) -> Verified {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        verify(text.as_bytes(), None, None).unwrap()
    }

    #[test]
    fn canonical_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"y":1,"x":2}],"c":"é\n"}}"#).unwrap();
        let mut out = Vec::new();
        canonical(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":"é\n","d":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn intact_chain_verifies_in_every_encoding() {
        let d = tempfile::tempdir().unwrap();
        let lines = chained(5, d.path());
        let v = check(&lines);
        assert_eq!(v.problem, None, "{lines:?}");
        assert_eq!((v.lines, v.first_seq, v.last_seq), (5, Some(1), Some(5)));
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["chain"]["prev"], GENESIS);
        assert_eq!(first["chain"]["seq"], 1);
        for enc in [Encoding::Ocsf, Encoding::SplunkCim, Encoding::Datadog] {
            let mut c =
                Chain::open(&d.path().join(format!("{enc:?}")), &d.path().join("none")).unwrap();
            let mut out = Vec::new();
            for i in 0..3 {
                c.encode(&event(i), enc, &mut out);
            }
            let v = verify(&out[..], None, None).unwrap();
            assert_eq!(v.problem, None, "{enc:?}");
        }
    }

    #[test]
    fn deleted_line_is_found_at_its_position() {
        let d = tempfile::tempdir().unwrap();
        let mut lines = chained(6, d.path());
        lines.remove(3); // seq 4
        assert_eq!(
            check(&lines).problem,
            Some(Problem::Deleted {
                line: 4,
                from: 4,
                to: 4
            })
        );
        let mut lines = chained(6, d.path());
        lines.drain(1..3); // seq 2, 3
        assert_eq!(
            check(&lines).problem,
            Some(Problem::Deleted {
                line: 2,
                from: 2,
                to: 3
            })
        );
    }

    #[test]
    fn altered_line_is_found_at_its_position() {
        let d = tempfile::tempdir().unwrap();
        let mut lines = chained(6, d.path());
        lines[2] = lines[2].replace("INSERT INTO t", "INSERT INTO u");
        assert!(
            matches!(
                check(&lines).problem,
                Some(Problem::Altered { line: 3, .. })
            ),
            "{:?}",
            check(&lines).problem
        );
        // Altered and re-hashed: the next line's prev no longer matches.
        let mut lines = chained(6, d.path());
        let mut v: Value = serde_json::from_str(&lines[2]).unwrap();
        let o = v.as_object_mut().unwrap();
        let link = o.remove("chain").unwrap();
        o.insert("statement".into(), "DELETE FROM evidence".into());
        let mut canon = Vec::new();
        canonical(&v, &mut canon);
        let prev = link["prev"].as_str().unwrap();
        let hash = link_hash(3, prev, &canon);
        v.as_object_mut().unwrap().insert(
            "chain".into(),
            serde_json::json!({"seq": 3, "prev": prev, "hash": hash}),
        );
        lines[2] = v.to_string();
        match check(&lines).problem {
            Some(Problem::Altered { line: 4, detail }) => {
                assert!(detail.contains("line before"), "{detail}")
            }
            p => panic!("{p:?}"),
        }
        // Garbage line.
        let mut lines = chained(3, d.path());
        lines[1] = "not json".into();
        assert!(matches!(
            check(&lines).problem,
            Some(Problem::Altered { line: 2, .. })
        ));
    }

    #[test]
    fn reordered_lines_are_found_at_their_position() {
        let d = tempfile::tempdir().unwrap();
        let mut lines = chained(6, d.path());
        lines.swap(2, 4); // seq 5 at line 3
        assert_eq!(
            check(&lines).problem,
            Some(Problem::Reordered {
                line: 3,
                seq: 5,
                expected: 3
            })
        );
        let mut lines = chained(6, d.path());
        lines.swap(3, 4); // 1 2 3 5 4 6
        assert_eq!(
            check(&lines).problem,
            Some(Problem::Reordered {
                line: 4,
                seq: 5,
                expected: 4
            })
        );
        // A duplicated line goes backwards.
        let mut lines = chained(4, d.path());
        let dup = lines[1].clone();
        lines.insert(2, dup);
        assert_eq!(
            check(&lines).problem,
            Some(Problem::Reordered {
                line: 3,
                seq: 2,
                expected: 3
            })
        );
    }

    #[test]
    fn a_file_never_chained_is_not_chained_not_altered() {
        let d = tempfile::tempdir().unwrap();
        let mut plain = Vec::new();
        crate::common::encode_lines(
            &[std::sync::Arc::new(onetrail_core::batch::Batch::unacked(
                "s",
                (0..3).map(event).collect(),
            ))],
            Encoding::Native,
            &mut plain,
        );
        assert_eq!(
            verify(&plain[..], None, None).unwrap().problem,
            Some(Problem::NotChained { lines: 3 })
        );
        // One chained line among them: a chained file with lines inserted.
        let mut lines = chained(3, d.path());
        lines.insert(
            1,
            String::from_utf8(plain.clone())
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .into(),
        );
        assert!(matches!(
            check(&lines).problem,
            Some(Problem::Altered { line: 2, .. })
        ));
    }

    #[test]
    fn lines_written_before_chain_was_set_lead_an_intact_chain() {
        let d = tempfile::tempdir().unwrap();
        let mut plain = Vec::new();
        crate::common::encode_lines(
            &[std::sync::Arc::new(onetrail_core::batch::Batch::unacked(
                "s",
                (0..2).map(event).collect(),
            ))],
            Encoding::Native,
            &mut plain,
        );
        let plain: Vec<String> = String::from_utf8(plain)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let mut lines = plain.clone();
        lines.extend(chained(3, d.path()));
        let v = check(&lines);
        assert_eq!(v.problem, None, "{v:?}");
        assert_eq!(v.unchained_before, 2);
        assert_eq!((v.first_seq, v.last_seq), (Some(1), Some(3)));
        // Links stripped from the head of a chain: the first linked line is
        // then no genesis, so that is still an alteration.
        let d2 = tempfile::tempdir().unwrap();
        let chain = chained(3, d2.path());
        let mut stripped = vec![plain[0].clone()];
        stripped.extend(chain[1..].iter().cloned());
        assert!(matches!(
            check(&stripped).problem,
            Some(Problem::Altered { .. })
        ));
    }

    #[test]
    fn truncation_is_found_with_the_state_file() {
        let d = tempfile::tempdir().unwrap();
        let mut lines = chained(5, d.path());
        let state = {
            let v: Value = serde_json::from_str(&lines[4]).unwrap();
            ChainState {
                seq: 5,
                hash: v["chain"]["hash"].as_str().unwrap().into(),
            }
        };
        let text = |l: &[String]| l.iter().map(|x| format!("{x}\n")).collect::<String>();
        assert_eq!(
            verify(text(&lines).as_bytes(), None, Some(&state))
                .unwrap()
                .problem,
            None
        );
        lines.pop();
        assert_eq!(
            verify(text(&lines).as_bytes(), None, Some(&state))
                .unwrap()
                .problem,
            Some(Problem::Truncated {
                after_line: 4,
                last_seq: 4,
                state_seq: 5
            })
        );
    }

    #[test]
    fn chain_resumes_from_file_then_state_then_genesis() {
        let d = tempfile::tempdir().unwrap();
        let sink = d.path().join("events.jsonl");
        let state = d.path().join("chain").join("out.json");
        let mut c = Chain::open(&state, &sink).unwrap();
        assert_eq!(c.state(), &ChainState::default());
        let mut out = Vec::new();
        for i in 0..3 {
            c.encode(&event(i), Encoding::Native, &mut out);
        }
        fs::write(&sink, &out).unwrap();
        c.persist().unwrap();
        // Restart: the file's last line wins (even over a stale state file).
        fs::write(
            &state,
            serde_json::to_vec(&ChainState {
                seq: 1,
                hash: "x".into(),
            })
            .unwrap(),
        )
        .unwrap();
        let mut c2 = Chain::open(&state, &sink).unwrap();
        assert_eq!(c2.state().seq, 3);
        c2.encode(&event(3), Encoding::Native, &mut out);
        fs::write(&sink, &out).unwrap();
        assert_eq!(
            verify(&fs::read(&sink).unwrap()[..], None, None)
                .unwrap()
                .problem,
            None
        );
        c2.persist().unwrap();
        // Rotation: a new, empty file continues from the state file.
        fs::rename(&sink, d.path().join("events.jsonl.1")).unwrap();
        let mut c3 = Chain::open(&state, &sink).unwrap();
        assert_eq!(c3.state().seq, 4);
        let mut out2 = Vec::new();
        c3.encode(&event(4), Encoding::Native, &mut out2);
        let old = fs::read(d.path().join("events.jsonl.1")).unwrap();
        let first = verify(&old[..], None, None).unwrap();
        let anchor = ChainState {
            seq: first.last_seq.unwrap(),
            hash: first.last_hash.unwrap(),
        };
        assert_eq!(
            verify(&out2[..], Some(&anchor), None).unwrap().problem,
            None
        );
        // Against a wrong anchor the link breaks.
        let wrong = ChainState {
            seq: 4,
            hash: GENESIS.into(),
        };
        assert!(matches!(
            verify(&out2[..], Some(&wrong), None).unwrap().problem,
            Some(Problem::Altered { line: 1, .. })
        ));
        // A torn last line is ignored when resuming (the sink cuts it anyway).
        let mut torn = old.clone();
        torn.extend_from_slice(b"{\"id\":");
        assert_eq!(last_line_seq(&torn, d.path()), Some(4));
    }

    fn last_line_seq(bytes: &[u8], dir: &Path) -> Option<u64> {
        let p = dir.join("torn.jsonl");
        fs::write(&p, bytes).unwrap();
        let l = last_line(&p).unwrap()?;
        let v: Value = serde_json::from_slice(&l).ok()?;
        link_of(&v).map(|x| x.0)
    }
}
