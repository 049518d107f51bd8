//! The wall clock as the counters and checkpoints store it.

/// Milliseconds since the Unix epoch (0 is reserved for "never").
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64)
        .max(1)
}
