//! Bad input of every kind gets its documented error; connections survive where the
//! protocol says so; nothing is stored that should not be.

use ferry_proto::{
    ClientFrame, ErrorCode, MessageId, ServerFrame, SessionId, TOKEN_AUDIENCE, UserId,
};
use futures_util::SinkExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use crate::support::{
    Backend, JWT_SECRET, Served, TestDb, TestServer, User, Ws, alice_and_bob, on_both, test_config,
    try_ws,
};

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

async fn raw_post(user: &User, path: &str, body: &'static str) -> (StatusCode, Value) {
    let r = user
        .http
        .post(format!("{}{path}", user.base))
        .bearer_auth(&user.tokens.access_token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.json().await.expect("every error is JSON"))
}

async fn rest_rejects_bad_bodies(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    let path = format!("/conversations/{conv}/messages");

    for body in [
        "{not json",
        r#"{"id": 5, "body": "x"}"#,
        r#"{"id": "not-a-uuid", "body": "x"}"#,
        r#"{"body": "no id"}"#,
        "[]",
    ] {
        let (status, response) = raw_post(&alice, &path, body).await;
        assert_eq!(
            (status, code(&response)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{body}"
        );
    }
    alice
        .refused(
            Method::POST,
            &path,
            Some(json!({"id": Uuid::now_v7(), "body": " \n\t "})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    let long = "x".repeat(ferry_proto::MAX_BODY_CHARS + 1);
    alice
        .refused(
            Method::POST,
            &path,
            Some(json!({"id": Uuid::now_v7(), "body": long})),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            &path,
            Some(json!({"id": Uuid::nil(), "body": "nil id"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    // Exactly at the limit is fine (characters, not bytes).
    let max = "é".repeat(ferry_proto::MAX_BODY_CHARS);
    let (status, _) = alice
        .call(
            Method::POST,
            &path,
            Some(json!({"id": Uuid::now_v7(), "body": max})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Many times: an early answer on a half-sent body used to be lost to a reset now and then.
    let huge = "y".repeat(1024 * 1024);
    for _ in 0..20 {
        let (status, body) = alice
            .call(
                Method::POST,
                &path,
                Some(json!({"id": Uuid::now_v7(), "body": huge})),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        );
    }
    alice
        .refused(
            Method::GET,
            &format!("{path}?after_seq=abc"),
            None,
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .refused(
            Method::GET,
            "/conversations/not-a-uuid",
            None,
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            &format!("/conversations/{conv}/read"),
            Some(json!({"seq": -1})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    assert_eq!(
        alice.history(conv).await.len(),
        1,
        "only the valid message was stored"
    );

    // Registration input.
    for (body, why) in [
        (
            json!({"username": "ab", "password": "long enough", "display_name": "A"}),
            "short username",
        ),
        (
            json!({"username": "bad name", "password": "long enough", "display_name": "A"}),
            "space",
        ),
        (
            json!({"username": "okname", "password": "short", "display_name": "A"}),
            "short password",
        ),
        (
            json!({"username": "okname", "password": "x".repeat(1025), "display_name": "A"}),
            "long password",
        ),
        (
            json!({"username": "okname", "password": "long enough", "display_name": "   "}),
            "blank display name",
        ),
        (
            json!({"username": "okname", "password": "long enough"}),
            "missing field",
        ),
    ] {
        let r = reqwest::Client::new()
            .post(server.api("/auth/register"))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(
            code(&r.json().await.expect("json")),
            "invalid_request",
            "{why}"
        );
    }
}

async fn sql_metacharacters_are_just_text(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let nasty = "Robert'); DROP TABLE messages;-- \" \\ % _ ;";
    let r = reqwest::Client::new()
        .post(server.api("/auth/register"))
        .json(&json!({"username": "robert'); drop", "password": "correct horse battery", "display_name": nasty}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "such a username is refused by its rules"
    );
    let r = reqwest::Client::new()
        .post(server.api("/auth/register"))
        .json(&json!({"username": "robert", "password": "' OR '1'='1", "display_name": nasty}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let robert = User::with_tokens(&server, r.json().await.expect("tokens"));
    let alice = User::register(&server, "alice").await;
    let group = robert.group(nasty, &[&alice]).await;
    assert_eq!(group.title.as_deref(), Some(nasty));
    let sent = robert.send_rest(group.id, nasty).await;
    assert_eq!(sent.body, nasty);
    let back = alice.history(group.id).await;
    assert_eq!(back[0].body, nasty);
    let me: ferry_proto::User = robert.ok(Method::GET, "/me", None).await;
    assert_eq!(me.display_name, nasty);
    for q in ["%%", "__", "a%", "' OR 1=1 --", "%' OR '1'='1"] {
        let found: Vec<ferry_proto::User> = alice
            .ok(Method::GET, &format!("/users?q={}", urlencode(q)), None)
            .await;
        assert!(found.is_empty(), "{q:?} matched {found:?}");
    }
    let r = reqwest::Client::new()
        .post(server.api("/auth/login"))
        .json(&json!({"username": "robert' --", "password": "' OR '1'='1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let found: Vec<ferry_proto::User> = alice.ok(Method::GET, "/users?q=rob", None).await;
    assert_eq!(found.len(), 1, "the tables are all still there");
}

/// NUL cannot be stored in Postgres text (it answered 500 there and 201 on SQLite), and
/// control characters would act on a terminal that prints them: every backend refuses
/// them with 400 in bodies (but tab and line breaks), titles, display names and searches,
/// over REST and the socket alike, and stores nothing.
async fn control_characters_are_refused_alike(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let invalid = (StatusCode::BAD_REQUEST, "invalid_request");
    let path = format!("/conversations/{conv}/messages");
    for body in [
        "nul \u{0} inside",
        "escape \u{1b}[2J",
        "delete \u{7f}",
        "c1 \u{9b}31m",
    ] {
        let send = json!({"id": Uuid::now_v7(), "body": body});
        alice
            .refused(Method::POST, &path, Some(send), invalid)
            .await;
    }
    let fine = alice.send_rest(conv, "tab\there\r\nand a new line").await;
    assert_eq!(fine.seq, 1);
    assert_eq!(
        alice.history(conv).await.len(),
        1,
        "nothing refused was stored"
    );

    let mut ws = alice.ws().await;
    let id = MessageId::new();
    ws.send(&Ws::send_frame(id, conv, "over the socket \u{0}"))
        .await;
    let refused = ws
        .expect("the send refused", |f| {
            matches!(f, ServerFrame::Error { .. })
        })
        .await;
    let ServerFrame::Error {
        code, reference, ..
    } = refused
    else {
        unreachable!()
    };
    assert_eq!((code, reference), (ErrorCode::InvalidRequest, Some(id)));

    let group = json!({"kind": "group", "title": "nul \u{0} group", "member_ids": [bob.id()]});
    alice
        .refused(Method::POST, "/conversations", Some(group), invalid)
        .await;
    let r = reqwest::Client::new()
        .post(server.api("/auth/register"))
        .json(&json!({"username": "carol", "password": "correct horse battery", "display_name": "Carol\u{0}"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    alice
        .refused(Method::GET, "/users?q=bo%00b", None, invalid)
        .await;

    // Signing in: a name no account can have is just a wrong username; a device name
    // with a control character is refused before a session is made.
    let login = |body: Value| {
        reqwest::Client::new()
            .post(server.api("/auth/login"))
            .json(&body)
            .send()
    };
    let r = login(json!({"username": "ali\u{0}ce", "password": "correct horse battery"}))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = login(json!({"username": "alice", "password": "correct horse battery", "device_name": "laptop\u{0}"}))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// An access token as the server makes one (`typ` "at+jwt", `iss`, `aud`, `sub`, `sid`,
/// `iat`, `exp`), with `change` applied to its header and claims first.
fn forge(
    sub: UserId,
    sid: SessionId,
    change: impl FnOnce(&mut Header, &mut Value, &mut &str),
) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let mut claims = json!({"iss": "ferry", "sub": sub, "sid": sid, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + 600});
    let mut secret = JWT_SECRET;
    change(&mut header, &mut claims, &mut secret);
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

async fn bad_tokens_are_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let (sub, sid) = (alice.id(), alice.tokens.session_id);
    let me = |token: String| {
        let url = server.api("/me");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("send")
        }
    };
    // The forger makes what the server makes (so each case below is refused for its own
    // flaw), and a clock a little ahead of the server's is allowed for.
    let made = forge(sub, sid, |_, _, _| {});
    assert_eq!(me(made).await.status(), StatusCode::OK, "a well-made token");
    let just_expired = forge(sub, sid, |_, claims, _| {
        claims["exp"] = json!(chrono::Utc::now().timestamp() - 2);
    });
    assert_eq!(
        me(just_expired).await.status(),
        StatusCode::OK,
        "expired 2 s ago, within the 5 s leeway"
    );
    let unsigned = {
        use base64::Engine;
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = chrono::Utc::now().timestamp();
        format!(
            "{}.{}.",
            enc.encode(br#"{"alg":"none","typ":"at+jwt"}"#),
            enc.encode(
                json!({"iss": "ferry", "sub": sub, "sid": sid, "aud": TOKEN_AUDIENCE, "exp": now + 600})
                    .to_string()
            )
        )
    };
    let cases = [
        (
            "forged",
            forge(sub, sid, |_, _, secret| {
                *secret = "some-other-secret-that-is-long-enough!!";
            }),
        ),
        (
            "expired",
            forge(sub, sid, |_, claims, _| {
                claims["exp"] = json!(chrono::Utc::now().timestamp() - 60);
            }),
        ),
        (
            "wrong audience",
            forge(sub, sid, |_, claims, _| claims["aud"] = json!("not-ferry")),
        ),
        (
            "no issuer",
            forge(sub, sid, |_, claims, _| {
                claims.as_object_mut().expect("claims").remove("iss");
            }),
        ),
        (
            "another issuer",
            forge(sub, sid, |_, claims, _| claims["iss"] = json!("elsewhere")),
        ),
        (
            "not an access token",
            forge(sub, sid, |header, _, _| header.typ = Some("JWT".into())),
        ),
        (
            "other algorithm",
            forge(sub, sid, |header, _, _| header.alg = Algorithm::HS512),
        ),
        (
            "unknown session",
            forge(sub, SessionId::new(), |_, _, _| {}),
        ),
        ("alg none", unsigned),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (why, token) in &cases {
        let r = reqwest::Client::new()
            .get(server.api("/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            code(&r.json().await.expect("json")),
            "unauthorized",
            "{why}"
        );
        let ws = try_ws(&alice.ws_url, Some(token)).await;
        assert!(
            matches!(ws, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 401),
            "{why}: socket refused before upgrade"
        );
    }
    let r = reqwest::Client::new()
        .get(server.api("/me"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no token");
    let ws = try_ws(&alice.ws_url, None).await;
    assert!(
        matches!(ws, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 401)
    );
    // A token in the URL is not a token.
    let r = reqwest::get(format!(
        "{}?access_token={}",
        server.api("/me"),
        alice.tokens.access_token
    ))
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The genuine token still works.
    let _: ferry_proto::User = alice.ok(Method::GET, "/me", None).await;
}

async fn socket_survives_bad_frames(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    let mut ws = alice.ws().await;
    let bad_id = MessageId::new();
    let long = "x".repeat(ferry_proto::MAX_BODY_CHARS + 1);
    let cases: Vec<(String, Option<MessageId>, ErrorCode)> = vec![
        ("{oops".into(), None, ErrorCode::InvalidRequest),
        (r#"{"no_type": 1}"#.into(), None, ErrorCode::InvalidRequest),
        (r#"{"type": "teleport"}"#.into(), None, ErrorCode::InvalidRequest),
        (r#"{"type": 7}"#.into(), None, ErrorCode::InvalidRequest),
        (json!({"type": "send", "message": {"id": bad_id, "conversation_id": conv, "body": 5}}).to_string(), Some(bad_id), ErrorCode::InvalidRequest),
        (json!({"type": "send", "message": {"id": bad_id, "conversation_id": conv, "body": "   "}}).to_string(), Some(bad_id), ErrorCode::InvalidRequest),
        (json!({"type": "send", "message": {"id": bad_id, "conversation_id": conv, "body": long}}).to_string(), Some(bad_id), ErrorCode::TooLarge),
        (json!({"type": "send", "message": {"id": bad_id, "conversation_id": Uuid::now_v7(), "body": "where?"}}).to_string(), Some(bad_id), ErrorCode::NotFound),
        (json!({"type": "read", "conversation_id": conv, "seq": "one"}).to_string(), None, ErrorCode::InvalidRequest),
        (json!({"type": "read", "conversation_id": Uuid::now_v7(), "seq": 1}).to_string(), None, ErrorCode::NotFound),
    ];
    for (text, reference, expected) in cases {
        ws.send_text(&text).await;
        match ws.next().await {
            ServerFrame::Error {
                reference: r, code, ..
            } => {
                assert_eq!((r, code), (reference, expected), "{text:.80}");
            }
            other => panic!("{text:.80}: expected an error, got {other:?}"),
        }
    }
    ws.stream
        .send(WsMessage::Binary(vec![1, 2, 3].into()))
        .await
        .expect("binary");
    assert!(matches!(
        ws.next().await,
        ServerFrame::Error {
            code: ErrorCode::InvalidRequest,
            ..
        }
    ));
    // Still alive, and nothing was stored.
    ws.send(&ClientFrame::Ping).await;
    assert_eq!(ws.next().await, ServerFrame::Pong);
    let good = MessageId::new();
    ws.send(&Ws::send_frame(good, conv, "finally")).await;
    assert!(matches!(ws.next().await, ServerFrame::Ack { id, seq: 1, .. } if id == good));
    assert_eq!(alice.history(conv).await.len(), 1);
}

async fn oversize_frame_closes_with_1009(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mut ws = alice.ws().await;
    let big = format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(ferry_proto::MAX_FRAME_BYTES)
    );
    ws.send_text(&big).await;
    let close = ws.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::TOO_BIG);
}

async fn frame_flood_closes_with_4029(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.frame_rate_per_sec = 5;
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    let mut ws = alice.ws().await;
    for _ in 0..50 {
        if ws
            .stream
            .send(WsMessage::Text(r#"{"type":"ping"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let close = ws.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::TOO_MANY_FRAMES);
}

async fn origin_allow_list(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.allowed_origins = vec!["https://app.ferry.example".into()];
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    for (origin, allowed) in [
        ("https://evil.example", false),
        ("https://app.ferry.example", true),
    ] {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = alice
            .ws_url
            .as_str()
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", alice.tokens.access_token)
                .parse()
                .expect("h"),
        );
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("h"));
        let result = tokio_tungstenite::connect_async(request).await;
        match (allowed, result) {
            (true, Ok(_)) => {}
            (false, Err(tokio_tungstenite::tungstenite::Error::Http(r))) => {
                assert_eq!(r.status(), 403)
            }
            (allowed, other) => panic!("{origin} allowed={allowed}: {:?}", other.map(|_| ())),
        }
    }
    // Native clients send no Origin and are let in.
    alice.ws().await;
}

async fn upgrade_errors_are_json(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    // A plain GET with a valid token but no WebSocket handshake.
    alice
        .refused(
            Method::GET,
            "/ws",
            None,
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    // Odd methods do not become metric labels.
    let odd = reqwest::Method::from_bytes(b"ZZTOP").expect("method");
    let r = reqwest::Client::new()
        .request(odd, format!("{}/healthz", server.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET,HEAD", "the methods it takes");
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        !metrics.contains("ZZTOP") && metrics.contains("method=\"other\""),
        "{metrics}"
    );
}

async fn auth_rate_limit_per_address(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.auth_rate_per_ip_per_min = 3;
    let server = TestServer::start_with(config).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = reqwest::Client::new()
            .post(server.api("/auth/register"))
            .json(&json!({"username": format!("user{i}"), "password": "correct horse battery", "display_name": "U"}))
            .send()
            .await
            .expect("send");
        statuses.push(r.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

on_both!(
    upgrade_errors_are_json,
    auth_rate_limit_per_address,
    rest_rejects_bad_bodies,
    sql_metacharacters_are_just_text,
    control_characters_are_refused_alike,
    bad_tokens_are_refused,
    socket_survives_bad_frames,
    oversize_frame_closes_with_1009,
    frame_flood_closes_with_4029,
    origin_allow_list,
);

/// A secret given as a flag would be in the command line `ps` shows every user: the
/// binary refuses it and says where it goes instead; from the environment it starts.
#[tokio::test]
async fn secrets_on_the_command_line_are_refused() {
    let db = TestDb::sqlite();
    let dir = db.dir.path();
    let binary = env!("CARGO_BIN_EXE_ferry-server");
    for (flag, instead) in [
        ("--jwt-secret", "FERRY_JWT_SECRET"),
        ("--s3-secret-access-key", "FERRY_S3_SECRET_ACCESS_KEY"),
    ] {
        let out = crate::support::within(
            "ferry-server to refuse",
            tokio::process::Command::new(binary)
                .args([flag, "0123456789abcdef0123456789abcdef-secret"])
                .arg("--data-dir")
                .arg(dir)
                .env_remove("FERRY_JWT_SECRET")
                .env("FERRY_BIND", "127.0.0.1:0")
                .output(),
        )
        .await
        .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} was taken");
        assert!(
            stderr.contains("(ps)") && stderr.contains(instead),
            "{stderr}"
        );
    }
}
