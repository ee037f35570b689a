//! The objects of the protocol: users, conversations, members, messages, presence, tokens.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, MessageId, ReportState, SessionId, Timestamp, UploadId, UserId};

/// A person with an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    /// Server-assigned id.
    pub id: UserId,
    /// Unique, lowercase, 3-32 characters of `a-z 0-9 _ . -`.
    pub username: String,
    /// The name people see.
    pub display_name: String,
    /// When the account was made.
    pub created_at: Timestamp,
    /// Suspended by an operator, or deleted (addition to v1); absent while the account
    /// is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub status: Option<UserStatus>,
    /// Their profile picture, if they set one (addition to v1): a square image at
    /// `GET /pictures/{picture}`, whose bytes never change under this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub picture: Option<crate::PictureId>,
}

impl User {
    /// An account in use.
    pub fn new(
        id: UserId,
        username: impl Into<String>,
        display_name: impl Into<String>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            username: username.into(),
            display_name: display_name.into(),
            created_at,
            status: None,
            picture: None,
        }
    }
}

/// Why an account is not in use (addition to v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// An operator suspended it: it cannot sign in, and its sessions ended.
    Suspended,
    /// Its owner deleted it: its messages are deleted for everyone, and it shows as
    /// "Deleted user".
    Deleted,
}

/// `as_str` and `parse` for an enum whose variants have names on the wire and in the
/// databases (serde's `snake_case` names, which a test holds them to).
macro_rules! named {
    ($enum:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $enum {
            /// The name on the wire and in the databases.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The value named `name` (see [`Self::as_str`]).
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

named!(Role { Owner => "owner", Member => "member" });
named!(MemberState { Accepted => "accepted", Request => "request", Blocked => "blocked" });
named!(ConversationKind { Direct => "direct", Group => "group" });
named!(UserStatus { Suspended => "suspended", Deleted => "deleted" });
named!(ReportState { Open => "open", Resolved => "resolved", Dismissed => "dismissed" });
named!(NotifyLevel { All => "all", Mentions => "mentions", Nothing => "none" });

/// What a member is told of a conversation's new messages (addition to v1, see
/// "Notifications" in docs/protocol.md): their own choice, on every device of theirs,
/// shown to nobody else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every new message notifies.
    #[default]
    All,
    /// Only messages that mention them.
    Mentions,
    /// Nothing notifies; the conversation does not count towards the unread total.
    #[serde(rename = "none")]
    Nothing,
}

/// A member's place in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Made the group; may add and remove members.
    Owner,
    /// Everyone else.
    Member,
}

/// Whether a member took part in a conversation of their own will (addition to v1, see
/// "Message requests" in docs/protocol.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// They started it, accepted it, or were brought in by someone they already talk to.
    #[default]
    Accepted,
    /// A stranger started it or added them: a message request. Until they accept it,
    /// they cannot send in it, and their presence, receipts and typing are not shared.
    Request,
    /// A direct conversation whose member blocked the other: nothing is sent either way.
    Blocked,
}

/// A user in a conversation, with their watermarks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// Who.
    pub user: User,
    /// Owner or member.
    pub role: Role,
    /// Has read every message up to this seq. 0, to everyone else, while the member has
    /// not accepted the conversation.
    pub read_seq: i64,
    /// Has stored every message up to this seq (0 to others, as `read_seq`).
    pub delivered_seq: i64,
    /// Accepted, a message request, or blocked (addition to v1; absent means accepted).
    #[serde(default)]
    pub state: MemberState,
    /// When they joined.
    pub joined_at: Timestamp,
}

/// One message, placed in its conversation by `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// Chosen by the sending client (UUIDv7); also the idempotency key.
    pub id: MessageId,
    /// Where it belongs.
    pub conversation_id: ConversationId,
    /// 1, 2, 3, … within the conversation: the one true order.
    pub seq: i64,
    /// Always the authenticated sender.
    pub sender_id: UserId,
    /// The text: for a message its current text (empty once deleted), for an `edit`
    /// the new text, for other changes empty.
    pub body: String,
    /// When the server stored it.
    pub created_at: Timestamp,
    /// The message this one replies to (addition to v1, see docs/protocol.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// Set when this entry of the stream changes an earlier message instead of being
    /// one (addition to v1): an edit, a deletion, a reaction added or taken back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// A message whose text was edited: when, and the seq of the edit that set the text
    /// it carries now (a client applies an older edit after it as a no-op).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// See `edited_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_seq: Option<i64>,
    /// A message deleted for everyone: when. Its text is gone (`body` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// Its files, in order (addition to v1): uploaded first, then named by the send.
    /// Empty once the message is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Deleted by an operator rather than by its sender (addition to v1): set on the
    /// deleted message and on the `delete` change that deleted it; absent otherwise, so
    /// an older client sees an ordinary deletion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed_by_operator: bool,
    /// In an end-to-end encrypted conversation (addition to v1): the entry sealed for the
    /// conversation's group, as its sender sent it (`body` is empty, a change names no
    /// emoji); gone once the message is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::mls::MlsBytes>,
}

/// A file of a message (addition to v1): stored once per content (SHA-256), shown to
/// the members of the message's conversation only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// The upload's id; `GET /attachments/{id}` fetches the bytes.
    pub id: UploadId,
    /// The file's name, as the sender gave it.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its media type, checked against the bytes by the server.
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex: a download is checked against it.
    pub sha256: String,
    /// Pixels, for images the server could read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, for images the server could read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A preview exists: `GET /attachments/{id}/thumbnail` (at most 320 pixels a side,
    /// with no metadata).
    #[serde(default)]
    pub thumbnail: bool,
}

