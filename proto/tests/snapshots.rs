//! Snapshot tests of the wire shapes: an accidental change to the protocol shows up in
//! review as a changed snapshot.

use ferry_proto::{
    ApiError, Change, ChangeKind, ClientFrame, Conversation, ConversationKind, ErrorBody,
    ErrorCode, Member, MemberState, Message, OutgoingMessage, Role, ServerFrame, Timestamp, User,
};
use uuid::Uuid;

fn id<T: From<Uuid>>(n: u128) -> T {
    Uuid::from_u128(n).into()
}

fn at() -> Timestamp {
    Timestamp::from_millis(1_795_332_388_257)
}

fn message() -> Message {
    Message::plain(id(7), id(3), 42, id(1), "hello <b>world</b>", at())
}

#[test]
fn client_frames() {
    let frames = vec![
        ClientFrame::Send {
            message: OutgoingMessage::text(id(7), id(3), "hi"),
        },
        ClientFrame::Send {
            message: OutgoingMessage {
                reply_to: Some(id(5)),
                ..OutgoingMessage::text(id(8), id(3), "a reply")
            },
        },
        ClientFrame::Send {
            message: OutgoingMessage {
                change: Some(Change {
                    kind: ChangeKind::Edit,
                    target: id(7),
                    emoji: None,
                }),
                ..OutgoingMessage::text(id(9), id(3), "hi, edited")
            },
        },
        ClientFrame::Send {
            message: OutgoingMessage {
                change: Some(Change {
                    kind: ChangeKind::React,
                    target: id(7),
                    emoji: Some("👍".into()),
                }),
                ..OutgoingMessage::text(id(10), id(3), "")
            },
        },
        ClientFrame::Typing {
            conversation_id: id(3),
            typing: true,
        },
        ClientFrame::Read {
            conversation_id: id(3),
            seq: 5,
        },
        ClientFrame::Delivered {
            conversation_id: id(3),
            seq: 6,
        },
        ClientFrame::Auth {
            access_token: "jwt".into(),
        },
        ClientFrame::Ping,
    ];
    insta::assert_json_snapshot!(frames);
}

#[test]
fn server_frames() {
    let user = User {
        id: id(1),
        username: "alice".into(),
        display_name: "Alice".into(),
        created_at: at(),
        status: None,
        picture: None,
    };
    let frames = vec![
        ServerFrame::Welcome {
            user_id: id(1),
            session_id: id(2),
            server_time: at(),
            heartbeat_secs: 20,
            features: Vec::new(),
        },
        // A socket that asked for `members` frames.
        ServerFrame::Welcome {
            user_id: id(1),
            session_id: id(2),
            server_time: at(),
            heartbeat_secs: 20,
            features: vec![ferry_proto::Feature::Members.name().into()],
        },
        ServerFrame::Ack {
            id: id(7),
            conversation_id: id(3),
            seq: 42,
            created_at: at(),
        },
        ServerFrame::error(
            Some(id(7)),
            ApiError {
                code: ErrorCode::NotFound,
                message: "no such conversation".into(),
                retry_after_ms: None,
            },
        ),
        ServerFrame::Message { message: message() },
        // A reply, edited since: it carries its current text and the edit's seq.
        ServerFrame::Message {
            message: Message {
                id: id(8),
                seq: 44,
                reply_to: Some(id(7)),
                edited_at: Some(at()),
                edit_seq: Some(45),
                ..message()
            },
        },
        // A deletion, as an entry of the stream; and the message it deleted.
        ServerFrame::Message {
            message: Message {
                id: id(9),
                seq: 46,
                body: String::new(),
                change: Some(Change {
                    kind: ChangeKind::Delete,
                    target: id(7),
                    emoji: None,
                }),
                ..message()
            },
        },
        ServerFrame::Message {
            message: Message {
                body: String::new(),
                deleted_at: Some(at()),
                ..message()
            },
        },
        // A reaction.
        ServerFrame::Message {
            message: Message {
                id: id(10),
                seq: 47,
                body: String::new(),
                change: Some(Change {
                    kind: ChangeKind::React,
                    target: id(7),
                    emoji: Some("🎉".into()),
                }),
                ..message()
            },
        },
        ServerFrame::Typing {
            conversation_id: id(3),
            user_id: id(1),
            typing: false,
        },
        ServerFrame::Receipt {
            conversation_id: id(3),
            user_id: id(1),
            read_seq: 4,
            delivered_seq: 5,
        },
        ServerFrame::Presence {
            user_id: id(1),
            online: false,
            last_seen: Some(at()),
        },
        ServerFrame::Conversation {
            conversation: Box::new(Conversation {
                id: id(3),
                kind: ConversationKind::Group,
                title: Some("Team".into()),
                members: vec![Member {
                    user: user.clone(),
                    role: Role::Owner,
                    read_seq: 42,
                    delivered_seq: 42,
                    state: MemberState::Request,
                    joined_at: at(),
                }],
                last_seq: 42,
                last_message: Some(message()),
                unread_count: 0,
                history_from: None,
                mls_epoch: 0,
                notifications: None,
                created_at: at(),
                updated_at: at(),
            }),
        },
        // Someone joined a group and someone left it.
        ServerFrame::Members {
            conversation_id: id(3),
            members: vec![Member {
                user,
                role: Role::Member,
                read_seq: 42,
                delivered_seq: 42,
                state: MemberState::Accepted,
                joined_at: at(),
            }],
            removed: vec![id(4)],
            member_count: 5,
            updated_at: at(),
        },
        // A session of a member of an encrypted conversation ended.
        ServerFrame::MlsSessionEnded {
            user_id: id(4),
            session_id: id(5),
        },
        ServerFrame::Pong,
    ];
    insta::assert_json_snapshot!(frames);
}

#[test]
fn error_body() {
    let body = ErrorBody {
        error: ApiError {
            code: ErrorCode::RateLimited,
            message: "too many messages".into(),
            retry_after_ms: Some(1500),
        },
    };
    insta::assert_json_snapshot!(body);
}

#[test]
fn unknown_fields_are_ignored_and_unknown_types_refused() {
    let frame: ClientFrame =
        serde_json::from_str(r#"{"type":"ping","future_field":1}"#).expect("ignores extras");
    assert_eq!(frame, ClientFrame::Ping);
    assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"teleport"}"#).is_err());
}

#[test]
fn a_member_from_a_server_without_requests_is_accepted() {
    let member: Member = serde_json::from_str(
        r#"{"user":{"id":"00000000-0000-0000-0000-000000000001","username":"ann",
            "display_name":"Ann","created_at":"2026-11-22T07:26:28.257Z"},
            "role":"member","read_seq":3,"delivered_seq":3,
            "joined_at":"2026-11-22T07:26:28.257Z"}"#,
    )
    .expect("a v1 member");
    assert_eq!(member.state, MemberState::Accepted);
}
