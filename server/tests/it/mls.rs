//! The MLS delivery service (issue 31), driven by real openmls clients with their own
//! keys: key packages are checked, bound to their device and handed out once (the last
//! resort for ever); a group's commits are accepted one per epoch, so of two devices
//! committing at once one wins and the other, told so, applies the winner and commits
//! again, and both end in the same epoch able to read each other; welcomes reach exactly
//! the devices added; the devices signed in are listed without using anything up, and
//! the members of encrypted conversations are told when a session ends. Bad bytes,
//! strangers and stale epochs get clear refusals.

use ferry_proto::mls::{
    ClaimedKeyPackages, Commit, CommitPage, GroupInfo as GroupInfoPage, KeyPackageStock, MlsBytes,
    SignedInDevices, Welcome as PendingWelcome, credential_identity,
};
use ferry_proto::{ConversationId, ServerFrame};
use openmls::prelude::{
    BasicCredential, Capabilities, Ciphersuite, CredentialWithKey, ExtensionType, GroupId,
    KeyPackage, KeyPackageIn, LeafNodeParameters, MlsGroup, MlsGroupCreateConfig,
    MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, OpenMlsProvider as _,
    ProcessedMessageContent, ProtocolVersion, StagedWelcome,
    tls_codec::{Deserialize as _, Serialize as _},
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use ferry_testkit::holds;

use crate::support::{Backend, TestDb, TestServer, User, on_both, within};

const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// One device: a signed-in session with its own MLS keys and, once it has one, its
/// copy of the conversation's group.
struct Device {
    user: User,
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    group: Option<MlsGroup>,
}

impl Device {
    fn new(user: &User) -> Self {
        Self::named(
            user,
            &credential_identity(user.id(), user.tokens.session_id),
        )
    }

    /// A device whose credential says `identity` (a lie, for the refusals).
    fn named(user: &User, identity: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).expect("a key pair");
        let credential = CredentialWithKey {
            credential: BasicCredential::new(identity.as_bytes().to_vec()).into(),
            signature_key: signer.public().into(),
        };
        Self {
            user: user.clone(),
            provider,
            signer,
            credential,
            group: None,
        }
    }

    fn key_package(&self, last_resort: bool) -> Vec<u8> {
        let mut builder = KeyPackage::builder();
        if last_resort {
            // A leaf must list the extensions its key package carries.
            builder = builder.mark_as_last_resort().leaf_node_capabilities(
                Capabilities::builder()
                    .extensions(vec![ExtensionType::LastResort])
                    .build(),
            );
        }
        let bundle = builder
            .build(SUITE, &self.provider, &self.signer, self.credential.clone())
            .expect("a key package");
        bundle
            .key_package()
            .tls_serialize_detached()
            .expect("encodes")
    }

    async fn publish(&self, packages: Vec<Vec<u8>>) -> (StatusCode, Value) {
        let packages: Vec<MlsBytes> = packages.into_iter().map(MlsBytes).collect();
        self.user
            .call(
                Method::POST,
                "/mls/key-packages",
                Some(json!({ "key_packages": packages })),
            )
            .await
    }

    async fn claim(&self, users: &[&User]) -> ClaimedKeyPackages {
        let ids: Vec<_> = users.iter().map(|u| u.id()).collect();
        self.user
            .ok(
                Method::POST,
                "/mls/key-packages/claim",
                Some(json!({ "user_ids": ids })),
            )
            .await
    }

    fn group(&mut self) -> &mut MlsGroup {
        self.group.as_mut().expect("in the group")
    }

    /// Makes the conversation's group (epoch 0) with this device alone in it.
    fn create_group(&mut self, conversation: ConversationId) {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .use_ratchet_tree_extension(true)
            .build();
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            GroupId::from_slice(conversation.0.as_bytes()),
            self.credential.clone(),
        )
        .expect("a group");
        self.group = Some(group);
    }

    /// A commit adding the claimed devices, as the server takes it.
    fn add(&mut self, claimed: &ClaimedKeyPackages) -> Value {
        let packages: Vec<KeyPackage> = claimed
            .key_packages
            .iter()
            .map(|p| {
                KeyPackageIn::tls_deserialize_exact(&p.key_package.0)
                    .expect("decodes")
                    .validate(self.provider.crypto(), ProtocolVersion::Mls10)
                    .expect("valid")
            })
            .collect();
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().expect("in the group");
        let (commit, welcome, info) = group
            .add_members(provider, signer, &packages)
            .expect("an add");
        let info = MlsMessageOut::from(info.expect("a group info"));
        json!({
            "commit": bytes(&commit),
            "welcome": bytes(&welcome),
            "group_info": bytes(&info),
        })
    }

    /// A commit that only renews this device's own keys.
    fn update(&mut self) -> Value {
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().expect("in the group");
        let bundle = group
            .self_update(provider, signer, LeafNodeParameters::default())
            .expect("an update");
        let info = MlsMessageOut::from(bundle.group_info().expect("a group info").clone());
        json!({ "commit": bytes(bundle.commit()), "group_info": bytes(&info) })
    }

    async fn post_commit(&self, conversation: ConversationId, body: Value) -> (StatusCode, Value) {
        self.user
            .call(
                Method::POST,
                &format!("/conversations/{conversation}/mls/commits"),
                Some(body),
            )
            .await
    }

    /// The server took this device's commit: it moves on.
    fn merge_own(&mut self) {
        let provider = &self.provider;
        let group = self.group.as_mut().expect("in the group");
        group.merge_pending_commit(provider).expect("merged");
    }

    /// Applies the group's commits from its own epoch on, in order, as the log gives them.
    async fn catch_up(&mut self, conversation: ConversationId) {
        let from = self.group().epoch().as_u64();
        let page: CommitPage = self
            .user
            .ok(
                Method::GET,
                &format!("/conversations/{conversation}/mls/commits?from_epoch={from}"),
                None,
            )
            .await;
        for commit in page.commits {
            self.apply(&commit);
        }
        assert_eq!(
            self.group().epoch().as_u64() as i64,
            page.epoch,
            "caught up"
        );
    }

    fn apply(&mut self, commit: &Commit) {
        let provider = &self.provider;
        let group = self.group.as_mut().expect("in the group");
        assert_eq!(group.epoch().as_u64() as i64, commit.epoch, "in order");
        let message = MlsMessageIn::tls_deserialize_exact(&commit.commit.0)
            .expect("decodes")
            .try_into_protocol_message()
            .expect("a protocol message");
        let processed = group
            .process_message(provider, message)
            .expect("a commit of the group");
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            panic!("not a commit");
        };
        group
            .merge_staged_commit(provider, *staged)
            .expect("merged");
    }

    /// Joins a group with a welcome the server kept for this device.
    fn join(&mut self, welcome: &PendingWelcome) {
        let MlsMessageBodyIn::Welcome(welcome) =
            MlsMessageIn::tls_deserialize_exact(&welcome.welcome.0)
                .expect("decodes")
                .extract()
        else {
            panic!("not a welcome");
        };
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .build();
        let group = StagedWelcome::new_from_welcome(&self.provider, &config, welcome, None)
            .expect("a welcome for this device")
            .into_group(&self.provider)
            .expect("joined");
        self.group = Some(group);
    }

    fn encrypt(&mut self, text: &str) -> Vec<u8> {
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().expect("in the group");
        let message = group
            .create_message(provider, signer, text.as_bytes())
            .expect("encrypts");
        message.tls_serialize_detached().expect("encodes")
    }

    fn decrypt(&mut self, bytes: &[u8]) -> String {
        let provider = &self.provider;
        let group = self.group.as_mut().expect("in the group");
        let message = MlsMessageIn::tls_deserialize_exact(bytes)
            .expect("decodes")
            .try_into_protocol_message()
            .expect("a protocol message");
        let processed = group.process_message(provider, message).expect("decrypts");
        let ProcessedMessageContent::ApplicationMessage(message) = processed.into_content() else {
            panic!("not an application message");
        };
        String::from_utf8(message.into_bytes()).expect("text")
    }
}

