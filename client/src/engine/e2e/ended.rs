//! Devices whose session ended leave their groups (issue 31: removal is real). A session
//! that ends (signed out, ended from another device, suspended) keeps its leaf in every
//! group it was in until a member's device commits its removal; until then, its keys, if
//! anyone kept them, would open what is sealed there. So every device compares its
//! groups' devices with the server's list of signed-in ones ([`sweep`]): on each
//! connection before the outbox seals anything (so that what was written offline is not
//! sealed for a device that ended meanwhile), every [`LOOK_EVERY`] while connected, as
//! soon as it ended another session (`Shared::session_ended`), and a moment after the
//! server said that a session of a member of its encrypted conversations ended
//! (`mls_session_ended`, [`delay_after_an_end`]) if that device is still in one of its
//! groups ([`sweep_if_held`]). One list serves every group: `reconcile` removes the
//! devices not on it, as it removes members who left; of two devices that do it at once,
//! the second one's commit is refused and it looks again.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use ferry_proto::mls::Device;
use ferry_proto::{ConversationId, ErrorCode, UserId};

use super::{reconcile, tolerated};
use crate::Shared;
use crate::api::SessionError;
use crate::backoff::random_below;
use crate::engine::End;

/// How often a connected device looks for ended sessions in its groups. Its own user's
/// other devices are looked at sooner: it sweeps right after it ends one of them.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(10 * 60);

/// The most a device waits, after the server said that a member's session ended, before
/// it looks: each waits a random part of it, so that of the many devices told at once
/// (every member's, in a group of a thousand), one commits the removal and the others
/// mostly see its commit before they look, instead of all committing and all but one
/// being refused.
const TOLD_SPREAD: Duration = Duration::from_secs(5);

/// How long to wait before looking, after `mls_session_ended`: up to [`TOLD_SPREAD`].
pub(crate) fn delay_after_an_end() -> Duration {
    Duration::from_millis(random_below(TOLD_SPREAD.as_millis() as u64))
}

/// Takes the devices whose session ended out of this device's groups (`ended`); a
/// failure is said and left for the next look.
pub(crate) async fn take_out_ended_sessions(shared: &Shared) -> Result<(), End> {
    tolerated(sweep(shared).await)
}

/// The same for the devices the server said ended (`mls_session_ended`), if one of them
/// is still in one of this device's groups.
pub(crate) async fn take_out_told_ended(
    shared: &Shared,
    ended: &HashSet<Device>,
) -> Result<(), End> {
    tolerated(sweep_if_held(shared, ended).await)
}

/// Takes these devices, whose sessions the server said ended, out of this device's
/// groups if one of them is still in one, by a [`sweep`] (which checks every device
/// against the server's list). One in none of them costs no request: another member's
/// device took it out first, and its commit is applied here already, or it never joined
/// a group.
pub(crate) async fn sweep_if_held(shared: &Shared, ended: &HashSet<Device>) -> Result<(), End> {
    let groups = groups(shared).await?;
    let held = groups
        .iter()
        .flat_map(|(_, devices)| devices.iter().flatten())
        .any(|d| ended.contains(d));
    if held {
        sweep_groups(shared, groups).await
    } else {
        Ok(())
    }
}

/// Takes every device whose session ended out of this device's groups.
pub(crate) async fn sweep(shared: &Shared) -> Result<(), End> {
    let groups = groups(shared).await?;
    sweep_groups(shared, groups).await
}

/// Each encrypted conversation whose group this device is in, with the group's devices
/// (`None` for a leaf whose credential names none).
async fn groups(shared: &Shared) -> Result<Vec<(ConversationId, Vec<Option<Device>>)>, End> {
    let mut groups = Vec::new();
    let mut mls = shared.mls.lock().await;
    for (conversation, _) in shared.store.encrypted_conversations()? {
        if let Some(members) = mls.members(conversation)? {
            groups.push((conversation, members.iter().map(|m| m.device).collect()));
        }
    }
    Ok(groups)
}

/// Takes the devices not signed in out of `groups`, with one list for all of them.
async fn sweep_groups(
    shared: &Shared,
    groups: Vec<(ConversationId, Vec<Option<Device>>)>,
) -> Result<(), End> {
    // In no group (no encrypted conversation yet): nothing to ask the server.
    if groups.is_empty() {
        return Ok(());
    }
    let users: BTreeSet<UserId> = groups
        .iter()
        .flat_map(|(_, devices)| devices.iter().flatten().map(|d| d.user_id))
        .collect();
    let Some(live) = signed_in(shared, users.into_iter().collect()).await? else {
        return Ok(());
    };
    for (conversation, devices) in groups {
        if devices
            .iter()
            .any(|d| !d.is_some_and(|d| live.contains(&d)))
        {
            reconcile(shared, conversation, Some(&live)).await?;
        }
    }
    Ok(())
}

/// The signed-in devices of `users` (those who share no conversation with this user have
/// none here); `None` from a server that cannot tell (one from before `/mls/devices`):
/// then only members who left are removed.
async fn signed_in(shared: &Shared, users: Vec<UserId>) -> Result<Option<HashSet<Device>>, End> {
    match shared.api.signed_in_devices(&users).await {
        Ok(devices) => Ok(Some(devices.into_iter().collect())),
        Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
