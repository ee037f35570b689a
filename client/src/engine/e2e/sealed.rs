//! Sealing and opening (issue 31): received messages stored with their sealed entries
//! opened once, in seq order, each after the group's commits up to its epoch
//! ([`store_messages`]), and the outbox's entries sealed at send time in the group's
//! current epoch ([`outgoing`]), sealed again after a refusal ([`reseal`]). Files go with
//! their names, keys and small previews (`file_seal`).

use std::collections::{HashMap, HashSet};

use ferry_proto::mls::{Commit, SealedContent};
use ferry_proto::{ChangeKind, ConversationId, Message, OutgoingMessage, UserId};

use super::{catch_up_group, catch_up_locked, catch_up_with, join, reconcile};
use crate::engine::End;
use crate::file_seal;
use crate::mls::{MlsError, sealed_epoch};
use crate::store::OutboxItem;
use crate::{Changes, Shared};

/// Stores messages from the server, opening the sealed entries new to this device first
/// (see the module's notes); what the store changed.
pub(crate) async fn store_messages(shared: &Shared, messages: &[Message]) -> Result<Changes, End> {
    if messages.iter().all(|m| m.sealed.is_none()) {
        return Ok(shared.store.apply_messages(messages)?);
    }
    let mut opened = messages.to_vec();
    let mut mls = shared.mls.lock().await;
    let mut joined = HashSet::new();
    let mut read: HashMap<ConversationId, Vec<Commit>> = HashMap::new();
    let mut secrets = Vec::new();
    // What opens loses its `sealed`; what does not keeps it, and is stored as unreadable.
    for m in &mut opened {
        let Some(sealed) = m.sealed.clone() else {
            continue;
        };
        if shared.store.holds_message(m.id)? {
            m.sealed = None;
            continue;
        }
        if m.change.is_none() {
            // The server's `edit_seq` names an edit whose text is sealed in its own entry:
            // this device applies it as it opens that entry (or did already: the store
            // applies the newest edit it holds as the message comes).
            m.edit_seq = None;
            m.edited_at = None;
        }
        let conversation = m.conversation_id;
        let epoch = match sealed_epoch(&sealed) {
            Ok(epoch) => epoch,
            Err(e) => {
                tracing::warn!(error = %e, id = %m.id, "a sealed entry that does not decode");
                continue;
            }
        };
        if mls.epoch(conversation)?.is_none() && joined.insert(conversation) {
            // Added while away: its welcome waits (or it joins from now on).
            drop(mls);
            join(shared, conversation).await?;
            mls = shared.mls.lock().await;
        }
        let read = read.entry(conversation).or_default();
        catch_up_with(shared, &mut mls, conversation, Some(epoch), read).await?;
        match mls.unseal_from(conversation, &sealed, m.sender_id) {
            Ok(Some(SealedContent { body, emoji, files })) => {
                m.sealed = None;
                m.body = body;
                if let Some(change) = m.change.as_mut() {
                    change.emoji = emoji;
                }
                secrets.extend(file_seal::open_files(m, files));
            }
            // Signed by another member than the server says sent it: a server putting
            // words in someone's name. Kept unreadable, never shown as theirs.
            Ok(None) => {
                tracing::warn!(id = %m.id, %conversation, sender = %m.sender_id,
                    "a sealed entry signed by another member than its sender: not shown");
            }
            // Sealed before this device joined the group (or for a group it is not in).
            Err(MlsError::Mls(why)) => {
                tracing::debug!(why, id = %m.id, %conversation, "a sealed entry did not open");
            }
            Err(e) => return Err(e.into()),
        }
    }
    for m in opened.iter_mut().filter(|m| m.sealed.is_some()) {
        // Files of an entry that did not open are bytes no key here opens.
        m.attachments.clear();
    }
    // Before the messages: a file is never shown without what opens it.
    shared.store.keep_file_secrets(&secrets)?;
    let changes = shared.store.apply_messages(&opened)?;
    // Only now: the keys the entries used are gone once this is saved.
    mls.flush(&shared.store)?;
    Ok(changes)
}

/// An outbox entry as it goes out, with the epoch of its conversation's group it goes in:
/// sealed for the group when this device is in it (at the server's epoch), plain (epoch
/// 0) when the conversation is not encrypted. A deletion stays plain: it carries nothing
/// to hide. `None` while it waits: the conversation is encrypted and this device is not in
/// its group yet, or its earlier sends in flight went in another epoch than this one
/// would (`in_flight`, see `Outbox::epoch_in_flight`) and it goes after their answers.
pub(crate) async fn outgoing(
    shared: &Shared,
    item: &OutboxItem,
    in_flight: Option<i64>,
) -> Result<Option<(OutgoingMessage, i64)>, End> {
    let goes = |epoch: i64| in_flight.is_none_or(|earlier| earlier == epoch);
    let mut out = item.outgoing();
    if out
        .change
        .as_ref()
        .is_some_and(|c| c.kind == ChangeKind::Delete)
    {
        return Ok(goes(0).then_some((out, 0)));
    }
    let conversation = item.conversation_id;
    let server_epoch = shared.store.mls_epoch(conversation)?;
    let mut mls = shared.mls.lock().await;
    // Epoch 0 is a group still being made: until the server takes it, the conversation
    // is plain.
    let Some(mine) = mls.epoch(conversation)?.filter(|epoch| *epoch > 0) else {
        return Ok((server_epoch == 0 && goes(0)).then_some((out, 0)));
    };
    if mine < server_epoch {
        catch_up_locked(shared, &mut mls, conversation, None).await?;
    }
    // Someone left and their devices are still in the group: out first, so that nothing
    // sent from now on is sealed for them.
    let members: HashSet<UserId> = shared.store.member_ids(conversation)?.into_iter().collect();
    let stale = mls.members(conversation)?.is_some_and(|leaves| {
        leaves
            .iter()
            .any(|m| !m.user().is_some_and(|u| members.contains(&u)))
    });
    if stale {
        drop(mls);
        reconcile(shared, conversation, None).await?;
        mls = shared.mls.lock().await;
    }
    let Some(epoch) = mls.epoch(conversation)? else {
        // Left the group meanwhile (removed by a commit): it waits to join again.
        return Ok(None);
    };
    if !goes(epoch) {
        return Ok(None);
    }
    let files = file_seal::sealed_files(&shared.store, item.message_id, &out.body)?;
    let content = SealedContent {
        body: std::mem::take(&mut out.body),
        emoji: out.change.as_mut().and_then(|c| c.emoji.take()),
        files,
    };
    out.sealed = mls.seal(conversation, &content)?;
    // Saved before the entry leaves: a restart must never seal with the same key again.
    mls.flush(&shared.store)?;
    Ok(Some((out, epoch)))
}

/// A send refused because the conversation's group moved on, or because it is encrypted
/// and the send was plain: catch up (or look for the welcome) before it is sealed again.
pub(crate) async fn reseal(shared: &Shared, conversation: ConversationId) -> Result<(), End> {
    if shared.store.mls_epoch(conversation)? == 0 {
        // The server said it is encrypted; the next `/sync` would too.
        shared.store.raise_mls_epoch(conversation, 1)?;
    }
    catch_up_group(shared, conversation).await
}
