//! Access tokens (HS256 JWTs, algorithm pinned; typed `at+jwt` as RFC 9068 has it, and
//! `iss`, `aud` and `exp` checked, with [`LEEWAY_SECS`] for clocks a little apart) and
//! refresh tokens (32 random bytes, sent hex-encoded, stored only as SHA-256).

use std::time::Duration;

use ferry_proto::{SessionId, TOKEN_AUDIENCE, Timestamp, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::store::RefreshGrant;

/// The `typ` header of an access token (RFC 9068): a JWT of another kind made with the
/// same secret is never taken for one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Who issues Ferry's access tokens.
pub const ISSUER: &str = "ferry";

/// How far past `exp` (in seconds) a token is still taken: the nodes of a cluster check
/// each other's tokens, and their clocks may be a little apart (they are kept within a
/// second, docs/operations.md). A socket is still closed at its token's `exp`.
pub const LEEWAY_SECS: u64 = 5;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Always [`ISSUER`].
    pub iss: String,
    /// The user.
    pub sub: UserId,
    /// The session.
    pub sid: SessionId,
    /// Always [`TOKEN_AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Issues and verifies tokens with the server's secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

/// A freshly issued access token.
pub struct AccessToken {
    /// The JWT.
    pub token: String,
    /// When it expires.
    pub expires_at: Timestamp,
}

impl TokenKeys {
    /// Keys from an HMAC secret.
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "sub", "iss"]);
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// A new access token for a session.
    pub fn issue(&self, user: UserId, session: SessionId) -> Result<AccessToken, Error> {
        let now = Timestamp::now().as_millis() / 1000;
        let exp = now + self.access_ttl.as_secs() as i64;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: user,
            sid: session,
            aud: TOKEN_AUDIENCE.into(),
            iat: now,
            exp,
        };
        let header = Header {
            typ: Some(ACCESS_TOKEN_TYPE.into()),
            ..Header::new(Algorithm::HS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("jwt encode: {e}")))?;
        Ok(AccessToken {
            token,
            expires_at: Timestamp::from_millis(exp * 1000),
        })
    }

    /// The claims of a valid access token: right type, algorithm, signature, issuer and
    /// audience, not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidToken.into());
        }
        Ok(data.claims)
    }

    /// A new refresh token and the grant to store for it.
    pub fn new_refresh(&self) -> Result<(String, RefreshGrant), Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("getrandom: {e}")))?;
        let token = hex::encode(bytes);
        let expires_at = Timestamp::from_millis(
            Timestamp::now().as_millis() + self.refresh_ttl.as_millis() as i64,
        );
        let grant = RefreshGrant {
            token_hash: hash_refresh(&token),
            expires_at,
        };
        Ok((token, grant))
    }
}

/// The stored form of a refresh token.
pub fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
