//! `type: stdout`: newline-delimited JSON on standard output.

use std::io::Write;
use std::sync::Arc;

use crate::common::{Aborted, encode_lines};
use crate::config::Encoding;
use onetrail_core::batch::{Batch, Shutdown};
use onetrail_core::metrics::SinkMetrics;

pub struct StdoutSink {
    encoding: Encoding,
    buf: Vec<u8>,
}

impl StdoutSink {
    pub fn new(encoding: Encoding) -> StdoutSink {
        StdoutSink {
            encoding,
            buf: Vec::new(),
        }
    }

    pub async fn deliver(
        &mut self,
        batches: &[Arc<Batch>],
        _shutdown: &Shutdown,
        metrics: &SinkMetrics,
    ) -> Result<(), Aborted> {
        self.buf.clear();
        encode_lines(batches, self.encoding, &mut self.buf);
        let mut out = std::io::stdout().lock();
        match out.write_all(&self.buf).and_then(|()| out.flush()) {
            Ok(()) => metrics.set_ok(),
            // A closed stdout (`onetrail run | head`) cannot be retried into;
            // the events still reach the other sinks.
            Err(e) => metrics.set_error(format!("stdout: {e}")),
        }
        Ok(())
    }
}
