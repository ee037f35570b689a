//! End-to-end encryption's part of the sync engine (issue 31): what this device does with
//! the server's MLS delivery service, around its [`Device`](crate::mls::Device).
//!
//! - On each connection, once caught up and before the outbox goes ([`prepare`]): top up
//!   this device's key packages, join the groups whose welcomes wait, bring every group it
//!   is in up to the server's epoch, join by external commit those it is not in, and
//!   take the devices whose session ended out of its groups (so that nothing written
//!   offline is sealed for them). After the outbox's first pass ([`settle_groups`]): put
//!   each group's members in step with its conversation's, and make the
//!   group of each plain conversation whose members' devices all have keys (the first
//!   device's commit wins; the others join it by its welcome).
//! - Live, [`on_commit`], [`on_welcome`] and [`on_conversation`] do the same for one
//!   group. Devices whose session ended are taken out of the groups (`ended`).
//! - History transfer between this user's devices lives in `transfer`: the notes they
//!   leave each other are read after the groups are settled, and a device that could not
//!   open entries sealed before it joined asks for them once.
//! - Sealing and opening live in `sealed`: received messages are stored through
//!   [`store_messages`], which opens each sealed
//!   entry once, in seq order, first applying the group's commits up to the entry's
//!   epoch, then saves the MLS state only after the plaintext is stored (a crash in
//!   between opens the entry again; the other order would lose it). An entry's encrypted
//!   files are described as what they are, and their keys kept (`file_seal`).
//! - The outbox seals at send time ([`outgoing`]): an entry of an encrypted conversation
//!   waits while this device is not in the group yet, or while the conversation's sends in
//!   flight went in another epoch (so that it never overtakes one of them), and one the
//!   server refused for a stale epoch is sealed again, under the same id, after [`reseal`]
//!   caught up. It carries its encrypted files' names, keys and small previews.

mod ended;
mod sealed;
mod transfer;

use std::collections::HashSet;

use ferry_proto::mls::{ClaimedKeyPackages, Commit, NewCommit, Welcome};
use ferry_proto::{ConversationId, ErrorCode, UserId};
use openmls::prelude::LeafNodeIndex;
use tokio::sync::MutexGuard;

pub(crate) use ended::{
    LOOK_EVERY as ENDED_SESSIONS_LOOK, delay_after_an_end, take_out_ended_sessions,
    take_out_told_ended,
};
pub(crate) use sealed::{outgoing, reseal, store_messages};
pub(crate) use transfer::{
    ask as ask_for_history, dismiss as dismiss_history_request, on_note, send_history,
};

use super::End;
use crate::api::{ApiError, SessionError};
use crate::mls::{Device, MlsError};
use crate::{Changes, Shared};

/// One-time key packages a device keeps on the server; it tops them up when fewer than
/// half are left.
const KEY_PACKAGES: u32 = 50;
/// How long a conversation with a member's device without keys waits before this device
/// tries to encrypt it again (a claim uses up key packages).
const RETRY_PLAIN_MS: i64 = 60 * 60 * 1000;

impl From<MlsError> for End {
    fn from(e: MlsError) -> Self {
        match e {
            MlsError::Store(e) => e.into(),
            MlsError::Mls(why) => {
                tracing::error!(why, "end-to-end encryption failed");
                End::Reconnect(None, why)
            }
        }
    }
}

/// What is due on each connection, once caught up and before the outbox is sent: keys
/// topped up, welcomes joined, every group brought to the server's epoch (or joined by
/// external commit), and the devices whose session ended taken out of the groups. A
/// failure here ends nothing (a server without the delivery service, say, still chats in
/// the open), but a sign-out.
pub(crate) async fn prepare(shared: &Shared) -> Result<(), End> {
    tolerated(prepare_all(shared).await)?;
    // Devices whose session ended while this one was away leave the groups before the
    // outbox seals anything for them: what was written offline goes out after the end.
    tolerated(ended::sweep(shared).await)
}

/// A failure of the encryption's own upkeep: said, and left for the next connection or
/// change to try again; only the end of the session or of the client goes on up.
pub(crate) fn tolerated(result: Result<(), End>) -> Result<(), End> {
    match result {
        Err(End::Reconnect(_, why)) => {
            tracing::warn!(why, "end-to-end encryption's upkeep failed");
            Ok(())
        }
        other => other,
    }
}

