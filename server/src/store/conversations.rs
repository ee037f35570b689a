//! [`ConversationStore`]: direct conversations (one per pair) and groups, who is in them
//! and in which state (accepted, a message request, blocked), and the pages of changed
//! conversations that `/sync` hands a device.

use async_trait::async_trait;
use ferry_proto::{
    Conversation, ConversationId, MemberState, Message, NotifyLevel, Timestamp, UserId,
};

use super::{ActivityCursor, Latest, StoreResult, SyncCursor};

/// A member of a conversation, as sends and relays need them: who, whether they took
/// part of their own will, and their real read watermark (views hide it from others
/// while the member has not accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// Who.
    pub user: UserId,
    /// Accepted, request or blocked.
    pub state: MemberState,
    /// Read up to.
    pub read_seq: i64,
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

/// The conversations' and members' part of the store.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The direct conversation of a pair, created if missing; `true` when created now.
    /// A new one is a request to `other` unless they already share an accepted
    /// conversation with `me`. [`StoreError::UnknownUser`] if `other` does not exist,
    /// [`StoreError::Blocked`] if a new one would join two users one of whom blocked the other.
    async fn direct_conversation(
        &self,
        me: UserId,
        other: UserId,
        new_id: ConversationId,
        now: Timestamp,
    ) -> StoreResult<(ConversationId, bool)>;
    /// Creates a group owned by `owner` with `members` (owner excluded, deduplicated),
    /// each accepted or a request as [`Self::add_members`] decides.
    /// [`StoreError::UnknownUser`] if any member does not exist, [`StoreError::Blocked`]
    /// as for [`Self::add_members`].
    async fn create_group(
        &self,
        id: ConversationId,
        owner: UserId,
        title: &str,
        members: &[UserId],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// A conversation as `viewer` sees it; `None` unless `viewer` is a member.
    async fn conversation(
        &self,
        viewer: UserId,
        id: ConversationId,
    ) -> StoreResult<Option<Conversation>>;
    /// `viewer`'s conversations, newest activity first, strictly before `before`.
    async fn conversations(
        &self,
        viewer: UserId,
        before: Option<ActivityCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// The members of a conversation (empty if it does not exist).
    async fn seats(&self, conversation_id: ConversationId) -> StoreResult<Vec<Seat>>;
    /// Adds users to a group (existing members are left as they are), each as accepted
    /// if they already share an accepted conversation with `by`, else as a request.
    /// [`StoreError::UnknownUser`] if any does not exist, [`StoreError::Blocked`] if
    /// any blocked `by` or was blocked by them.
    async fn add_members(
        &self,
        conversation_id: ConversationId,
        by: UserId,
        users: &[UserId],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Removes a member: the conversation's last seq at the removal, or `None` if they
    /// were not one.
    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<Option<i64>>;
    /// Accepts a message request: the member's state before the call (`None`: not a
    /// member). Only a request changes; accepted and blocked stay as they are.
    async fn accept(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<MemberState>>;
    /// Sets a member's notification level, shown to their own devices alone (through
    /// `/sync`, as their own change). `false` if they are not a member.
    async fn set_notifications(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        level: NotifyLevel,
    ) -> StoreResult<bool>;
    /// The caller's conversations that changed since `since` (all when `None`), with
    /// the `latest` messages of each, read in the same snapshot.
    async fn sync(
        &self,
        viewer: UserId,
        since: Option<SyncCursor>,
        limit: u32,
        latest: Latest,
    ) -> StoreResult<SyncBatch>;
}

/// The key that makes a direct conversation unique per pair, whoever creates it (public
/// for tools that seed a database the way the server would, such as the benchmarks).
pub fn direct_key(a: UserId, b: UserId) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}
