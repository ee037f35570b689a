//! The client's doors by topic, as matrix-sdk's `Room`: [`Client::conversation`] gives a
//! [`ConversationHandle`] for everything done in one conversation (writing, reading,
//! typing, its settings and members), [`Client::files`] the [`Files`] that arrived in
//! messages, and [`Client::safety`] the [`Safety`] of blocks and reports. Handles are
//! borrowed views: cheap to make, holding nothing but the client and the id; what they
//! do is in `sending.rs`, `attaching.rs`, `reading.rs` and `conversations.rs`.

use ferry_proto::{ConversationId, MessageId};

use crate::{Client, ClientError};

/// One conversation, and what can be done in it.
#[derive(Clone, Copy)]
pub struct ConversationHandle<'c> {
    pub(crate) client: &'c Client,
    pub(crate) id: ConversationId,
}

/// The files that arrived in messages: kept on this device, and images' previews.
#[derive(Clone, Copy)]
pub struct Files<'c> {
    pub(crate) client: &'c Client,
}

/// Blocks and reports: what a user does about someone.
#[derive(Clone, Copy)]
pub struct Safety<'c> {
    pub(crate) client: &'c Client,
}

impl Client {
    /// The conversation `id`. Nothing is checked here: sending and the server's
    /// operations refuse a conversation this device does not know; local settings and
    /// reads of one simply find nothing.
    pub fn conversation(&self, id: ConversationId) -> ConversationHandle<'_> {
        ConversationHandle { client: self, id }
    }

    /// The conversation that holds `message` (for callers that name only the message,
    /// as the desktop app's message menu does).
    pub fn conversation_of(
        &self,
        message: MessageId,
    ) -> Result<ConversationHandle<'_>, ClientError> {
        let found = self.shared.store.message(self.shared.me_id, message)?;
        let found = found.ok_or(ClientError::NotFound("message"))?;
        Ok(self.conversation(found.conversation_id))
    }

    /// Files in messages.
    pub fn files(&self) -> Files<'_> {
        Files { client: self }
    }

    /// Blocks and reports.
    pub fn safety(&self) -> Safety<'_> {
        Safety { client: self }
    }
}

impl ConversationHandle<'_> {
    /// The conversation's id.
    pub fn id(&self) -> ConversationId {
        self.id
    }

    /// Refuses `message` when this device has it in another conversation: an operation
    /// of this conversation may only name its own messages. (One this device does not
    /// know is left to the operation, which says what it could not find.)
    pub(crate) fn holds(&self, message: MessageId) -> Result<(), ClientError> {
        match self
            .client
            .shared
            .store
            .message(self.client.shared.me_id, message)?
        {
            Some(m) if m.conversation_id != self.id => Err(ClientError::NotFound("message")),
            _ => Ok(()),
        }
    }
}
