//! `type: file`: newline-delimited JSON appended to a local file.
//!
//! A batch is acknowledged only after its lines are written and `fdatasync`ed.
//! A crash can leave a torn last line (the write was cut short); on open such a
//! line is cut off, so the next record starts on a line of its own. The torn
//! record was never acknowledged, so it is written again after the restart.
//!
//! Several writers (the agent and `onetrail import`) may append to one file:
//! each group is written under an exclusive lock on the file (`flock`), and a
//! writer that finds the file grown since its own last write first cuts a torn
//! line the other left and, with `chain: true`, takes up the chain from the
//! file's last line, so the file holds one unbroken chain.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Aborted, backoff, encode_lines, sleep_unless_aborted};
use crate::config::Encoding;
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;

pub struct FileSink {
    path: PathBuf,
    file: File,
    encoding: Encoding,
    buf: Vec<u8>,
    /// `chain: true`: the tamper-evident hash chain (see `crate::chain`).
    chain: Option<crate::chain::Chain>,
    /// The file's length after this sink's last write: another length means
    /// another writer appended.
    known_len: u64,
}

impl FileSink {
    pub fn open(path: &Path, encoding: Encoding) -> Result<FileSink, String> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            onetrail_core::files::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut file = onetrail_core::files::open_append(path, true)
            .map_err(|e| format!("cannot open {} for appending: {e}", path.display()))?;
        // Never cut the line another writer is appending right now.
        lock_blocking(&file).map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        let repaired = repair_torn_tail(&mut file);
        let known_len = file.metadata().map(|m| m.len());
        let _ = file.unlock();
        repaired.map_err(|e| format!("cannot repair {}: {e}", path.display()))?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            encoding,
            buf: Vec::with_capacity(256 * 1024),
            chain: None,
            known_len: known_len.map_err(|e| format!("{}: {e}", path.display()))?,
        })
    }

    /// Hash-chain every line from now on; `state_path` carries the chain
    /// across file rotations (the file's own last line wins when it has one).
    pub fn enable_chain(&mut self, state_path: &Path) -> Result<(), String> {
        self.chain = Some(crate::chain::Chain::open(state_path, &self.path)?);
        Ok(())
    }

    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        self.lock(shutdown, metrics).await?;
        let res = self.deliver_locked(batches, shutdown, metrics).await;
        let _ = self.file.unlock();
        res
    }

    /// Wait for the file's exclusive lock (another writer holds it for one
    /// group's write at most).
    async fn lock(&mut self, shutdown: &Shutdown, metrics: &SinkMetrics) -> Result<(), Aborted> {
        let mut waited = Duration::ZERO;
        loop {
            match self.file.try_lock() {
                Ok(()) => return Ok(()),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    // A file system without locks: write unlocked, as before.
                    if waited.is_zero() {
                        tracing::warn!(path = %self.path.display(), "cannot lock the file sink's file ({e}); writing without the lock");
                    }
                    return Ok(());
                }
            }
            let step = Duration::from_millis(10);
            waited += step;
            if waited == Duration::from_secs(10) {
                metrics.set_error(format!(
                    "{}: another writer (`onetrail import`?) holds its lock",
                    self.path.display()
                ));
                tracing::warn!(path = %self.path.display(), "waiting for another writer (`onetrail import`?) to release the file's lock");
            }
            if !sleep_unless_aborted(step, shutdown).await {
                return Err(Aborted);
            }
        }
    }

    async fn deliver_locked(
        &mut self,
        batches: &[Arc<Batch>],
        shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        // Another writer appended since our last write: start on a line of
        // our own and continue its chain.
        if self.file.metadata().map(|m| m.len()).ok() != Some(self.known_len) {
            let _ = repair_torn_tail(&mut self.file);
            if let Some(chain) = &mut self.chain
                && let Err(e) = chain.resume_from(&mut self.file)
            {
                tracing::warn!(path = %self.path.display(), "cannot take up the chain from the file: {e}");
            }
        }
        self.buf.clear();
        match &mut self.chain {
            Some(chain) => {
                for ev in batches.iter().flat_map(|b| b.events.iter()) {
                    chain.encode(ev, self.encoding, &mut self.buf);
                }
            }
            None => encode_lines(batches, self.encoding, &mut self.buf),
        }
        let mut attempt = 0;
        loop {
            // A failed attempt may have left complete lines of this group behind;
            // retrying from the same length writes each line exactly once.
            let start = self.file.metadata().map(|m| m.len()).ok();
            let res = self
                .file
                .write_all(&self.buf)
                .and_then(|()| self.file.sync_data());
            match res {
                Ok(()) => {
                    self.known_len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
                    if let Some(chain) = &self.chain
                        && let Err(e) = chain.persist()
                    {
                        tracing::warn!(path = %self.path.display(), "cannot save the chain state (the file's last line still holds it): {e}");
                    }
                    metrics.set_ok();
                    return Ok(());
                }
                Err(e) => {
                    attempt += 1;
                    metrics.set_error(format!("{}: {e}", self.path.display()));
                    metrics
                        .retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(path = %self.path.display(), "file sink write failed (will retry): {e}");
                    // A partial write may have left a torn line: cut it before retrying.
                    match start {
                        Some(len) => {
                            let _ = self.file.set_len(len);
                        }
                        None => {
                            let _ = repair_torn_tail(&mut self.file);
                        }
                    }
                    let wait =
                        backoff(attempt, Duration::from_millis(100), Duration::from_secs(30));
                    if !sleep_unless_aborted(wait, shutdown).await {
                        return Err(Aborted);
                    }
                }
            }
        }
    }
}

/// Wait for the exclusive lock of `file` (opening only; a file system
/// without locks is written unlocked).
fn lock_blocking(file: &File) -> std::io::Result<()> {
    for _ in 0..1000 {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(10)),
            Err(std::fs::TryLockError::Error(_)) => return Ok(()),
        }
    }
    Err(std::io::Error::other(
        "another writer held its lock for 10 s",
    ))
}

/// If the file does not end with `\n`, truncate it after its last newline.
fn repair_torn_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut pos = len;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let start = pos.saturating_sub(buf.len() as u64);
        let n = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if pos == len && buf[n - 1] == b'\n' {
            return Ok(());
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            file.set_len(start + i as u64 + 1)?;
            break;
        }
        if start == 0 {
            file.set_len(0)?;
            break;
        }
        pos = start;
    }
    tracing::warn!("cut a torn last line (left by a crash) from a file sink");
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_back_to_last_newline() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("e.jsonl");
        std::fs::write(&p, b"{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let _s = FileSink::open(&p, Encoding::Native).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
        // A complete file is left alone.
        let _s = FileSink::open(&p, Encoding::Native).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
        // A single torn line leaves an empty file.
        std::fs::write(&p, b"{\"c\":").unwrap();
        let _s = FileSink::open(&p, Encoding::Native).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }
}
