//! Authentication: password hashing ([`password`]), access and refresh tokens
//! ([`tokens`]), the [`Caller`] extractor that every authenticated route takes, and
//! [`end_sessions`], which signs sessions out on every node.

pub mod password;
pub mod tokens;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ferry_proto::{SessionId, Timestamp, UserId};

use crate::coalesce::Coalescer;
use crate::error::Error;
use crate::state::App;
use crate::store::Store;

/// The authenticated user of a request: from a valid access token of a live session.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// The token's `sub`.
    pub user_id: UserId,
    /// The token's `sid`.
    pub session_id: SessionId,
    /// The token's `exp`, in Unix seconds.
    pub expires_at: i64,
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Caller {
    /// Checks an access token and that its session is still live.
    pub async fn from_token(app: &App, token: &str) -> Result<Self, Error> {
        let claims = app
            .tokens
            .verify(token)
            .map_err(|_| Error::unauthorized("invalid or expired access token"))?;
        if !app.sessions.get(claims.sid).await? {
            return Err(Error::unauthorized("this session has ended; sign in again"));
        }
        Ok(Self {
            user_id: claims.sub,
            session_id: claims.sid,
            expires_at: claims.exp,
        })
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        let token =
            bearer(&parts.headers).ok_or_else(|| Error::unauthorized("missing bearer token"))?;
        Self::from_token(app, token).await
    }
}

/// The coalesced session check: which of the asked sessions are live.
pub fn session_lookup(store: Arc<dyn Store>) -> Coalescer<SessionId, bool> {
    Coalescer::new(Arc::new(move |ids: Vec<SessionId>| {
        let store = store.clone();
        Box::pin(async move {
            let active = store.active_sessions(&ids).await?;
            Ok(active.into_iter().map(|id| (id, true)).collect())
        })
    }))
}

/// Ends sessions of `user` (see `AccountStore::end_sessions`) and closes their sockets on
/// every node.
pub async fn end_sessions(
    app: &App,
    user: UserId,
    only: Option<SessionId>,
    except: Option<SessionId>,
) -> crate::error::Result<Vec<SessionId>> {
    let ended = app
        .store
        .end_sessions(user, only, except, Timestamp::now())
        .await?;
    announce_ended(app, &ended);
    Ok(ended)
}

/// Closes the sockets of `ended` sessions on every node.
pub fn announce_ended(app: &App, ended: &[SessionId]) {
    for session in ended {
        app.announce.session_ended(*session);
    }
}

/// Checks `given` against `hash` (none: an account that does not exist, checked in the
/// same time), counted per username and place as sign-in counts: over the limit it is
/// refused before any check; a wrong one counts against `username`, a right one clears
/// this place's count. Sign-in and the account's own settings both go through it.
pub async fn counted_password_check(
    app: &App,
    username: &str,
    from: std::net::IpAddr,
    given: String,
    hash: Option<String>,
) -> Result<bool, Error> {
    app.limits
        .failed_logins
        .check(username, from)
        .map_err(Error::RateLimited)?;
    let ok = password::verify(given, hash).await?;
    if ok {
        app.limits.failed_logins.succeeded(username, from);
    } else {
        app.limits.failed_logins.failed(username, from);
    }
    Ok(ok)
}
