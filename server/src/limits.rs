//! Rate limits (governor's GCRA limiters): messages per user across all their devices and
//! both transports, sign-in attempts per username, and sign-ups plus sign-ins per client
//! address (so random usernames cannot get around the per-username limit). And
//! [`HeavyReads`]: how many large reads (`/sync` pages, history pages) one user's
//! requests run at once, so that a burst of them cannot hold the server's memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::config::Config;

/// Large reads one user may have running at once; more wait their turn. Two lets a
/// device page history while another catches up.
const HEAVY_READS_PER_USER: usize = 2;

/// The server's shared limiters.
pub struct Limits {
    sends: DefaultKeyedRateLimiter<Uuid>,
    logins: DefaultKeyedRateLimiter<String>,
    auth_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    /// Large reads under way, per user.
    pub heavy_reads: HeavyReads,
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
            heavy_reads: HeavyReads::new(HEAVY_READS_PER_USER),
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

/// Large reads under way, per user: a semaphore each, kept only while someone holds or
/// waits for it. A request waits for a turn (within the request timeout) rather than
/// being refused, since a client's reads are legitimate, only their number is bounded.
/// A turn is per server process (per node of a cluster).
pub struct HeavyReads {
    per_user: usize,
    users: Users,
}

type Users = Arc<Mutex<HashMap<Uuid, Arc<Semaphore>>>>;

/// A turn at a large read; the next waiting read of the same user starts when it drops.
/// It owns what it needs, so an answer's body can hold it until the answer is sent.
pub struct HeavyRead {
    users: Users,
    user: Uuid,
    permit: Option<OwnedSemaphorePermit>,
}

fn lock(users: &Users) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Semaphore>>> {
    // The map is only ever read or updated whole, so a panic cannot leave it half done.
    users.lock().unwrap_or_else(|p| p.into_inner())
}

impl HeavyReads {
    fn new(per_user: usize) -> Self {
        Self {
            per_user,
            users: Users::default(),
        }
    }

    /// Waits for one of `user`'s turns.
    pub async fn turn(&self, user: Uuid) -> HeavyRead {
        let semaphore = lock(&self.users)
            .entry(user)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
            .clone();
        // Whatever happens to this future, the guard forgets the user when it was the last.
        let mut read = HeavyRead {
            users: self.users.clone(),
            user,
            permit: None,
        };
        let permit = semaphore
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        read.permit = Some(permit);
        read
    }

    /// Users with a read running or waiting.
    pub fn users_busy(&self) -> usize {
        lock(&self.users).len()
    }
}

impl Drop for HeavyRead {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut users = lock(&self.users);
        // Nobody else holds or waits for this user's semaphore: forget it (under the
        // lock every new reader takes first, so none can pick it up meanwhile).
        if let Some(semaphore) = users.get(&self.user)
            && Arc::strong_count(semaphore) == 1
        {
            users.remove(&self.user);
        }
    }
}

/// A per-socket limiter of incoming frames (exceeding it closes the socket with 4029).
pub fn frame_limiter(per_sec: u32) -> governor::DefaultDirectRateLimiter {
    let rate = at_least_one(per_sec);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(rate.saturating_mul(at_least_one(2))))
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_user_runs_two_heavy_reads_at_once_and_the_next_waits() {
        let reads = HeavyReads::new(2);
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let first = reads.turn(alice).await;
        let second = reads.turn(alice).await;
        let mut third = Box::pin(reads.turn(alice));
        assert!((&mut third).now_or_never().is_none(), "a third waits");
        let bobs = reads.turn(bob).now_or_never();
        assert!(bobs.is_some(), "another user does not wait");
        drop(bobs);
        drop(first);
        let third = third.now_or_never().expect("its turn once one ended");
        assert_eq!(reads.users_busy(), 1);
        drop((second, third));
        assert_eq!(reads.users_busy(), 0, "nobody's semaphore is kept");
    }
}
