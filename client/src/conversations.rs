//! Conversations and people: finding users, opening a direct conversation, making a
//! group and changing its members, message requests, blocks and reports (through the
//! server, then kept locally), and a conversation's own settings (draft, mute).

use ferry_proto::{Conversation, ConversationId, ErrorCode, NewReport, ReportId, User, UserId};

use crate::api::SessionError;
use crate::handles::{ConversationHandle, Safety};
use crate::{ApiError, Changes, Client, ClientError};

impl Client {
    /// Users whose username or display name starts with `prefix` (needs the server).
    pub async fn find_users(&self, prefix: &str) -> Result<Vec<User>, ClientError> {
        Ok(self.shared.api.search_users(prefix).await?)
    }

    /// The direct conversation with `username`, created on the server if needed.
    pub async fn open_direct(&self, username: &str) -> Result<ConversationId, ClientError> {
        let wanted = username.trim().to_ascii_lowercase();
        let user = self
            .find_users(&wanted)
            .await?
            .into_iter()
            .find(|u| u.username == wanted)
            .ok_or(ClientError::NotFound("user"))?;
        let other = user.id;
        let conversation = self.shared.api.direct(other).await?;
        // Opened on purpose: a request deleted here before is shown again.
        self.shared.store.undismiss(conversation.id)?;
        self.keep(&conversation)
    }

    /// Creates a group with these users (by id) and returns its id.
    pub async fn create_group(
        &self,
        title: &str,
        members: &[UserId],
    ) -> Result<ConversationId, ClientError> {
        let conversation = self.shared.api.group(title, members).await?;
        self.keep(&conversation)
    }

    /// Fetches the direct conversation with `user` again, if this device has one: a
    /// block or unblock changed its state.
    pub(crate) async fn refresh_direct(&self, user: UserId) -> Result<(), ClientError> {
        let Some(direct) = self.shared.store.direct_with(self.shared.me_id, user)? else {
            return Ok(());
        };
        let updated = self.shared.api.conversation(direct).await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Stores a conversation as the server just returned it, and announces it.
    pub(crate) fn keep(&self, conversation: &Conversation) -> Result<ConversationId, ClientError> {
        self.shared
            .store
            .apply_conversation(self.shared.me_id, conversation)?;
        self.shared.announce(Changes::conversation(conversation.id));
        Ok(conversation.id)
    }
}

impl ConversationHandle<'_> {
    /// Saves a conversation's draft (empty clears it).
    pub fn set_draft(&self, body: &str) -> Result<(), ClientError> {
        let conversation = self.id;
        Ok(self.client.shared.store.set_draft(conversation, body)?)
    }

    /// Turns a conversation's notifications off or on.
    pub fn set_muted(&self, muted: bool) -> Result<(), ClientError> {
        let conversation = self.id;
        self.client.shared.store.set_muted(conversation, muted)?;
        self.client
            .shared
            .announce(Changes::conversation(conversation));
        Ok(())
    }

    /// Adds users to a group (owner only).
    pub async fn add_members(&self, users: &[UserId]) -> Result<(), ClientError> {
        let conversation = self.id;
        let updated = self
            .client
            .shared
            .api
            .add_members(conversation, users)
            .await?;
        self.client.keep(&updated)?;
        Ok(())
    }

    /// Accepts a message request: this user may send there, and shares presence and
    /// receipts with its members from now on (needs the server).
    pub async fn accept(&self) -> Result<(), ClientError> {
        let conversation = self.id;
        let updated = self.client.shared.api.accept(conversation).await?;
        self.client.keep(&updated)?;
        Ok(())
    }

    /// Deletes a message request on this device, as Signal's Delete does: nothing is
    /// sent and the other person is not told (so it works offline); the conversation
    /// leaves the list until they write again, and comes back as a request. A chat
    /// with someone this user blocked can be deleted the same way; it stays out of the
    /// list until they are unblocked.
    pub fn dismiss_request(&self) -> Result<(), ClientError> {
        let conversation = self.id;
        if !self
            .client
            .shared
            .store
            .dismiss(self.client.shared.me_id, conversation)?
        {
            return Err(ClientError::Invalid(
                "only a message request or a blocked chat can be deleted".into(),
            ));
        }
        self.client
            .shared
            .announce(Changes::conversation(conversation));
        Ok(())
    }

    /// Leaves the conversation (a group: a direct conversation cannot be left).
    pub async fn leave(&self) -> Result<(), ClientError> {
        self.remove_member(self.client.shared.me_id).await
    }

    /// Removes someone from a group (its owner only; see [`Self::leave`]).
    pub async fn remove_member(&self, user: UserId) -> Result<(), ClientError> {
        let conversation = self.id;
        let api = &self.client.shared.api;
        api.remove_member(conversation, user).await?;
        let updated = api.conversation(conversation).await;
        match updated {
            Ok(c) => self
                .client
                .shared
                .store
                .apply_conversation(self.client.shared.me_id, &c)?,
            // We left: the server no longer shows it to us.
            Err(SessionError::Api(ApiError::Server {
                code: ErrorCode::NotFound,
                ..
            })) => {
                self.client.shared.store.mark_left(conversation)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.client
            .shared
            .announce(Changes::conversation(conversation));
        Ok(())
    }
}

impl Safety<'_> {
    /// Blocks or unblocks someone (needs the server). A block closes the direct
    /// conversation with them both ways, stops new conversations between the two of
    /// you, and hides each one's presence from the other; unblocking opens the
    /// conversation again.
    pub async fn set_blocked(&self, user: UserId, blocked: bool) -> Result<(), ClientError> {
        self.client.shared.api.set_blocked(user, blocked).await?;
        self.client.refresh_direct(user).await
    }

    /// Whom this user blocked, most recent first (needs the server).
    pub async fn blocked_users(&self) -> Result<Vec<User>, ClientError> {
        Ok(self.client.shared.api.blocked().await?)
    }

    /// Reports someone to the server's operators, optionally naming the conversation and
    /// message, and blocks them when `block` is set (needs the server).
    pub async fn report(&self, report: &NewReport) -> Result<ReportId, ClientError> {
        let receipt = self.client.shared.api.report(report).await?;
        if report.block {
            self.client.refresh_direct(report.user_id).await?;
        }
        Ok(receipt.id)
    }
}
