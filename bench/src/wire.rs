//! The two protocols the load generator speaks over a WebSocket: Ferry's JSON frames
//! (`ferry_proto`'s [`ClientFrame`] and [`ServerFrame`], as Ferry's own clients speak them),
//! and Socket.IO v4 (Engine.IO packets: `0` open, `40` connect with the token, `2`/`3`
//! ping/pong, `42[event, data]` events, `42<n>[…]` an event awaiting ack `43<n>[…]`).
//! Each turns what the scenario does into text frames and what arrives into
//! [`Incoming`], so one driver runs both servers.

use ferry_proto::mls::MlsBytes;
use ferry_proto::{
    Change, ClientFrame, ConversationId, MessageId, OutgoingMessage, ServerFrame, UserId,
};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;

/// The peer's largest `history` page: a full page means there may be more.
pub const SOCKETIO_PAGE: usize = 200;

/// Which server is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Target {
    /// Ferry's own server.
    Ferry,
    /// The Socket.IO + Node + pg peer (`bench/peers/socketio`).
    Socketio,
}

/// What arrived on a socket, as far as a scenario cares.
#[derive(Debug)]
pub enum Incoming {
    /// The socket is signed in and may be used (`welcome`, or Socket.IO's `40`).
    Ready,
    /// Socket.IO's open packet: answer with the connect packet.
    Open,
    /// A keep-alive to answer (Engine.IO `2`).
    Ping,
    /// A send was committed. For Socket.IO the ack number, for Ferry the message id and
    /// the seq it got.
    Ack(AckRef, Option<i64>),
    /// A send failed.
    Refused(AckRef, String),
    /// Socket.IO's answer to a `sync` request: every conversation of the user.
    Synced(u64, Vec<ConversationMark>),
    /// Socket.IO's answer to a `history` request: one page, ascending by seq.
    Page(u64, Vec<StoredMessage>),
    /// A message delivered to this socket.
    Message {
        id: MessageId,
        conversation_id: ConversationId,
        seq: i64,
        sender_id: UserId,
        body: String,
        /// Ferry's encrypted conversations: the entry as its sender sealed it.
        sealed: Option<MlsBytes>,
    },
    /// Someone is typing.
    Typing { conversation_id: ConversationId },
    /// Ferry: live frames for this socket may have been lost (a cluster node missed bus
    /// traffic); catch up as after a reconnect.
    Resync,
    /// The server refused the connection.
    Unauthorized(String),
    /// Anything else (presence, receipts, pong).
    Other,
}

/// How an ack names the send it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckRef {
    Id(MessageId),
    Number(u64),
}

/// A message delivered by the peer (its `message` event).
#[derive(Deserialize)]
struct PeerMessage {
    id: MessageId,
    conversation_id: ConversationId,
    seq: i64,
    sender_id: UserId,
    body: String,
}

/// A conversation as a catch-up sees it: how far its messages go.
#[derive(Debug, Deserialize)]
pub struct ConversationMark {
    pub id: ConversationId,
    pub last_seq: i64,
}

/// A stored message read back by a catch-up (Ferry's REST history and the peer's
/// `history` event share these fields).
#[derive(Debug, Deserialize)]
pub struct StoredMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub sender_id: UserId,
    pub body: String,
    /// Ferry's encrypted conversations: the entry as its sender sealed it.
    #[serde(default)]
    pub sealed: Option<MlsBytes>,
}

impl Target {
    /// The upgrade request for a user with `token`, on the server at `addr`.
    pub fn request(self, addr: &str, token: &str) -> Request {
        match self {
            Target::Ferry => {
                let mut req = format!("ws://{addr}/api/v1/ws")
                    .into_client_request()
                    .expect("valid URL");
                req.headers_mut().insert(
                    "authorization",
                    format!("Bearer {token}").parse().expect("header value"),
                );
                req
            }
            Target::Socketio => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
                .into_client_request()
                .expect("valid URL"),
        }
    }

    /// Socket.IO's connect packet, carrying the token (Ferry needs none: the token went
    /// in the upgrade request).
    pub fn connect_packet(self, token: &str) -> String {
        format!("40{}", json!({ "token": token }))
    }

