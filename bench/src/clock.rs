//! [`now_us`]: the load generator's wall clock. Sends are stamped with it and their
//! frames' arrival read against it, so every latency the bench reports is one clock's.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
