//! Applying what the server says to the store, then announcing it (events always follow
//! the store): live frames ([`frame`]), the outbox's confirmations ([`confirmed`]) and refusals ([`refused`]), and presence
//! ([`refresh_presence`]). Everything here is idempotent: a frame seen twice, or a
//! message seen both live and by catch-up, changes nothing the second time. A message is
//! never stored above a gap: what is missing below it is fetched first
//! (`history::fill_below`).

use std::collections::HashMap;

use ferry_proto::{ConversationId, ErrorCode, Message, MessageId, ServerFrame};
use tokio::time::Instant;

use super::End;
use super::e2e;
use super::history::fill_below;
use crate::api::SessionError;
use crate::events::Event;
use crate::outbox::Verdict;
use crate::store::{Confirmation, Failed, MembersChange};
use crate::{Changes, Shared};

/// A `delivered` mark to send: this conversation is stored up to this seq.
pub(super) type Delivered = (ConversationId, i64);

/// Applies a live frame; returns the `delivered` mark it makes due, if any. Acks and the
/// refusals of sends are the outbox's (see `Link`); here they change nothing.
pub(super) async fn frame(shared: &Shared, frame: ServerFrame) -> Result<Option<Delivered>, End> {
    let me = shared.me_id;
    match frame {
        ServerFrame::Message { message } => {
            let (conversation_id, sender) = (message.conversation_id, message.sender_id);
            let (seq, is_message) = (message.seq, message.is_message());
            receive(shared, message).await?;
            if sender != me {
                // A message ends its sender's typing; a reaction need not.
                if is_message && shared.typing().message_from(conversation_id, sender) {
                    shared.emit(Event::Typing {
                        conversation_id,
                        user_id: sender,
                        typing: false,
                    });
                }
                let seq = shared.store.contiguous_seq(conversation_id)?.max(seq);
                return Ok(Some((conversation_id, seq)));
            }
        }
        ServerFrame::Receipt {
            conversation_id,
            user_id,
            read_seq,
            delivered_seq,
        } => {
            shared
                .store
                .apply_receipt(conversation_id, user_id, read_seq, delivered_seq)?;
            shared.emit(Event::Receipt {
                conversation_id,
                user_id,
                read_seq,
                delivered_seq,
            });
            shared.announce(Changes::conversation(conversation_id));
        }
        ServerFrame::Typing {
            conversation_id,
            user_id,
            typing,
        } => {
            if shared
                .typing()
                .received(conversation_id, user_id, typing, Instant::now())
            {
                shared.emit(Event::Typing {
                    conversation_id,
                    user_id,
                    typing,
                });
            }
        }
        ServerFrame::Presence {
            user_id,
            online,
            last_seen,
        } => {
            let presence = ferry_proto::Presence {
                user_id,
                online,
                last_seen,
            };
            shared.store.apply_presence(&presence)?;
            shared.emit(Event::Presence { presence });
        }
        ServerFrame::Conversation { conversation } => {
            shared.store.apply_conversation(me, &conversation)?;
            shared.announce(Changes::conversation(conversation.id));
            refresh_presence(shared).await?;
            e2e::tolerated(e2e::on_conversation(shared, conversation.id).await)?;
        }
        ServerFrame::Members {
            conversation_id,
            members,
            removed,
            member_count,
            updated_at,
        } => {
            let change = MembersChange {
                conversation_id,
                members: &members,
                removed: &removed,
                updated_at,
            };
            let new_contacts = match shared.store.apply_members(me, &change)? {
                Some(applied) if applied.member_count == member_count => applied.new_contacts,
                // Not stored here, or out of step (the frames of two quick changes
                // crossed): the conversation as it is now, whole.
                _ => {
                    let fetched = shared.api.conversation(conversation_id).await;
                    match fetched {
                        Ok(c) => shared.store.apply_conversation(me, &c)?,
                        // Removed meanwhile: that frame is on its way.
                        Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => {
                            return Ok(None);
                        }
                        Err(e) => return Err(e.into()),
                    }
                    true
                }
            };
            shared.announce(Changes::conversation(conversation_id));
            // Only someone new, or a changed state, can change who is a contact: a
            // removal alone leaves presence as it was until the next connection.
            if new_contacts {
                refresh_presence(shared).await?;
            }
            e2e::tolerated(e2e::on_conversation(shared, conversation_id).await)?;
        }
        ServerFrame::User { user } => {
            if user.id == shared.me_id {
                shared.set_me(&user)?;
            }
            let changed = shared.store.apply_user(&user)?;
            shared.announce_users(&user, changed);
        }
        ServerFrame::Settings { settings } => crate::quiet::apply_settings(shared, &settings)?,
        ServerFrame::MlsCommit { commit } => {
            e2e::tolerated(e2e::on_commit(shared, &commit).await)?;
        }
        // A welcome goes to every socket of its user; only the device it names joins.
        ServerFrame::MlsWelcome {
            session_id,
            welcome,
        } => {
            if session_id == shared.session.credentials().session_id {
                e2e::tolerated(e2e::on_welcome(shared, &welcome).await)?;
            }
        }
        // A note too: only the device it names reads it.
        ServerFrame::MlsNote { session_id, note } => {
            if session_id == shared.session.credentials().session_id {
                e2e::tolerated(e2e::on_note(shared, &note).await)?;
            }
        }
        ServerFrame::Ack { .. }
        | ServerFrame::Error { .. }
        | ServerFrame::Welcome { .. }
        | ServerFrame::Resync
        | ServerFrame::MlsSessionEnded { .. }
        | ServerFrame::Pong => {}
    }
    Ok(None)
}

