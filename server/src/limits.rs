//! Rate limits (governor's GCRA limiters): messages per user across all their devices and
//! both transports, and sign-ups plus sign-ins per client address (so random usernames
//! cannot get around the limits per username). [`FailedLogins`]: wrong passwords per
//! username and place, so that guessing at an account from elsewhere never locks its
//! owner out. Addresses count by [`source`] (an IPv6 /64 is one place). And
//! [`UserTurns`]: how many large reads (`/sync` pages, history pages) and how many
//! upload chunks one user's requests run at once, so that a burst of them cannot hold the
//! server's memory.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_proto::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

/// Large reads one user may have running at once; more wait their turn. Two lets a
/// device page history while another catches up.
const HEAVY_READS_PER_USER: usize = 2;

/// Upload chunks one user may be sending at once; more wait their turn (a client sends
/// its files one chunk at a time, so two lets two devices upload side by side).
const UPLOADS_PER_USER: usize = 2;

/// How many times the failures allowed per username and place one username may have
/// over all places: a guesser with many addresses still meets a ceiling, and the
/// owner is locked out only by that many wrong passwords, not by a few.
const FAILED_LOGINS_PER_USER_FACTOR: usize = 10;

/// The place a client address counts for in limits: the IPv4 address, or the IPv6 /64
/// (one subscriber usually holds a whole /64, so counting single IPv6 addresses would
/// let one host take a fresh address per attempt). An IPv4-mapped IPv6 address is the
/// IPv4 one.
pub fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// User searches one user may make per minute (and at once): a people picker asks as the
/// name is typed, a few a second at most, while walking the directory takes thousands.
const USER_SEARCHES_PER_MIN: u32 = 60;
const USER_SEARCH_BURST: u32 = 20;

/// Typing notices one user may have relayed per second, over all their sockets and
/// conversations (and at once): an honest client changes state a few times a second at
/// most, and repeats each conversation's every 3 s; past it notices are dropped, so a
/// user toggling as fast as 16 sockets allow cannot flood every member of a group.
const TYPING_PER_SEC: u32 = 5;

const TYPING_BURST: u32 = 20;

/// The server's shared limiters.
pub struct Limits {
    sends: DefaultKeyedRateLimiter<UserId>,
    user_searches: DefaultKeyedRateLimiter<UserId>,
    typing: DefaultKeyedRateLimiter<UserId>,
    membership: DefaultKeyedRateLimiter<UserId>,
    auth_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Wrong passwords, per username and place.
    pub failed_logins: FailedLogins,
    clock: DefaultClock,
    /// Large reads under way, per user.
    pub heavy_reads: UserTurns,
    /// Upload chunks arriving, per user.
    pub uploads: UserTurns,
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    /// Limiters with the configured quotas.
    pub fn new(config: &Config) -> Self {
        let sends = Quota::per_second(at_least_one(config.send_rate_per_sec))
            .allow_burst(at_least_one(config.send_burst));
        let auth_by_ip = Quota::per_minute(at_least_one(config.auth_rate_per_ip_per_min));
        let per_source = config.login_rate_per_min.max(1) as usize;
        let user_searches = Quota::per_minute(at_least_one(USER_SEARCHES_PER_MIN))
            .allow_burst(at_least_one(USER_SEARCH_BURST));
        Self {
            sends: RateLimiter::keyed(sends),
            user_searches: RateLimiter::keyed(user_searches),
            membership: RateLimiter::keyed(Quota::per_minute(at_least_one(
                config.membership_rate_per_min,
            ))),
            typing: RateLimiter::keyed(
                Quota::per_second(at_least_one(TYPING_PER_SEC))
                    .allow_burst(at_least_one(TYPING_BURST)),
            ),
            auth_by_ip: RateLimiter::keyed(auth_by_ip),
            failed_logins: FailedLogins::new(
                per_source,
                per_source * FAILED_LOGINS_PER_USER_FACTOR,
                Duration::from_secs(60),
            ),
            clock: DefaultClock::default(),
            heavy_reads: UserTurns::new(HEAVY_READS_PER_USER),
            uploads: UserTurns::new(UPLOADS_PER_USER),
        }
    }

