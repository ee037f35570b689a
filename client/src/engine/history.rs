//! History below a seq, fetched over REST and stored: what a message arriving above a
//! gap (live, or an ack) needs first ([`fill_below`]), and what catch-up lacks after
//! `/sync` ([`fetch_after`]). Messages that come this way are stored and announced like
//! live ones ([`fetched`]).

use ferry_proto::{ConversationId, Message};

use super::End;
use crate::Shared;

/// History page size.
const PAGE: u32 = 500;

/// Makes sure every message below `seq` is stored (an own message acked at seq N, or a
/// live one, says nothing about N-1), fetching what is missing.
pub(super) async fn fill_below(
    shared: &Shared,
    conversation: ConversationId,
    seq: i64,
) -> Result<(), End> {
    let have = shared.store.contiguous_seq(conversation)?;
    if seq > have + 1 {
        fetch_after(shared, conversation, have, seq - 1).await?;
    }
    Ok(())
}

/// Fetches and stores the messages after `after` up to at least `until`; whether any new
/// one is from someone else.
pub(super) async fn fetch_after(
    shared: &Shared,
    conversation: ConversationId,
    mut after: i64,
    until: i64,
) -> Result<bool, End> {
    let mut added_from_others = false;
    while after < until {
        let page = shared.api.messages_after(conversation, after, PAGE).await?;
        let Some(last) = page.messages.last() else {
            break;
        };
        after = last.seq;
        added_from_others |= fetched(shared, &page.messages).await?;
        if !page.has_more {
            break;
        }
    }
    Ok(added_from_others)
}

/// Stores messages that came by REST; whether any of them new to this store is from
/// someone else (then a `delivered` mark is due). New ones are announced like live ones
/// (a UI or `watch` must not miss what arrived while it was away).
pub(super) async fn fetched(shared: &Shared, messages: &[Message]) -> Result<bool, End> {
    let changes = super::e2e::store_messages(shared, messages).await?;
    let new_from_others = messages
        .iter()
        .any(|m| m.sender_id != shared.me_id && changes.stored.contains(&m.id));
    shared.announce(changes);
    Ok(new_from_others)
}
