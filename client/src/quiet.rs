//! Do-not-disturb: for a time the person chooses, no device of theirs notifies of
//! anything, whatever each conversation's level. It is kept on the server (the account's
//! settings) so every device follows it; chosen offline, it holds here at once and goes
//! to the server on the next connect. Other devices learn it from the `settings` frame
//! live, and from the account after each connect (a device that was away meanwhile).

use ferry_proto::{AccountSettings, Timestamp};

use crate::events::Event;
use crate::profile::AccountHandle;
use crate::store::StoreError;
use crate::{Client, ClientError, Shared};

impl Client {
    /// Until when nothing notifies, if that is still ahead (works offline).
    pub fn do_not_disturb_until(&self) -> Result<Option<Timestamp>, ClientError> {
        let now = self.shared.options.clock.now();
        Ok(self
            .shared
            .store
            .do_not_disturb_until()?
            .filter(|until| *until > now))
    }
}

impl AccountHandle<'_> {
    /// Turns do-not-disturb on until `until`, or off (`None`), on every device: here at
    /// once, online or not; the server now if it answers, else after the next connect.
    pub async fn set_do_not_disturb(&self, until: Option<Timestamp>) -> Result<(), ClientError> {
        let shared = &self.client().shared;
        shared.store.set_do_not_disturb(until)?;
        shared.emit(Event::DoNotDisturb { until });
        match send_unsent_do_not_disturb(shared).await {
            Err(ClientError::Api(e)) if e.is_transient() => Ok(()),
            Err(ClientError::SignedOut) => Ok(()),
            other => other,
        }
    }
}

/// Sends the do-not-disturb chosen here while the server could not be reached, if any.
pub(crate) async fn send_unsent_do_not_disturb(shared: &Shared) -> Result<(), ClientError> {
    let Some(until) = shared.store.unsent_do_not_disturb()? else {
        return Ok(());
    };
    let change = AccountSettings {
        do_not_disturb_until: Some(until),
        ..AccountSettings::default()
    };
    let account = shared.api.update_settings(&change).await?;
    // The server may have stored it as off (a time already past).
    let kept = account.settings.do_not_disturb_until.unwrap_or(until);
    shared.store.apply_do_not_disturb(kept, true)?;
    if kept != until {
        shared.emit(Event::DoNotDisturb { until: kept });
    }
    Ok(())
}

/// Keeps the settings the server sent (a `settings` frame, or the account read at
/// connect), unless a choice made here is still to go.
pub(crate) fn apply_settings(
    shared: &Shared,
    settings: &AccountSettings,
) -> Result<(), StoreError> {
    let Some(until) = settings.do_not_disturb_until else {
        return Ok(());
    };
    let before = shared.store.do_not_disturb_until()?;
    shared.store.apply_do_not_disturb(until, false)?;
    let now = shared.store.do_not_disturb_until()?;
    if now != before {
        shared.emit(Event::DoNotDisturb { until: now });
    }
    Ok(())
}

/// After a connect: what was chosen here goes up; otherwise the server's settings come
/// down, since another device may have changed them while this one's socket was closed
/// (a `settings` frame reaches only the sockets open then). One small read per connect.
pub(crate) async fn settle(shared: &Shared) -> Result<(), ClientError> {
    if shared.store.unsent_do_not_disturb()?.is_some() {
        return send_unsent_do_not_disturb(shared).await;
    }
    let account = shared.api.account().await?;
    Ok(apply_settings(shared, &account.settings)?)
}