impl Message {
    /// A plain stored message: text only, no reply, change, edit, deletion or files.
    pub fn plain(
        id: MessageId,
        conversation_id: ConversationId,
        seq: i64,
        sender_id: UserId,
        body: impl Into<String>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            conversation_id,
            seq,
            sender_id,
            body: body.into(),
            created_at,
            reply_to: None,
            change: None,
            edited_at: None,
            edit_seq: None,
            deleted_at: None,
            attachments: Vec::new(),
            removed_by_operator: false,
            sealed: None,
        }
    }

    /// Whether this entry is a message people wrote, rather than a change to one.
    pub fn is_message(&self) -> bool {
        self.change.is_none()
    }
}

/// What a change does to the message it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New text (the change's `body`); only the author may edit.
    Edit,
    /// Deleted for everyone; the author, or a group's owner, may delete.
    Delete,
    /// The sender adds `emoji` to the message.
    React,
    /// The sender takes `emoji` back.
    Unreact,
}

impl ChangeKind {
    /// The name on the wire and in the databases.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::React => "react",
            Self::Unreact => "unreact",
        }
    }

    /// The kind named `name` (see [`Self::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Edit, Self::Delete, Self::React, Self::Unreact]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// A change to an earlier message of the same conversation, carried in the stream as an
/// entry of its own, so that catch-up and gap filling bring changes as they bring messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// Edit, delete, react or unreact.
    pub kind: ChangeKind,
    /// The id of the message changed.
    pub target: MessageId,
    /// The emoji of a `react` or `unreact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
}

/// Direct (two people, fixed) or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// Between two users; at most one per pair.
    Direct,
    /// A titled group with an owner.
    Group,
}

/// A conversation as one member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    /// Server-assigned id.
    pub id: ConversationId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// A group's title; `null` for direct conversations.
    pub title: Option<String>,
    /// Everyone in it.
    pub members: Vec<Member>,
    /// The seq of the newest message; 0 when there is none.
    pub last_seq: i64,
    /// The newest message (never a change), as it is now: edited or deleted.
    pub last_message: Option<Message>,
    /// How many messages after the caller's `read_seq` (changes do not count).
    pub unread_count: i64,
    /// The lowest seq the server still holds, when a retention policy deleted the
    /// messages before it (addition to v1): a client drops what it holds below it, and
    /// history ends there. Absent while nothing was deleted (every seq from 1 is held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_from: Option<i64>,
    /// The caller's own notification level here (addition to v1). Present in the
    /// caller's own views (`GET`, `/sync`, a `conversation` frame sent to their sockets
    /// alone); absent in a view sent to every member, where a client keeps what it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotifyLevel>,
    /// The epoch of its end-to-end encryption group (addition to v1, issue 31): 0 while
    /// the conversation is not encrypted, 1 or more once its group's first commit is in.
    /// Absent means 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mls_epoch: i64,
    /// When it was made.
    pub created_at: Timestamp,
    /// Last activity: a message, or a change of members or title.
    pub updated_at: Timestamp,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Whether a user is online, and when they were last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Presence {
    /// Who.
    pub user_id: UserId,
    /// At least one socket of theirs is open.
    pub online: bool,
    /// When their last socket closed; `null` if never seen or online now.
    pub last_seen: Option<Timestamp>,
}

/// What sign-up, sign-in and refresh return.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tokens {
    /// Who signed in.
    pub user: User,
    /// The session these tokens belong to.
    pub session_id: SessionId,
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// When the access token stops working.
    pub access_expires_at: Timestamp,
    /// Single-use; exchanged at `/auth/refresh` for new tokens.
    pub refresh_token: String,
}

impl std::fmt::Debug for Tokens {
    // Tokens are credentials: never let them reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("user", &self.user)
            .field("session_id", &self.session_id)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the databases store are the wire's (serde's), and read back the same.
    #[test]
    fn stored_names_are_the_wire_names() {
        fn holds<T: Serialize + Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            name: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &value in all {
                assert_eq!(serde_json::to_value(value).expect("a name"), name(value));
                assert_eq!(parse(name(value)), Some(value));
            }
            assert_eq!(parse("no such name"), None);
        }
        holds(&[Role::Owner, Role::Member], Role::as_str, Role::parse);
        holds(
            &[
                MemberState::Accepted,
                MemberState::Request,
                MemberState::Blocked,
            ],
            MemberState::as_str,
            MemberState::parse,
        );
        holds(
            &[ConversationKind::Direct, ConversationKind::Group],
            ConversationKind::as_str,
            ConversationKind::parse,
        );
        holds(
            &[UserStatus::Suspended, UserStatus::Deleted],
            UserStatus::as_str,
            UserStatus::parse,
        );
        holds(
            &[
                crate::ReportState::Open,
                crate::ReportState::Resolved,
                crate::ReportState::Dismissed,
            ],
            crate::ReportState::as_str,
            crate::ReportState::parse,
        );
        holds(
            &[
                NotifyLevel::All,
                NotifyLevel::Mentions,
                NotifyLevel::Nothing,
            ],
            NotifyLevel::as_str,
            NotifyLevel::parse,
        );
    }
}
