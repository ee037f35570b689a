//! What the client shows, read from its local store only, online or not: the
//! conversation list and unread counts, a conversation's messages, search, presence,
//! the outbox's length.

use ferry_proto::Presence;
use uuid::Uuid;

use crate::{Client, ClientError, ConversationSummary, ListPosition, LocalMessage, SearchHit};

impl Client {
    /// The message requests deleted on this device (`dismiss_request`), which the
    /// conversation list leaves out: a chat can still be found by name among them.
    pub fn dismissed_requests(&self) -> Result<Vec<ConversationSummary>, ClientError> {
        Ok(self.shared.store.dismissed(self.me().id)?)
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
            .conversations(self.me().id, after, limit)?;
        let typing = self.shared.typing();
        for c in &mut list {
            c.typing = typing.typing_in(c.id);
        }
        Ok(list)
    }

    /// The unread count of each conversation that counts towards the unread total (see
    /// [`LocalStore::unread_counts`]).
    pub fn unread_counts(&self) -> Result<Vec<(Uuid, i64)>, ClientError> {
        Ok(self.shared.store.unread_counts(self.me().id)?)
    }

    /// One conversation, with who is typing in it.
    pub fn conversation(&self, id: Uuid) -> Result<Option<ConversationSummary>, ClientError> {
        let mut found = self.shared.store.conversation(self.me().id, id)?;
        if let Some(c) = &mut found {
            c.typing = self.typing_in(id);
        }
        Ok(found)
    }

    /// A page of a conversation, oldest first (see [`LocalStore::messages`]).
    pub fn messages(
        &self,
        conversation: Uuid,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LocalMessage>, ClientError> {
        Ok(self
            .shared
            .store
            .messages(self.me().id, conversation, before_seq, limit)?)
    }

    /// The message at `seq` of a conversation, or with `None` this user's newest one that
    /// can still be edited (see [`LocalStore::message_at`]).
    pub fn message_at(
        &self,
        conversation: Uuid,
        seq: Option<i64>,
    ) -> Result<Option<LocalMessage>, ClientError> {
        Ok(self
            .shared
            .store
            .message_at(self.me().id, conversation, seq)?)
    }

    /// One message as it shows now (`None` if this device does not have it).
    pub fn message(&self, id: Uuid) -> Result<Option<LocalMessage>, ClientError> {
        Ok(self.shared.store.message(self.me().id, id)?)
    }

    /// Full-text search over every stored message (works offline).
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<SearchHit>, ClientError> {
        Ok(self.shared.store.search(text, limit)?)
    }

    /// Presence of known contacts, as last heard.
    pub fn presence(&self) -> Result<Vec<Presence>, ClientError> {
        Ok(self.shared.store.presence(self.me().id)?)
    }

    /// Messages waiting to go out.
    pub fn outbox_len(&self) -> Result<usize, ClientError> {
        Ok(self.shared.store.outbox_len()?)
    }
}
