//! The chat operations that both transports perform (REST routes and socket frames):
//! send a message, move a watermark, relay typing, announce a changed conversation.
//! Each validates its input, writes through the store (messages through the
//! [`Committer`](crate::commit::Committer), in batches), then publishes the live frames,
//! so a frame never announces something that is not committed. A transport differs only
//! in what it passes in: a socket's send carries its [`SocketOrder`].

use std::collections::BTreeMap;

use ferry_proto::{
    ChangeKind, Conversation, ConversationId, Member, MemberState, OutgoingMessage, Role,
    ServerFrame, UserId,
};
use uuid::Uuid;

use crate::commit::Outcome;
use crate::error::{Error, Result};
use crate::fence::SocketOrder;
use crate::hub::Audience;
use crate::members::Roster;
use crate::state::App;
use crate::store::{Authority, Mark, NewMessage, Sealed, Seat, StoreResult};

/// Stores a message once and fans it out to every member's sockets but the sending
/// one. The send is queued before this returns, so sends are stored in the order of
/// these calls; the future resolves to the stored message and whether it is new (false
/// for an idempotent resend). `order` is set for a send read from a socket.
pub fn send(
    app: &App,
    sender: UserId,
    message: OutgoingMessage,
    order: Option<SocketOrder>,
) -> impl Future<Output = Outcome> + Send + 'static {
    let (conversation, id) = (message.conversation_id, message.id);
    // Fenced sends are refused before `prepare`, so they spend no rate-limit token.
    let admitted = match &order {
        Some(order) => order.admit(conversation, id, message.change.as_ref()),
        None => Ok(()),
    };
    let queued = admitted.and_then(|()| prepare(app, sender, message));
    if let Some(order) = &order {
        order.settle(conversation, id, &queued);
    }
    let deletion = matches!(&queued, Ok(new) if new.change.as_ref().is_some_and(|c| c.kind == ChangeKind::Delete));
    let committed = queued.map(|new| app.committer.submit(new, order));
    let app = app.clone();
    async move {
        let outcome = committed?.await;
        if deletion && matches!(outcome, Ok((_, true))) {
            // The message's files may be unnamed now.
            app.files.sweep.notify_one();
        }
        outcome
    }
}

/// Checks a message to send (its shape, then the sender's rate) and makes it ready to
/// store.
fn prepare(app: &App, sender: UserId, message: OutgoingMessage) -> Result<NewMessage> {
    message
        .check(app.config.max_body_chars)
        .map_err(|e| Error::new(e.code(), e.to_string()))?;
    let sealed = match message.sealed {
        Some(bytes) => Some(Sealed {
            epoch: crate::mls::sealed_epoch(&bytes.0, message.conversation_id)?,
            bytes: bytes.0,
        }),
        None => None,
    };
    app.limits.check_send(sender).map_err(Error::RateLimited)?;
    Ok(NewMessage {
        id: message.id,
        conversation_id: message.conversation_id,
        sender_id: sender,
        body: message.body,
        created_at: ferry_proto::Timestamp::now(),
        reply_to: message.reply_to,
        change: message.change,
        edit_window_ms: match app.config.edit_window_secs {
            0 => None,
            secs => Some(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)),
        },
        attachments: message.attachments,
        authority: Authority::Member,
        sealed,
    })
}

/// Moves the caller's read or delivered watermark and tells every member's sockets
/// (the caller's other devices included) when it moved.
pub async fn mark(
    app: &App,
    user: UserId,
    conversation_id: ConversationId,
    mark: Mark,
    seq: i64,
    origin: Option<Uuid>,
) -> Result<()> {
    if seq < 0 {
        return Err(Error::invalid("seq must be 0 or more"));
    }
    // Membership first, from the cache: a stranger's receipts never reach the
    // conversation's lock, which senders wait on. (The store checks again under it.)
    let members = app.members.of(&*app.store, conversation_id).await?;
    let Some(state) = members.state(user) else {
        return Err(Error::not_found("conversation"));
    };
    let Some((marks, moved)) = app.store.advance(conversation_id, user, mark, seq).await? else {
        return Err(Error::not_found("conversation"));
    };
    if moved {
        let frame = ServerFrame::Receipt {
            conversation_id,
            user_id: user,
            read_seq: marks.read_seq,
            delivered_seq: marks.delivered_seq,
        };
        // Until they accept, a member's receipts go to their own devices only; and never
        // to someone who blocked them.
        let recipients = match state {
            MemberState::Accepted => members
                .except(MemberState::Blocked)
                .filter(|m| !members.apart(user, *m))
                .collect(),
            _ => vec![user],
        };
        app.announce.frame(recipients, origin, &frame);
    }
    Ok(())
}

