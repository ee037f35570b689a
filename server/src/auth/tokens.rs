//! Access tokens (HS256 JWTs, algorithm pinned, `aud` and `exp` checked) and refresh
//! tokens (32 random bytes, sent hex-encoded, stored only as SHA-256).

use std::time::Duration;

use ferry_proto::{TOKEN_AUDIENCE, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::Error;
use crate::store::RefreshGrant;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The session.
    pub sid: Uuid,
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
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        // Expiry is exact: a token is refused from its `exp` on.
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// A new access token for a session.
    pub fn issue(&self, user: Uuid, session: Uuid) -> Result<AccessToken, Error> {
        let now = Timestamp::now().as_millis() / 1000;
        let exp = now + self.access_ttl.as_secs() as i64;
        let claims = Claims {
            sub: user,
            sid: session,
            aud: TOKEN_AUDIENCE.into(),
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("jwt encode: {e}")))?;
        Ok(AccessToken {
            token,
            expires_at: Timestamp::from_millis(exp * 1000),
        })
    }

    /// The claims of a valid token: right algorithm, signature, audience, not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
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
