//! An administrator for the tests of what operators do, made as `ferry-server admin grant`
//! makes one (in the server's database, as the host's command), for suites that run where
//! that binary cannot (the client's and the CLI's, which also run under Wine).

use ferry_server::store::Audit;

/// Registers `username` on `server_url` and makes it an administrator in the database
/// at `database_url`; its tokens.
pub async fn administrator(
    server_url: &str,
    database_url: &str,
    username: &str,
) -> ferry_proto::Tokens {
    let tokens: ferry_proto::Tokens = reqwest::Client::new()
        .post(format!("{server_url}/api/v1/auth/register"))
        .json(
            &serde_json::json!({"username": username, "password": "correct horse battery",
            "display_name": username}),
        )
        .send()
        .await
        .expect("register the administrator")
        .json()
        .await
        .expect("tokens");
    let store = ferry_server::open_store(database_url, 1)
        .await
        .expect("the server's database");
    let audit = Audit {
        actor: None,
        action: "grant_admin",
        target: tokens.user.id.to_string(),
        reason: "a test's operator".into(),
        at: ferry_proto::Timestamp::now(),
    };
    assert!(
        store
            .set_admin(tokens.user.id, true, &audit)
            .await
            .expect("grant"),
        "the administrator exists"
    );
    tokens
}
