//! [`MessageStore`]: the conversation's stream. A message id is stored at most once (a
//! resend of the same message is answered with the stored one), seqs are allocated in
//! the inserting transaction under the conversation's lock, changes (edits, deletions,
//! reactions) and replies obey the rules about the message they name, and watermarks
//! only move forward.

use async_trait::async_trait;
use ferry_proto::{
    Change, ChangeKind, ConversationId, MAX_REACTIONS_PER_MESSAGE, MAX_REACTIONS_PER_USER,
    MemberState, Message, MessageId, Timestamp, UploadId, UserId,
};

use super::StoreResult;
use super::rows::TargetRow;

/// A message about to be appended.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Client-chosen id, the idempotency key.
    pub id: MessageId,
    /// Where.
    pub conversation_id: ConversationId,
    /// The authenticated sender.
    pub sender_id: UserId,
    /// The validated text.
    pub body: String,
    /// Server time of the append.
    pub created_at: Timestamp,
    /// The message this one replies to.
    pub reply_to: Option<MessageId>,
    /// Set for a change to an earlier message rather than a message.
    pub change: Option<Change>,
    /// How long after a message its author may still edit it, in milliseconds (`None`:
    /// always). The server's setting at the time of the send.
    pub edit_window_ms: Option<i64>,
    /// Uploads of the sender's to attach, in order.
    pub attachments: Vec<UploadId>,
    /// Whose rules it is stored under.
    pub authority: Authority,
    /// Sealed for the conversation's end-to-end encrypted group (then `body` is empty).
    pub sealed: Option<Sealed>,
}

/// An entry sealed for an encrypted conversation's group: its bytes, and the epoch they
/// were sealed in (read from the MLS header on the way in, `crate::mls`).
#[derive(Clone, Debug)]
pub struct Sealed {
    /// The `MLSMessage`.
    pub bytes: Vec<u8>,
    /// The group's epoch it was made in.
    pub epoch: i64,
}

/// Under whose rules a message or change is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Authority {
    /// A member's: they must be in the conversation and not blocked, and a change obeys
    /// the rules about the message it names.
    #[default]
    Member,
    /// The server's, erasing a deleted account: its own messages deleted, its own
    /// reactions taken back, wherever they are (a group it left, a direct conversation
    /// whose other member blocked it).
    Erasure,
    /// An operator's, removing a message for everyone: only a deletion, named as from
    /// the message's author, and marked `removed_by_operator`.
    Operator,
}

impl NewMessage {
    /// A plain message (no reply, no change, no files): the batch path that stores many
    /// at once.
    pub fn is_plain(&self) -> bool {
        self.reply_to.is_none()
            && self.change.is_none()
            && self.attachments.is_empty()
            && self.sealed.is_none()
    }
}

