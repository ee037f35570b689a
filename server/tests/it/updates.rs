//! The desktop app's update feed (`FERRY_UPDATES_DIR` served at `/updates/`): the manifest
//! and the bundles come back byte for byte, marked to be asked for again rather than
//! cached; nothing outside the directory can be reached through it; and a server that
//! publishes no updates says so. (The app's side, a real update installed and a tampered
//! one refused, is `scripts/update-test.sh`.)

use reqwest::StatusCode;

use crate::support::{Served, TestDb, TestServer, test_config};

#[tokio::test]
async fn the_update_directory_is_served_as_it_is() {
    let db = TestDb::sqlite();
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("updates");
    std::fs::create_dir_all(&dir).expect("updates dir");
    let manifest = br#"{"version":"0.2.0","platforms":{}}"#;
    std::fs::write(dir.join("latest.json"), manifest).expect("manifest");
    let bundle: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    std::fs::write(dir.join("Ferry_0.2.0_amd64.deb"), &bundle).expect("bundle");
    std::fs::write(root.path().join("secret"), b"not for the feed").expect("secret");
    let mut config = test_config(&db);
    config.updates_dir = Some(dir);
    let server = TestServer::start_with(config).await;
    let http = reqwest::Client::new();

    let answer = http
        .get(format!("{}/updates/latest.json", server.url()))
        .send()
        .await
        .expect("manifest");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.headers()["cache-control"],
        "no-cache",
        "the manifest must not be cached past a new publication"
    );
    assert_eq!(answer.bytes().await.expect("body").as_ref(), manifest);

    let answer = http
        .get(format!("{}/updates/Ferry_0.2.0_amd64.deb", server.url()))
        .send()
        .await
        .expect("bundle");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.bytes().await.expect("body").as_ref(), bundle);

    for outside in [
        "/updates/../secret",
        "/updates/%2e%2e/secret",
        "/updates/..%2fsecret",
    ] {
        let answer = http
            .get(format!("{}{outside}", server.url()))
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{outside}");
        assert!(
            !answer
                .text()
                .await
                .expect("body")
                .contains("not for the feed"),
            "{outside} reached a file outside the directory"
        );
    }
    let missing = http
        .get(format!("{}/updates/Ferry_9.9.9_amd64.deb", server.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let error: serde_json::Value = missing.json().await.expect("a JSON error");
    assert_eq!(error["error"]["code"], "not_found", "{error}");
}

#[tokio::test]
async fn a_server_without_updates_says_so() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let answer = reqwest::get(format!("{}/updates/latest.json", server.url()))
        .await
        .expect("request");
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let error: serde_json::Value = answer.json().await.expect("a JSON error");
    assert_eq!(error["error"]["code"], "not_found", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("publishes no app updates")),
        "{error}"
    );
}
