//! The signed-in person's own account ([`AccountHandle`], from [`Client::account`]): their
//! profile, password, email address, settings, the sessions they are signed in with,
//! exporting their data, and deleting the account; and, for someone signed out, asking for a password reset by mail
//! and setting a new password with the mailed code ([`forgot_password`],
//! [`reset_password`]). These go to the server directly (they need it: an account's keys
//! are not changed offline); a profile change comes back to every device as a `user`
//! frame, which `engine::apply` stores like any other user's.

use std::path::Path;

use ferry_proto::{
    Account, AccountSettings, EmailChange, PasswordChange, ProfileChange, SessionId, SessionInfo,
    User,
};

use crate::api::Api;
use crate::store::StoreError;
use crate::{Client, ClientError, ClientOptions, Shared, check_transport};

/// The signed-in person's own account.
#[derive(Clone, Copy)]
pub struct AccountHandle<'c> {
    client: &'c Client,
}

impl Client {
    /// The signed-in person's own account.
    pub fn account(&self) -> AccountHandle<'_> {
        AccountHandle { client: self }
    }
}

impl Shared {
    /// Keeps a new profile of the signed-in user: in memory, in the store's account (so a
    /// restart shows it), and among the users the store knows.
    pub(crate) fn set_me(&self, user: &User) -> Result<(), StoreError> {
        if let Some(mut account) = self.store.account()? {
            account.user = user.clone();
            self.store.set_account(&account)?;
        }
        *self
            .me
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = user.clone();
        Ok(())
    }
}

impl Client {
    /// Keeps this person's profile as the server answered a change of it, and tells the
    /// views that show them (the `user` frame that follows changes nothing more).
    pub(crate) fn adopt_profile(&self, user: &User) -> Result<(), ClientError> {
        self.shared.set_me(user)?;
        let changed = self.shared.store.apply_user(user)?;
        self.shared.announce_users(user, changed);
        Ok(())
    }
}

impl<'c> AccountHandle<'c> {
    /// The client it belongs to.
    pub(crate) fn client(&self) -> &'c Client {
        self.client
    }
}

impl AccountHandle<'_> {
    /// The account as the server has it: profile, address, role, settings.
    pub async fn details(&self) -> Result<Account, ClientError> {
        Ok(self.client.shared.api.account().await?)
    }

    /// Changes the display name; every device of this user and their contacts see it.
    pub async fn rename(&self, display_name: &str) -> Result<User, ClientError> {
        let change = ProfileChange {
            display_name: Some(display_name.to_owned()),
        };
        let user = self.client.shared.api.update_profile(&change).await?;
        self.client.adopt_profile(&user)?;
        Ok(user)
    }

    /// Changes the password. Other sessions end unless `keep_other_sessions`.
    pub async fn change_password(
        &self,
        current: &str,
        new: &str,
        keep_other_sessions: bool,
    ) -> Result<(), ClientError> {
        let change = PasswordChange {
            current_password: current.to_owned(),
            new_password: new.to_owned(),
            keep_other_sessions,
        };
        Ok(self.client.shared.api.change_password(&change).await?)
    }

    /// Sets the email address (confirmed through a mailed code), or removes it (`None`).
    pub async fn set_email(
        &self,
        email: Option<&str>,
        password: &str,
    ) -> Result<Account, ClientError> {
        let change = EmailChange {
            email: email.map(str::to_owned),
            password: password.to_owned(),
        };
        Ok(self.client.shared.api.change_email(&change).await?)
    }

    /// Confirms the address with the code mailed to it.
    pub async fn verify_email(&self, code: &str) -> Result<(), ClientError> {
        Ok(self.client.shared.api.verify_email(code.trim()).await?)
    }

    /// Whether unread direct messages are mailed when no device was online for a while.
    pub async fn set_missed_message_mail(&self, on: bool) -> Result<Account, ClientError> {
        let settings = AccountSettings {
            missed_message_mail: Some(on),
            ..AccountSettings::default()
        };
        Ok(self.client.shared.api.update_settings(&settings).await?)
    }

    /// Where this user is signed in, most recently used first.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, ClientError> {
        Ok(self.client.shared.api.sessions().await?)
    }

    /// Signs one session out (another device's; this one's is [`Client::sign_out`]); the
    /// engine then takes that device out of this user's encrypted conversations' groups
    /// at once, so that it can open nothing sent there from now on (offline, at the next
    /// connection).
    pub async fn end_session(&self, session: SessionId) -> Result<(), ClientError> {
        let shared = &self.client.shared;
        shared.api.end_session(session).await?;
        shared.session_ended.notify_one();
        Ok(())
    }

    /// Downloads everything the server holds about this person (docs/protocol.md,
    /// "Exporting one's data": a tar archive) into `to`, calling `progress` with the bytes
    /// received and the archive's size as they arrive; the archive's size. The file is
    /// written beside `to` first and takes its name only once whole, so a download that
    /// broke off leaves nothing that looks like an export.
    pub async fn export(
        &self,
        to: &Path,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<u64, ClientError> {
        use tokio::io::AsyncWriteExt;
        let mut response = self.client.shared.api.export_account().await?;
        let total = response.content_length().unwrap_or(0);
        let mut partial_name = to.file_name().unwrap_or_default().to_owned();
        partial_name.push(".part");
        let partial = to.with_file_name(partial_name);
        let mut out = tokio::fs::File::create(&partial).await?;
        let mut received = 0u64;
        progress(0, total);
        loop {
            let piece = match response.chunk().await {
                Ok(Some(piece)) => piece,
                Ok(None) => break,
                Err(e) => {
                    drop(out);
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(ClientError::Offline(format!(
                        "the export broke off: {e}; ask for it again"
                    )));
                }
            };
            out.write_all(&piece).await?;
            received += piece.len() as u64;
            progress(received, total);
        }
        out.sync_all().await?;
        drop(out);
        if total > 0 && received != total {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(ClientError::Offline(format!(
                "the export broke off after {received} of {total} bytes; ask for it again"
            )));
        }
        tokio::fs::rename(&partial, to).await?;
        Ok(received)
    }

    /// Deletes the account for good: the server erases it and deletes its messages for
    /// everyone; this device then forgets its sign-in, as after signing out.
    pub async fn delete(&self, password: &str) -> Result<(), ClientError> {
        self.client.shared.api.delete_account(password).await?;
        // The server ended every session already, so telling it again fails: the
        // credentials go all the same.
        let _ = self.client.sign_out().await;
        Ok(())
    }
}

/// Asks the server for a password reset mail for `login` (a username or a confirmed
/// address). The answer does not say whether such an account exists.
pub async fn forgot_password(options: &ClientOptions, login: &str) -> Result<(), ClientError> {
    check_transport(options)?;
    Ok(Api::new(&options.server_url)?
        .forgot_password(login.trim())
        .await?)
}

/// Sets a new password with the code a reset mail carried; every session of the account
/// ends (sign in again with it).
pub async fn reset_password(
    options: &ClientOptions,
    code: &str,
    new_password: &str,
) -> Result<(), ClientError> {
    check_transport(options)?;
    Ok(Api::new(&options.server_url)?
        .reset_password(code.trim(), new_password)
        .await?)
}
