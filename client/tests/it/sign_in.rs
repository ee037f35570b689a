//! Signing up and in when the device cannot keep the sign-in: a keyring that is locked
//! (or not running) must stop the user before the server makes an account or a session,
//! so that trying again once it works succeeds instead of finding the name taken.

use std::sync::Arc;

use ferry_client::store::DatabaseKey;
use ferry_client::tokens::{Credentials, MemoryTokens, TokenError, TokenStore};
use ferry_client::{Client, ErrorKind, LocalErrorKind};

use crate::support::{Served, TestDb, TestServer, config, options};

/// A keyring that refuses every write, as a locked Secret Service does.
struct Locked;

impl TokenStore for Locked {
    fn load(&self, _account: &str) -> Result<Option<Credentials>, TokenError> {
        Ok(None)
    }
    fn save(&self, _account: &str, _credentials: &Credentials) -> Result<(), TokenError> {
        Err(TokenError("the OS keyring is locked".into()))
    }
    fn clear(&self, _account: &str) -> Result<(), TokenError> {
        Ok(())
    }
    fn database_key(&self, _folder: &str) -> Result<Option<DatabaseKey>, TokenError> {
        Ok(None)
    }
    fn save_database_key(&self, _folder: &str, _key: &DatabaseKey) -> Result<(), TokenError> {
        Err(TokenError("the OS keyring is locked".into()))
    }
    fn check(&self) -> Result<(), TokenError> {
        Err(TokenError("the OS keyring is locked".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keyring_stops_sign_up_before_the_account_is_made() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let dir = tempfile::tempdir().expect("dir");
    let refused = Client::register(
        options(&server.url(), dir.path()),
        Arc::new(Locked),
        "dana",
        "correct horse battery",
        "Dana",
    )
    .await
    .err()
    .expect("no sign-up without a keyring");
    assert_eq!(refused.kind(), ErrorKind::Local(LocalErrorKind::Keyring));
    assert!(refused.to_string().contains("locked"), "{refused}");
    // The keyring unlocked, the same press works: the name was not taken meanwhile.
    let client = Client::register(
        options(&server.url(), dir.path()),
        Arc::new(MemoryTokens::default()),
        "dana",
        "correct horse battery",
        "Dana",
    )
    .await
    .expect("sign-up once the keyring works");
    assert_eq!(client.me().username, "dana");
    // Signing in checks first too: no session is made that this device would lose.
    let refused = Client::login(
        options(&server.url(), dir.path()),
        Arc::new(Locked),
        "dana",
        "correct horse battery",
    )
    .await
    .err()
    .expect("no sign-in without a keyring");
    assert_eq!(refused.kind(), ErrorKind::Local(LocalErrorKind::Keyring));
    server.stop().await;
}

/// After signing out, the device still knows which server and username it used last, so
/// that a sign-in form can propose them (and not the defaults).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_signed_out_of_is_proposed_next_time() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let dir = tempfile::tempdir().expect("dir");
    let tokens = Arc::new(MemoryTokens::default());
    assert!(
        Client::last_account(dir.path(), &*tokens)
            .expect("read")
            .is_none()
    );
    let client = Client::register(
        options(&server.url(), dir.path()),
        tokens.clone(),
        "erin",
        "correct horse battery",
        "Erin",
    )
    .await
    .expect("register");
    client.sign_out().await.expect("sign out");
    let last = Client::last_account(dir.path(), &*tokens)
        .expect("read")
        .expect("the account signed out of");
    assert_eq!(
        (last.server_url.as_str(), last.user.username.as_str()),
        (client.server_url(), "erin")
    );
    assert_eq!(client.server_url(), server.url());
    server.stop().await;
}