/// Whether an encrypted conversation (one whose group is in `epoch`, 0 for a plain
/// conversation) refuses `new`, read under the conversation's lock: a member's entry is
/// sealed in exactly the group's current epoch, but for a deletion, which carries nothing
/// to hide; a plain conversation takes nothing sealed. The server's own entries (an
/// erasure's, an operator's removal) only take things away and carry no text.
pub(crate) fn sealing_refusal(new: &NewMessage, epoch: i64) -> Option<Refusal> {
    if new.authority != Authority::Member {
        return None;
    }
    let deletion = new
        .change
        .as_ref()
        .is_some_and(|c| c.kind == ChangeKind::Delete);
    match (&new.sealed, epoch) {
        (None, 0) => None,
        (None, _) if deletion => None,
        (None, _) => Some(Refusal::Encrypted),
        (Some(_), 0) => Some(Refusal::NotEncrypted),
        (Some(sealed), now) if sealed.epoch != now => Some(Refusal::StaleEpoch),
        (Some(_), _) => None,
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
    /// The conversation is end-to-end encrypted: the entry must be sealed.
    Encrypted,
    /// The conversation is not encrypted: it takes nothing sealed.
    NotEncrypted,
    /// Sealed in another epoch than the group's current one: the sender applies the
    /// group's commits and seals it again.
    StaleEpoch,
}

/// Whether `sender` may send in a conversation with these members (`(user, state)`
/// rows): `Ok(true)` when the send also accepts the sender's message request (replying
/// is accepting, as in WhatsApp), `Ok(false)` for an accepted member, else what the
/// append answers: nobody sends in a direct conversation that one of its two blocked.
pub(crate) fn check_send<'a>(
    members: impl IntoIterator<Item = (UserId, &'a str)>,
    sender: UserId,
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

/// Why the rules refuse `change`, sent as `new`, on `target` (the message it names, in
/// the same conversation); `None` when it applies. One place for the rules, so that a
/// change stored alone and one stored in a batch (`store::postgres::batch`) are judged
/// alike. `group_owner`: the sender owns the group (only a deletion asks);
/// `reactions_full`: one more reaction would pass a cap (only a reaction asks, see
/// [`reactions_full`]).
pub(crate) fn change_refusal(
    new: &NewMessage,
    change: &Change,
    target: &TargetRow,
    group_owner: bool,
    reactions_full: bool,
) -> Option<Refusal> {
    let author = target.sender_id == new.sender_id;
    match change.kind {
        _ if target.change_kind.is_some() => Some(Refusal::NotAMessage),
        // Nothing left for an operator to remove.
        _ if new.authority == Authority::Operator && target.deleted_at.is_some() => {
            Some(Refusal::Deleted)
        }
        ChangeKind::Edit if !author => Some(Refusal::NotAllowed),
        ChangeKind::Delete if !author && !group_owner => Some(Refusal::NotAllowed),
        ChangeKind::Edit | ChangeKind::React | ChangeKind::Unreact
            if target.deleted_at.is_some() =>
        {
            Some(Refusal::Deleted)
        }
        ChangeKind::Edit
            if new
                .edit_window_ms
                .is_some_and(|window| new.created_at.as_millis() - target.created_at > window) =>
        {
            Some(Refusal::TooLate)
        }
        ChangeKind::React if reactions_full => Some(Refusal::TooManyReactions),
        _ => None,
    }
}

/// Why the rules refuse a reply to `parent` (the message it names, if the conversation
/// has it): only a message, not a change, is replied to.
pub(crate) fn reply_refusal(parent: Option<&TargetRow>) -> Option<Refusal> {
    match parent {
        None => Some(Refusal::NoSuchMessage),
        Some(p) if p.change_kind.is_some() => Some(Refusal::NotAMessage),
        Some(_) => None,
    }
}

/// Whether one more reaction would pass a cap, from what the message carries: how many
/// distinct emoji, how many of them the sender's, whether this emoji is among them and
/// whether the sender's own. An emoji the sender already put there always fits (it
/// changes nothing).
pub(crate) fn reactions_full(on_message: usize, by_sender: usize, there: bool, mine: bool) -> bool {
    !mine
        && ((!there && on_message >= MAX_REACTIONS_PER_MESSAGE)
            || by_sender >= MAX_REACTIONS_PER_USER)
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

/// What appending a message did.
#[derive(Clone, Debug)]
pub enum Append {
    /// Stored now, with its new seq; `members` are the conversation's members, for
    /// fan-out; `accepted` when the send accepted the sender's message request.
    Stored {
        /// The stored message.
        message: Message,
        /// Every member of the conversation, the sender included.
        members: Vec<UserId>,
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

/// The messages' part of the store: the conversation's stream and its watermarks.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message once, allocating its seq.
    async fn append(&self, message: &NewMessage) -> StoreResult<Append>;
    /// Stores a batch in one transaction, as if each message were appended in turn:
    /// one result per message, in order. Fails as a whole (nothing stored) on any
    /// database error.
    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>>;
    /// Up to `limit` messages with seq > `after_seq`, ascending.
    async fn messages_after(
        &self,
        conversation_id: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Up to `limit` messages right before `before_seq` (or the latest), ascending.
    async fn messages_before(
        &self,
        conversation_id: ConversationId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// The seqs of the changes (not messages) after `after_seq`, ascending: a member's
    /// unread count is the seqs above their `read_seq` less these.
    async fn changes_after(
        &self,
        conversation_id: ConversationId,
        after_seq: i64,
    ) -> StoreResult<Vec<i64>>;
    /// Moves a member's watermark to max(old, min(seq, last_seq)). `None` if `user` is not
    /// a member; otherwise the watermarks after the call and whether they moved.
    async fn advance(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        mark: Mark,
        seq: i64,
    ) -> StoreResult<Option<(Watermarks, bool)>>;
}

/// A resend of a stored id is the same message only if nothing about it changed.
pub(super) fn same_or_conflict(existing: Message, new: &NewMessage) -> Append {
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
pub(super) fn stored(new: &NewMessage, seq: i64) -> Message {
    // Its attachments are filled in by the store from the uploads named.
    Message {
        reply_to: new.reply_to,
        change: new.change.clone(),
        removed_by_operator: new.authority == Authority::Operator,
        sealed: new
            .sealed
            .as_ref()
            .map(|s| ferry_proto::mls::MlsBytes(s.bytes.clone())),
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
pub(super) fn advanced(old: Watermarks, mark: Mark, seq: i64, last_seq: i64) -> (Watermarks, bool) {
    let target = seq.min(last_seq);
    let mut new = old;
    match mark {
        Mark::Read => new.read_seq = old.read_seq.max(target),
        Mark::Delivered => new.delivered_seq = old.delivered_seq.max(target),
    }
    new.delivered_seq = new.delivered_seq.max(new.read_seq);
    (new, new != old)
}