fn bytes(message: &MlsMessageOut) -> MlsBytes {
    MlsBytes(message.tls_serialize_detached().expect("encodes"))
}

async fn stock(user: &User) -> KeyPackageStock {
    user.ok(Method::GET, "/mls/key-packages", None).await
}

async fn key_packages_are_checked_bound_to_their_device_and_claimed_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let alices = Device::new(&alice);

    let (one, two, last) = (
        alices.key_package(false),
        alices.key_package(false),
        alices.key_package(true),
    );
    let (status, body) = alices
        .publish(vec![one.clone(), two.clone(), last.clone()])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        stock(&alice).await,
        KeyPackageStock {
            one_time: 2,
            last_resort: true
        }
    );
    // Again is no error and adds nothing.
    let (status, _) = alices.publish(vec![one.clone()]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stock(&alice).await.one_time, 2);

    // Keys in another's name, garbage, and nothing at all are refused; nothing is kept.
    let liar = Device::named(
        &alice,
        &credential_identity(bob.id(), bob.tokens.session_id),
    );
    let (status, body) = liar.publish(vec![liar.key_package(false)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("credential")),
        "{body}"
    );
    let (status, _) = alices.publish(vec![b"not a key package".to_vec()]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    alice
        .refused(
            Method::POST,
            "/mls/key-packages",
            Some(json!({"key_packages": ["%%%"]})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    let (status, _) = alices.publish(Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(stock(&alice).await.one_time, 2);

    // A stranger cannot drain them.
    let bobs = Device::new(&bob);
    bob.refused(
        Method::POST,
        "/mls/key-packages/claim",
        Some(json!({"user_ids": [alice.id()]})),
        (StatusCode::NOT_FOUND, "not_found"),
    )
    .await;
    bob.direct_with(&alice).await;

    // One-time packages go once each; then the last resort, for ever.
    let mut handed = Vec::new();
    for _ in 0..4 {
        let claimed = bobs.claim(&[&alice]).await;
        assert_eq!(claimed.key_packages.len(), 1, "one device");
        assert_eq!(claimed.key_packages[0].device.user_id, alice.id());
        assert_eq!(
            claimed.key_packages[0].device.session_id,
            alice.tokens.session_id
        );
        handed.push(claimed.key_packages[0].key_package.0.clone());
    }
    // (Packages of one publish are equally old: either may go first.)
    let mut first_two = handed[..2].to_vec();
    first_two.sort();
    let mut published = vec![one, two];
    published.sort();
    assert!(first_two == published, "the one-time packages first");
    assert!(
        handed[2..] == [last.clone(), last],
        "then the last resort, twice"
    );
    assert_eq!(
        stock(&alice).await,
        KeyPackageStock {
            one_time: 0,
            last_resort: true
        }
    );

    // Alice's second device has no keys yet: it is named, so a client can say whom it
    // waits for. A signed-out device is not named at all.
    let alice_laptop = User::login(&server, "alice").await;
    let claimed = bobs.claim(&[&alice]).await;
    assert_eq!(claimed.without_keys.len(), 1);
    assert_eq!(
        claimed.without_keys[0].session_id,
        alice_laptop.tokens.session_id
    );
    alice_laptop
        .no_content(Method::POST, "/auth/logout", None)
        .await;
    let claimed = bobs.claim(&[&alice]).await;
    assert!(claimed.without_keys.is_empty(), "{claimed:?}");
    assert_eq!(claimed.key_packages.len(), 1);

    // Claiming oneself names one's other devices, never the calling one.
    let own = alices.claim(&[&alice]).await;
    assert!(
        own.key_packages.is_empty() && own.without_keys.is_empty(),
        "{own:?}"
    );
}

/// The signed-in devices of whoever shares a conversation: listed without using up a key
/// package, strangers left out, and a device gone once its session ends.
async fn signed_in_devices_are_listed_and_use_up_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let alices = Device::new(&alice);
    let (status, body) = alices.publish(vec![alices.key_package(false)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bob.direct_with(&alice).await;
    let laptop = User::login(&server, "alice").await;

    let devices = async |asker: &User,
                         users: &[&User]|
           -> Vec<(ferry_proto::UserId, ferry_proto::SessionId)> {
        let ids: Vec<_> = users.iter().map(|u| u.id()).collect();
        let answer: SignedInDevices = asker
            .ok(Method::POST, "/mls/devices", Some(json!({"user_ids": ids})))
            .await;
        let mut devices: Vec<_> = answer
            .devices
            .iter()
            .map(|d| (d.user_id, d.session_id))
            .collect();
        devices.sort();
        devices
    };
    let mut alices_two = vec![
        (alice.id(), alice.tokens.session_id),
        (alice.id(), laptop.tokens.session_id),
    ];
    alices_two.sort();
    assert_eq!(
        devices(&bob, &[&alice, &carol]).await,
        alices_two,
        "carol is a stranger to bob"
    );
    assert_eq!(
        devices(&carol, &[&alice]).await,
        Vec::new(),
        "and alice to carol"
    );
    assert_eq!(
        devices(&alice, &[&alice]).await,
        alices_two,
        "one's own, the asking one too"
    );
    assert_eq!(stock(&alice).await.one_time, 1, "nothing used up");

    laptop.no_content(Method::POST, "/auth/logout", None).await;
    assert_eq!(
        devices(&bob, &[&alice]).await,
        vec![(alice.id(), alice.tokens.session_id)],
        "a signed-out device is gone"
    );
    for user_ids in [json!([]), json!(vec![alice.id(); 101])] {
        bob.refused(
            Method::POST,
            "/mls/devices",
            Some(json!({ "user_ids": user_ids })),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    }
}

async fn one_commit_per_epoch_and_the_loser_converges(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let chat = alice.direct_with(&bob).await.id;
    let (mut alices, mut bobs) = (Device::new(&alice), Device::new(&bob));
    for device in [&alices, &bobs] {
        let (status, body) = device
            .publish(vec![device.key_package(false), device.key_package(true)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut bob_socket = bob.ws().await;

    // Alice makes the group and adds Bob's device: the commit of epoch 0.
    alices.create_group(chat);
    let claimed = alices.claim(&[&bob]).await;
    assert_eq!(claimed.key_packages.len(), 1);
    let add = alices.add(&claimed);

    // Refusals first, each keeping the group where it is: another conversation's group,
    // a commit from a stranger, a group info that does not match.
    let elsewhere = alice.direct_with(&carol).await.id;
    let (status, body) = alices.post_commit(elsewhere, add.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let carols = Device::new(&carol);
    let (status, _) = carols.post_commit(chat, add.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a stranger's commit");
    let mut mismatched = add.clone();
    mismatched["group_info"] = mismatched["commit"].clone();
    let (status, _) = alices.post_commit(chat, mismatched).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut garbage = add.clone();
    garbage["commit"] = json!(MlsBytes(b"garbage".to_vec()));
    let (status, _) = alices.post_commit(chat, garbage).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = alices.post_commit(chat, add.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let accepted: Commit = serde_json::from_value(body).expect("a commit");
    assert_eq!(
        (accepted.epoch, accepted.committer.session_id),
        (0, alice.tokens.session_id)
    );
    alices.merge_own();
    // The same commit again is stale now.
    alice
        .refused(
            Method::POST,
            &format!("/conversations/{chat}/mls/commits"),
            Some(add),
            (StatusCode::CONFLICT, "conflict"),
        )
        .await;

    // Bob's device hears of its welcome live, and finds it waiting.
    let frame = bob_socket
        .expect("a welcome", |f| matches!(f, ServerFrame::MlsWelcome { .. }))
        .await;
    let ServerFrame::MlsWelcome {
        session_id,
        welcome,
    } = frame
    else {
        unreachable!()
    };
    assert_eq!(session_id, bob.tokens.session_id);
    let waiting: Vec<PendingWelcome> = bob.ok(Method::GET, "/mls/welcomes", None).await;
    assert_eq!(waiting, vec![*welcome.clone()]);
    assert_eq!(welcome.epoch, 1);
    bobs.join(&welcome);
    bob.no_content(
        Method::DELETE,
        &format!("/mls/welcomes/{}", welcome.id),
        None,
    )
    .await;
    let waiting: Vec<PendingWelcome> = bob.ok(Method::GET, "/mls/welcomes", None).await;
    assert!(waiting.is_empty());
    let no_welcomes: Vec<PendingWelcome> = alice.ok(Method::GET, "/mls/welcomes", None).await;
    assert!(no_welcomes.is_empty(), "a welcome goes to its device only");

    // Both commit in epoch 1 at once: exactly one wins.
    let (from_alice, from_bob) = (alices.update(), bobs.update());
    let (a, b) = tokio::join!(
        alices.post_commit(chat, from_alice),
        bobs.post_commit(chat, from_bob)
    );
    let statuses = [a.0, b.0];
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::CONFLICT),
        "one wins, one is told: {a:?} {b:?}"
    );
    let (winner, loser) = if a.0 == StatusCode::OK {
        (&mut alices, &mut bobs)
    } else {
        (&mut bobs, &mut alices)
    };
    winner.merge_own();
    // The loser drops its commit, applies the winner's, and commits again.
    let provider = &loser.provider;
    loser
        .group
        .as_mut()
        .expect("in the group")
        .clear_pending_commit(provider.storage())
        .expect("cleared");
    loser.catch_up(chat).await;
    let again = loser.update();
    let (status, body) = loser.post_commit(chat, again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    loser.merge_own();
    winner.catch_up(chat).await;

    // The same epoch, and each reads the other.
    assert_eq!(alices.group().epoch().as_u64(), 3);
    assert_eq!(bobs.group().epoch().as_u64(), 3);
    let sealed = alices.encrypt("salary: 1 EUR");
    assert_eq!(bobs.decrypt(&sealed), "salary: 1 EUR");
    let sealed = bobs.encrypt("noted");
    assert_eq!(alices.decrypt(&sealed), "noted");

    // The log: epochs 0, 1, 2 without a gap, and the info of epoch 3.
    let log: CommitPage = commit_log(&bob, chat).await;
    let epochs: Vec<i64> = log.commits.iter().map(|c| c.epoch).collect();
    assert_eq!((epochs, log.epoch), (vec![0, 1, 2], 3));
    let info: GroupInfoPage = bob
        .ok(
            Method::GET,
            &format!("/conversations/{chat}/mls/group-info"),
            None,
        )
        .await;
    assert_eq!(info.epoch, 3);
    carol
        .refused(
            Method::GET,
            &format!("/conversations/{chat}/mls/commits"),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    carol
        .refused(
            Method::GET,
            &format!("/conversations/{chat}/mls/group-info"),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
}

/// The whole log as a member reads it.
async fn commit_log(member: &User, chat: ConversationId) -> CommitPage {
    within(
        "the log",
        member.ok(
            Method::GET,
            &format!("/conversations/{chat}/mls/commits?from_epoch=0&limit=100"),
            None,
        ),
    )
    .await
}

/// A welcome must name key packages this server handed out for members' devices: one
/// made for a stranger's keys is refused, and the group stays where it was.
async fn a_welcome_goes_only_to_members_devices(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let chat = alice.direct_with(&bob).await.id;
    alice.direct_with(&carol).await;
    let mut alices = Device::new(&alice);
    let carols = Device::new(&carol);
    let (status, _) = carols.publish(vec![carols.key_package(false)]).await;
    assert_eq!(status, StatusCode::OK);
    // Carol's keys, claimed lawfully (she and Alice share a conversation), but Carol is no
    // member of this one.
    let claimed = alices.claim(&[&carol]).await;
    assert_eq!(claimed.key_packages.len(), 1);
    alices.create_group(chat);
    let add = alices.add(&claimed);
    let (status, body) = alices.post_commit(chat, add).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let log: CommitPage = commit_log(&alice, chat).await;
    assert!(log.commits.is_empty() && log.epoch == 0, "{log:?}");
    alice
        .refused(
            Method::GET,
            &format!("/conversations/{chat}/mls/group-info"),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
}

/// A session that ends is told (`mls_session_ended`) to the sockets of everyone in an
/// encrypted conversation with its user, the user's own other devices included, within a
/// look of the server's (2 s), and once: not to a contact whose conversation with them
/// is plain, nor to a stranger.
async fn an_ended_session_is_told_to_its_encrypted_co_members(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let dave = User::register(&server, "dave").await;
    let chat = alice.direct_with(&bob).await.id;
    alice.direct_with(&carol).await;
    let (mut alices, bobs) = (Device::new(&alice), Device::new(&bob));
    let (status, body) = bobs.publish(vec![bobs.key_package(false)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    alices.create_group(chat);
    let claimed = alices.claim(&[&bob]).await;
    let add = alices.add(&claimed);
    let (status, body) = alices.post_commit(chat, add).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let [mut at_alice, mut at_bob, mut at_carol, mut at_dave] = [
        alice.ws().await,
        bob.ws().await,
        carol.ws().await,
        dave.ws().await,
    ];
    // The frame names the session that ended: the device the groups may still hold.
    let ended = |user: &User| {
        let device = (user.id(), user.tokens.session_id);
        move |f: &ServerFrame| {
            matches!(f, ServerFrame::MlsSessionEnded { user_id, session_id }
                if (*user_id, *session_id) == device)
        }
    };
    let phone = User::login(&server, "alice").await;
    phone.no_content(Method::POST, "/auth/logout", None).await;
    at_bob.expect("bob is told", ended(&phone)).await;
    at_alice
        .expect("alice's other device is told", ended(&phone))
        .await;
    for (who, socket) in [("carol", &mut at_carol), ("dave", &mut at_dave)] {
        let frames = socket.until_pong().await;
        assert!(
            !frames
                .iter()
                .any(|f| matches!(f, ServerFrame::MlsSessionEnded { .. })),
            "{who} is told: {frames:?}"
        );
    }

    // Bob's tablet signs out a moment later, while the server's looks still find the
    // phone's end (they overlap by seconds): Alice is told of the tablet, and of the
    // phone no more.
    let tablet = User::login(&server, "bob").await;
    tablet.no_content(Method::POST, "/auth/logout", None).await;
    let mut frames = at_alice.until(ended(&tablet)).await;
    frames.extend(at_alice.until_pong().await);
    assert!(!frames.iter().any(ended(&phone)), "told twice: {frames:?}");
}

/// Sends `body` (a JSON send) over REST as `device`: the status and the answer.
async fn send(device: &Device, chat: ConversationId, body: Value) -> (StatusCode, Value) {
    device
        .user
        .call(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            Some(body),
        )
        .await
}

/// Sends `body` and expects it stored now (201).
async fn sent(device: &Device, chat: ConversationId, body: Value) -> ferry_proto::Message {
    let (status, answer) = send(device, chat, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    serde_json::from_value(answer).expect("a message")
}

/// An encrypted conversation's stream takes only entries sealed in the group's current
/// epoch: a plain send is refused, one sealed in an earlier epoch gets 409 and goes in
/// once sealed again, and a sealed message into a plain conversation is refused. Members
/// read each other's sealed messages, edits and reactions; a deletion stays in the open
/// and takes the sealed bytes away. Neither the server's database, its files nor the
/// frames it relays hold any of the texts.
async fn an_encrypted_stream_takes_only_entries_sealed_in_its_epoch(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let chat = alice.direct_with(&bob).await.id;
    bob.accept(chat).await;
    let (mut alices, mut bobs) = (Device::new(&alice), Device::new(&bob));
    let (status, _) = bobs.publish(vec![bobs.key_package(true)]).await;
    assert_eq!(status, StatusCode::OK);
    let mut bob_socket = bob.ws().await;
    let secrets = [
        "my salary is 4321 EUR",
        "call me on 0612345678",
        "edited: 4400 EUR",
        // Every text at least 8 bytes: in ciphertext kept as raw bytes by SQLite, a
        // 4-byte one would turn up by chance about once in 4 GiB.
        "🦀\u{200d}🔥",
        "after the update",
    ];
    // Plain while there is no group.
    sent(
        &alices,
        chat,
        json!({"id": Uuid::now_v7(), "body": "hello"}),
    )
    .await;

    alices.create_group(chat);
    let claimed = alices.claim(&[&bob]).await;
    let add = alices.add(&claimed);
    alices.merge_own();
    // Sealed in epoch 1 before the server took the commit: the conversation is plain yet.
    let early = Uuid::now_v7();
    let sealed = MlsBytes(alices.encrypt(secrets[0]));
    let (status, body) = send(&alices, chat, json!({"id": early, "sealed": sealed})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string().contains("not end-to-end encrypted"),
        "{body}"
    );
    let (status, body) = alices.post_commit(chat, add).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = sent(&alices, chat, json!({"id": early, "sealed": sealed})).await;
    assert!(stored.body.is_empty() && stored.sealed.is_some());

    // Now nothing goes in the open, and nothing in another group's name.
    let (status, body) = send(&alices, chat, json!({"id": Uuid::now_v7(), "body": "psst"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("end-to-end encrypted"), "{body}");
    let (status, _) = send(
        &alices,
        chat,
        json!({"id": Uuid::now_v7(), "sealed": sealed, "body": secrets[0]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "text beside the sealed bytes"
    );

    // Bob joins, hears the message live and reads it.
    let waiting: Vec<PendingWelcome> = bob.ok(Method::GET, "/mls/welcomes", None).await;
    bobs.join(&waiting[0]);
    // Every frame Bob's socket gets is kept, to search for the texts at the end.
    let mut relayed = Vec::new();
    let frame = within("the sealed message", async {
        loop {
            let frame = bob_socket.next().await;
            relayed.push(frame.clone());
            if matches!(&frame, ServerFrame::Message { message } if message.id.0 == early) {
                return frame;
            }
        }
    })
    .await;
    let ServerFrame::Message { message } = frame else {
        unreachable!()
    };
    let bytes = message.sealed.expect("sealed").0;
    assert_eq!(bobs.decrypt(&bytes), secrets[0]);

    // Bob's reply, then his commit moves the group to epoch 2; Alice, still in epoch 1,
    // is told to catch up, and her message goes in once sealed again.
    let reply = Uuid::now_v7();
    let sealed_reply = MlsBytes(bobs.encrypt(secrets[1]));
    sent(
        &bobs,
        chat,
        json!({"id": reply, "reply_to": early, "sealed": sealed_reply}),
    )
    .await;
    let update = bobs.update();
    let (status, body) = bobs.post_commit(chat, update).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bobs.merge_own();
    let late = Uuid::now_v7();
    let stale = MlsBytes(alices.encrypt(secrets[4]));
    let (status, body) = send(&alices, chat, json!({"id": late, "sealed": stale})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // She reads Bob's reply (epoch 1) first, then applies his commit.
    let history = alice.history(chat).await;
    let sealed_reply = history
        .iter()
        .find(|m| m.id.0 == reply)
        .and_then(|m| m.sealed.clone())
        .expect("the reply");
    assert_eq!(alices.decrypt(&sealed_reply.0), secrets[1]);
    alices.catch_up(chat).await;
    let resealed = MlsBytes(alices.encrypt(secrets[4]));
    sent(&alices, chat, json!({"id": late, "sealed": resealed})).await;

    // A sealed edit and a sealed reaction: kinds and targets in the open, the rest inside.
    let edit = MlsBytes(alices.encrypt(secrets[2]));
    sent(
        &alices,
        chat,
        json!({"id": Uuid::now_v7(), "change": {"kind": "edit", "target": early}, "sealed": edit}),
    )
    .await;
    let reaction = MlsBytes(bobs.encrypt(secrets[3]));
    sent(&bobs, chat, json!({"id": Uuid::now_v7(), "change": {"kind": "react", "target": early}, "sealed": reaction})).await;
    let (status, _) = send(
        &bobs,
        chat,
        json!({"id": Uuid::now_v7(), "change": {"kind": "react", "target": early, "emoji": "👍"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an emoji in the open");

    // Bob reads the rest in order from history, as a device that was away would: each
    // entry once (its key is gone once used: a client keeps what it decrypted), and not
    // his own (a sender keeps its own plaintext).
    let history = bob.history(chat).await;
    let mut read = Vec::new();
    for message in history.iter().filter(|m| m.sealed.is_some()) {
        if message.sender_id == bob.id() || message.id.0 == early {
            continue;
        }
        if message.id.0 == late {
            bobs.catch_up(chat).await;
        }
        read.push(bobs.decrypt(&message.sealed.as_ref().expect("sealed").0));
    }
    assert_eq!(read, vec![secrets[4], secrets[2]]);

    // A deletion goes in the open and takes the sealed bytes with it.
    sent(
        &alices,
        chat,
        json!({"id": Uuid::now_v7(), "change": {"kind": "delete", "target": early}}),
    )
    .await;
    let history = bob.history(chat).await;
    let gone = history.iter().find(|m| m.id.0 == early).expect("kept");
    assert!(
        gone.deleted_at.is_some() && gone.sealed.is_none(),
        "{gone:?}"
    );

    // Nothing the server holds or relayed says any of it.
    relayed.extend(bob_socket.until_pong().await);
    let relayed = serde_json::to_string(&relayed).expect("frames encode");
    let kept = db.stored_bytes().await;
    for secret in secrets {
        assert!(!relayed.contains(secret), "a frame holds {secret:?}");
        assert!(!holds(&kept, secret), "the server keeps {secret:?}");
    }
    assert!(
        holds(&kept, "hello"),
        "the check reads what the server keeps"
    );
}

on_both!(
    key_packages_are_checked_bound_to_their_device_and_claimed_once,
    signed_in_devices_are_listed_and_use_up_nothing,
    an_encrypted_stream_takes_only_entries_sealed_in_its_epoch,
    one_commit_per_epoch_and_the_loser_converges,
    a_welcome_goes_only_to_members_devices,
    an_ended_session_is_told_to_its_encrypted_co_members,
);
