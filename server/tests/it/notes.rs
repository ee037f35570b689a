//! Notes between one user's own devices (issue 31): a device leaves a note for another
//! signed-in device of its user, which is told live and finds it waiting until it deletes
//! it. A stranger's device, the sender itself, a signed-out device, an empty or oversized
//! note and a full inbox get clear refusals, and nobody else reads or deletes a note.

use ferry_proto::ServerFrame;
use ferry_proto::mls::MlsBytes;
use ferry_proto::notes::{DeviceNote, MAX_NOTE_BYTES, MAX_NOTES_WAITING};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Backend, TestDb, TestServer, User, on_both};

fn note_for(to: &User, bytes: &[u8]) -> serde_json::Value {
    json!({"to_session_id": to.tokens.session_id, "note": MlsBytes(bytes.to_vec())})
}

/// `from` leaves `to` a note, which must be taken.
async fn leave(from: &User, to: &User, bytes: &[u8]) -> DeviceNote {
    from.ok(Method::POST, "/mls/notes", Some(note_for(to, bytes)))
        .await
}

async fn a_note_reaches_only_the_users_device_it_names(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let laptop = User::register(&server, "alice").await;
    let phone = User::login(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let mut at_phone = phone.ws().await;
    let mut at_bob = bob.ws().await;

    let left = leave(&laptop, &phone, b"hello phone").await;
    assert_eq!(left.from_session_id, laptop.tokens.session_id);
    assert_eq!(left.note.0, b"hello phone");
    let told = at_phone
        .expect("the phone is told", |f| {
            matches!(f, ServerFrame::MlsNote { .. })
        })
        .await;
    let ServerFrame::MlsNote { session_id, note } = told else {
        unreachable!()
    };
    assert_eq!(session_id, phone.tokens.session_id);
    assert_eq!(*note, left);
    let frames = at_bob.until_pong().await;
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, ServerFrame::MlsNote { .. })),
        "bob is told: {frames:?}"
    );

    let waiting: Vec<DeviceNote> = phone.ok(Method::GET, "/mls/notes", None).await;
    assert_eq!(waiting, vec![left.clone()]);
    let none: Vec<DeviceNote> = laptop.ok(Method::GET, "/mls/notes", None).await;
    assert!(none.is_empty(), "a note waits for its device only");

    let path = format!("/mls/notes/{}", left.id);
    laptop
        .refused(
            Method::DELETE,
            &path,
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    phone.no_content(Method::DELETE, &path, None).await;
    phone
        .refused(
            Method::DELETE,
            &path,
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    let waiting: Vec<DeviceNote> = phone.ok(Method::GET, "/mls/notes", None).await;
    assert!(waiting.is_empty(), "deleted: {waiting:?}");
}

async fn notes_are_refused_where_they_do_not_belong(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let laptop = User::register(&server, "alice").await;
    let phone = User::login(&server, "alice").await;
    let tablet = User::login(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    laptop.direct_with(&bob).await;
    let not_found = (StatusCode::NOT_FOUND, "not_found");
    let invalid = (StatusCode::BAD_REQUEST, "invalid_request");

    // A stranger's device (even a contact's), the sender itself, a signed-out device.
    for to in [&bob, &laptop] {
        laptop
            .refused(
                Method::POST,
                "/mls/notes",
                Some(note_for(to, b"x")),
                not_found,
            )
            .await;
    }
    tablet.no_content(Method::POST, "/auth/logout", None).await;
    laptop
        .refused(
            Method::POST,
            "/mls/notes",
            Some(note_for(&tablet, b"x")),
            not_found,
        )
        .await;
    // Empty, and one byte too many.
    laptop
        .refused(
            Method::POST,
            "/mls/notes",
            Some(note_for(&phone, b"")),
            invalid,
        )
        .await;
    let big = vec![7u8; MAX_NOTE_BYTES + 1];
    laptop
        .refused(
            Method::POST,
            "/mls/notes",
            Some(note_for(&phone, &big)),
            invalid,
        )
        .await;
    let most = vec![7u8; MAX_NOTE_BYTES];
    let _ = leave(&laptop, &phone, &most).await;

    // A full inbox takes no more until its device reads some.
    for _ in 1..MAX_NOTES_WAITING {
        let _ = leave(&laptop, &phone, b"n").await;
    }
    laptop
        .refused(
            Method::POST,
            "/mls/notes",
            Some(note_for(&phone, b"one more")),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        )
        .await;
    let waiting: Vec<DeviceNote> = phone.ok(Method::GET, "/mls/notes", None).await;
    assert_eq!(waiting.len(), MAX_NOTES_WAITING as usize);
    assert_eq!(waiting[0].note.0, most, "oldest first");
    phone
        .no_content(
            Method::DELETE,
            &format!("/mls/notes/{}", waiting[0].id),
            None,
        )
        .await;
    let _ = leave(&laptop, &phone, b"one more").await;
}

on_both!(
    a_note_reaches_only_the_users_device_it_names,
    notes_are_refused_where_they_do_not_belong,
);
