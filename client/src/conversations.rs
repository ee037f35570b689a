//! Conversations and people: finding users, opening a direct conversation, making a
//! group and changing its members, message requests, blocks and reports (through the
//! server, then kept locally), and a conversation's own settings (draft, mute).

use ferry_proto::{Conversation, ErrorCode, NewReport, User};
use uuid::Uuid;

use crate::session::SessionError;
use crate::{ApiError, Client, ClientError, Event};

impl Client {
    /// Saves a conversation's draft (empty clears it).
    pub fn set_draft(&self, conversation: Uuid, body: &str) -> Result<(), ClientError> {
        Ok(self.shared.store.set_draft(conversation, body)?)
    }

    /// Turns a conversation's notifications off or on.
    pub fn set_muted(&self, conversation: Uuid, muted: bool) -> Result<(), ClientError> {
        self.shared.store.set_muted(conversation, muted)?;
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        Ok(())
    }

    /// Users whose username or display name starts with `prefix` (needs the server).
    pub async fn find_users(&self, prefix: &str) -> Result<Vec<User>, ClientError> {
        let api = &self.shared.api;
        Ok(self
            .shared
            .session
            .call(|t| async move { api.search_users(&t, prefix).await })
            .await?)
    }

    /// The direct conversation with `username`, created on the server if needed.
    pub async fn open_direct(&self, username: &str) -> Result<Uuid, ClientError> {
        let wanted = username.trim().to_ascii_lowercase();
        let user = self
            .find_users(&wanted)
            .await?
            .into_iter()
            .find(|u| u.username == wanted)
            .ok_or(ClientError::NotFound("user"))?;
        let api = &self.shared.api;
        let other = user.id;
        let conversation = self
            .shared
            .session
            .call(|t| async move { api.direct(&t, other).await })
            .await?;
        // Opened on purpose: a request deleted here before is shown again.
        self.shared.store.undismiss(conversation.id)?;
        self.keep(&conversation)
    }

    /// Creates a group with these users (by id) and returns its id.
    pub async fn create_group(&self, title: &str, members: &[Uuid]) -> Result<Uuid, ClientError> {
        let api = &self.shared.api;
        let conversation = self
            .shared
            .session
            .call(|t| async move { api.group(&t, title, members).await })
            .await?;
        self.keep(&conversation)
    }

    /// Adds users to a group (owner only).
    pub async fn add_members(&self, conversation: Uuid, users: &[Uuid]) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let updated = self
            .shared
            .session
            .call(|t| async move { api.add_members(&t, conversation, users).await })
            .await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Accepts a message request: this user may send there, and shares presence and
    /// receipts with its members from now on (needs the server).
    pub async fn accept(&self, conversation: Uuid) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let updated = self
            .shared
            .session
            .call(|t| async move { api.accept(&t, conversation).await })
            .await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Deletes a message request on this device, as Signal's Delete does: nothing is
    /// sent and the other person is not told (so it works offline); the conversation
    /// leaves the list until they write again, and comes back as a request. A chat
    /// with someone this user blocked can be deleted the same way; it stays out of the
    /// list until they are unblocked.
    pub fn dismiss_request(&self, conversation: Uuid) -> Result<(), ClientError> {
        if !self.shared.store.dismiss(self.me().id, conversation)? {
            return Err(ClientError::Invalid(
                "only a message request or a blocked chat can be deleted".into(),
            ));
        }
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        Ok(())
    }

    /// Blocks or unblocks someone (needs the server). A block closes the direct
    /// conversation with them both ways, stops new conversations between the two of
    /// you, and hides each one's presence from the other; unblocking opens the
    /// conversation again.
    pub async fn set_blocked(&self, user: Uuid, blocked: bool) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let session = &self.shared.session;
        session
            .call(|t| async move { api.set_blocked(&t, user, blocked).await })
            .await?;
        self.refresh_direct(user).await
    }

    /// Fetches the direct conversation with `user` again, if this device has one: a
    /// block or unblock changed its state.
    async fn refresh_direct(&self, user: Uuid) -> Result<(), ClientError> {
        let Some(direct) = self.shared.store.direct_with(self.me().id, user)? else {
            return Ok(());
        };
        let api = &self.shared.api;
        let updated = self
            .shared
            .session
            .call(|t| async move { api.conversation(&t, direct).await })
            .await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Whom this user blocked, most recent first (needs the server).
    pub async fn blocked_users(&self) -> Result<Vec<User>, ClientError> {
        let api = &self.shared.api;
        Ok(self
            .shared
            .session
            .call(|t| async move { api.blocked(&t).await })
            .await?)
    }

    /// Reports someone to the server's operators, optionally naming the conversation and
    /// message, and blocks them when `block` is set (needs the server).
    pub async fn report(&self, report: &NewReport) -> Result<Uuid, ClientError> {
        let api = &self.shared.api;
        let receipt = self
            .shared
            .session
            .call(|t| async move { api.report(&t, report).await })
            .await?;
        if report.block {
            self.refresh_direct(report.user_id).await?;
        }
        Ok(receipt.id)
    }

    /// Stores a conversation as the server just returned it, and announces it.
    fn keep(&self, conversation: &Conversation) -> Result<Uuid, ClientError> {
        self.shared
            .store
            .apply_conversation(self.me().id, conversation)?;
        self.shared.emit(Event::Conversation {
            conversation_id: conversation.id,
        });
        Ok(conversation.id)
    }

    /// Leaves a group (or, as its owner, removes someone).
    pub async fn remove_member(&self, conversation: Uuid, user: Uuid) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let session = &self.shared.session;
        session
            .call(|t| async move { api.remove_member(&t, conversation, user).await })
            .await?;
        let updated = session
            .call(|t| async move { api.conversation(&t, conversation).await })
            .await;
        match updated {
            Ok(c) => self.shared.store.apply_conversation(self.me().id, &c)?,
            // We left: the server no longer shows it to us.
            Err(SessionError::Api(ApiError::Server {
                code: ErrorCode::NotFound,
                ..
            })) => {
                self.shared.store.mark_left(conversation)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        Ok(())
    }
}
