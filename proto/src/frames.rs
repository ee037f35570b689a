//! WebSocket frames: JSON text, one object each, told apart by `type`.

use serde::{Deserialize, Serialize};

use crate::mls::MlsBytes;
use crate::{
    AccountSettings, ApiError, Change, Conversation, ConversationId, ErrorCode, Member, Message,
    MessageId, SessionId, Timestamp, UploadId, User, UserId,
};

/// What a client may ask of its socket beyond protocol v1, by name in the upgrade's
/// `features` query, separated by commas (`GET /api/v1/ws?features=members`; addition to
/// v1, see docs/protocol.md). A server ignores names it does not know, and `welcome` lists
/// the ones it provides, so a client may ask any server for what it can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `members` frames instead of whole `conversation` frames when the members of a
    /// conversation the client has change.
    Members,
}

impl Feature {
    /// Every feature this version knows.
    pub const ALL: [Feature; 1] = [Feature::Members];

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
        }
    }

    /// The known features a `features` query names, each once, in the order asked.
    pub fn parse_query(query: &str) -> Vec<Feature> {
        let mut asked = Vec::new();
        for name in query.split(',').map(str::trim) {
            if let Some(feature) = Self::ALL.into_iter().find(|f| f.name() == name)
                && !asked.contains(&feature)
            {
                asked.push(feature);
            }
        }
        asked
    }

    /// The `features` query that asks for `features`.
    pub fn query(features: &[Feature]) -> String {
        features
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A message (or a change to one) as a client sends it on the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutgoingMessage {
    /// The client's id (UUIDv7), the idempotency key.
    pub id: MessageId,
    /// Where to.
    pub conversation_id: ConversationId,
    /// The text (of a message or an edit); empty for the other changes.
    #[serde(default)]
    pub body: String,
    /// The message this one replies to (addition to v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// A change to an earlier message instead of a message (addition to v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// The ids of finished uploads of the sender's, in order, to attach to the message
    /// (addition to v1; at most 10). With attachments the text may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<UploadId>,
    /// The message sealed for the conversation's end-to-end encrypted group (addition to
    /// v1): an `MLSMessage` private message of application content, made in the group's
    /// current epoch. With it `body` is empty and a change names no emoji: the text and
    /// the emoji are inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<MlsBytes>,
}

impl OutgoingMessage {
    /// A plain message.
    pub fn text(id: MessageId, conversation_id: ConversationId, body: impl Into<String>) -> Self {
        Self {
            id,
            conversation_id,
            body: body.into(),
            reply_to: None,
            change: None,
            attachments: Vec::new(),
            sealed: None,
        }
    }
}

/// Client → server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Store a message once; answered with `ack` or `error`.
    Send {
        /// The message.
        message: OutgoingMessage,
    },
    /// Started or stopped typing; relayed, never stored.
    Typing {
        /// Where.
        conversation_id: ConversationId,
        /// Started (true) or stopped (false).
        typing: bool,
    },
    /// Has read up to `seq`.
    Read {
        /// Where.
        conversation_id: ConversationId,
        /// Watermark.
        seq: i64,
    },
    /// Has stored up to `seq`.
    Delivered {
        /// Where.
        conversation_id: ConversationId,
        /// Watermark.
        seq: i64,
    },
    /// Replaces the socket's access token before it expires.
    Auth {
        /// The new access token.
        access_token: String,
    },
    /// Answered with `pong`.
    Ping,
}

