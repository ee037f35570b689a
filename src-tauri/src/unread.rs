//! [`UnreadTotal`]: the number in the window title (and badge), kept up to date from the
//! one conversation summary each change re-reads, instead of summing every conversation
//! on every event. Only a resync (start, or events missed) starts over, from the store's
//! per-conversation unread counts (one query, not a summary per conversation).

use std::collections::HashMap;

use ferry_client::ConversationSummary;
use ferry_proto::{ConversationId, NotifyLevel};

/// Unread messages across conversations, each counted as its notification level says:
/// all of them, only those that mention the user, or none.
#[derive(Debug, Default)]
pub struct UnreadTotal {
    /// Each counted conversation's share; absent means zero (level none, or all read).
    by_conversation: HashMap<ConversationId, i64>,
    total: i64,
}

impl UnreadTotal {
    /// The total now.
    pub fn total(&self) -> i64 {
        self.total
    }

    /// Starts over from the share of each conversation that counts (not at level none,
    /// something unread), as `Client::unread_counts` gives them.
    pub fn reset(&mut self, counts: &[(ConversationId, i64)]) {
        self.by_conversation = counts.iter().copied().filter(|&(_, n)| n > 0).collect();
        self.total = self.by_conversation.values().sum();
    }

    /// Takes in one conversation as stored now; returns whether the total changed.
    pub fn update(&mut self, summary: &ConversationSummary) -> bool {
        let share = match summary.notify {
            _ if summary.dismissed => 0,
            NotifyLevel::All => summary.unread_count,
            NotifyLevel::Mentions => summary.unread_mentions,
            NotifyLevel::Nothing => 0,
        };
        let before = if share > 0 {
            self.by_conversation.insert(summary.id, share)
        } else {
            self.by_conversation.remove(&summary.id)
        }
        .unwrap_or(0);
        self.total += share - before;
        share != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: u128, unread_count: i64, muted: bool) -> ConversationSummary {
        ConversationSummary {
            last_seq: unread_count,
            unread_count,
            notify: if muted {
                NotifyLevel::Nothing
            } else {
                NotifyLevel::All
            },
            ..crate::fixtures::summary(ConversationId::from_u128(id))
        }
    }

    #[test]
    fn follows_each_conversation_as_it_changes() {
        let mut unread = UnreadTotal::default();
        // As the store counts them: the muted conversation 2 (5 unread) is left out.
        unread.reset(&[
            (ConversationId::from_u128(1), 2),
            (ConversationId::from_u128(3), 1),
        ]);
        assert_eq!(unread.total(), 3);
        assert!(
            !unread.update(&summary(2, 5, true)),
            "a muted conversation adds nothing"
        );

        assert!(unread.update(&summary(1, 4, false)));
        assert_eq!(unread.total(), 5);
        assert!(
            !unread.update(&summary(1, 4, false)),
            "no change, no title update"
        );
        assert!(
            unread.update(&summary(3, 1, true)),
            "muting removes its share"
        );
        assert_eq!(unread.total(), 4);
        assert!(
            unread.update(&summary(2, 5, false)),
            "unmuting adds it back"
        );
        assert_eq!(unread.total(), 9);
        assert!(unread.update(&summary(1, 0, false)), "read");
        assert_eq!(unread.total(), 5);
        assert!(unread.update(&summary(9, 1, false)), "a new conversation");
        assert_eq!(unread.total(), 6);
        let deleted = ConversationSummary {
            dismissed: true,
            ..summary(9, 1, false)
        };
        assert!(unread.update(&deleted), "a deleted request takes its share");
        assert_eq!(unread.total(), 5);
        assert!(
            unread.update(&summary(9, 2, false)),
            "back with a new message"
        );
        assert_eq!(unread.total(), 7);
        assert!(unread.update(&summary(9, 1, false)));

        let mentions_only = ConversationSummary {
            notify: NotifyLevel::Mentions,
            unread_mentions: 2,
            ..summary(9, 3, false)
        };
        assert!(
            unread.update(&mentions_only),
            "mentions only: its mentions count"
        );
        assert_eq!(unread.total(), 7);

        unread.reset(&[(ConversationId::from_u128(1), 1)]);
        assert_eq!(unread.total(), 1);
        assert!(
            !unread.update(&summary(9, 0, false)),
            "a reset forgets the shares it was not given"
        );
        assert_eq!(unread.total(), 1);
    }
}
