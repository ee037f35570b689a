//! A group larger than one key-package claim is encrypted too (issue 31), on both server
//! databases. Alice's client core makes the group of a conversation with 120 others: it
//! claims their devices' key packages 100 users at a time, and its first commit, which
//! adds every device (each one's key package, welcome secrets and leaf of the tree: well
//! over the 128 KiB of an ordinary request), is accepted. One of the others, a device
//! driven through the client core's own MLS code rather than a whole client, then joins
//! by its welcome and opens what Alice sent.

use ferry_client::Api;
use ferry_client::mls::Device as MlsDevice;
use ferry_proto::mls::{MAX_CLAIM_USERS, SealedContent};
use ferry_proto::{RegisterRequest, Tokens};
use ferry_testkit::Backend;

use crate::support::{Served, TestDb, TestServer, config, encrypted, online};

/// More than one claim's worth of users.
const OTHERS: usize = MAX_CLAIM_USERS + 20;

/// A new account signed in on a device that has published one key package.
async fn member(api: &Api, i: usize) -> (Api, Tokens, MlsDevice) {
    let tokens = api
        .register(&RegisterRequest {
            username: format!("member{i}"),
            password: "correct horse battery".into(),
            display_name: format!("Member {i}"),
            email: None,
            device_name: None,
        })
        .await
        .expect("register");
    let signed_in = api.with_token(&tokens.access_token);
    let mut device = MlsDevice::in_memory(tokens.user.id, tokens.session_id);
    let packages = device.key_packages(1, false).expect("a key package");
    signed_in
        .publish_key_packages(packages)
        .await
        .expect("publish");
    (signed_in, tokens, device)
}

async fn a_group_larger_than_one_claim_is_encrypted(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let api = Api::new(&url).expect("api");
    let mut others = Vec::with_capacity(OTHERS);
    for i in 0..OTHERS {
        others.push(member(&api, i).await);
    }
    let [alice] = online(&url, ["alice"]).await;
    let ids: Vec<_> = others.iter().map(|(_, t, _)| t.user.id).collect();
    let chat = alice
        .client
        .create_group("everyone", &ids)
        .await
        .expect("create the group");
    alice
        .until("the big group is encrypted", |c| encrypted(c, chat))
        .await;
    alice
        .conversation(chat)
        .send("the offsite is in Lisbon")
        .expect("send");

    alice
        .until("the server has alice's message", |c| {
            c.conversation(chat)
                .messages(None, 10)
                .expect("messages")
                .iter()
                .any(|m| m.seq.is_some())
        })
        .await;

    let (last_api, _, last_device) = others.last_mut().expect("others");
    let welcomes = last_api.welcomes().await.expect("welcomes");
    assert_eq!(welcomes.len(), 1, "one welcome, to the group: {welcomes:?}");
    last_device.join(&welcomes[0]).expect("join by the welcome");
    let page = last_api.messages_after(chat, 0, 50).await.expect("history");
    let sealed = page
        .messages
        .into_iter()
        .find_map(|m| m.sealed)
        .expect("alice's message, sealed");
    let opened = last_device.unseal(chat, &sealed).expect("open");
    assert_eq!(
        opened,
        SealedContent {
            body: "the offsite is in Lisbon".into(),
            ..SealedContent::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_larger_than_one_claim_is_encrypted_on_sqlite() {
    a_group_larger_than_one_claim_is_encrypted(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_larger_than_one_claim_is_encrypted_on_postgres() {
    a_group_larger_than_one_claim_is_encrypted(Backend::Postgres).await;
}
