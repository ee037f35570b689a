//! Profile pictures (issue 28): an uploaded image becomes a square picture made by the
//! server, its owner's devices and contacts see it live, anyone signed in fetches it, and
//! a new picture or its removal retires the old one; a file that is not an image, an
//! upload of someone else's or one not finished is refused.

use std::io::Cursor;

use ferry_proto::{Conversation, PICTURE_SIDE, ServerFrame, User as Person};
use image::{DynamicImage, ImageFormat};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::files::{Blobs, server, upload};
use crate::support::{Backend, Served, User, alice_and_bob, on_both};

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::new_rgb8(width, height)
        .write_to(&mut out, ImageFormat::Png)
        .expect("a PNG encodes");
    out.into_inner()
}

/// `GET /pictures/{id}` as `user`: the status and the bytes.
async fn fetch(user: &User, picture: ferry_proto::PictureId) -> (StatusCode, Vec<u8>) {
    let response = user
        .http
        .get(format!("{}/pictures/{picture}", user.base))
        .bearer_auth(&user.tokens.access_token)
        .send()
        .await
        .expect("GET");
    let status = response.status();
    (status, response.bytes().await.expect("body").to_vec())
}

async fn a_picture_is_made_shown_and_retired(backend: Backend) {
    let (_db, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let (alice, bob, chat) = alice_and_bob(&server).await;
    let mut bobs = bob.ws().await;

    let wide = upload(&alice, "me.png", &png(640, 480), "image/png").await;
    let set: Person = alice
        .ok(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": wide.id})),
        )
        .await;
    let first = set.picture.expect("a picture");
    let frame = bobs
        .expect("bob sees it", |f| matches!(f, ServerFrame::User { .. }))
        .await;
    let ServerFrame::User { user } = frame else {
        unreachable!()
    };
    assert_eq!((user.id, user.picture), (alice.id(), Some(first)));
    let (status, bytes) = fetch(&bob, first).await;
    assert_eq!(status, StatusCode::OK);
    let shown = image::load_from_memory(&bytes).expect("an image");
    assert_eq!(
        (shown.width(), shown.height()),
        (PICTURE_SIDE, PICTURE_SIDE),
        "square, made small"
    );
    let seen: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{chat}"), None)
        .await;
    let member = seen
        .members
        .iter()
        .find(|m| m.user.id == alice.id())
        .expect("alice");
    assert_eq!(member.user.picture, Some(first));
    let (status, _) = alice
        .call(Method::GET, &format!("/uploads/{}", wide.id), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the upload was used up");
    let anonymous = reqwest::get(server.url() + &format!("/api/v1/pictures/{first}"))
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Refused: not an image, someone else's upload, an upload not finished, no upload.
    let text = upload(&alice, "notes.txt", b"just words", "text/plain").await;
    alice
        .refused(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": text.id})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    let bobs_image = upload(&bob, "bob.png", &png(50, 50), "image/png").await;
    alice
        .refused(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": bobs_image.id})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    let bytes = png(60, 60);
    let unfinished: ferry_proto::Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(
                json!({"name": "half.png", "size": bytes.len(), "content_type": "image/png",
                "sha256": crate::files::sha256(&bytes)}),
            ),
        )
        .await;
    alice
        .refused(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": unfinished.id})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .refused(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": uuid::Uuid::now_v7()})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    let me: Person = alice.ok(Method::GET, "/me", None).await;
    assert_eq!(me.picture, Some(first), "a refusal changes nothing");

    // A new one retires the old one; removing it retires that one too.
    let tall = upload(&alice, "tall.png", &png(100, 300), "image/png").await;
    let again: Person = alice
        .ok(
            Method::PUT,
            "/me/picture",
            Some(json!({"upload_id": tall.id})),
        )
        .await;
    let second = again.picture.expect("a picture");
    assert_ne!(second, first);
    assert_eq!(fetch(&bob, first).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&bob, second).await.0, StatusCode::OK);
    let removed: Person = alice.ok(Method::DELETE, "/me/picture", None).await;
    assert_eq!(removed.picture, None);
    assert_eq!(fetch(&bob, second).await.0, StatusCode::NOT_FOUND);
    bobs.expect("bob sees it gone", |f| {
        matches!(f, ServerFrame::User { user } if user.id == alice.id() && user.picture.is_none())
    })
    .await;
}

on_both!(a_picture_is_made_shown_and_retired);