/// Server → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The first frame on every socket.
    Welcome {
        /// Who the socket belongs to.
        user_id: UserId,
        /// Which session.
        session_id: SessionId,
        /// The server's clock.
        server_time: Timestamp,
        /// The server pings this often; silence for three periods means a dead link.
        heartbeat_secs: u64,
        /// The features asked for in the upgrade's `features` query that this server
        /// provides (addition to v1); absent when none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// A `send` of this socket is stored (or already was).
    Ack {
        /// The message id.
        id: MessageId,
        /// Where it went.
        conversation_id: ConversationId,
        /// Its place.
        seq: i64,
        /// When it was stored.
        created_at: Timestamp,
    },
    /// A frame failed.
    Error {
        /// The message id of a failed `send`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<MessageId>,
        /// For programs.
        code: ErrorCode,
        /// For people.
        message: String,
        /// With `rate_limited`: when to try again (addition to v1, see docs/protocol.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// A new message in one of the caller's conversations.
    Message {
        /// The stored message.
        message: Message,
    },
    /// Another member started or stopped typing.
    Typing {
        /// Where.
        conversation_id: ConversationId,
        /// Who.
        user_id: UserId,
        /// Started or stopped.
        typing: bool,
    },
    /// A member's watermarks moved.
    Receipt {
        /// Where.
        conversation_id: ConversationId,
        /// Whose.
        user_id: UserId,
        /// Read up to.
        read_seq: i64,
        /// Stored up to.
        delivered_seq: i64,
    },
    /// A contact came online or went offline.
    Presence {
        /// Who.
        user_id: UserId,
        /// Now online.
        online: bool,
        /// When their last socket closed.
        last_seen: Option<Timestamp>,
    },
    /// The caller was added to a conversation, or its members or title changed.
    Conversation {
        /// As the receiving user sees it.
        conversation: Box<Conversation>,
    },
    /// The members of a conversation the client already has changed: the slim form of
    /// `conversation` for sockets that asked for it with [`Feature::Members`] (addition
    /// to v1). It carries only what changed, so a change in a group of 1,000 costs each
    /// member a few hundred bytes instead of the whole member list.
    Members {
        /// Which conversation.
        conversation_id: ConversationId,
        /// Members who joined, or whose role or state changed, as `conversation` lists
        /// them; after a removal also the owner (ownership passes when the owner leaves).
        members: Vec<Member>,
        /// Users who are no longer members.
        #[serde(default)]
        removed: Vec<UserId>,
        /// How many members the conversation has after the change: a client whose count
        /// differs after applying the frame (frames of two quick changes crossed) fetches
        /// the conversation whole.
        member_count: usize,
        /// The conversation's `updated_at` after the change.
        updated_at: Timestamp,
    },
    /// A user's profile changed (addition to v1): their display name, or their account
    /// was suspended or deleted. Sent to their own sockets and to everyone who shares a
    /// conversation with them; a client updates the user wherever it shows them.
    User {
        /// As it is now.
        user: Box<User>,
    },
    /// The user's own account settings changed on another device or this one (addition
    /// to v1): sent to their own sockets alone; a client keeps them (do-not-disturb is
    /// followed by every device).
    Settings {
        /// All of them, as they are now.
        settings: AccountSettings,
    },
    /// A group's commit was accepted (addition to v1, end-to-end encryption): sent to the
    /// conversation's members, so that their devices move to the next epoch.
    MlsCommit {
        /// The commit, as the log keeps it.
        commit: Box<crate::mls::Commit>,
    },
    /// A welcome waits for one device of the user (addition to v1): sent to all of the
    /// user's sockets; the device it names joins the group with it.
    MlsWelcome {
        /// Which device.
        session_id: SessionId,
        /// The welcome.
        welcome: Box<crate::mls::Welcome>,
    },
    /// A note waits for one device of the user (addition to v1): sent to all of the
    /// user's sockets; the device it names reads it (and deletes it).
    MlsNote {
        /// Which device.
        session_id: SessionId,
        /// The note.
        note: Box<crate::notes::DeviceNote>,
    },
    /// A session of this user, or of someone who shares an end-to-end encrypted
    /// conversation with them, ended (addition to v1): its device is still a member of
    /// their groups until a member's device commits its removal, so a device that still
    /// finds it in one of its groups looks at its groups' devices soon (after a random
    /// delay, so that of the many told, one commits and the others see its commit
    /// first). Older clients ignore it, and look on their own within minutes.
    MlsSessionEnded {
        /// Whose session.
        user_id: UserId,
        /// Which one: the device the groups may still hold.
        session_id: SessionId,
    },
    /// Answer to `ping`.
    Pong,
    /// Live frames meant for this socket may have been lost (a cluster node missed bus
    /// traffic): catch up through `/sync` and `GET /presence`, as after a reconnect.
    /// Addition to v1 (docs/protocol.md); older clients ignore it.
    Resync,
}

impl ServerFrame {
    /// An `error` frame for a failure, with the id of the `send` it answers.
    pub fn error(reference: Option<MessageId>, error: ApiError) -> Self {
        Self::Error {
            reference,
            code: error.code,
            message: error.message,
            retry_after_ms: error.retry_after_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Feature;

    #[test]
    fn a_features_query_keeps_the_known_names_once_each() {
        assert_eq!(
            Feature::parse_query("members, later-feature,members"),
            vec![Feature::Members]
        );
        assert_eq!(Feature::parse_query(""), Vec::<Feature>::new());
        assert_eq!(Feature::query(&Feature::ALL), "members");
    }
}
