//! [`Backoff`]: exponential delays with full jitter, so that many clients that lost the
//! same server do not come back in lock step.

use std::time::Duration;

/// Delays that double from `min` up to `max`, each drawn uniformly from [delay/2, delay].
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `min` and never above `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + Duration::from_nanos(random_below(
            ceiling.saturating_sub(half).as_nanos() as u64 + 1,
        ))
    }

    /// After a success: start from `min` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniformly random number below `n` (n > 0), from the OS.
pub(crate) fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    // The OS generator failing leaves zeros: no jitter, still a valid delay.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes) % n.max(1)
}

/// The delay before retrying an outbox message after `attempts` transient failures.
pub fn retry_delay(attempts: u32, server_hint_ms: Option<u64>) -> Duration {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    backoff.attempt = attempts;
    backoff
        .next_delay()
        .max(Duration::from_millis(server_hint_ms.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = (Duration::from_millis(100) * (1 << i)).min(Duration::from_secs(1));
            assert!(
                *d >= ceiling / 2 && *d <= ceiling,
                "attempt {i}: {d:?} vs {ceiling:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn the_server_hint_is_a_floor() {
        assert!(retry_delay(0, Some(5_000)) >= Duration::from_secs(5));
    }
}
