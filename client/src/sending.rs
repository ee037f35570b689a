//! Writing in a conversation, offline first: a message, a reply, an edit, a deletion, a
//! reaction; retrying and discarding what failed; moving the read mark; typing. Each
//! write is stored (a message or change with its outbox entry) before it returns,
//! announced on the client's events, and left to the engine to send in order, exactly
//! once; typing is never stored, and goes out only while the socket is up.

use ferry_proto::{
    Change, ChangeKind, ClientFrame, ErrorCode, MessageId, SendError, UserId, validate_body,
    validate_change,
};

use crate::handles::ConversationHandle;
use crate::store::{ChangeRefusal, Discard, Shown};
use crate::{Changes, ClientError, ConnectionState, LocalMessage};

impl ConversationHandle<'_> {
    /// Writes a message and queues it; returns at once, online or not.
    pub fn send(&self, body: &str) -> Result<LocalMessage, ClientError> {
        self.compose(body, None)
    }

    /// Sends a reply to `parent`, a message of the same conversation, the way
    /// [`Self::send`] sends a message.
    pub fn reply(&self, parent: MessageId, body: &str) -> Result<LocalMessage, ClientError> {
        let conversation = self.id;
        match self
            .client
            .shared
            .store
            .message(self.client.shared.me_id, parent)?
        {
            Some(m) if m.conversation_id == conversation => {}
            _ => return Err(ClientError::NotFound("message to reply to")),
        }
        self.compose(body, Some(parent))
    }

    fn compose(
        &self,
        body: &str,
        reply_to: Option<MessageId>,
    ) -> Result<LocalMessage, ClientError> {
        let conversation = self.id;
        validate_body(body, ferry_proto::MAX_BODY_CHARS)
            .map_err(|e| refusal(SendError::Body(e)))?;
        if !self.client.shared.store.has_conversation(conversation)? {
            return Err(ClientError::NotFound("conversation"));
        }
        let options = &self.client.shared.options;
        let message = self.client.shared.store.compose(
            self.client.shared.me_id,
            options.ids.new_id(),
            conversation,
            body,
            reply_to,
            options.clock.now(),
        )?;
        self.stop_typing();
        self.client.shared.announce(Changes::composed(&message));
        self.client.shared.wake.notify_one();
        Ok(message)
    }

    /// Replaces the text of one of this user's messages, for everyone. Offline first, like
    /// a send: it shows at once and goes out in order. A message still waiting in the
    /// outbox, never sent, simply gets the new text (it goes out once, not edited); one
    /// that may have gone out is followed by the edit.
    pub fn edit(&self, message: MessageId, body: &str) -> Result<LocalMessage, ClientError> {
        let change = Change {
            kind: ChangeKind::Edit,
            target: message,
            emoji: None,
        };
        self.change(&change, body)?
            .ok_or(ClientError::NotFound("message"))
    }

    /// Deletes a message for everyone: this user's own, or any in a group they own.
    /// Returns it as it now shows (deleted; its text leaves this device once the server
    /// confirms), or `None` when it was never sent and is simply gone.
    pub fn delete(&self, message: MessageId) -> Result<Option<LocalMessage>, ClientError> {
        let change = Change {
            kind: ChangeKind::Delete,
            target: message,
            emoji: None,
        };
        self.change(&change, "")
    }

    /// Adds `emoji` to a message, or takes it back if this user already put it there.
    pub fn react(&self, message: MessageId, emoji: &str) -> Result<LocalMessage, ClientError> {
        let on = !self
            .client
            .shared
            .store
            .has_reacted(self.client.shared.me_id, message, emoji)?;
        self.set_reaction(message, emoji, on)
    }

    /// Puts `emoji` on a message (`on`) or takes it off.
    pub fn set_reaction(
        &self,
        message: MessageId,
        emoji: &str,
        on: bool,
    ) -> Result<LocalMessage, ClientError> {
        if on {
            self.within_reaction_caps(message, emoji)?;
        }
        let change = Change {
            kind: if on {
                ChangeKind::React
            } else {
                ChangeKind::Unreact
            },
            target: message,
            emoji: Some(emoji.to_owned()),
        };
        self.change(&change, "")?
            .ok_or(ClientError::NotFound("message"))
    }

    /// In an end-to-end encrypted conversation the server cannot tell emoji apart, so the
    /// reaction caps it keeps in plain ones are kept here: at most
    /// `MAX_REACTIONS_PER_MESSAGE` different emoji on a message, and
    /// `MAX_REACTIONS_PER_USER` from one person.
    fn within_reaction_caps(&self, message: MessageId, emoji: &str) -> Result<(), ClientError> {
        let shared = &self.client.shared;
        if shared.store.mls_epoch(self.id)? == 0 {
            return Ok(());
        }
        let Some(shown) = shared.store.message(shared.me_id, message)? else {
            return Ok(());
        };
        let reactions = &shown.reactions;
        let new_emoji = !reactions.iter().any(|r| r.emoji == emoji);
        let mine = reactions.iter().filter(|r| r.mine).count();
        if (new_emoji && reactions.len() >= ferry_proto::MAX_REACTIONS_PER_MESSAGE)
            || mine >= ferry_proto::MAX_REACTIONS_PER_USER
        {
            // The words name the caps: they change together.
            const _: () = assert!(
                ferry_proto::MAX_REACTIONS_PER_MESSAGE == 20
                    && ferry_proto::MAX_REACTIONS_PER_USER == 10
            );
            return Err(ClientError::Refused(
                ErrorCode::Conflict,
                "a message takes at most 20 different reactions, and at most 10 from one person",
            ));
        }
        Ok(())
    }

    /// Stores and queues a change, then announces the message as it now shows.
    fn change(&self, change: &Change, body: &str) -> Result<Option<LocalMessage>, ClientError> {
        validate_change(change, body, ferry_proto::MAX_BODY_CHARS)
            .map_err(|e| refusal(SendError::Change(e)))?;
        self.holds(change.target)?;
        let options = &self.client.shared.options;
        let (conversation_id, shown) = self
            .client
            .shared
            .store
            .compose_change(
                self.client.shared.me_id,
                options.ids.new_id(),
                change,
                body,
                options.clock.now(),
            )?
            .map_err(|refusal| match refusal {
                ChangeRefusal::NoSuchMessage => ClientError::NotFound("message"),
                ChangeRefusal::NotAllowed => ClientError::Refused(
                    ErrorCode::Forbidden,
                    "only the author may edit a message, and only the author or the group's \
                     owner may delete it",
                ),
                ChangeRefusal::Deleted => {
                    ClientError::Refused(ErrorCode::Conflict, "the message was deleted")
                }
            })?;
        // The preview may show the message changed (or, deleted unsent, another one).
        let mut changes = Changes::conversation(conversation_id);
        if let Some(message) = &shown {
            changes.shown.push(Shown::ChangedAsRead(message.clone()));
        }
        self.client.shared.announce(changes);
        self.client.shared.wake.notify_one();
        Ok(shown)
    }

    /// Puts a failed message back in the outbox.
    pub fn retry(&self, message: MessageId) -> Result<(), ClientError> {
        self.holds(message)?;
        if !self.client.shared.store.retry(message)? {
            return Err(ClientError::NotFound("failed message"));
        }
        self.client.shared.announce(Changes::message(message, None));
        self.client.shared.wake.notify_one();
        Ok(())
    }

    /// Deletes a message that was not sent: a failed one, or a pending one, which may
    /// already be on its way (it is deleted as a sent one would be: if a transport had
    /// it, its deletion goes out in its place).
    pub fn discard(&self, message: MessageId) -> Result<(), ClientError> {
        self.holds(message)?;
        if self.cancel_upload(message).is_ok() {
            return Ok(());
        }
        match self.client.shared.store.discard(message)? {
            Discard::Dropped => {
                self.client.shared.announce(Changes::conversation(self.id));
                Ok(())
            }
            Discard::Pending => self.delete(message).map(drop),
            Discard::NotUnsent => Err(ClientError::NotFound("unsent message")),
        }
    }

    /// Marks a conversation read up to its newest message (on every device of this user).
    pub fn mark_read(&self) -> Result<(), ClientError> {
        let conversation = self.id;
        if let Some(seq) = self.client.shared.store.mark_read_locally(conversation)? {
            self.client.shared.queue(ClientFrame::Read {
                conversation_id: conversation,
                seq,
            });
            self.client
                .shared
                .announce(Changes::conversation(conversation));
        }
        Ok(())
    }

    /// The user is composing in a conversation (or stopped); typing frames follow the
    /// protocol's 3 s rule. Nothing is sent while offline.
    pub fn set_typing(&self, composing: bool) {
        let conversation = self.id;
        let due = self.client.shared.typing().composing(
            conversation,
            composing,
            tokio::time::Instant::now(),
        );
        if let Some(typing) = due
            && *self.client.shared.state.borrow() == ConnectionState::Online
        {
            self.client.shared.queue(ClientFrame::Typing {
                conversation_id: conversation,
                typing,
            });
        }
    }

    pub(crate) fn stop_typing(&self) {
        self.set_typing(false);
    }

    /// Who is typing in a conversation.
    pub fn typing(&self) -> Vec<UserId> {
        let conversation = self.id;
        self.client.shared.typing().typing_in(conversation)
    }
}

/// A send refused before it is queued, in the words the server would use.
pub(crate) fn refusal(error: SendError) -> ClientError {
    ClientError::Invalid(error.to_string())
}