    /// Socket.IO's catch-up requests, answered by [`Incoming::Synced`] and
    /// [`Incoming::Page`] (Ferry catches up over REST instead).
    pub fn sync_request(self, ack: u64) -> String {
        format!("42{ack}{}", json!(["sync", {}]))
    }

    /// The page of `conversation_id` after `after_seq` (see [`Target::sync_request`]).
    pub fn history_request(
        self,
        ack: u64,
        conversation_id: ConversationId,
        after_seq: i64,
    ) -> String {
        let query = json!({
            "conversation_id": conversation_id,
            "after_seq": after_seq,
            "limit": SOCKETIO_PAGE,
        });
        format!("42{ack}{}", json!(["history", query]))
    }

    /// A message send (or, with `change`, an edit or reaction); `ack` numbers Socket.IO's
    /// acknowledgement. The peer's `send` event carries the same message object as
    /// Ferry's `send` frame. The peer has no changes: it stores and relays one as a
    /// message (a reaction with its emoji as the text), the nearest work it does.
    pub fn send(
        self,
        ack: u64,
        id: MessageId,
        conversation_id: ConversationId,
        body: &str,
        change: Option<&Change>,
        sealed: Option<&MlsBytes>,
    ) -> String {
        let message = OutgoingMessage {
            change: change.cloned(),
            sealed: sealed.cloned(),
            ..OutgoingMessage::text(id, conversation_id, body)
        };
        match self {
            Target::Ferry => encode(&ClientFrame::Send { message }),
            Target::Socketio => {
                let text = match change.and_then(|c| c.emoji.as_deref()) {
                    Some(emoji) => emoji,
                    None => body,
                };
                let message = OutgoingMessage::text(id, conversation_id, text);
                format!("42{ack}{}", encode(&("send", message)))
            }
        }
    }

    /// A typing notice (started or stopped).
    pub fn typing(self, conversation_id: ConversationId, typing: bool) -> String {
        match self {
            Target::Ferry => encode(&ClientFrame::Typing {
                conversation_id,
                typing,
            }),
            Target::Socketio => {
                let typing = json!({ "conversation_id": conversation_id, "typing": typing });
                format!("42{}", json!(["typing", typing]))
            }
        }
    }

    /// The answer to a keep-alive (Ferry's pings are WebSocket pings, answered by the
    /// WebSocket library itself).
    pub fn pong(self) -> &'static str {
        "3"
    }

    /// Reads one text frame.
    pub fn parse(self, text: &str) -> Incoming {
        match self {
            Target::Ferry => parse_ferry(text),
            Target::Socketio => parse_socketio(text),
        }
    }
}

fn encode(frame: &impl serde::Serialize) -> String {
    serde_json::to_string(frame).expect("frames of plain data always serialize")
}

/// A Ferry frame as far as a scenario cares; one that does not decode (none should) is
/// [`Incoming::Other`].
fn parse_ferry(text: &str) -> Incoming {
    match serde_json::from_str::<ServerFrame>(text) {
        Ok(ServerFrame::Welcome { .. }) => Incoming::Ready,
        Ok(ServerFrame::Ack { id, seq, .. }) => Incoming::Ack(AckRef::Id(id), Some(seq)),
        Ok(ServerFrame::Error {
            reference, code, ..
        }) => Incoming::Refused(AckRef::Id(reference.unwrap_or_default()), code_name(code)),
        Ok(ServerFrame::Message { message }) => Incoming::Message {
            id: message.id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            sender_id: message.sender_id,
            body: message.body,
            sealed: message.sealed,
        },
        Ok(ServerFrame::Typing {
            conversation_id, ..
        }) => Incoming::Typing { conversation_id },
        Ok(ServerFrame::Resync) => Incoming::Resync,
        Ok(_) | Err(_) => Incoming::Other,
    }
}

