//! Argon2id password hashing, run on the blocking pool so that a burst of sign-ins never
//! stalls the async workers, and at most one hash per core at a time: each takes ~19 MiB
//! and a core for tens of milliseconds, so a flood of sign-ins waits here (and times out)
//! instead of exhausting memory.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::Error;

/// A hash that is verified when the user does not exist, so that a wrong username costs
/// as much time as a wrong password (login failures have one shape).
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

fn dummy_hash() -> String {
    DUMMY_HASH
        .get_or_init(|| {
            Argon2::default()
                .hash_password(b"no account has this password")
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

static HASHING: OnceLock<Semaphore> = OnceLock::new();

async fn hashing_turn() -> Result<tokio::sync::SemaphorePermit<'static>, Error> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    HASHING
        .get_or_init(|| Semaphore::new(cores))
        .acquire()
        .await
        .map_err(|e| Error::Internal(format!("hashing semaphore: {e}")))
}

/// Hashes a password with Argon2id and a fresh salt.
pub async fn hash(password: String) -> Result<String, Error> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hash task: {e}")))?
}

/// Whether `password` matches `phc`; with `None` it burns the same time and says no.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, Error> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(dummy_hash);
        let parsed =
            PasswordHash::new(&phc).map_err(|e| Error::Internal(format!("stored hash: {e}")))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && ok)
    })
    .await
    .map_err(|e| Error::Internal(format!("verify task: {e}")))?
}
