//! [`Clock`]: where the client reads the wall-clock time it writes down (a message's
//! compose time, when an outbox entry may be tried again, when the next reconnect is due).
//!
//! The client takes its clock from [`ClientOptions`](crate::ClientOptions) like its token
//! store, so a test can pin it. [`SystemClock`] is the real one. [`TokioClock`] starts at
//! a chosen time and moves with tokio's clock: under a paused test runtime
//! (`#[tokio::test(start_paused = true)]`) it stands still until the test advances time,
//! and it then agrees with every tokio timer (backoff, retries, typing expiry).
//! Durations the engine waits for are always tokio's; only instants that are stored or
//! shown come from here.

use std::fmt;
use std::time::Duration;

use ferry_proto::Timestamp;

/// The wall-clock time, as the client sees it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;

    /// `delay` from now.
    fn after(&self, delay: Duration) -> Timestamp {
        later(self.now(), delay)
    }
}

/// `delay` after `at` (saturating: a delay beyond the year 292 million is the end of time).
pub fn later(at: Timestamp, delay: Duration) -> Timestamp {
    let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(at.as_millis().saturating_add(delay))
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Wall-clock time that starts at a chosen instant and advances with tokio's clock, so a
/// test with a paused runtime decides when time passes.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: Timestamp,
    /// tokio's instant that `start` stands for.
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `start` now, and moves as tokio's clock moves.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        later(self.start, self.origin.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_moves_only_with_tokio_time() {
        let start = Timestamp::from_millis(1_700_000_000_000);
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(clock.now().as_millis(), start.as_millis() + 1_500);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(clock.now().as_millis(), start.as_millis() + 61_500);
        assert_eq!(
            clock.after(Duration::from_secs(1)).as_millis(),
            start.as_millis() + 62_500
        );
    }

    #[test]
    fn later_saturates() {
        assert_eq!(
            later(Timestamp::from_millis(5), Duration::MAX),
            Timestamp::from_millis(i64::MAX)
        );
    }
}