async fn prepare_all(shared: &Shared) -> Result<(), End> {
    top_up(shared).await?;
    join_welcomes(shared).await?;
    let mut mls = shared.mls.lock().await;
    let encrypted = shared.store.encrypted_conversations()?;
    let mut outside = Vec::new();
    for &(conversation, epoch) in &encrypted {
        let mine = mls.epoch(conversation)?;
        // What the conversation says: joined, or joining (its sends wait meanwhile).
        if shared.store.set_mls_member(conversation, mine.is_some())? {
            shared.announce(Changes::conversation(conversation));
        }
        match mine {
            Some(mine) if mine < epoch => {
                catch_up_locked(shared, &mut mls, conversation, None).await?;
            }
            Some(_) => {}
            None => outside.push(conversation),
        }
    }
    drop(mls);
    for conversation in outside {
        join(shared, conversation).await?;
    }
    Ok(())
}

/// What is due once the outbox had its first pass after a connection (so that it waits
/// for no claim): the groups' members put in step with their conversations', and plain
/// conversations encrypted where every member's devices have keys. A conversation that
/// found a member without keys is looked at again an hour later (or when it changes).
pub(crate) async fn settle_groups(shared: &Shared) -> Result<(), End> {
    tolerated(settle_all(shared).await)
}

/// What a connected device looks at again every [`ENDED_SESSIONS_LOOK`]: the devices whose
/// session ended, and an ask for history that went a week unanswered (`transfer`).
pub(crate) async fn look_again(shared: &Shared) -> Result<(), End> {
    take_out_ended_sessions(shared).await?;
    tolerated(transfer::ask_if_due(shared).await)
}

async fn settle_all(shared: &Shared) -> Result<(), End> {
    let tried_before = shared.options.clock.now().as_millis() - RETRY_PLAIN_MS;
    for conversation in shared.store.encrypted_conversations_due(tried_before)? {
        reconcile(shared, conversation, None).await?;
    }
    if shared.options.encrypt {
        for (conversation, members) in shared.store.plain_conversations(tried_before)? {
            encrypt(shared, conversation, members).await?;
        }
    }
    // With the groups settled: the notes of this user's other devices, and an ask for
    // the history this device could not open, if it has not asked yet.
    transfer::read_notes(shared).await?;
    transfer::ask_if_due(shared).await
}

/// Publishes key packages when fewer than half of [`KEY_PACKAGES`] are left, and a
/// last-resort one when there is none.
async fn top_up(shared: &Shared) -> Result<(), End> {
    let stock = shared.api.key_package_stock().await?;
    let count = if stock.one_time < KEY_PACKAGES / 2 {
        KEY_PACKAGES - stock.one_time
    } else {
        0
    };
    if count == 0 && stock.last_resort {
        return Ok(());
    }
    let mut mls = shared.mls.lock().await;
    let packages = mls.key_packages(count as usize, !stock.last_resort)?;
    // Their private keys are saved before anyone can claim them.
    mls.flush(&shared.store)?;
    drop(mls);
    shared.api.publish_key_packages(packages).await?;
    Ok(())
}

/// Joins every group whose welcome waits for this device.
async fn join_welcomes(shared: &Shared) -> Result<(), End> {
    for welcome in shared.api.welcomes().await? {
        on_welcome(shared, &welcome).await?;
    }
    Ok(())
}

