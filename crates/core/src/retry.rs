//! Waiting before a retry: capped exponential backoff with full jitter, and
//! a sleep that ends early at shutdown.

use std::time::Duration;

use crate::batch::Shutdown;

/// Exponential backoff with full jitter, capped: the wait before retry `attempt` (1-based).
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let ceiling = exp.min(cap);
    // Full jitter: uniform in [0, ceiling]. A cheap PRNG is enough here.
    let r = jitter_fraction();
    ceiling.mul_f64(r)
}

/// A pseudo-random number in [0, 1): per-thread xorshift, seeded by the pid.
pub fn jitter_fraction() -> f64 {
    use std::cell::Cell;
    thread_local! { static STATE: Cell<u64> = Cell::new(0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64); }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Sleep in small steps so an abort is noticed; false if aborted.
pub async fn sleep_unless_aborted(d: Duration, shutdown: &Shutdown) -> bool {
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        if shutdown.aborted() {
            return false;
        }
        let step = (end - tokio::time::Instant::now()).min(Duration::from_millis(100));
        tokio::time::sleep(step).await;
    }
    !shutdown.aborted()
}
