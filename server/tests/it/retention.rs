//! Retention (issue 28): messages older than the server's policy go from the server with
//! their files, the members' devices online are told to catch up at once, the history
//! then starts at the first message kept; a conversation an administrator keeps for ever
//! keeps everything, and only an administrator can say so.

use ferry_proto::{
    AuditEntry, Conversation, ConversationId, MessageId, MessagePage, Retention, ServerFrame,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;

use crate::admin::host_admin_ok;
use crate::files::{Blobs, server, upload};
use crate::support::{Backend, User, alice_and_bob, on_both, within};

/// Makes a conversation's messages up to `seq` look `days` older, as if they had been
/// sent then (the server stamps messages itself).
async fn age(url: &str, conversation: ferry_proto::ConversationId, seq: i64, days: i64) {
    let sql = "UPDATE messages SET created_at = created_at - $1 \
               WHERE conversation_id = $2 AND seq <= $3";
    let by = days * 86_400_000;
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url).await.expect("SQLite");
        sqlx::query(sql)
            .bind(by)
            .bind(conversation)
            .bind(seq)
            .execute(&mut db)
            .await
            .expect("age");
    } else {
        let mut db = sqlx::PgConnection::connect(url).await.expect("Postgres");
        sqlx::query(sql)
            .bind(by)
            .bind(conversation)
            .bind(seq)
            .execute(&mut db)
            .await
            .expect("age");
    }
}

async fn messages_past_retention_go_everywhere(backend: Backend) {
    let (db, server, _s3) = server(backend, Blobs::Disk, |c| {
        c.retention_days = 30;
        c.retention_check_secs = 1;
        c.file_grace_secs = 0;
    })
    .await;
    let root = User::register(&server, "root").await;
    host_admin_ok(db.url(), &["grant", "root"]).await;
    let (alice, bob, chat) = alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    let held = alice.direct_with(&carol).await.id;
    carol.accept(held).await;

    // Admin checks first: only an administrator sets a policy, within bounds.
    for (body, status) in [
        (
            json!({"days": 40_000, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"days": 5, "reason": ""}), StatusCode::BAD_REQUEST),
        (json!({"days": -1, "reason": "x"}), StatusCode::BAD_REQUEST),
    ] {
        let (got, answer) = root
            .call(
                Method::PUT,
                &format!("/admin/conversations/{held}/retention"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    let (got, _) = root
        .call(
            Method::PUT,
            &format!("/admin/conversations/{}/retention", ConversationId::new()),
            Some(json!({"days": 0, "reason": "hold"})),
        )
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    let (got, _) = alice
        .call(
            Method::PUT,
            &format!("/admin/conversations/{held}/retention"),
            Some(json!({"days": 0, "reason": "mine"})),
        )
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND, "hidden from a member");
    let policy: Retention = root
        .ok(
            Method::PUT,
            &format!("/admin/conversations/{held}/retention"),
            Some(json!({"days": 0, "reason": "legal hold"})),
        )
        .await;
    assert_eq!((policy.days, policy.server_days), (Some(0), 30));

    let file = upload(
        &alice,
        "old.bin",
        &ferry_testkit::noise(10_000, 3),
        "application/octet-stream",
    )
    .await;
    let (status, _) =
        crate::files::send_with(&alice, chat, MessageId::new(), "old", &[file.id]).await;
    assert_eq!(status, StatusCode::CREATED);
    bob.send_rest(chat, "also old").await;
    let kept_message = alice.send_rest(chat, "recent").await;
    alice.send_rest(held, "old but held").await;
    assert!(db.has_blob(&file.sha256).await);
    let mut bobs = bob.ws().await;
    age(db.url(), chat, 2, 40).await;
    age(db.url(), held, 1, 400).await;

    // The server's next look deletes them and tells bob's device to catch up.
    bobs.expect("bob told to catch up", |f| matches!(f, ServerFrame::Resync))
        .await;
    let page: MessagePage = bob
        .ok(
            Method::GET,
            &format!("/conversations/{chat}/messages"),
            None,
        )
        .await;
    let left: Vec<(i64, &str)> = page
        .messages
        .iter()
        .map(|m| (m.seq, m.body.as_str()))
        .collect();
    assert_eq!(left, [(3, "recent")]);
    assert_eq!(page.messages[0].id, kept_message.id);
    let seen: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{chat}"), None)
        .await;
    assert_eq!(seen.history_from, Some(3));
    let (status, _, _) =
        crate::files::fetch(&bob, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the file went with its message"
    );
    within("the sweeper deletes the blob", async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        while db.has_blob(&file.sha256).await {
            tick.tick().await;
        }
    })
    .await;
    let held_page: MessagePage = carol
        .ok(
            Method::GET,
            &format!("/conversations/{held}/messages"),
            None,
        )
        .await;
    assert_eq!(held_page.messages.len(), 1, "kept for ever");

    // From the host: back to the server's policy, and the next look deletes it too.
    let said = host_admin_ok(
        db.url(),
        &["retention", &held.to_string(), "--reason", "hold lifted"],
    )
    .await;
    assert!(said.contains("follows the server's retention"), "{said}");
    within("the held message goes once the hold is lifted", async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        loop {
            let page: MessagePage = carol
                .ok(
                    Method::GET,
                    &format!("/conversations/{held}/messages"),
                    None,
                )
                .await;
            if page.messages.is_empty() {
                break;
            }
            tick.tick().await;
        }
    })
    .await;
    let log: Vec<AuditEntry> = root.ok(Method::GET, "/admin/audit?limit=2", None).await;
    let lines: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("set_retention", "the server's policy: hold lifted"),
            ("set_retention", "keep for ever: legal hold"),
        ]
    );
}

on_both!(messages_past_retention_go_everywhere);
