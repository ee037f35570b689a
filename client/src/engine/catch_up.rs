//! Catching up over REST after time away, fetching only what is missing.
//!
//! [`catch_up`] reads `/sync` from the stored cursor, a page at a time. Each page brings
//! the conversations that changed and each one's latest messages; [`plan`] stores them
//! (when they follow what is stored: never above a gap, so that messages are stored and
//! announced in seq order) and notes, per conversation, the history still missing
//! between what is stored and the server's last seq ([`Plan`]), which [`fetch`] then
//! reads in `after_seq` pages. A reconnect that missed only a few messages of a
//! conversation thus makes no history call for it. The cursor is saved only once its page
//! is complete. (The fetching itself is `history`'s.)

use std::collections::HashMap;

use ferry_proto::{ConversationId, Message, SyncPage};

use super::End;
use super::apply::refresh_presence;
use super::history::{fetch_after, fetched};
use crate::{Changes, Shared};

/// Latest messages of each changed conversation that `/sync` brings along: a reconnect
/// that missed no more than this in a conversation needs no history call for it. Small,
/// because a first sync brings this many for each of up to 500 conversations per page.
const SYNC_MESSAGES: u32 = 20;

/// Catches up through `/sync` and the history each conversation still lacks; returns
/// the `delivered` marks due.
pub(crate) async fn catch_up(shared: &Shared) -> Result<HashMap<ConversationId, i64>, End> {
    catch_up_waiting(shared, 0).await
}

/// [`catch_up`], whose first `/sync` waits up to `wait_secs` for a change when there is
/// none (the long-poll of a client without a socket).
pub(crate) async fn catch_up_waiting(
    shared: &Shared,
    wait_secs: u32,
) -> Result<HashMap<ConversationId, i64>, End> {
    let mut delivered = HashMap::new();
    let mut cursor = shared.store.sync_cursor()?;
    let mut wait = wait_secs;
    loop {
        let page = shared
            .api
            .sync(cursor.as_deref(), SYNC_MESSAGES, wait)
            .await?;
        wait = 0;
        let (next, has_more) = (page.cursor.clone(), page.has_more);
        let mut plans = plan(shared, page).await?;
        fetch(shared, &mut plans).await?;
        for plan in &plans {
            if plan.news {
                delivered.insert(
                    plan.conversation,
                    shared.store.contiguous_seq(plan.conversation)?,
                );
            }
            shared.announce(Changes::conversation(plan.conversation));
        }
        // Only now is everything before the cursor applied.
        shared.store.set_sync_cursor(&next)?;
        cursor = Some(next);
        if !has_more {
            break;
        }
    }
    refresh_presence(shared).await?;
    Ok(delivered)
}

/// What is left of one conversation of a `/sync` page once the page is stored.
struct Plan {
    conversation: ConversationId,
    /// Messages new here and from someone else came in (a `delivered` mark is due).
    news: bool,
    /// Stored without a gap up to this seq.
    have: i64,
    /// The server's last seq: what lies above `have` is to be fetched.
    last_seq: i64,
}

/// Stores a `/sync` page (its conversations, then each one's latest messages) and plans
/// the history to fetch, one [`Plan`] per conversation in the page's order.
async fn plan(shared: &Shared, page: SyncPage) -> Result<Vec<Plan>, End> {
    shared
        .store
        .apply_conversations(shared.me_id, &page.conversations)?;
    let mut latest: HashMap<ConversationId, Vec<Message>> = HashMap::new();
    for m in page.messages {
        latest.entry(m.conversation_id).or_default().push(m);
    }
    let mut plans: Vec<Plan> = Vec::with_capacity(page.conversations.len());
    // A conversation listed twice is planned (and fetched) once, to its higher seq.
    let mut planned: HashMap<ConversationId, usize> = HashMap::new();
    for c in &page.conversations {
        if let Some(&i) = planned.get(&c.id) {
            plans[i].last_seq = plans[i].last_seq.max(c.last_seq);
            continue;
        }
        // The latest messages are stored only when nothing is missing below them: stored
        // above a gap, they were announced before the history under them, and a `watch`
        // that missed more than they are printed its messages out of order. The history
        // fetched for the gap brings them again, in order.
        let have = shared.store.contiguous_seq(c.id)?;
        let news = match latest.remove(&c.id) {
            Some(messages) if messages.first().is_some_and(|m| m.seq <= have + 1) => {
                fetched(shared, &messages).await?
            }
            _ => false,
        };
        planned.insert(c.id, plans.len());
        plans.push(Plan {
            conversation: c.id,
            news,
            have: shared.store.contiguous_seq(c.id)?,
            last_seq: c.last_seq,
        });
    }
    Ok(plans)
}

/// Fetches the history the plans lack, conversation by conversation.
async fn fetch(shared: &Shared, plans: &mut [Plan]) -> Result<(), End> {
    for plan in plans {
        if plan.last_seq > plan.have {
            plan.news |= fetch_after(shared, plan.conversation, plan.have, plan.last_seq).await?;
        }
    }
    Ok(())
}