/// Relays a typing state to the other members; nothing is stored.
pub async fn typing(
    app: &App,
    user: UserId,
    conversation_id: ConversationId,
    typing: bool,
) -> Result<()> {
    let members = app.members.of(&*app.store, conversation_id).await?;
    match members.state(user) {
        None => return Err(Error::not_found("conversation")),
        // Typing in a request would tell its sender someone is there; in a blocked
        // direct conversation nothing goes either way.
        Some(MemberState::Request | MemberState::Blocked) => return Ok(()),
        Some(MemberState::Accepted) => {}
    }
    // Repeats change nothing; changes beyond the user's budget are dropped (typing is
    // a hint, never stored, so nothing is lost that matters).
    if !app.typing.relay(user, conversation_id, typing) || !app.limits.typing_allowed(user) {
        return Ok(());
    }
    let others: Vec<UserId> = members
        .except(MemberState::Blocked)
        .filter(|m| *m != user && !members.apart(user, *m))
        .collect();
    app.announce.frame(
        others,
        None,
        &ServerFrame::Typing {
            conversation_id,
            user_id: user,
            typing,
        },
    );
    Ok(())
}

/// Runs a change of members, or of their states (joins, removals, acceptance, blocks),
/// to the end even if the request that asked is dropped meanwhile, then drops the
/// cached members of the conversations it `touched` on every node: a removed member must
/// stop getting frames, and the relays read blocks from there. `touched` is given the
/// change's result, or `None` when it failed (it may have committed all the same).
pub async fn change_members<T: Send + 'static>(
    app: &App,
    change: impl Future<Output = StoreResult<T>> + Send + 'static,
    touched: impl FnOnce(Option<&T>) -> Vec<ConversationId> + Send + 'static,
) -> Result<T> {
    let app = app.clone();
    let changed = tokio::spawn(async move {
        let result = change.await;
        for conversation_id in touched(result.as_ref().ok()) {
            app.announce.members_changed(conversation_id);
        }
        result
    })
    .await
    .map_err(|e| Error::Internal(format!("membership change failed: {e}")))?;
    Ok(changed?)
}

/// Tells everyone concerned that `user` accepted `conversation`.
pub async fn accepted(app: &App, conversation: ConversationId, user: UserId) -> Result<()> {
    announce_conversation(app, conversation, &MembersChange::changed(user)).await?;
    let others: Vec<UserId> = app
        .members
        .of(&*app.store, conversation)
        .await?
        .ids()
        .filter(|m| *m != user)
        .collect();
    crate::presence::introduce(app, user, &others).await
}

/// What changed in a conversation's members, for [`announce_conversation`].
#[derive(Debug, Default)]
pub struct MembersChange {
    /// The conversation is new to everyone in it.
    pub created: bool,
    /// Users who just joined: the conversation is new to them.
    pub joined: Vec<UserId>,
    /// Members whose state (or role) changed.
    pub changed: Vec<UserId>,
    /// Members just removed, each with the conversation's last seq at their removal.
    pub removed: Vec<(UserId, i64)>,
}

impl MembersChange {
    /// A conversation just made.
    pub fn created() -> Self {
        Self {
            created: true,
            ..Self::default()
        }
    }

    /// Users added to a group.
    pub fn joined(users: Vec<UserId>) -> Self {
        Self {
            joined: users,
            ..Self::default()
        }
    }

