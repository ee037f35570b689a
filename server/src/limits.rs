//! Rate limits (governor's GCRA limiters): messages per user across all their devices and
//! both transports, sign-in attempts per username, and sign-ups plus sign-ins per client
//! address (so random usernames cannot get around the per-username limit).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::config::Config;

/// The server's shared limiters.
pub struct Limits {
    sends: DefaultKeyedRateLimiter<Uuid>,
    logins: DefaultKeyedRateLimiter<String>,
    auth_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    /// Limiters with the configured quotas.
    pub fn new(config: &Config) -> Self {
        let sends = Quota::per_second(at_least_one(config.send_rate_per_sec))
            .allow_burst(at_least_one(config.send_burst));
        let logins = Quota::per_minute(at_least_one(config.login_rate_per_min));
        let auth_by_ip = Quota::per_minute(at_least_one(config.auth_rate_per_ip_per_min));
        Self {
            sends: RateLimiter::keyed(sends),
            logins: RateLimiter::keyed(logins),
            auth_by_ip: RateLimiter::keyed(auth_by_ip),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when the user sends faster than allowed.
    pub fn check_send(&self, user: Uuid) -> Result<(), Duration> {
        self.sends
            .check_key(&user)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// `Err(wait)` when a username is tried too often.
    pub fn check_login(&self, username: &str) -> Result<(), Duration> {
        self.logins
            .check_key(&username.to_owned())
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// `Err(wait)` when one address signs up or in too often.
    pub fn check_auth_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.auth_by_ip
            .check_key(&ip)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Forgets keys that are back to a full allowance, so memory stays bounded.
    pub fn shrink(&self) {
        self.sends.retain_recent();
        self.logins.retain_recent();
        self.auth_by_ip.retain_recent();
    }
}

/// A per-socket limiter of incoming frames (exceeding it closes the socket with 4029).
pub fn frame_limiter(per_sec: u32) -> governor::DefaultDirectRateLimiter {
    let rate = at_least_one(per_sec);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(rate.saturating_mul(at_least_one(2))))
}
