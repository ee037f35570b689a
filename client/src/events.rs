//! [`Event`]: what the core tells a UI, always after the store changed, so that a UI that
//! re-reads the store on each event is always current.

use ferry_proto::{ConversationId, MessageId, Presence, Timestamp, User, UserId};
use serde::Serialize;

use crate::store::{HistoryRequest, LocalMessage};

/// The state of the link to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not connected; the next attempt is at `retry_at`.
    Offline {
        /// When the next attempt starts.
        retry_at: Option<Timestamp>,
        /// Why the last attempt failed, for people.
        reason: Option<String>,
    },
    /// Connecting and catching up.
    Connecting,
    /// Connected and caught up; live.
    Online,
    /// No socket can be had, but plain HTTP works (a proxy that refuses WebSocket
    /// upgrades, say): messages still arrive, by long-polling, and go out over REST;
    /// typing and presence do not. The socket is tried again at `retry_at`.
    Polling {
        /// When the socket is tried next.
        retry_at: Option<Timestamp>,
        /// Why the socket failed, for people.
        reason: Option<String>,
    },
    /// The session ended (signed out here or elsewhere); sign in again.
    SignedOut,
}

/// A change the UI may want to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message was added or changed (sent, delivered, read, failed…).
    Message {
        /// As stored now.
        message: LocalMessage,
    },
    /// A message was edited, deleted or reacted to (by anyone, this user included): show
    /// it in place; it is not news (no notification).
    Changed {
        /// As it shows now.
        message: LocalMessage,
    },
    /// The server refused a change of this user's (an edit after the window closed, say);
    /// it was dropped, and the message shows as it was.
    ChangeRefused {
        /// As it shows now.
        message: LocalMessage,
        /// Why, for people.
        reason: String,
    },
    /// A conversation's summary changed (new messages in bulk, members, unread count).
    Conversation {
        /// Which.
        conversation_id: ConversationId,
    },
    /// A member's watermarks moved.
    Receipt {
        /// Where.
        conversation_id: ConversationId,
        /// Whose.
        user_id: UserId,
        /// Read up to.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        read_seq: i64,
        /// Stored up to.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        delivered_seq: i64,
    },
    /// Someone started or stopped typing.
    Typing {
        /// Where.
        conversation_id: ConversationId,
        /// Who.
        user_id: UserId,
        /// Started or stopped.
        typing: bool,
    },
    /// A contact came online or went offline.
    Presence {
        /// Who and since when.
        presence: Presence,
    },
    /// The connection state changed.
    Connection {
        /// The new state.
        state: ConnectionState,
    },
    /// The signed-in user's profile changed, on this device or another.
    Profile {
        /// As it is now.
        user: User,
    },
    /// Do-not-disturb changed, on this device or another.
    DoNotDisturb {
        /// Until when (`None`: off).
        until: Option<Timestamp>,
    },
    /// The asks of this user's other devices for the history this device holds changed
    /// (one came, was answered or dismissed): all of them as they are now.
    HistoryRequests {
        /// Oldest first.
        requests: Vec<HistoryRequest>,
    },
    /// A history from another device of this user was taken in.
    HistoryReceived {
        /// The entries it filled in here.
        entries: u32,
    },
    /// A file of an unsent message is uploading (one event per chunk stored).
    UploadProgress {
        /// The message.
        message_id: MessageId,
        /// Which of its files.
        index: u32,
        /// Bytes the server holds.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        sent: u64,
        /// Bytes in all.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        total: u64,
    },
}
