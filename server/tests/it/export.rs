//! A person's data export (issue 28): one tar archive, its length known up front, whose
//! manifest lists every other file with its size; their account, sessions, blocks and
//! conversations; every entry they wrote and none of anyone else's; their files, byte for
//! byte.

use std::collections::HashMap;
use std::io::Read;

use ferry_proto::{
    Account, Conversation, ExportManifest, ExportedFile, Message, MessageId, SessionInfo, User,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::files::{Blobs, send_with, server, sha256, upload};
use crate::support::{Backend, Served, User as Person, alice_and_bob, on_both};

/// The archive's files by path, in order.
fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("a tar archive")
        .map(|entry| {
            let mut entry = entry.expect("an entry");
            let path = entry.path().expect("a path").display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("its bytes");
            (path, data)
        })
        .collect()
}

async fn an_export_holds_everything_of_theirs(backend: Backend) {
    let (_db, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let (alice, bob, chat) = alice_and_bob(&server).await;
    let mallory = Person::register(&server, "mallory").await;
    alice
        .no_content(Method::PUT, &format!("/blocks/{}", mallory.id()), None)
        .await;
    let hello = alice.send_rest(chat, "hello bob").await;
    let bobs = bob.send_rest(chat, "bob's own words").await;
    let reaction = alice
        .ok::<Message>(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            Some(json!({"id": MessageId::new(), "change": {"kind": "react", "target": bobs.id, "emoji": "👍"}})),
        )
        .await;
    // A group she wrote in and left: her words there are still hers.
    let group = alice.group("trip", &[&bob]).await.id;
    let left_behind = alice.send_rest(group, "see you there").await;
    alice
        .no_content(
            Method::DELETE,
            &format!("/conversations/{group}/members/{}", alice.id()),
            None,
        )
        .await;
    let image = upload(&alice, "me.png", &crate::pictures::png(64, 64), "image/png").await;
    alice
        .ok::<User>(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": image.id})),
        )
        .await;
    let bytes = ferry_testkit::noise(70_000, 9);
    let file = upload(&alice, "notes.bin", &bytes, "application/octet-stream").await;
    let (status, _) = send_with(&alice, chat, MessageId::new(), "a file", &[file.id]).await;
    assert_eq!(status, StatusCode::CREATED);

    let anonymous = reqwest::get(server.api("/account/export"))
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let response = alice
        .http
        .get(server.api("/account/export"))
        .bearer_auth(&alice.tokens.access_token)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "application/x-tar"
    );
    let disposition = response.headers()[reqwest::header::CONTENT_DISPOSITION]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"ferry-export-alice-"),
        "{disposition}"
    );
    let length = response.content_length().expect("a length up front");
    let body = response.bytes().await.expect("the archive");
    assert_eq!(body.len() as u64, length, "exactly the length announced");

    let files = unpack(&body);
    let (first, manifest) = &files[0];
    assert_eq!(first, "ferry-export.json");
    let manifest: ExportManifest = serde_json::from_slice(manifest).expect("the manifest");
    assert_eq!(
        (manifest.format.as_str(), manifest.version),
        ("ferry-export", 1)
    );
    assert_eq!(manifest.user.id, alice.id());
    let listed: Vec<(String, u64)> = manifest
        .files
        .iter()
        .map(|p| (p.path.clone(), p.size))
        .collect();
    let held: Vec<(String, u64)> = files[1..]
        .iter()
        .map(|(path, data)| (path.clone(), data.len() as u64))
        .collect();
    assert_eq!(
        listed, held,
        "the manifest lists every other file, with its size"
    );
    let by_path: HashMap<&str, &[u8]> = files
        .iter()
        .map(|(path, data)| (path.as_str(), data.as_slice()))
        .collect();

    let account: Account = serde_json::from_slice(by_path["account.json"]).expect("account");
    assert_eq!(account.user.username, "alice");
    let sessions: Vec<SessionInfo> =
        serde_json::from_slice(by_path["sessions.json"]).expect("sessions");
    assert!(
        sessions
            .iter()
            .any(|s| s.current && s.id == alice.tokens.session_id)
    );
    let blocked: Vec<User> = serde_json::from_slice(by_path["blocked.json"]).expect("blocks");
    assert_eq!(
        blocked.iter().map(|u| u.id).collect::<Vec<_>>(),
        [mallory.id()]
    );
    let conversations: Vec<Conversation> =
        serde_json::from_slice(by_path["conversations.json"]).expect("conversations");
    assert_eq!(
        conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
        [chat]
    );
    assert!(
        conversations.iter().all(|c| c.last_message.is_none()),
        "no one else's last message"
    );
    let written: Vec<Message> =
        serde_json::from_slice(by_path[format!("messages/{chat}.json").as_str()])
            .expect("messages");
    let ids: Vec<MessageId> = written.iter().map(|m| m.id).collect();
    assert_eq!(ids[..2], [hello.id, reaction.id], "hers, in seq order");
    assert_eq!(ids.len(), 3, "and the message with the file");
    assert!(
        written.iter().all(|m| m.sender_id == alice.id()),
        "nothing of bob's"
    );
    let in_group: Vec<Message> =
        serde_json::from_slice(by_path[format!("messages/{group}.json").as_str()])
            .expect("the group she left");
    assert_eq!(
        in_group.iter().map(|m| m.id).collect::<Vec<_>>(),
        [left_behind.id]
    );
    let picture = by_path
        .iter()
        .find(|(path, _)| path.starts_with("picture."))
        .map(|(_, data)| *data)
        .expect("her picture");
    assert!(image::load_from_memory(picture).is_ok(), "an image");
    let described: Vec<ExportedFile> =
        serde_json::from_slice(by_path["files.json"]).expect("files");
    assert_eq!(described.len(), 1);
    assert_eq!(
        (
            described[0].id,
            described[0].name.as_str(),
            described[0].path.clone()
        ),
        (file.id, "notes.bin", format!("files/{}", file.id))
    );
    let copy = by_path[described[0].path.as_str()];
    assert_eq!(sha256(copy), sha256(&bytes), "the file, byte for byte");

    // Bob's export has his words and none of hers.
    let response = bob
        .http
        .get(server.api("/account/export"))
        .bearer_auth(&bob.tokens.access_token)
        .send()
        .await
        .expect("export");
    let files = unpack(&response.bytes().await.expect("archive"));
    let his = files
        .iter()
        .find(|(path, _)| path == &format!("messages/{chat}.json"))
        .map(|(_, data)| serde_json::from_slice::<Vec<Message>>(data).expect("messages"))
        .expect("his messages");
    assert_eq!(his.iter().map(|m| m.id).collect::<Vec<_>>(), [bobs.id]);
    assert!(files.iter().all(|(path, _)| !path.starts_with("files/")));
}

on_both!(an_export_holds_everything_of_theirs);
