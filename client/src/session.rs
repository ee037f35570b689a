//! [`Session`]: the signed-in session's credentials, kept fresh. The access token is
//! refreshed before it expires, by the server's clock (the engine measures the skew from
//! `welcome`), never more than once a second, and when a REST call is refused with 401
//! (the [`Api`] that owns the session does that). The refresh token is single-use, so processes
//! of one account (the app and the CLI) refresh under a file lock and re-read the keyring
//! first: a newer token stored by another process is used instead of presenting a used
//! one, which the server would punish by ending the session.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_proto::{ErrorCode, Timestamp};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::api::{Api, ApiError, Credential, SessionError};
use crate::clock::{Clock, SystemClock};
use crate::tokens::{Credentials, TokenError, TokenStore};

/// Proactive refreshes are at least this far apart (a guard against a clock gone wrong).
const MIN_REFRESH_GAP: Duration = Duration::from_secs(1);

struct Held {
    credentials: Credentials,
    /// Refresh this long before expiry: a quarter of the token's lifetime, at most 60 s.
    margin: Duration,
    last_refresh: Option<Instant>,
}

/// The credentials of one account on this device.
pub struct Session {
    api: Api,
    tokens: Arc<dyn TokenStore>,
    key: String,
    lock_path: PathBuf,
    held: Mutex<Held>,
    /// Server clock minus local clock, in ms (from the last `welcome`).
    skew_ms: AtomicI64,
    /// The client's clock: the skew is measured against it.
    clock: Arc<dyn Clock>,
}

impl Session {
    /// A session for `key`'s credentials, by the system's clock.
    pub fn new(
        api: Api,
        tokens: Arc<dyn TokenStore>,
        key: String,
        lock_path: PathBuf,
        credentials: Credentials,
    ) -> Self {
        Self::with_clock(
            api,
            tokens,
            key,
            lock_path,
            credentials,
            Arc::new(SystemClock),
        )
    }

    /// A session for `key`'s credentials that reads the time from `clock`.
    pub fn with_clock(
        api: Api,
        tokens: Arc<dyn TokenStore>,
        key: String,
        lock_path: PathBuf,
        credentials: Credentials,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let session = Self {
            api,
            tokens,
            key,
            lock_path,
            clock,
            held: Mutex::new(Held {
                credentials: credentials.clone(),
                margin: Duration::ZERO,
                last_refresh: None,
            }),
            skew_ms: AtomicI64::new(0),
        };
        session.held().margin = session.margin_for(&credentials);
        session
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server's clock now, as best known.
    fn server_now(&self) -> i64 {
        self.clock.now().as_millis() + self.skew_ms.load(Ordering::Relaxed)
    }

    fn margin_for(&self, c: &Credentials) -> Duration {
        let left = (c.access_expires_at.as_millis() - self.server_now()).max(0) as u64;
        Duration::from_millis(left / 4).min(Duration::from_secs(60))
    }

    /// Records the server's clock (from `welcome`) so expiry is judged by it.
    pub fn observe_server_time(&self, server_time: Timestamp) {
        self.skew_ms.store(
            server_time.as_millis() - self.clock.now().as_millis(),
            Ordering::Relaxed,
        );
        let mut held = self.held();
        held.margin = self.margin_for(&held.credentials);
    }

    /// The current credentials (possibly stale).
    pub fn credentials(&self) -> Credentials {
        self.held().credentials.clone()
    }

    fn fresh(&self, held: &Held) -> bool {
        self.server_now()
            < held.credentials.access_expires_at.as_millis() - held.margin.as_millis() as i64
    }

    /// How long until the access token should be refreshed (never less than a second
    /// after the last refresh).
    pub fn refresh_in(&self) -> Duration {
        let held = self.held();
        let due = held.credentials.access_expires_at.as_millis() - held.margin.as_millis() as i64;
        let wait = Duration::from_millis((due - self.server_now()).max(0) as u64);
        let floor = held.last_refresh.map_or(Duration::ZERO, |at| {
            MIN_REFRESH_GAP.saturating_sub(at.elapsed())
        });
        wait.max(floor)
    }

    /// A valid access token, refreshed first if it is about to expire.
    pub async fn access_token(&self) -> Result<String, SessionError> {
        {
            let held = self.held();
            if self.fresh(&held) {
                return Ok(held.credentials.access_token.clone());
            }
        }
        Ok(self.refresh().await?.access_token)
    }

    /// Exchanges the newest refresh token for new tokens, or adopts fresh ones another
    /// process of this account got meanwhile.
    pub async fn refresh(&self) -> Result<Credentials, SessionError> {
        let path = self.lock_path.clone();
        let lock = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| TokenError(format!("refresh lock task: {e}")))?
        .map_err(|e| TokenError(format!("refresh lock: {e}")))?;

        let mine = self.credentials();
        let newest = match self.tokens.load(&self.key)? {
            None => return Err(SessionError::SignedOut),
            // Another process refreshed: its tokens are the newest (ours are used up).
            Some(stored) if stored.refresh_token != mine.refresh_token => stored,
            Some(_) => mine,
        };
        let candidate = Held {
            margin: self.margin_for(&newest),
            credentials: newest.clone(),
            last_refresh: None,
        };
        let fresh = if newest.refresh_token != self.credentials().refresh_token
            && self.fresh(&candidate)
        {
            newest
        } else {
            match self.api.refresh(&newest.refresh_token).await {
                Ok(tokens) => {
                    let fresh = Credentials::from(&tokens);
                    // Keep them before anything else can fail: presenting the used refresh
                    // token again would end the session.
                    self.adopt(&fresh);
                    if let Err(e) = self.tokens.save(&self.key, &fresh) {
                        tracing::warn!(error = %e, "new tokens could not be saved; kept in memory");
                    }
                    fresh
                }
                Err(ApiError::Server {
                    code: ErrorCode::Unauthorized,
                    ..
                }) => {
                    self.tokens.clear(&self.key)?;
                    return Err(SessionError::SignedOut);
                }
                Err(e) => return Err(e.into()),
            }
        };
        drop(lock);
        self.adopt(&fresh);
        Ok(fresh)
    }

    fn adopt(&self, fresh: &Credentials) {
        let margin = self.margin_for(fresh);
        *self.held() = Held {
            credentials: fresh.clone(),
            margin,
            last_refresh: Some(Instant::now()),
        };
    }

    /// Ends the session on the server and forgets the credentials here. The credentials
    /// are forgotten even when the server cannot be told; the error then says so.
    pub async fn sign_out(&self) -> Result<(), SessionError> {
        let told = match self.access_token().await {
            Ok(token) => self.api.with_token(&token).logout().await,
            Err(e) => Err(e),
        };
        self.tokens.clear(&self.key)?;
        match told {
            Ok(()) | Err(SessionError::SignedOut) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Credential for Session {
    fn token(&self) -> BoxFuture<'_, Result<String, SessionError>> {
        Box::pin(self.access_token())
    }

    fn fresh_token(&self) -> BoxFuture<'_, Result<String, SessionError>> {
        Box::pin(async move { Ok(self.refresh().await?.access_token) })
    }
}