/// Joins the group of an encrypted conversation this device is not in: by its welcome
/// when one waits, else by an external commit from the group's info (a device signed in
/// after the group was made). Two tries: a refusal means the group just moved on.
async fn join(shared: &Shared, conversation: ConversationId) -> Result<(), End> {
    join_welcomes(shared).await?;
    for _ in 0..2 {
        let info = match shared.api.group_info(conversation).await {
            Ok(info) => info,
            // Not encrypted after all, or no longer a member.
            Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut mls = shared.mls.lock().await;
        if mls.epoch(conversation)?.is_some() {
            return Ok(());
        }
        let commit = match mls.join_external(conversation, &info.group_info) {
            Ok(commit) => commit,
            Err(MlsError::Mls(why)) => {
                tracing::warn!(why, %conversation, "cannot join the group");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if submit(shared, &mut mls, conversation, &commit).await? {
            drop(mls);
            shared.wake.notify_one();
            return Ok(());
        }
    }
    Ok(())
}

/// A welcome for this device: join the group, drop the welcome, and let the outbox send
/// what waited for it.
pub(crate) async fn on_welcome(shared: &Shared, welcome: &Welcome) -> Result<(), End> {
    let conversation = welcome.conversation_id;
    let mut mls = shared.mls.lock().await;
    match mls.join(welcome) {
        Ok(()) => {
            mls.flush(&shared.store)?;
            note_devices(shared, &mut mls, conversation)?;
        }
        // Not for a key package this device still has (its state was lost): it waits to
        // be added again.
        Err(MlsError::Mls(why)) => tracing::warn!(why, %conversation, "a welcome failed"),
        Err(e) => return Err(e.into()),
    }
    shared.store.raise_mls_epoch(conversation, welcome.epoch)?;
    match shared.api.drop_welcome(welcome.id).await {
        Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => {}
        other => other?,
    }
    // No catching up here: the group moves to a later epoch when an entry of that epoch,
    // a send or the next connection needs it, so that what was sealed in the epochs in
    // between is opened in its own epoch first.
    drop(mls);
    shared.announce(Changes::conversation(conversation));
    shared.wake.notify_one();
    Ok(())
}

/// A commit the server accepted, live: this device's group follows it (and any it
/// missed before it).
pub(crate) async fn on_commit(shared: &Shared, commit: &Commit) -> Result<(), End> {
    let conversation = commit.conversation_id;
    shared
        .store
        .raise_mls_epoch(conversation, commit.epoch + 1)?;
    let mut mls = shared.mls.lock().await;
    if mls.epoch(conversation)?.is_some() {
        catch_up_locked(shared, &mut mls, conversation, Some(commit.epoch + 1)).await?;
        drop(mls);
    } else {
        drop(mls);
        join(shared, conversation).await?;
    }
    // Encrypted now, or its devices changed: the conversation shows it.
    shared.announce(Changes::conversation(conversation));
    shared.wake.notify_one();
    Ok(())
}

/// Brings this device's copy of the conversation's group to the server's epoch.
pub(crate) async fn catch_up_group(
    shared: &Shared,
    conversation: ConversationId,
) -> Result<(), End> {
    let mut mls = shared.mls.lock().await;
    if mls.epoch(conversation)?.is_none() {
        drop(mls);
        return join(shared, conversation).await;
    }
    catch_up_locked(shared, &mut mls, conversation, None).await
}

/// Applies the group's commit log from this device's epoch up to `until` (or all of it),
/// in order, and saves the state.
async fn catch_up_locked(
    shared: &Shared,
    mls: &mut MutexGuard<'_, Device>,
    conversation: ConversationId,
    until: Option<i64>,
) -> Result<(), End> {
    catch_up_with(shared, mls, conversation, until, &mut Vec::new()).await
}

/// [`catch_up_locked`], keeping in `read` the commits fetched but not applied yet: a
/// batch of sealed entries, each of a later epoch, then reads the log once, not once per
/// entry.
async fn catch_up_with(
    shared: &Shared,
    mls: &mut MutexGuard<'_, Device>,
    conversation: ConversationId,
    until: Option<i64>,
    read: &mut Vec<Commit>,
) -> Result<(), End> {
    loop {
        let Some(epoch) = mls.epoch(conversation)? else {
            return Ok(());
        };
        if until.is_some_and(|until| epoch >= until) {
            return Ok(());
        }
        read.retain(|c| c.epoch >= epoch);
        if read.first().is_none_or(|c| c.epoch != epoch) {
            let page = match shared.api.commit_log(conversation, epoch).await {
                Ok(page) => page,
                // No longer a member: the conversation's own frames say so.
                Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => {
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            shared.store.raise_mls_epoch(conversation, page.epoch)?;
            *read = page.commits;
        }
        let mut moved = false;
        for commit in read.iter() {
            if until.is_some_and(|until| commit.epoch >= until) {
                break;
            }
            match mls.apply(commit) {
                Ok(()) => moved = true,
                Err(MlsError::Mls(why)) => {
                    // A commit this device cannot follow leaves it behind for good: what
                    // is sealed after it waits until it is added again.
                    tracing::error!(why, %conversation, epoch = commit.epoch, "a commit failed");
                    mls.flush(&shared.store)?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        mls.flush(&shared.store)?;
        if !moved {
            return Ok(());
        }
        note_devices(shared, mls, conversation)?;
    }
}

/// Notes, now that the conversation's group moved, that this device is in it, whose
/// devices in it changed (the conversation says so until this user looks at their safety
/// number), and that those in it are waited for no more.
fn note_devices(
    shared: &Shared,
    mls: &mut Device,
    conversation: ConversationId,
) -> Result<(), End> {
    let Some(members) = mls.members(conversation)? else {
        return Ok(());
    };
    let prints = crate::safety_number::device_fingerprints(&members);
    let joined = shared.store.set_mls_member(conversation, true)?;
    let changed = shared
        .store
        .note_devices(shared.me_id, conversation, &prints)?;
    let in_group: Vec<UserId> = prints.iter().map(|(user, _)| *user).collect();
    let arrived = shared.store.keys_arrived(conversation, &in_group)?;
    if joined || changed || arrived {
        shared.announce(Changes::conversation(conversation));
    }
    Ok(())
}

/// A conversation changed (made, joined, its members changed): a plain one is encrypted
/// when it can be, an encrypted one gets its group's members in step with its own.
pub(crate) async fn on_conversation(
    shared: &Shared,
    conversation: ConversationId,
) -> Result<(), End> {
    if shared.store.mls_epoch(conversation)? == 0 {
        if shared.options.encrypt {
            let members = shared.store.member_ids(conversation)?;
            encrypt(shared, conversation, members).await?;
        }
        Ok(())
    } else {
        reconcile(shared, conversation, None).await
    }
}

/// Makes the group of a plain conversation, with a device of every member in it; when
/// one of them has none with keys, it stays plain and is tried again later.
async fn encrypt(
    shared: &Shared,
    conversation: ConversationId,
    members: Vec<UserId>,
) -> Result<(), End> {
    let now = shared.options.clock.now().as_millis();
    if members.is_empty() {
        shared.store.mls_tried(conversation, now)?;
        return Ok(());
    }
    let Some(claimed) = claim(shared, members).await? else {
        shared.store.mls_tried(conversation, now)?;
        return Ok(());
    };
    note_without_keys(shared, conversation, &claimed)?;
    if !claimed.without_keys.is_empty() {
        shared.store.mls_tried(conversation, now)?;
        return Ok(());
    }
    let mut mls = shared.mls.lock().await;
    match mls.epoch(conversation)? {
        // Joined meanwhile.
        Some(epoch) if epoch > 0 => return Ok(()),
        // An earlier try whose answer never came, and the server is still at epoch 0.
        Some(_) => mls.abandon(conversation)?,
        None => {}
    }
    let commit = match mls.create(conversation, &claimed) {
        Ok(commit) => commit,
        Err(MlsError::Mls(why)) => {
            tracing::warn!(why, %conversation, "cannot encrypt");
            shared.store.mls_tried(conversation, now)?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let taken = submit(shared, &mut mls, conversation, &commit).await?;
    drop(mls);
    if !taken {
        // Another device's first commit came first: this device joins its group.
        join_welcomes(shared).await?;
    }
    Ok(())
}

/// Notes whose devices a claim found without keys (none: everyone's had), so that the
/// conversation says whom it waits for.
fn note_without_keys(
    shared: &Shared,
    conversation: ConversationId,
    claimed: &ClaimedKeyPackages,
) -> Result<(), End> {
    let users: Vec<UserId> = claimed.without_keys.iter().map(|d| d.user_id).collect();
    if shared.store.set_without_keys(conversation, &users)? {
        shared.announce(Changes::conversation(conversation));
    }
    Ok(())
}

/// Claims a key package of every device of `users`; `None` when the server refuses (one
/// of them is no longer a contact: the conversation's next change tells).
async fn claim(shared: &Shared, users: Vec<UserId>) -> Result<Option<ClaimedKeyPackages>, End> {
    match shared.api.claim_key_packages(&users).await {
        Ok(claimed) => Ok(Some(claimed)),
        Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Hands the server a commit this device made; whether it was taken (then the group
/// moved on). One the server refused is dropped: another came first in that epoch, or it
/// was not acceptable. Unanswered, it stays pending: the server may have it, and the log
/// will say.
async fn submit(
    shared: &Shared,
    mls: &mut MutexGuard<'_, Device>,
    conversation: ConversationId,
    commit: &NewCommit,
) -> Result<bool, End> {
    // Saved first: a restart must find the commit it may have sent.
    mls.flush(&shared.store)?;
    match shared.api.submit_commit(conversation, commit).await {
        Ok(accepted) => {
            mls.committed(conversation)?;
            mls.flush(&shared.store)?;
            note_devices(shared, mls, conversation)?;
            shared
                .store
                .raise_mls_epoch(conversation, accepted.epoch + 1)?;
            shared.announce(Changes::conversation(conversation));
            Ok(true)
        }
        Err(SessionError::Api(ApiError::Server { code, message, .. }))
            if code != ErrorCode::Unavailable && code != ErrorCode::RateLimited =>
        {
            if code != ErrorCode::Conflict {
                tracing::warn!(?code, message, %conversation, "the server refused a commit");
                shared
                    .store
                    .mls_tried(conversation, shared.options.clock.now().as_millis())?;
            }
            mls.abandon(conversation)?;
            mls.flush(&shared.store)?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Brings the group's members in step with the conversation's: the devices of members who
/// left, and devices not among `signed_in` when given (a sweep's list, `ended`), are
/// removed (they can open nothing sent after), and members not in the group yet are
/// added with a device each of theirs that has keys. Any member's device may do it; when
/// two do at once, the second one's commit is refused, and it looks again.
async fn reconcile(
    shared: &Shared,
    conversation: ConversationId,
    signed_in: Option<&HashSet<ferry_proto::mls::Device>>,
) -> Result<(), End> {
    // Three looks are plenty: each refusal means another device just did the work.
    for _ in 0..3 {
        let members: HashSet<UserId> = shared.store.member_ids(conversation)?.into_iter().collect();
        // A device of someone who left changes nothing there any more.
        if !members.contains(&shared.me_id) {
            return Ok(());
        }
        let signed_in = |d: &ferry_proto::mls::Device| signed_in.is_none_or(|l| l.contains(d));
        let mut mls = shared.mls.lock().await;
        let Some(mine) = mls.epoch(conversation)?.filter(|epoch| *epoch > 0) else {
            return Ok(());
        };
        if mine < shared.store.mls_epoch(conversation)? {
            catch_up_locked(shared, &mut mls, conversation, None).await?;
        }
        let Some(leaves) = mls.members(conversation)? else {
            return Ok(());
        };
        // This device's own session is signed in, or the server would not have answered.
        let gone: Vec<LeafNodeIndex> = leaves
            .iter()
            .filter(|m| {
                !m.device
                    .is_some_and(|d| members.contains(&d.user_id) && signed_in(&d))
            })
            .map(|m| m.leaf)
            .collect();
        let present: HashSet<UserId> = leaves.iter().filter_map(|m| m.user()).collect();
        let missing: Vec<UserId> = members.difference(&present).copied().collect();
        // Everyone is in: no one's keys are waited for any more.
        if missing.is_empty() && shared.store.set_without_keys(conversation, &[])? {
            shared.announce(Changes::conversation(conversation));
        }
        let commit = if !gone.is_empty() {
            mls.remove(conversation, &gone)
        } else if !missing.is_empty() {
            drop(mls);
            let claimed = claim(shared, missing).await?;
            if let Some(claimed) = &claimed {
                note_without_keys(shared, conversation, claimed)?;
            }
            let Some(claimed) = claimed.filter(|c| !c.key_packages.is_empty()) else {
                // Their devices have no keys yet: looked at again later.
                let now = shared.options.clock.now().as_millis();
                shared.store.mls_tried(conversation, now)?;
                return Ok(());
            };
            mls = shared.mls.lock().await;
            // The group may have moved while the claim was out: add only who is still
            // missing.
            catch_up_locked(shared, &mut mls, conversation, None).await?;
            let present: HashSet<UserId> = mls
                .members(conversation)?
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.user())
                .collect();
            let mut claimed = claimed;
            claimed
                .key_packages
                .retain(|p| !present.contains(&p.device.user_id));
            if claimed.key_packages.is_empty() {
                continue;
            }
            mls.add(conversation, &claimed)
        } else {
            return Ok(());
        };
        let commit = match commit {
            Ok(commit) => commit,
            // Not this device's to fix (a key package that does not check out, say): it
            // says so, and the conversation stays as it is.
            Err(MlsError::Mls(why)) => {
                tracing::warn!(why, %conversation, "cannot change the group's members");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if submit(shared, &mut mls, conversation, &commit).await? && gone.is_empty() {
            return Ok(());
        }
    }
    Ok(())
}
