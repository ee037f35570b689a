//! Conversations and people: finding users, opening a direct conversation, making a
//! group and changing its members, message requests, blocks and reports (through the
//! server, then kept locally), and a conversation's own settings (draft, notification
//! level).

use ferry_proto::{
    Conversation, ConversationId, ErrorCode, NewReport, NotifyLevel, REPORT_MAX_COPIES, ReportId,
    ReportedCopy, User, UserId,
};

use crate::api::SessionError;
use crate::handles::{ConversationHandle, Safety};
use crate::safety_number::keys_of;
use crate::{ApiError, Changes, Client, ClientError, SafetyNumber, Shared};

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

/// Tells the server every notification level chosen on this device while it could not
/// be reached (the engine calls it after each connect; `ferry sync` too).
pub(crate) async fn send_unsent_notifications(shared: &Shared) -> Result<(), ClientError> {
    for (conversation, level) in shared.store.unsent_notifications()? {
        send_notifications(shared, conversation, level).await?;
    }
    Ok(())
}

async fn send_notifications(
    shared: &Shared,
    conversation: ConversationId,
    level: NotifyLevel,
) -> Result<(), ClientError> {
    match shared.api.set_notifications(conversation, level).await {
        Ok(updated) => {
            shared.store.notifications_sent(conversation, level)?;
            shared.store.apply_conversation(shared.me_id, &updated)?;
            shared.announce(Changes::conversation(conversation));
            Ok(())
        }
        // No longer a member there: the level has nowhere to go.
        Err(SessionError::Api(ApiError::Server {
            code: ErrorCode::NotFound,
            ..
        })) => Ok(shared.store.notifications_sent(conversation, level)?),
        Err(e) => Err(e.into()),
    }
}

impl ConversationHandle<'_> {
    /// Saves a conversation's draft (empty clears it).
    pub fn set_draft(&self, body: &str) -> Result<(), ClientError> {
        let conversation = self.id;
        Ok(self.client.shared.store.set_draft(conversation, body)?)
    }

    /// Chooses what this user is told of the conversation's new messages, on every
    /// device of theirs. It takes effect here at once, online or not; the server is told
    /// now if it can be reached, else after the next connect
    /// ([`send_unsent_notifications`]).
    pub async fn set_notifications(&self, level: NotifyLevel) -> Result<(), ClientError> {
        let conversation = self.id;
        let shared = &self.client.shared;
        if !shared.store.set_notifications(conversation, level)? {
            return Err(ClientError::NotFound("conversation"));
        }
        shared.announce(Changes::conversation(conversation));
        match send_notifications(shared, conversation, level).await {
            // It waits for the next connect.
            Err(ClientError::Api(e)) if e.is_transient() => Ok(()),
            Err(ClientError::SignedOut) => Ok(()),
            other => other,
        }
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

    /// Whose devices can open what is sent here (end-to-end encryption): the user of
    /// each device in the conversation's MLS group, as this device's copy of the group
    /// has them, one entry per device. `None` while the conversation is not encrypted, or
    /// this device is not in its group yet.
    pub async fn key_holders(&self) -> Result<Option<Vec<UserId>>, ClientError> {
        let mut mls = self.client.shared.mls.lock().await;
        let members = mls.members(self.id).map_err(mls_error)?;
        Ok(members.map(|devices| devices.into_iter().filter_map(|m| m.user()).collect()))
    }

    /// The safety number between this user and `with` in this encrypted conversation
    /// (docs/protocol.md): the same sixty digits on both sides while the devices in its
    /// group are theirs and no one else's; it changes when either adds or removes a
    /// device. `None` while the conversation is not encrypted, this device is not in its
    /// group yet, or `with` has no device in it. Looking at it takes the notice that
    /// their devices changed (`ConversationSummary::devices_changed`) away.
    pub async fn safety_number(&self, with: UserId) -> Result<Option<SafetyNumber>, ClientError> {
        let me = self.client.shared.me_id;
        let members = {
            let mut mls = self.client.shared.mls.lock().await;
            mls.members(self.id).map_err(mls_error)?
        };
        let Some(members) = members else {
            return Ok(None);
        };
        let (mine, theirs) = (keys_of(&members, me), keys_of(&members, with));
        if theirs.is_empty() || with == me {
            return Ok(None);
        }
        if self
            .client
            .shared
            .store
            .clear_device_change(self.id, with)?
        {
            self.client.shared.announce(Changes::conversation(self.id));
        }
        Ok(Some(SafetyNumber::between((me, &mine), (with, &theirs))))
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
    /// message, and blocks them when `block` is set (needs the server). A reported message
    /// of an end-to-end encrypted conversation goes with this device's copy of it and of
    /// the messages around it (unless the report carries copies already): the operators
    /// cannot read the sealed entries themselves.
    pub async fn report(&self, report: &NewReport) -> Result<ReportId, ClientError> {
        let mut report = report.clone();
        if report.copies.is_empty() {
            report.copies = self.copies(&report)?;
        }
        let receipt = self.client.shared.api.report(&report).await?;
        if report.block {
            self.client.refresh_direct(report.user_id).await?;
        }
        Ok(receipt.id)
    }

    /// This device's copies of a reported message and of the five either side, when its
    /// conversation is encrypted: the excerpt the operators' view of the report shows.
    /// Messages this device cannot read, or that were deleted, have none.
    fn copies(&self, report: &NewReport) -> Result<Vec<ReportedCopy>, ClientError> {
        let (Some(conversation), Some(reported)) = (report.conversation_id, report.message_id)
        else {
            return Ok(Vec::new());
        };
        let shared = &self.client.shared;
        let encrypted = self
            .client
            .conversation(conversation)
            .summary()?
            .is_some_and(|c| c.encrypted);
        let message = self.client.message(reported)?;
        let (true, Some(message)) = (encrypted, message) else {
            return Ok(Vec::new());
        };
        let Some(seq) = message.seq else {
            return Ok(Vec::new());
        };
        let around = (REPORT_MAX_COPIES / 2) as u32;
        let store = &shared.store;
        let mut excerpt = store.messages(shared.me_id, conversation, Some(seq), around)?;
        excerpt.push(message);
        excerpt.extend(store.messages_after(shared.me_id, conversation, seq, around)?);
        Ok(excerpt
            .into_iter()
            .filter(|m| !m.deleted && !m.unreadable)
            .map(|m| ReportedCopy {
                message_id: m.id,
                body: m.body,
            })
            .collect())
    }
}

/// An MLS failure as the public API reports it.
fn mls_error(e: crate::mls::MlsError) -> ClientError {
    match e {
        crate::mls::MlsError::Store(e) => ClientError::Store(e),
        crate::mls::MlsError::Mls(why) => ClientError::Invalid(why),
    }
}