/// Stores a live message, first fetching its conversation if it is new here and any
/// messages missing before it, so the store never has a gap below its highest seq. A
/// message already stored (fetched with the history below another) is no news.
async fn receive(shared: &Shared, message: Message) -> Result<(), End> {
    let conversation = message.conversation_id;
    let new_here = !shared.store.has_conversation(conversation)?;
    if new_here {
        let c = shared.api.conversation(conversation).await?;
        shared.store.apply_conversation(shared.me_id, &c)?;
    }
    fill_below(shared, conversation, message.seq).await?;
    let mut changes = e2e::store_messages(shared, std::slice::from_ref(&message)).await?;
    if new_here || !changes.stored.is_empty() {
        changes.conversations.insert(conversation);
    }
    shared.announce(changes);
    Ok(())
}

/// Stores the seqs the server gave outbox messages, all in one transaction (acks arrive
/// in bursts when the outbox drains, and one fsync each would make the client, not the
/// link, the limit), announces them, and fetches what is missing below them.
pub(super) async fn confirmed(shared: &Shared, acks: &[Confirmation]) -> Result<(), End> {
    shared.announce(shared.store.confirm_all(acks)?);
    let mut highest: HashMap<ConversationId, i64> = HashMap::new();
    for ack in acks {
        let seq = highest.entry(ack.conversation_id).or_default();
        *seq = (*seq).max(ack.seq);
    }
    // An ack at seq N says nothing of N-1: fill what is missing below the highest.
    for (conversation, seq) in highest {
        fill_below(shared, conversation, seq).await?;
    }
    Ok(())
}

/// Carries out the outbox's verdict on a refused send: reschedule it (after catching up
/// with its conversation's group, for one to seal again), or fail it.
pub(super) async fn refused(shared: &Shared, id: MessageId, verdict: &Verdict) -> Result<(), End> {
    match verdict {
        Verdict::Retry { not_before } => shared.store.reschedule(id, not_before.as_millis())?,
        Verdict::Reseal {
            conversation,
            not_before,
        } => {
            e2e::reseal(shared, *conversation).await?;
            shared.store.reschedule(id, not_before.as_millis())?;
        }
        Verdict::Fail { reason } => match shared.store.fail(id, reason)? {
            // A refused change is dropped: its message shows as it was.
            Failed::ChangeDropped { target } => {
                if let Some(message) = shared.store.message(shared.me_id, target)? {
                    let reason = reason.clone();
                    shared.emit(Event::ChangeRefused { message, reason });
                }
            }
            Failed::Shown(changes) => shared.announce(changes),
        },
        // Confirmations are stored in runs (`confirmed`); a stranger's refusal is no news.
        Verdict::Confirm | Verdict::NotOurs => {}
    }
    Ok(())
}

/// Who is online now. Presence frames only tell about changes, so this is asked on each
/// connection and whenever a conversation brings new contacts.
pub(super) async fn refresh_presence(shared: &Shared) -> Result<(), End> {
    for presence in shared.api.presence().await? {
        shared.store.apply_presence(&presence)?;
        shared.emit(Event::Presence { presence });
    }
    Ok(())
}