/// An error code as the wire spells it (`rate_limited`), to count refusals by.
fn code_name(code: ferry_proto::ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

fn parse_socketio(text: &str) -> Incoming {
    match text.as_bytes().first() {
        Some(b'0') => return Incoming::Open,
        Some(b'2') => return Incoming::Ping,
        Some(b'4') => {}
        _ => return Incoming::Other,
    }
    // An Engine.IO message (4) carries a Socket.IO packet: 0 connect, 4 connect error,
    // 2 event, 3 ack.
    let packet = &text[1..];
    if packet.starts_with('0') {
        return Incoming::Ready;
    }
    if let Some(reason) = packet.strip_prefix('4') {
        return Incoming::Unauthorized(reason.to_owned());
    }
    if let Some(rest) = packet.strip_prefix('3') {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(number) = rest[..digits].parse::<u64>() else {
            return Incoming::Other;
        };
        // The answer's shape says what it answers: a send's carries `message`, a
        // sync's `conversations`, a history request's `messages`.
        #[derive(Deserialize)]
        struct Answer {
            ok: bool,
            error: Option<serde_json::Value>,
            /// A send's: the message as stored, with its seq.
            message: Option<Acked>,
            conversations: Option<Vec<ConversationMark>>,
            messages: Option<Vec<StoredMessage>>,
        }
        #[derive(Deserialize)]
        struct Acked {
            seq: Option<i64>,
        }
        return match serde_json::from_str::<(Answer,)>(&rest[digits..]) {
            Ok((Answer {
                ok: true,
                conversations: Some(marks),
                ..
            },)) => Incoming::Synced(number, marks),
            Ok((Answer {
                ok: true,
                messages: Some(page),
                ..
            },)) => Incoming::Page(number, page),
            Ok((Answer {
                ok: true, message, ..
            },)) => Incoming::Ack(AckRef::Number(number), message.and_then(|m| m.seq)),
            Ok((Answer { error, .. },)) => Incoming::Refused(
                AckRef::Number(number),
                error.map(|e| e["code"].to_string()).unwrap_or_default(),
            ),
            Err(_) => Incoming::Other,
        };
    }
    if let Some(rest) = packet.strip_prefix('2') {
        #[derive(Deserialize)]
        struct TypingData {
            conversation_id: ConversationId,
        }
        if rest.starts_with("[\"message\"") {
            if let Ok((_, m)) = serde_json::from_str::<(String, PeerMessage)>(rest) {
                return Incoming::Message {
                    id: m.id,
                    conversation_id: m.conversation_id,
                    seq: m.seq,
                    sender_id: m.sender_id,
                    body: m.body,
                    sealed: None,
                };
            }
        } else if rest.starts_with("[\"typing\"")
            && let Ok((_, t)) = serde_json::from_str::<(String, TypingData)>(rest)
        {
            return Incoming::Typing {
                conversation_id: t.conversation_id,
            };
        }
    }
    Incoming::Other
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn reads_socketio_packets() {
        assert!(matches!(
            Target::Socketio.parse("431[{\"ok\":true,\"message\":{\"seq\":7}}]"),
            Incoming::Ack(AckRef::Number(1), Some(7))
        ));
        assert!(matches!(
            Target::Socketio.parse("4312[{\"ok\":false,\"error\":{\"code\":\"not_found\"}}]"),
            Incoming::Refused(AckRef::Number(12), _)
        ));
        let id = Uuid::now_v7();
        let text = format!(
            "42[\"message\",{{\"id\":\"{id}\",\"conversation_id\":\"{id}\",\"seq\":3,\"sender_id\":\"{id}\",\"body\":\"b\",\"created_at\":1}}]"
        );
        assert!(matches!(
            Target::Socketio.parse(&text),
            Incoming::Message { seq: 3, .. }
        ));
        assert!(matches!(Target::Socketio.parse("2"), Incoming::Ping));
        assert!(matches!(
            Target::Socketio.parse("40{\"sid\":\"x\"}"),
            Incoming::Ready
        ));
    }

    #[test]
    fn reads_socketio_catch_up_answers() {
        let id = Uuid::now_v7();
        let synced = format!(
            "437[{{\"ok\":true,\"conversations\":[{{\"id\":\"{id}\",\"last_seq\":4,\"read_seq\":2}}]}}]"
        );
        assert!(matches!(
            Target::Socketio.parse(&synced),
            Incoming::Synced(7, marks) if marks.len() == 1 && marks[0].last_seq == 4
        ));
        let page = format!(
            "438[{{\"ok\":true,\"messages\":[{{\"id\":\"{id}\",\"conversation_id\":\"{id}\",\"seq\":3,\"sender_id\":\"{id}\",\"body\":\"b\",\"created_at\":1}}]}}]"
        );
        assert!(matches!(
            Target::Socketio.parse(&page),
            Incoming::Page(8, messages) if messages.len() == 1 && messages[0].seq == 3
        ));
        assert!(matches!(
            Target::Socketio.parse("439[{\"ok\":true,\"messages\":[]}]"),
            Incoming::Page(9, messages) if messages.is_empty()
        ));
    }

    #[test]
    fn reads_ferry_frames() {
        let id = MessageId::new();
        let ack = format!(
            "{{\"type\":\"ack\",\"id\":\"{id}\",\"conversation_id\":\"{id}\",\"seq\":1,\"created_at\":\"2026-11-22T08:59:57.455Z\"}}"
        );
        assert!(
            matches!(Target::Ferry.parse(&ack), Incoming::Ack(AckRef::Id(a), Some(1)) if a == id)
        );
        assert!(matches!(
            Target::Ferry.parse("{\"type\":\"resync\"}"),
            Incoming::Resync
        ));
        assert!(matches!(
            Target::Ferry.parse("{\"type\":\"presence\",\"user_id\":\"x\"}"),
            Incoming::Other
        ));
        let refused = format!(
            "{{\"type\":\"error\",\"ref\":\"{id}\",\"code\":\"rate_limited\",\"message\":\"slow down\"}}"
        );
        assert!(matches!(
            Target::Ferry.parse(&refused),
            Incoming::Refused(AckRef::Id(r), code) if r == id && code == "rate_limited"
        ));
    }

    #[test]
    fn writes_frames_ferry_reads() {
        let (id, chat) = (MessageId::new(), ConversationId::new());
        let send: ClientFrame =
            serde_json::from_str(&Target::Ferry.send(1, id, chat, "hi", None, None))
                .expect("a send frame");
        assert!(
            matches!(send, ClientFrame::Send { message } if message.id == id && message.body == "hi")
        );
        for started in [true, false] {
            let typing: ClientFrame =
                serde_json::from_str(&Target::Ferry.typing(chat, started)).expect("a typing frame");
            assert!(matches!(typing, ClientFrame::Typing { typing, .. } if typing == started));
        }
        assert_eq!(
            Target::Socketio.send(7, id, chat, "hi", None, None),
            format!(
                "427[\"send\",{{\"id\":\"{id}\",\"conversation_id\":\"{chat}\",\"body\":\"hi\"}}]"
            )
        );
        // A reaction: a change for Ferry; for the peer, which has none, a message of the
        // emoji.
        let thumbs = Change {
            kind: ferry_proto::ChangeKind::React,
            target: id,
            emoji: Some("👍".into()),
        };
        let send: ClientFrame =
            serde_json::from_str(&Target::Ferry.send(2, id, chat, "", Some(&thumbs), None))
                .expect("a send frame");
        assert!(
            matches!(send, ClientFrame::Send { message } if message.change == Some(thumbs.clone()) && message.body.is_empty())
        );
        assert!(
            Target::Socketio
                .send(8, id, chat, "", Some(&thumbs), None)
                .contains("\"body\":\"👍\"")
        );
        // An encrypted conversation's send: its sealed bytes, and no text in the open.
        let sealed = MlsBytes(vec![1, 2, 3]);
        let send: ClientFrame =
            serde_json::from_str(&Target::Ferry.send(3, id, chat, "", None, Some(&sealed)))
                .expect("a send frame");
        assert!(
            matches!(send, ClientFrame::Send { message } if message.sealed == Some(sealed) && message.body.is_empty())
        );
    }
}
