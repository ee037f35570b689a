//! Persistence: the [`Store`] trait and its implementation, one SQL store
//! (`sql::SqlStore`) generic over a dialect: Postgres for production (`postgres`) and
//! SQLite for a server that runs with nothing installed (`sqlite`). Both pass one
//! conformance suite (`server/tests/it/store.rs`); `lib.rs`'s `open_store` picks one.
//!
//! Every method is one transaction. The guarantees of the protocol that live here:
//! a message id is stored at most once, seqs are allocated inside the inserting
//! transaction under the conversation's lock (so commit order is seq order), and
//! watermarks only move forward.

use async_trait::async_trait;
use ferry_proto::{Change, ChangeKind, Conversation, MemberState, Message, Timestamp, User};
use uuid::Uuid;

#[macro_use]
mod rows;
pub(crate) mod postgres;
mod sql;
pub(crate) mod sqlite;
pub mod uploads;

pub use rows::{ActivityCursor, SyncCursor, UploadRow, hide_receipts};
pub use uploads::FileStore;

/// A failure of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username is already registered.
    #[error("username taken")]
    UsernameTaken,
    /// A user named in the request does not exist.
    #[error("unknown user")]
    UnknownUser,
    /// The database failed; the cause is logged, never shown to clients.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// One of the users blocked the other: no new conversation between them.
    #[error("blocked")]
    Blocked,
}

/// Longest wait for a pooled connection: well under the 15 s request timeout, so that a
/// saturated pool answers `unavailable` (retry) while the request can still say so,
/// and a socket's frame handler never waits for the database without end (sqlx's
/// default is 30 s).
pub const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest a Postgres statement may run, lock waits included: a socket handler's query
/// stuck behind a lock gives up with an error instead of holding its frame for ever.
/// (SQLite's lock waits are bounded by its busy timeout.)
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl StoreError {
    /// Postgres cancelled a statement that ran past [`STATEMENT_TIMEOUT`] (mostly a wait
    /// for a lock): the database is overloaded, and trying again later may work.
    pub fn timed_out(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(e)) if e.code().as_deref() == Some("57014"))
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user about to be created.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A refresh token as stored: its hash and expiry.
#[derive(Clone, Debug)]
pub struct RefreshGrant {
    /// SHA-256 of the token; the token itself is never stored.
    pub token_hash: Vec<u8>,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid and is now used; the new grant is stored.
    Rotated {
        /// Whose session.
        user: User,
        /// The session it belongs to.
        session_id: Uuid,
    },
    /// The token had been used before: the session is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
    },
    /// Unknown, expired, or its session is revoked.
    Invalid,
}

/// A message about to be appended.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Client-chosen id, the idempotency key.
    pub id: Uuid,
    /// Where.
    pub conversation_id: Uuid,
    /// The authenticated sender.
    pub sender_id: Uuid,
    /// The validated text.
    pub body: String,
    /// Server time of the append.
    pub created_at: Timestamp,
    /// The message this one replies to.
    pub reply_to: Option<Uuid>,
    /// Set for a change to an earlier message rather than a message.
    pub change: Option<Change>,
    /// How long after a message its author may still edit it, in milliseconds (`None`:
    /// always). The server's setting at the time of the send.
    pub edit_window_ms: Option<i64>,
    /// Uploads of the sender's to attach, in order.
    pub attachments: Vec<Uuid>,
}

impl NewMessage {
    /// A plain message (no reply, no change, no files): the batch path that stores many
    /// at once.
    pub fn is_plain(&self) -> bool {
        self.reply_to.is_none() && self.change.is_none() && self.attachments.is_empty()
    }
}

/// Why a change or a reply was refused by the rules about the message it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The message named is not in this conversation.
    NoSuchMessage,
    /// The message named is itself a change.
    NotAMessage,
    /// Only the author edits; only the author (or a group's owner) deletes.
    NotAllowed,
    /// The edit window of the message has closed.
    TooLate,
    /// The message was deleted: it takes no more edits or reactions.
    Deleted,
    /// The message has as many distinct reactions as allowed, or this user has.
    TooManyReactions,
    /// An attachment names no finished upload of the sender's, or one already sent.
    NoSuchUpload,
    /// The sender blocked the other member of this direct conversation.
    YouBlocked,
    /// The other member of this direct conversation blocked the sender.
    BlockedYou,
}

/// A member of a conversation, as sends and relays need them: who, whether they took
/// part of their own will, and their real read watermark (views hide it from others
/// while the member has not accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// Who.
    pub user: Uuid,
    /// Accepted, request or blocked.
    pub state: MemberState,
    /// Read up to.
    pub read_seq: i64,
}

