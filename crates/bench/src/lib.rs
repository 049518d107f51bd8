//! onetrail's benchmarks.
//!
//! - [`logs`]: a deterministic generator of realistic audit logs in every
//!   format (binary `onetrail-loadgen`);
//! - [`hec`]: a lean local Splunk HEC receiver that acknowledges without storing;
//! - [`run`]: whole-process benchmarks of the `onetrail` binary (`onetrail-bench`):
//!   `parse` throughput per CPU-second, `run` into HEC (throughput, peak RSS),
//!   idle CPU and write → receiver latency at a steady rate.
//!
//! See `BENCHMARKS.md` at the repository root.

pub mod hec;
pub mod hostile;
pub mod logs;
pub mod procstat;
pub mod run;
