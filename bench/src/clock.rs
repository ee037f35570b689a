//! [`now_us`]: the load generator's wall clock. Sends are stamped with it and their
//! frames' arrival read against it, so every latency the bench reports is one clock's.
//! [`micros`]: a duration as the latency histograms take it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration in whole microseconds, at least 1 (a histogram's smallest value).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