/// Whether `sender` may send in a conversation with these members (`(user, state)`
/// rows): `Ok(true)` when the send also accepts the sender's message request (replying
/// is accepting, as in WhatsApp), `Ok(false)` for an accepted member, else what the
/// append answers: nobody sends in a direct conversation that one of its two blocked.
pub(crate) fn check_send<'a>(
    members: impl IntoIterator<Item = (Uuid, &'a str)>,
    sender: Uuid,
) -> Result<bool, NoSend> {
    let mut mine = None;
    let mut blocked_by_other = false;
    for (user, state) in members {
        if user == sender {
            mine = Some(state);
        } else if state == MemberState::Blocked.as_str() {
            blocked_by_other = true;
        }
    }
    match mine {
        None => Err(NoSend::NotMember),
        Some(s) if s == MemberState::Blocked.as_str() => Err(NoSend::Refused(Refusal::YouBlocked)),
        Some(_) if blocked_by_other => Err(NoSend::Refused(Refusal::BlockedYou)),
        Some(s) => Ok(s == MemberState::Request.as_str()),
    }
}

/// Why [`check_send`] refused: what the append answers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NoSend {
    /// See [`Append::NotMember`].
    NotMember,
    /// See [`Append::Refused`].
    Refused(Refusal),
}

impl From<NoSend> for Append {
    fn from(no: NoSend) -> Self {
        match no {
            NoSend::NotMember => Self::NotMember,
            NoSend::Refused(refusal) => Self::Refused(refusal),
        }
    }
}

/// A report about to be stored.
#[derive(Clone, Debug)]
pub struct NewReport {
    /// Its id.
    pub id: Uuid,
    /// Who reports.
    pub reporter: Uuid,
    /// Whom.
    pub reported: Uuid,
    /// Where (the reporter is a member; checked by the caller).
    pub conversation_id: Option<Uuid>,
    /// Which message.
    pub message_id: Option<Uuid>,
    /// In the reporter's words.
    pub reason: String,
    /// When.
    pub created_at: Timestamp,
}

/// What appending a message did.
#[derive(Clone, Debug)]
pub enum Append {
    /// Stored now, with its new seq; `members` are the conversation's members, for
    /// fan-out; `accepted` when the send accepted the sender's message request.
    Stored {
        /// The stored message.
        message: Message,
        /// Every member of the conversation, the sender included.
        members: Vec<Uuid>,
        /// This send accepted the sender's message request.
        accepted: bool,
    },
    /// This id was already stored with the same sender, conversation and body.
    Existing(Message),
    /// This id was already stored with something else.
    Conflict,
    /// The sender is not a member of the conversation (or it does not exist).
    NotMember,
    /// A change or reply that the rules refuse; nothing was stored.
    Refused(Refusal),
}

/// Which watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `read_seq`
    Read,
    /// `delivered_seq`
    Delivered,
}

/// A member's watermarks after a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    /// Read up to.
    pub read_seq: i64,
    /// Stored up to.
    pub delivered_seq: i64,
}

/// Which of each conversation's latest messages a sync page brings along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latest {
    /// At most this many of each conversation.
    pub per_conversation: u32,
    /// At most this many bytes of bodies over the whole page: the messages are read one
    /// by one and the reading stops there, so these messages' memory is bounded
    /// whatever the bodies. (Each conversation's `last_message` is apart: at most one
    /// body per conversation of the page.) The client fetches what a page leaves out as
    /// history.
    pub max_bytes: usize,
}

impl Latest {
    /// No messages.
    pub const NONE: Self = Self {
        per_conversation: 0,
        max_bytes: 0,
    };

    /// The latest `n` of each conversation, whatever their size.
    pub fn of_each(n: u32) -> Self {
        Self {
            per_conversation: n,
            max_bytes: usize::MAX,
        }
    }
}

/// A page of changed conversations.
#[derive(Clone, Debug)]
pub struct SyncBatch {
    /// The conversations, as the caller sees them.
    pub conversations: Vec<Conversation>,
    /// Where the next sync starts.
    pub cursor: SyncCursor,
    /// More changes wait beyond `cursor`.
    pub has_more: bool,
    /// The latest messages of each conversation, ascending by seq within each (fewer
    /// than asked where [`Latest::max_bytes`] ran out).
    pub messages: Vec<Message>,
}

/// Someone who shares a conversation with `user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Whose contact.
    pub user: Uuid,
    /// The contact.
    pub contact: Uuid,
    /// When the contact's last socket closed.
    pub last_seen: Option<Timestamp>,
}

