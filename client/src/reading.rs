//! What the client shows, read from its local store only, online or not: the
//! conversation list and unread counts, a conversation's messages, search, presence,
//! the outbox's length.

use ferry_proto::{ConversationId, MessageId, Presence};

use crate::handles::ConversationHandle;
use crate::{Client, ClientError, ConversationSummary, ListPosition, LocalMessage, SearchHit};

impl Client {
    /// The message requests deleted on this device (`dismiss_request`), which the
    /// conversation list leaves out: a chat can still be found by name among them.
    pub fn dismissed_requests(&self) -> Result<Vec<ConversationSummary>, ClientError> {
        Ok(self.shared.store.dismissed(self.shared.me_id)?)
    }

    /// The conversation list, newest activity first, with who is typing in each; `after`
    /// pages on below the last row of the previous page (see
    /// [`LocalStore::conversations`]).
    pub fn conversations(
        &self,
        after: Option<ListPosition>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, ClientError> {
        let mut list = self
            .shared
            .store
            .conversations(self.shared.me_id, after, limit)?;
        let typing = self.shared.typing();
        for c in &mut list {
            c.typing = typing.typing_in(c.id);
        }
        Ok(list)
    }

    /// The unread count of each conversation that counts towards the unread total (see
    /// [`LocalStore::unread_counts`]).
    pub fn unread_counts(&self) -> Result<Vec<(ConversationId, i64)>, ClientError> {
        Ok(self.shared.store.unread_counts(self.shared.me_id)?)
    }

    /// One message as it shows now (`None` if this device does not have it).
    pub fn message(&self, id: MessageId) -> Result<Option<LocalMessage>, ClientError> {
        Ok(self.shared.store.message(self.shared.me_id, id)?)
    }

    /// Full-text search over every stored message (works offline).
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<SearchHit>, ClientError> {
        Ok(self.shared.store.search(text, limit)?)
    }

    /// Presence of known contacts, as last heard.
    pub fn presence(&self) -> Result<Vec<Presence>, ClientError> {
        Ok(self.shared.store.presence(self.shared.me_id)?)
    }

    /// Messages waiting to go out.
    pub fn outbox_len(&self) -> Result<usize, ClientError> {
        Ok(self.shared.store.outbox_len()?)
    }
}

impl ConversationHandle<'_> {
    /// The conversation as the list shows it, with who is typing in it (`None` when this
    /// device does not know it).
    pub fn summary(&self) -> Result<Option<ConversationSummary>, ClientError> {
        let store = &self.client.shared.store;
        let mut found = store.conversation(self.client.shared.me_id, self.id)?;
        if let Some(c) = &mut found {
            c.typing = self.typing();
        }
        Ok(found)
    }

    /// A page of a conversation, oldest first (see [`LocalStore::messages`]).
    pub fn messages(
        &self,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LocalMessage>, ClientError> {
        let conversation = self.id;
        Ok(self.client.shared.store.messages(
            self.client.shared.me_id,
            conversation,
            before_seq,
            limit,
        )?)
    }

    /// The message at `seq` of a conversation, or with `None` this user's newest one that
    /// can still be edited (see [`LocalStore::message_at`]).
    pub fn message_at(&self, seq: Option<i64>) -> Result<Option<LocalMessage>, ClientError> {
        let conversation = self.id;
        Ok(self
            .client
            .shared
            .store
            .message_at(self.client.shared.me_id, conversation, seq)?)
    }
}