    /// `Err(wait)` when the user sends faster than allowed.
    pub fn check_send(&self, user: UserId) -> Result<(), Duration> {
        self.sends
            .check_key(&user)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// `Err(wait)` when the user creates groups or changes members faster than allowed.
    pub fn check_membership_change(&self, user: UserId) -> Result<(), Duration> {
        self.membership
            .check_key(&user)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Whether one more typing notice of `user`'s may be relayed now.
    pub fn typing_allowed(&self, user: UserId) -> bool {
        self.typing.check_key(&user).is_ok()
    }

    /// `Err(wait)` when the user searches for people faster than allowed.
    pub fn check_user_search(&self, user: UserId) -> Result<(), Duration> {
        self.user_searches
            .check_key(&user)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// `Err(wait)` when one place signs up or in too often.
    pub fn check_auth_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.auth_by_ip
            .check_key(&source(ip))
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Forgets keys that are back to a full allowance, so memory stays bounded.
    pub fn shrink(&self) {
        self.sends.retain_recent();
        self.user_searches.retain_recent();
        self.typing.retain_recent();
        self.membership.retain_recent();
        self.auth_by_ip.retain_recent();
        self.failed_logins.shrink();
    }
}

/// Wrong passwords in a sliding window: at most `per_source` per (username, place) and
/// `per_user` per username over all places. Only failures count, and a success clears
/// its place's, so an owner who types their password right is never held back by
/// someone guessing elsewhere (until the ceiling per username).
pub struct FailedLogins {
    per_source: usize,
    per_user: usize,
    window: Duration,
    failures: Mutex<Failures>,
}

/// When each recent failure happened, oldest first.
#[derive(Default)]
struct Failures {
    by_source: HashMap<(String, IpAddr), VecDeque<Instant>>,
    by_user: HashMap<String, VecDeque<Instant>>,
}

impl FailedLogins {
    fn new(per_source: usize, per_user: usize, window: Duration) -> Self {
        Self {
            per_source,
            per_user,
            window,
            failures: Mutex::default(),
        }
    }

    /// The key of a (username, place): a name no account can have is cut short, so that
    /// long made-up names cost no more memory than real ones.
    fn key(username: &str, ip: IpAddr) -> (String, IpAddr) {
        (username.chars().take(64).collect(), source(ip))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        // Each update is whole before the lock is let go, so a panic cannot leave it half
        // done.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` when `username` may not be tried from `ip` now.
    pub fn check(&self, username: &str, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.lock();
        let key = Self::key(username, ip);
        let at_place = failures.by_source.get_mut(&key);
        let place_wait = at_place.and_then(|times| self.wait(times, self.per_source, now));
        let user_wait = failures
            .by_user
            .get_mut(&key.0)
            .and_then(|times| self.wait(times, self.per_user, now));
        match place_wait.max(user_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a wrong password for `username` from `ip`.
    pub fn failed(&self, username: &str, ip: IpAddr) {
        let now = Instant::now();
        let key = Self::key(username, ip);
        let mut failures = self.lock();
        failures
            .by_user
            .entry(key.0.clone())
            .or_default()
            .push_back(now);
        failures.by_source.entry(key).or_default().push_back(now);
    }

    /// A right password from `ip`: that place's failures are forgotten.
    pub fn succeeded(&self, username: &str, ip: IpAddr) {
        self.lock().by_source.remove(&Self::key(username, ip));
    }

    /// Drops failures older than the window; `Some(wait)` while `limit` remain.
    fn wait(&self, times: &mut VecDeque<Instant>, limit: usize, now: Instant) -> Option<Duration> {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        (times.len() >= limit).then(|| {
            let oldest = times.front().copied().unwrap_or(now);
            self.window.saturating_sub(now.duration_since(oldest))
        })
    }

    /// Forgets keys whose failures have all left the window, so memory stays bounded.
    fn shrink(&self) {
        let now = Instant::now();
        let window = self.window;
        let recent = |times: &mut VecDeque<Instant>| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
        };
        let mut failures = self.lock();
        failures.by_source.retain(|_, times| recent(times));
        failures.by_user.retain(|_, times| recent(times));
    }
}

/// Work under way, per user (large reads, upload chunks): a semaphore each, kept only
/// while someone holds or waits for it. A request waits for a turn (within the request
/// timeout) rather than being refused, since a client's requests are legitimate, only
/// their number is bounded.
/// A turn is per server process (per node of a cluster).
pub struct UserTurns {
    per_user: usize,
    users: Users,
}

type Users = Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>;

/// A turn; the next waiting request of the same user starts when it drops.
/// It owns what it needs, so an answer's body can hold it until the answer is sent.
pub struct UserTurn {
    users: Users,
    user: UserId,
    permit: Option<OwnedSemaphorePermit>,
}

fn lock(users: &Users) -> std::sync::MutexGuard<'_, HashMap<UserId, Arc<Semaphore>>> {
    // The map is only ever read or updated whole, so a panic cannot leave it half done.
    users.lock().unwrap_or_else(|p| p.into_inner())
}

impl UserTurns {
    fn new(per_user: usize) -> Self {
        Self {
            per_user,
            users: Users::default(),
        }
    }

    /// Waits for one of `user`'s turns.
    pub async fn turn(&self, user: UserId) -> UserTurn {
        let semaphore = lock(&self.users)
            .entry(user)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
            .clone();
        // Whatever happens to this future, the guard forgets the user when it was the last.
        let mut read = UserTurn {
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

impl Drop for UserTurn {
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
        let reads = UserTurns::new(2);
        let (alice, bob) = (UserId::from_u128(1), UserId::from_u128(2));
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

    #[test]
    fn an_ipv6_slash_64_is_one_place() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert_eq!(source(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(source(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            source(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            source(ip("2001:db8:1:2::5"))
        );
        assert_ne!(source(ip("2001:db8:1:3::1")), source(ip("2001:db8:1:2::1")));
        assert_eq!(source(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }

    #[test]
    fn only_failures_count_per_place_under_a_ceiling_per_user() {
        let logins = FailedLogins::new(2, 5, Duration::from_secs(60));
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        let (guesser, owner) = (ip("198.51.100.1"), ip("203.0.113.7"));
        logins.failed("bob", guesser);
        assert!(logins.check("bob", guesser).is_ok());
        logins.failed("bob", guesser);
        let wait = logins
            .check("bob", guesser)
            .expect_err("two failures from one place");
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        // The owner, elsewhere, is not held back, however often they sign in.
        for _ in 0..10 {
            assert!(logins.check("bob", owner).is_ok());
            logins.succeeded("bob", owner);
        }
        // Another place of the guesser's /64 is the same place.
        assert!(logins.check("bob", ip("2001:db8::1")).is_ok());
        logins.failed("bob", ip("2001:db8::1"));
        logins.failed("bob", ip("2001:db8::2"));
        assert!(logins.check("bob", ip("2001:db8::3")).is_err());
        // Five failures over all places reach the ceiling: then nobody may try.
        logins.failed("bob", ip("192.0.2.1"));
        assert!(logins.check("bob", owner).is_err());
        assert!(logins.check("alice", owner).is_ok());
    }
}