    /// One member's state changed (accepted, blocked, unblocked).
    pub fn changed(user: UserId) -> Self {
        Self {
            changed: vec![user],
            ..Self::default()
        }
    }

    /// A member removed when the conversation's last seq was `last_seq`.
    pub fn removed(user: UserId, last_seq: i64) -> Self {
        Self {
            removed: vec![(user, last_seq)],
            ..Self::default()
        }
    }

    /// Whether `user`, a member now, gets the whole conversation (it is new to them).
    fn is_new_to(&self, user: UserId) -> bool {
        self.created || self.joined.contains(&user)
    }
}

/// Tells the members about a change of members. Those to whom the conversation is new
/// get it whole (`conversation`, with their own unread count); the others get a
/// `members` frame with just the change on sockets that asked for it, and the whole
/// conversation on the others. Each removed member gets the conversation as it was at
/// their removal ([`removed_view`]). `false` when nobody is left in it to read it from
/// (see [`announce_emptied`]).
pub async fn announce_conversation(
    app: &App,
    conversation_id: ConversationId,
    change: &MembersChange,
) -> Result<bool> {
    let seats = app.store.seats(conversation_id).await?;
    let Some(viewer) = seats.first().map(|s| s.user) else {
        return Ok(false);
    };
    let Some(mut conversation) = app.store.conversation(viewer, conversation_id).await? else {
        return Ok(false);
    };
    // One view for all: the first member's own watermarks are not theirs to show, and
    // nor are those of members in a block with another member (the blocked one would see
    // them; a per-viewer read, `GET` or `/sync`, shows them to the rest).
    crate::store::hide_receipts(&mut conversation, None);
    let roster = app.members.of(&*app.store, conversation_id).await?;
    for m in &mut conversation.members {
        if conversation_members_apart(&roster, &seats, m.user.id) {
            m.read_seq = 0;
            m.delivered_seq = 0;
        }
    }
    // As read now, after the change: someone removed and already added back is not
    // removed (their addition's frames tell of them); the listed rows below are of
    // members now, so someone added and already removed again is not listed.
    let removed: Vec<(UserId, i64)> = change
        .removed
        .iter()
        .filter(|(user, _)| !seats.iter().any(|s| s.user == *user))
        .copied()
        .collect();
    let (new_to, knowing): (Vec<Seat>, Vec<Seat>) =
        seats.into_iter().partition(|s| change.is_new_to(s.user));
    if !knowing.is_empty() {
        let listed = |m: &&Member| {
            change.joined.contains(&m.user.id)
                || change.changed.contains(&m.user.id)
                || (!removed.is_empty() && m.role == Role::Owner)
        };
        app.metrics.conversation_frames.inc();
        app.announce.frame_to(
            knowing.iter().map(|s| s.user).collect(),
            Audience::WithMembers,
            &ServerFrame::Members {
                conversation_id,
                members: conversation
                    .members
                    .iter()
                    .filter(listed)
                    .cloned()
                    .collect(),
                removed: removed.iter().map(|(user, _)| *user).collect(),
                member_count: conversation.members.len(),
                updated_at: conversation.updated_at,
            },
        );
    }
    // The whole conversation: to those it is new to, and to the sockets of the others
    // that did not ask for `members` frames. On a single node the hub knows whether
    // there are any; in a cluster they may be on another node.
    let legacy = match app.cluster {
        Some(_) => knowing.iter().map(|s| s.user).collect(),
        None => app
            .hub
            .without_members_feature(knowing.iter().map(|s| s.user)),
    };
    let mut seats: Vec<(Seat, Audience)> = new_to.into_iter().map(|s| (s, Audience::All)).collect();
    seats.extend(
        knowing
            .into_iter()
            .filter(|s| legacy.contains(&s.user))
            .map(|s| (s, Audience::WithoutMembers)),
    );
    // Unread counts only messages: the changes above each member's watermark are taken
    // off, read once from the lowest watermark up. The real watermarks come from the
    // seats: a view shows 0 for a member who has not accepted.
    let lowest = seats.iter().map(|(s, _)| s.read_seq).min();
    let changes = match lowest {
        Some(seq) if seq < conversation.last_seq => {
            app.store.changes_after(conversation_id, seq).await?
        }
        _ => Vec::new(),
    };
    // The views differ only by the unread count: members with the same count share one
    // frame, encoded once. (Encoding one per member cost a 1,000-member group about
    // 237 MB of JSON per change.)
    let mut by_unread: BTreeMap<(i64, Audience), Vec<UserId>> = BTreeMap::new();
    for (seat, audience) in &seats {
        let unread_changes = changes.iter().filter(|seq| **seq > seat.read_seq).count() as i64;
        let unread = (conversation.last_seq - seat.read_seq - unread_changes).max(0);
        by_unread
            .entry((unread, *audience))
            .or_default()
            .push(seat.user);
    }
    for ((unread, audience), recipients) in by_unread {
        let mut view = conversation.clone();
        view.unread_count = unread;
        app.metrics.conversation_frames.inc();
        app.announce.frame_to(
            recipients,
            audience,
            &ServerFrame::Conversation {
                conversation: Box::new(view),
            },
        );
    }
    for &(user, last_seq) in &removed {
        app.metrics.conversation_frames.inc();
        app.announce.frame(
            vec![user],
            None,
            &ServerFrame::Conversation {
                conversation: Box::new(removed_view(&conversation, last_seq)),
            },
        );
    }
    Ok(true)
}

