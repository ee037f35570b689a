//! Waiting with a bound: every awaited event gets [`WAIT`] (or a limit of its own) and a
//! name, so that a test that would hang fails and says what it was waiting for.

use std::future::Future;
use std::time::Duration;

/// How long any single awaited event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    within_for(WAIT, what, f).await
}

/// Awaits `f`, failing the test if it takes longer than `limit`.
pub async fn within_for<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}
