//! The operators' side (issue 28): the admin API hidden behind the same 404 as an unknown
//! address, the first administrator granted on the host, suspensions that sign an account
//! out at once and hold, the reports queue with each message in its context, a message
//! removed for everyone as an operator's, the audit log of all of it, and the same actions
//! from `ferry-server admin` on the host.

use std::process::Output;

use ferry_proto::{
    AdminReport, AdminUser, AuditEntry, ChangeKind, Message, MessageId, ReportReceipt,
    ReportedCopy, ServerFrame, UserStatus,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    Backend, PASSWORD, Served, TestDb, TestServer, User, Ws, alice_and_bob, on_both, within,
};

/// Runs `ferry-server admin ARGS…` on `db`, as an operator at the host would.
pub async fn host_admin(db_url: &str, args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("a data directory");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-server"));
    command
        .env("DATABASE_URL", db_url)
        .env("FERRY_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .arg("admin")
        .args(args);
    within("ferry-server admin", command.output())
        .await
        .expect("ferry-server runs")
}

/// `ferry-server admin ARGS…` that must succeed: its standard output.
pub async fn host_admin_ok(db_url: &str, args: &[&str]) -> String {
    let out = host_admin(db_url, args).await;
    assert!(
        out.status.success(),
        "ferry-server admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `username` registered and made an administrator on the host.
async fn administrator(server: &impl Served, db: &TestDb, username: &str) -> User {
    let user = User::register(server, username).await;
    let said = host_admin_ok(&db.url, &["grant", username]).await;
    assert!(said.contains("is now an administrator"), "{said}");
    user
}

/// A socket's close code once the server closes it.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    ws.closed().await.map(|frame| u16::from(frame.code))
}

/// A sign-in's status.
async fn sign_in(server: &impl Served, username: &str) -> StatusCode {
    reqwest::Client::new()
        .post(server.api("/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("login request")
        .status()
}

async fn the_admin_api_is_hidden_from_everyone_else(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, _) = alice_and_bob(&server).await;

    // What an address that does not exist answers.
    let (status, unknown) = alice.call(Method::GET, "/admin/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let anonymous = reqwest::Client::new();
    for (method, path, body) in [
        (Method::GET, "/admin/users".to_owned(), None),
        (Method::GET, format!("/admin/users/{}", bob.id()), None),
        (
            Method::POST,
            format!("/admin/users/{}/suspend", bob.id()),
            Some(json!({"reason": "spam"})),
        ),
        // A body that is not even valid: still the same 404, before any check.
        (
            Method::POST,
            format!("/admin/users/{}/reactivate", bob.id()),
            Some(json!([])),
        ),
        (Method::GET, "/admin/reports".to_owned(), None),
        (Method::GET, "/admin/audit".to_owned(), None),
        // A method an address does not take tells nothing either.
        (Method::POST, "/admin/users".to_owned(), Some(json!({}))),
        (Method::DELETE, "/admin/audit".to_owned(), None),
    ] {
        let (status, body_back) = alice.call(method.clone(), &path, body.clone()).await;
        assert_eq!(
            (status, &body_back),
            (StatusCode::NOT_FOUND, &unknown),
            "{method} {path} to a user"
        );
        let mut request = anonymous.request(method.clone(), server.api(&path));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body_back: Value = response.json().await.expect("JSON");
        assert_eq!(body_back, unknown, "{method} {path} to nobody");
    }
    // Nothing happened to bob.
    assert_eq!(sign_in(&server, "bob").await, StatusCode::OK);

    // Granted on the host: the same calls answer.
    host_admin_ok(&db.url, &["grant", "alice"]).await;
    let users: Vec<AdminUser> = alice.ok(Method::GET, "/admin/users", None).await;
    let names: Vec<&str> = users.iter().map(|u| u.user.username.as_str()).collect();
    assert_eq!(names, ["bob", "alice"], "newest first");
    assert!(users[1].admin && !users[0].admin);
    let found: Vec<AdminUser> = alice.ok(Method::GET, "/admin/users?q=BO", None).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user.id, bob.id());
    // A prefix is text, not a pattern.
    let none: Vec<AdminUser> = alice.ok(Method::GET, "/admin/users?q=%25", None).await;
    assert!(none.is_empty());
    let account: Value = alice.ok(Method::GET, "/account", None).await;
    assert_eq!(account["admin"], true);

    // Revoked on the host: hidden again.
    host_admin_ok(&db.url, &["revoke", "alice", "--reason", "left the team"]).await;
    let (status, body_back) = alice.call(Method::GET, "/admin/users", None).await;
    assert_eq!((status, body_back), (StatusCode::NOT_FOUND, unknown));
    let out = host_admin(&db.url, &["grant", "nobody"]).await;
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "ferry-server: no account is named `nobody`",
        "said once, in words"
    );
}

async fn a_suspension_signs_the_account_out_at_once_and_holds(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let admin = administrator(&server, &db, "root").await;
    let (alice, bob, _) = alice_and_bob(&server).await;
    let bobs_phone = User::login(&server, "bob").await;
    let mut bobs = bob.ws().await;
    let mut phones = bobs_phone.ws().await;
    let mut alices = alice.ws().await;

    for (body, status) in [
        (json!({"reason": ""}), StatusCode::BAD_REQUEST),
        (json!({"reason": "   "}), StatusCode::BAD_REQUEST),
        (json!({"reason": "x".repeat(1001)}), StatusCode::BAD_REQUEST),
        (json!({"reason": "a\u{7}b"}), StatusCode::BAD_REQUEST),
        (json!({}), StatusCode::BAD_REQUEST),
    ] {
        let (got, answer) = admin
            .call(
                Method::POST,
                &format!("/admin/users/{}/suspend", bob.id()),
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    admin
        .refused(
            Method::POST,
            &format!("/admin/users/{}/suspend", uuid::Uuid::now_v7()),
            Some(json!({"reason": "spam"})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    admin
        .refused(
            Method::POST,
            &format!("/admin/users/{}/suspend", admin.id()),
            Some(json!({"reason": "oops"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    admin
        .refused(
            Method::POST,
            &format!("/admin/users/{}/reactivate", bob.id()),
            Some(json!({"reason": "never suspended"})),
            (StatusCode::CONFLICT, "conflict"),
        )
        .await;
    assert_eq!(sign_in(&server, "bob").await, StatusCode::OK, "nothing yet");

    let suspended: AdminUser = admin
        .ok(
            Method::POST,
            &format!("/admin/users/{}/suspend", bob.id()),
            Some(json!({"reason": "  spam, three reports  "})),
        )
        .await;
    assert_eq!(suspended.user.status, Some(UserStatus::Suspended));
    assert_eq!(
        suspended.suspended_reason.as_deref(),
        Some("spam, three reports")
    );
    assert_eq!(suspended.sessions, 0);
    for (who, ws) in [("bob's laptop", &mut bobs), ("bob's phone", &mut phones)] {
        assert_eq!(close_code(ws).await, Some(4001), "{who}");
    }
    let frame = alices
        .expect("bob's status", |f| matches!(f, ServerFrame::User { .. }))
        .await;
    let ServerFrame::User { user } = frame else {
        unreachable!()
    };
    assert_eq!(
        (user.id, user.status),
        (bob.id(), Some(UserStatus::Suspended))
    );
    // Their tokens stop working, and they cannot sign in again.
    let (status, _) = bob.call(Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refreshed = reqwest::Client::new()
        .post(server.api("/auth/refresh"))
        .json(&json!({"refresh_token": bob.tokens.refresh_token}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&server, "bob").await, StatusCode::FORBIDDEN);
    assert_eq!(
        ferry_testkit::metric_at(server.addr, "ferry_users_suspended").await,
        1
    );

    let back: AdminUser = admin
        .ok(
            Method::POST,
            &format!("/admin/users/{}/reactivate", bob.id()),
            Some(json!({"reason": "appeal accepted"})),
        )
        .await;
    assert_eq!(back.user.status, None);
    assert_eq!(back.suspended_at, None);
    assert_eq!(sign_in(&server, "bob").await, StatusCode::OK);
    assert_eq!(
        ferry_testkit::metric_at(server.addr, "ferry_users_suspended").await,
        0
    );

    let log: Vec<AuditEntry> = admin.ok(Method::GET, "/admin/audit", None).await;
    let lines: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.reason.as_str(),
                e.actor.as_ref().map(|a| a.username.as_str()),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("reactivate", "appeal accepted", Some("root")),
            ("suspend", "spam, three reports", Some("root")),
            ("grant_admin", "on the server's host", None),
        ],
        "newest first, refusals not logged"
    );
    assert_eq!(log[0].target, bob.id().to_string());
    let older: Vec<AuditEntry> = admin
        .ok(
            Method::GET,
            &format!("/admin/audit?limit=1&before={}", log[0].id),
            None,
        )
        .await;
    assert_eq!(older, log[1..2], "a page older than an entry");
}

async fn reports_are_decided_with_their_message_in_context(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let admin = administrator(&server, &db, "root").await;
    let (alice, mallory, chat) = alice_and_bob(&server).await;
    let mut sent: Vec<Message> = Vec::new();
    for i in 0..8 {
        let who = if i % 2 == 0 { &mallory } else { &alice };
        sent.push(who.send_rest(chat, &format!("line {i}")).await);
    }
    // An edit is a change of the stream, not context.
    alice
        .ok::<Message>(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            Some(json!({"id": uuid::Uuid::now_v7(), "body": "line 1 edited",
                "change": {"kind": "edit", "target": sent[1].id}})),
        )
        .await;
    let reported = &sent[6];
    // Copies (what an encrypted conversation's reporter sends along) are checked...
    let copy = |id: MessageId, body: &str| json!({"message_id": id, "body": body});
    let too_long = "x".repeat(ferry_proto::MAX_BODY_CHARS + 1);
    for (bad, why) in [
        (
            json!({"user_id": mallory.id(), "conversation_id": chat,
                "copies": [copy(reported.id, "line 6")]}),
            "copies without a reported message",
        ),
        (
            json!({"user_id": mallory.id(), "conversation_id": chat, "message_id": reported.id,
                "copies": vec![copy(reported.id, "line 6"); ferry_proto::REPORT_MAX_COPIES + 1]}),
            "too many copies",
        ),
        (
            json!({"user_id": mallory.id(), "conversation_id": chat, "message_id": reported.id,
                "copies": [copy(reported.id, &too_long)]}),
            "a copy longer than a message",
        ),
    ] {
        let (status, answer) = alice.call(Method::POST, "/reports", Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {answer}");
    }
    // ...and only those of the messages the report shows are shown.
    let first: ReportReceipt = alice
        .ok(
            Method::POST,
            "/reports",
            Some(json!({"user_id": mallory.id(), "conversation_id": chat,
                "message_id": reported.id, "reason": "threats",
                "copies": [copy(reported.id, "line 6, as alice read it"),
                    copy(sent[0].id, "outside the excerpt")]})),
        )
        .await;
    let second: ReportReceipt = alice
        .ok(
            Method::POST,
            "/reports",
            Some(json!({"user_id": mallory.id(), "reason": "spam in general"})),
        )
        .await;
    assert_eq!(
        ferry_testkit::metric_at(server.addr, "ferry_reports_open").await,
        2
    );

    let queue: Vec<AdminReport> = admin.ok(Method::GET, "/admin/reports", None).await;
    let ids: Vec<_> = queue.iter().map(|r| r.id).collect();
    assert_eq!(ids, [first.id, second.id], "oldest first");
    let report = &queue[0];
    assert_eq!(
        (report.reporter.id, report.reported.id),
        (alice.id(), mallory.id())
    );
    assert_eq!(report.reason, "threats");
    assert_eq!(report.message.as_ref().map(|m| m.id), Some(reported.id));
    assert_eq!(
        report.message.as_ref().map(|m| m.body.as_str()),
        Some("line 6")
    );
    let context: Vec<&str> = report.context.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        context,
        [
            "line 1 edited",
            "line 2",
            "line 3",
            "line 4",
            "line 5",
            "line 7"
        ],
        "five before, what there is after, no changes"
    );
    assert_eq!(
        report.copies,
        [ReportedCopy {
            message_id: reported.id,
            body: "line 6, as alice read it".into()
        }],
        "the copy of a shown message, not the other"
    );
    assert!(queue[1].message.is_none() && queue[1].context.is_empty());

    for bad in [
        json!({"state": "open", "note": "hm"}),
        json!({"state": "resolved", "note": ""}),
        json!({"state": "maybe", "note": "hm"}),
    ] {
        let (status, answer) = admin
            .call(
                Method::POST,
                &format!("/admin/reports/{}/decision", first.id),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
    }
    admin
        .refused(
            Method::POST,
            &format!("/admin/reports/{}/decision", uuid::Uuid::now_v7()),
            Some(json!({"state": "resolved", "note": "done"})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    let resolved: AdminReport = admin
        .ok(
            Method::POST,
            &format!("/admin/reports/{}/decision", first.id),
            Some(json!({"state": "resolved", "note": "removed and warned"})),
        )
        .await;
    assert_eq!(resolved.state, ferry_proto::ReportState::Resolved);
    assert_eq!(resolved.decided_by.as_ref().map(|u| u.id), Some(admin.id()));
    assert_eq!(
        resolved.decision_note.as_deref(),
        Some("removed and warned")
    );
    // A second decision (another operator at the same time) does not overwrite it.
    admin
        .refused(
            Method::POST,
            &format!("/admin/reports/{}/decision", first.id),
            Some(json!({"state": "dismissed", "note": "nothing here"})),
            (StatusCode::CONFLICT, "conflict"),
        )
        .await;
    admin
        .ok::<AdminReport>(
            Method::POST,
            &format!("/admin/reports/{}/decision", second.id),
            Some(json!({"state": "dismissed", "note": "nothing here"})),
        )
        .await;
    let open: Vec<AdminReport> = admin.ok(Method::GET, "/admin/reports", None).await;
    assert!(open.is_empty());
    let resolved_list: Vec<AdminReport> = admin
        .ok(Method::GET, "/admin/reports?state=resolved", None)
        .await;
    assert_eq!(resolved_list.len(), 1);
    assert_eq!(resolved_list[0].id, first.id);
    assert_eq!(
        ferry_testkit::metric_at(server.addr, "ferry_reports_open").await,
        0
    );
    let log: Vec<AuditEntry> = admin.ok(Method::GET, "/admin/audit?limit=2", None).await;
    let actions: Vec<(&str, String)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.target.clone()))
        .collect();
    assert_eq!(
        actions,
        [
            ("dismiss_report", second.id.to_string()),
            ("resolve_report", first.id.to_string())
        ]
    );
}

async fn a_removal_reaches_every_member_as_an_operators(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let admin = administrator(&server, &db, "root").await;
    let (alice, bob, chat) = alice_and_bob(&server).await;
    let keep = bob.send_rest(chat, "hello").await;
    let bad = bob.send_rest(chat, "something awful").await;
    let mut alices = alice.ws().await;
    let mut bobs = bob.ws().await;

    admin
        .refused(
            Method::POST,
            &format!("/admin/messages/{}/remove", bad.id),
            Some(json!({"reason": ""})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    admin
        .refused(
            Method::POST,
            &format!("/admin/messages/{}/remove", uuid::Uuid::now_v7()),
            Some(json!({"reason": "abuse"})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    admin
        .no_content(
            Method::POST,
            &format!("/admin/messages/{}/remove", bad.id),
            Some(json!({"reason": "abuse"})),
        )
        .await;
    for (who, ws) in [("alice", &mut alices), ("bob", &mut bobs)] {
        let frame = ws
            .expect(who, |f| matches!(f, ServerFrame::Message { .. }))
            .await;
        let ServerFrame::Message { message } = frame else {
            unreachable!()
        };
        let change = message.change.as_ref().expect("a change");
        assert_eq!(
            (change.kind, change.target),
            (ChangeKind::Delete, bad.id),
            "{who}"
        );
        assert!(message.removed_by_operator, "{who}");
        assert_eq!(
            message.sender_id,
            bob.id(),
            "named as from the author: {who}"
        );
        assert_eq!(message.seq, bad.seq + 1, "{who}");
    }
    let history = alice.history(chat).await;
    let removed = history
        .iter()
        .find(|m| m.id == bad.id)
        .expect("still there");
    assert!(removed.removed_by_operator && removed.deleted_at.is_some());
    assert_eq!(removed.body, "");
    let kept = history.iter().find(|m| m.id == keep.id).expect("kept");
    assert!(!kept.removed_by_operator && kept.deleted_at.is_none());
    // Nothing is left to remove; a change is not a message.
    admin
        .refused(
            Method::POST,
            &format!("/admin/messages/{}/remove", bad.id),
            Some(json!({"reason": "again"})),
            (StatusCode::CONFLICT, "conflict"),
        )
        .await;
    let change = history.last().expect("the removal");
    admin
        .refused(
            Method::POST,
            &format!("/admin/messages/{}/remove", change.id),
            Some(json!({"reason": "the change"})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    let log: Vec<AuditEntry> = admin.ok(Method::GET, "/admin/audit?limit=1", None).await;
    assert_eq!(
        (
            log[0].action.as_str(),
            log[0].target.clone(),
            log[0].reason.as_str()
        ),
        ("remove_message", bad.id.to_string(), "abuse")
    );
    // Bob's own read mark did not move: the removal was not his doing.
    let seen: ferry_proto::Conversation = alice
        .ok(Method::GET, &format!("/conversations/{chat}"), None)
        .await;
    let bobs_mark = seen
        .members
        .iter()
        .find(|m| m.user.id == bob.id())
        .expect("bob")
        .read_seq;
    assert_eq!(bobs_mark, bad.seq);
}

async fn the_host_commands_act_and_are_audited(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let chat = alice.direct_with(&mallory).await.id;
    mallory.accept(chat).await;
    let awful = mallory.send_rest(chat, "something awful").await;
    let receipt: ReportReceipt = alice
        .ok(
            Method::POST,
            "/reports",
            Some(json!({"user_id": mallory.id(), "conversation_id": chat,
                "message_id": awful.id, "reason": "threats"})),
        )
        .await;
    let mut mallorys = mallory.ws().await;

    let users = host_admin_ok(&db.url, &["users", "MAL"]).await;
    assert!(
        users.contains("mallory") && !users.contains("alice"),
        "{users}"
    );
    assert!(users.contains("open reports 1"), "{users}");
    let reports = host_admin_ok(&db.url, &["reports"]).await;
    assert!(
        reports.contains(&receipt.id.to_string())
            && reports.contains("alice reported mallory: threats")
            && reports.contains(&format!("> #{} {}", awful.seq, awful.id))
            && reports.contains("something awful"),
        "{reports}"
    );

    let out = host_admin(&db.url, &["suspend", "mallory"]).await;
    assert!(!out.status.success(), "a suspension needs a reason");
    let said = host_admin_ok(&db.url, &["suspend", "mallory", "--reason", "threats"]).await;
    assert!(said.contains("1 session(s) ended"), "{said}");
    // This node heard nothing on its bus; its look at ended sessions closes the socket.
    assert_eq!(close_code(&mut mallorys).await, Some(4001));
    assert_eq!(sign_in(&server, "mallory").await, StatusCode::FORBIDDEN);

    let said = host_admin_ok(
        &db.url,
        &[
            "remove-message",
            &awful.id.to_string(),
            "--reason",
            "threats",
        ],
    )
    .await;
    assert!(said.contains("removed for everyone"), "{said}");
    let history = alice.history(chat).await;
    let removed = history.iter().find(|m| m.id == awful.id).expect("there");
    assert!(removed.removed_by_operator);
    let said = host_admin_ok(
        &db.url,
        &["resolve", &receipt.id.to_string(), "--note", "suspended"],
    )
    .await;
    assert!(said.contains("is resolved"), "{said}");
    let out = host_admin(
        &db.url,
        &["dismiss", &receipt.id.to_string(), "--note", "again"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already resolved"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = host_admin(&db.url, &["resolve", "not-an-id", "--note", "x"]).await;
    assert!(!out.status.success());

    let audit = host_admin_ok(&db.url, &["audit"]).await;
    let actions: Vec<&str> = audit
        .lines()
        .map(|l| l.split('\t').nth(2).unwrap_or_default())
        .collect();
    assert_eq!(actions, ["resolve_report", "remove_message", "suspend"]);
    assert!(audit.lines().all(|l| l.contains("\t(host)\t")), "{audit}");
    let said = host_admin_ok(&db.url, &["reactivate", "mallory", "--reason", "appeal"]).await;
    assert!(said.contains("reactivated"), "{said}");
    assert_eq!(sign_in(&server, "mallory").await, StatusCode::OK);
}

on_both!(
    the_admin_api_is_hidden_from_everyone_else,
    a_suspension_signs_the_account_out_at_once_and_holds,
    reports_are_decided_with_their_message_in_context,
    a_removal_reaches_every_member_as_an_operators,
    the_host_commands_act_and_are_audited,
);