/// The server's database. Both implementations must behave identically; the
/// conformance suite is the definition.
#[async_trait]
pub trait Store: FileStore + Send + Sync + 'static {
    /// The database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an account; [`StoreError::UsernameTaken`] if the name is in use.
    async fn create_user(&self, new: &NewUser) -> StoreResult<()>;
    /// The user and password hash for a (normalised) username.
    async fn login_record(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    /// One user.
    async fn user(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// Users whose username or display name starts with `prefix` (case-insensitive).
    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>>;

    /// Opens a session with its first refresh token.
    async fn create_session(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        device_name: Option<&str>,
        grant: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Uses a refresh token once, storing `next` in its place.
    async fn rotate_refresh(
        &self,
        presented_hash: &[u8],
        next: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<Rotation>;
    /// Ends a session: its refresh tokens and access tokens stop working.
    async fn revoke_session(&self, session_id: Uuid, now: Timestamp) -> StoreResult<()>;
    /// Those of `sessions` that exist and are not revoked (one query for many: a
    /// reconnect storm checks thousands at once, see `crate::coalesce`).
    async fn active_sessions(&self, sessions: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Deletes refresh tokens expired by `now`, and the sessions that ended: revoked, or
    /// with no refresh token left (its access tokens expired long before its last
    /// refresh token did). Returns how many sessions went.
    async fn forget_ended_sessions(&self, now: Timestamp) -> StoreResult<u64>;

    /// The direct conversation of a pair, created if missing; `true` when created now.
    /// A new one is a request to `other` unless they already share an accepted
    /// conversation with `me`. [`StoreError::UnknownUser`] if `other` does not exist,
    /// [`StoreError::Blocked`] if a new one would join two users one of whom blocked the other.
    async fn direct_conversation(
        &self,
        me: Uuid,
        other: Uuid,
        new_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<(Uuid, bool)>;
    /// Creates a group owned by `owner` with `members` (owner excluded, deduplicated),
    /// each accepted or a request as [`Self::add_members`] decides.
    /// [`StoreError::UnknownUser`] if any member does not exist, [`StoreError::Blocked`]
    /// as for [`Self::add_members`].
    async fn create_group(
        &self,
        id: Uuid,
        owner: Uuid,
        title: &str,
        members: &[Uuid],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// A conversation as `viewer` sees it; `None` unless `viewer` is a member.
    async fn conversation(&self, viewer: Uuid, id: Uuid) -> StoreResult<Option<Conversation>>;
    /// `viewer`'s conversations, newest activity first, strictly before `before`.
    async fn conversations(
        &self,
        viewer: Uuid,
        before: Option<ActivityCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// The members of a conversation (empty if it does not exist).
    async fn seats(&self, conversation_id: Uuid) -> StoreResult<Vec<Seat>>;
    /// The blocks between members of a conversation, as `(blocker, blocked)`: in a group
    /// both are in, neither gets the other's receipts or typing.
    async fn blocks_among(&self, conversation_id: Uuid) -> StoreResult<Vec<(Uuid, Uuid)>>;
    /// The conversations both `a` and `b` are in (whose relays a block between them
    /// changes).
    async fn shared_conversations(&self, a: Uuid, b: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Adds users to a group (existing members are left as they are), each as accepted
    /// if they already share an accepted conversation with `by`, else as a request.
    /// [`StoreError::UnknownUser`] if any does not exist, [`StoreError::Blocked`] if
    /// any blocked `by` or was blocked by them.
    async fn add_members(
        &self,
        conversation_id: Uuid,
        by: Uuid,
        users: &[Uuid],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Removes a member: the conversation's last seq at the removal, or `None` if they
    /// were not one.
    async fn remove_member(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<i64>>;
    /// Accepts a message request: the member's state before the call (`None`: not a
    /// member). Only a request changes; accepted and blocked stay as they are.
    async fn accept(&self, conversation_id: Uuid, user: Uuid) -> StoreResult<Option<MemberState>>;
    /// Blocks `blocked` for `blocker`; the direct conversation between them, if any, is
    /// returned (its `blocker` member is now `blocked`). [`StoreError::UnknownUser`] if
    /// `blocked` does not exist.
    async fn block(
        &self,
        blocker: Uuid,
        blocked: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Uuid>>;
    /// Undoes [`Self::block`]: `blocker`'s state in the direct conversation between
    /// them, if any, is what it was before the block (accepted, or still a request), and
    /// the conversation is returned.
    async fn unblock(&self, blocker: Uuid, blocked: Uuid) -> StoreResult<Option<Uuid>>;
    /// Whom `blocker` blocked, most recent first.
    async fn blocked_users(&self, blocker: Uuid) -> StoreResult<Vec<User>>;
    /// Stores a report for the operators; `false` (nothing stored) when it names a
    /// message that is not the reported user's in the named conversation (an operator
    /// reading the report must not be led to someone else's private message).
    async fn report(&self, report: &NewReport) -> StoreResult<bool>;

    /// Stores a message once, allocating its seq.
    async fn append(&self, message: &NewMessage) -> StoreResult<Append>;
    /// Stores a batch in one transaction, as if each message were appended in turn:
    /// one result per message, in order. Fails as a whole (nothing stored) on any
    /// database error.
    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>>;
    /// Up to `limit` messages with seq > `after_seq`, ascending.
    async fn messages_after(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Up to `limit` messages right before `before_seq` (or the latest), ascending.
    async fn messages_before(
        &self,
        conversation_id: Uuid,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// The seqs of the changes (not messages) after `after_seq`, ascending: a member's
    /// unread count is the seqs above their `read_seq` less these.
    async fn changes_after(&self, conversation_id: Uuid, after_seq: i64) -> StoreResult<Vec<i64>>;
    /// Moves a member's watermark to max(old, min(seq, last_seq)). `None` if `user` is not
    /// a member; otherwise the watermarks after the call and whether they moved.
    async fn advance(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        mark: Mark,
        seq: i64,
    ) -> StoreResult<Option<(Watermarks, bool)>>;
    /// The caller's conversations that changed since `since` (all when `None`), with
    /// the `latest` messages of each, read in the same snapshot.
    async fn sync(
        &self,
        viewer: Uuid,
        since: Option<SyncCursor>,
        limit: u32,
        latest: Latest,
    ) -> StoreResult<SyncBatch>;

    /// For each of `users`, everyone who shares a conversation with them that both
    /// accepted, unless one blocked the other, with when they were last seen:
    /// `(user, contact, last_seen)` rows (one query for many, as above).
    async fn contacts(&self, users: &[Uuid]) -> StoreResult<Vec<Contact>>;
    /// Records when a user's last socket closed.
    async fn set_last_seen(&self, user: Uuid, at: Timestamp) -> StoreResult<()>;

    /// Renews a cluster node's lease until `until`; `false` when it held none (its first
    /// renewal, or it was presumed dead and reaped meanwhile).
    async fn renew_node(&self, node: Uuid, until: Timestamp) -> StoreResult<bool>;
    /// Records that `node` holds a socket of `user`; `true` when no node held one before.
    async fn node_joined(&self, node: Uuid, user: Uuid) -> StoreResult<bool>;
    /// Records that `node` holds no socket of `user` any more; `true` when no node holds
    /// one now.
    async fn node_left(&self, node: Uuid, user: Uuid) -> StoreResult<bool>;
    /// Which of `users` have a socket on some node.
    async fn online_users(&self, users: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Removes the nodes whose lease ended before `now`, or `node` whatever its lease
    /// (it is leaving); returns the users who were online only there.
    async fn drop_nodes(&self, now: Timestamp, node: Option<Uuid>) -> StoreResult<Vec<Uuid>>;
}

/// The key that makes a direct conversation unique per pair, whoever creates it (public
/// for tools that seed a database the way the server would, such as the benchmarks).
pub fn direct_key(a: Uuid, b: Uuid) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

/// A resend of a stored id is the same message only if nothing about it changed.
fn same_or_conflict(existing: Message, new: &NewMessage) -> Append {
    // The stored text may have changed since it was first sent: a message carries its
    // current text (edited, or cleared by a deletion), and a deletion clears its edits'
    // text too. A resend is then matched on everything else.
    let text_changed = existing.edit_seq.is_some()
        || existing.deleted_at.is_some()
        || (existing.body.is_empty()
            && existing
                .change
                .as_ref()
                .is_some_and(|c| c.kind == ChangeKind::Edit));
    let same_text = existing.body == new.body || text_changed;
    if existing.conversation_id == new.conversation_id
        && existing.sender_id == new.sender_id
        && existing.reply_to == new.reply_to
        && existing.change == new.change
        && same_text
        // A deletion takes the files away too.
        && (existing.deleted_at.is_some()
            || existing.attachments.iter().map(|a| a.id).eq(new.attachments.iter().copied()))
    {
        Append::Existing(existing)
    } else {
        Append::Conflict
    }
}

/// The message `new` became when stored at `seq`.
fn stored(new: &NewMessage, seq: i64) -> Message {
    // Its attachments are filled in by the store from the uploads named.
    Message {
        reply_to: new.reply_to,
        change: new.change.clone(),
        ..Message::plain(
            new.id,
            new.conversation_id,
            seq,
            new.sender_id,
            new.body.clone(),
            new.created_at,
        )
    }
}

/// Watermarks after moving `mark` to `seq`: forward only, capped at `last_seq`. Delivered
/// never trails read (a message that was read was certainly stored).
fn advanced(old: Watermarks, mark: Mark, seq: i64, last_seq: i64) -> (Watermarks, bool) {
    let target = seq.min(last_seq);
    let mut new = old;
    match mark {
        Mark::Read => new.read_seq = old.read_seq.max(target),
        Mark::Delivered => new.delivered_seq = old.delivered_seq.max(target),
    }
    new.delivered_seq = new.delivered_seq.max(new.read_seq);
    (new, new != old)
}
