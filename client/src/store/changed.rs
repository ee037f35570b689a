//! [`Changes`]: what a write to the store changed. Writes that take in messages report it
//! themselves, and the client turns every `Changes` into events in one place
//! (`Shared::announce`), so no feature emits a store event of its own, and a write that
//! changed nothing announces nothing. `Changes` is `must_use` (and the workspace denies
//! unused results), so a change nobody announces does not build.

use std::collections::BTreeSet;

use ferry_proto::{ConversationId, MessageId};

use super::read::LocalMessage;

/// How a message shows differently, in the order the write made it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// To show as it is now: new here, or ours now sent, failed or queued again (an
    /// `Event::Message`).
    Message(MessageId),
    /// Changed by an edit, a deletion or a reaction (an `Event::Changed`).
    Changed(MessageId),
    /// As `Message`, already read by the write (a send returns it): not read again.
    MessageAsRead(LocalMessage),
    /// As `Changed`, already read by the write (an edit returns it): not read again.
    ChangedAsRead(LocalMessage),
}

/// What one write changed, for the events that tell the UI.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use = "the UI learns of a change only from its events: pass it to `Shared::announce`"]
pub struct Changes {
    /// The messages that show differently, in order (a page's in seq order).
    pub shown: Vec<Shown>,
    /// Conversations whose row in the list changed (each an `Event::Conversation`, after
    /// the messages).
    pub conversations: BTreeSet<ConversationId>,
    /// The received messages `apply_messages` stored (new here, or ours confirmed),
    /// changes among them: whether a `delivered` mark is due depends on who sent them.
    pub stored: Vec<MessageId>,
}

impl Changes {
    /// Only a conversation's row changed.
    pub fn conversation(id: ConversationId) -> Self {
        Self {
            conversations: BTreeSet::from([id]),
            ..Self::default()
        }
    }

    /// A message shows differently (and, with `conversation`, its conversation's row).
    pub fn message(id: MessageId, conversation: Option<ConversationId>) -> Self {
        Self {
            shown: vec![Shown::Message(id)],
            conversations: conversation.into_iter().collect(),
            ..Self::default()
        }
    }

    /// A message just composed here, as its write returned it, and its conversation's row.
    pub fn composed(message: &LocalMessage) -> Self {
        Self {
            shown: vec![Shown::MessageAsRead(message.clone())],
            conversations: BTreeSet::from([message.conversation_id]),
            ..Self::default()
        }
    }

    /// A message, or a change (`target` set: the message it changed shows differently).
    pub(crate) fn note(&mut self, id: MessageId, target: Option<MessageId>) {
        self.shown.push(match target {
            Some(target) => Shown::Changed(target),
            None => Shown::Message(id),
        });
    }

    /// Everything `other` changed too, after what this one did.
    pub(crate) fn extend(&mut self, other: Changes) {
        self.shown.extend(other.shown);
        self.conversations.extend(other.conversations);
        self.stored.extend(other.stored);
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty() && self.conversations.is_empty()
    }
}