/// Whether `user` is in a block with another of `seats`.
fn conversation_members_apart(roster: &Roster, seats: &[Seat], user: UserId) -> bool {
    seats
        .iter()
        .any(|s| s.user != user && roster.apart(user, s.user))
}

/// Tells the last member of a group, who just left it, that they did: `before` is the
/// conversation as they saw it before leaving (nobody is left to read it from now).
pub fn announce_emptied(app: &App, mut before: Conversation, user: UserId, last_seq: i64) {
    before.members.retain(|m| m.user.id != user);
    app.metrics.conversation_frames.inc();
    app.announce.frame(
        vec![user],
        None,
        &ServerFrame::Conversation {
            conversation: Box::new(removed_view(&before, last_seq)),
        },
    );
}

/// A removed member's copy of the conversation: its members now (without them, which
/// is how their client learns that they left) but nothing said after their removal at
/// `last_seq`, not even as the preview.
fn removed_view(conversation: &Conversation, last_seq: i64) -> Conversation {
    let mut view = conversation.clone();
    if view.last_seq > last_seq {
        view.last_seq = last_seq;
        view.last_message = None;
    }
    view.unread_count = 0;
    view
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ConversationKind, Message, MessageId, Timestamp};

    use super::*;

    fn conversation(last_seq: i64) -> Conversation {
        let at = Timestamp::now();
        Conversation {
            id: ConversationId::new(),
            kind: ConversationKind::Group,
            title: Some("Lunch crew".into()),
            members: Vec::new(),
            last_seq,
            last_message: Some(Message::plain(
                MessageId::new(),
                ConversationId::new(),
                last_seq,
                UserId::new(),
                "said after the removal",
                at,
            )),
            unread_count: 3,
            history_from: None,
            mls_epoch: 0,
            notifications: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// A message stored between a removal and its announcement (seq 6, removal at 5)
    /// must not reach the removed member, not even as the preview.
    #[test]
    fn a_removed_member_sees_nothing_after_their_removal() {
        let view = removed_view(&conversation(6), 5);
        assert_eq!(view.last_seq, 5);
        assert_eq!(view.last_message, None);
        assert_eq!(view.unread_count, 0);
    }

    #[test]
    fn a_removal_with_nothing_after_keeps_the_preview() {
        let before = conversation(5);
        let view = removed_view(&before, 5);
        assert_eq!(view.last_seq, 5);
        assert_eq!(view.last_message, before.last_message);
        assert_eq!(view.unread_count, 0);
    }
}
