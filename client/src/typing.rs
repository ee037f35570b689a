//! Typing indicators, both ways, by the protocol's rules: a sender repeats `typing:true`
//! at most every 3 s while composing and sends `typing:false` when it sends or clears; a
//! receiver drops a `typing:true` not repeated within 6 s, and clears a user as soon as
//! their message arrives.

use std::collections::HashMap;
use std::time::Duration;

use ferry_proto::{ConversationId, UserId};
use tokio::time::Instant;

/// How often a composing sender repeats `typing:true`.
pub const REPEAT: Duration = Duration::from_secs(3);
/// How long a received `typing:true` lasts without a repeat.
pub const EXPIRE: Duration = Duration::from_secs(6);

/// Who is typing where (received), and where we said we are typing (sent).
#[derive(Default)]
pub struct Typing {
    others: HashMap<(ConversationId, UserId), Instant>,
    mine: HashMap<ConversationId, Instant>,
}

impl Typing {
    /// A received typing frame; returns whether the visible state changed.
    pub fn received(
        &mut self,
        conversation: ConversationId,
        user: UserId,
        typing: bool,
        now: Instant,
    ) -> bool {
        if typing {
            self.others
                .insert((conversation, user), now + EXPIRE)
                .is_none()
        } else {
            self.others.remove(&(conversation, user)).is_some()
        }
    }

    /// `user`'s message arrived: they stopped typing. Returns whether they were.
    pub fn message_from(&mut self, conversation: ConversationId, user: UserId) -> bool {
        let key = (conversation, user);
        self.others.remove(&key).is_some()
    }

    /// Drops the typing states that were not repeated in time; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<(ConversationId, UserId)> {
        let gone: Vec<(ConversationId, UserId)> = self
            .others
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in &gone {
            self.others.remove(key);
        }
        gone
    }

    /// Who is typing in a conversation now.
    pub fn typing_in(&self, conversation: ConversationId) -> Vec<UserId> {
        let mut users: Vec<UserId> = self
            .others
            .keys()
            .filter(|(c, _)| *c == conversation)
            .map(|(_, u)| *u)
            .collect();
        users.sort();
        users
    }

    /// The user is composing (or stopped); returns the frame to send, if one is due.
    pub fn composing(
        &mut self,
        conversation: ConversationId,
        composing: bool,
        now: Instant,
    ) -> Option<bool> {
        match (composing, self.mine.get(&conversation)) {
            (true, Some(last)) if now.duration_since(*last) < REPEAT => None,
            (true, _) => {
                self.mine.insert(conversation, now);
                Some(true)
            }
            (false, Some(_)) => {
                self.mine.remove(&conversation);
                Some(false)
            }
            (false, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_repeats_at_most_every_three_seconds() {
        let mut t = Typing::default();
        let c = ConversationId::new();
        let start = Instant::now();
        assert_eq!(t.composing(c, true, start), Some(true));
        assert_eq!(t.composing(c, true, start + Duration::from_secs(2)), None);
        assert_eq!(
            t.composing(c, true, start + Duration::from_secs(3)),
            Some(true)
        );
        assert_eq!(
            t.composing(c, false, start + Duration::from_secs(4)),
            Some(false)
        );
        assert_eq!(t.composing(c, false, start + Duration::from_secs(5)), None);
    }

    #[test]
    fn receiver_expires_after_six_seconds_unless_repeated() {
        let mut t = Typing::default();
        let (c, u) = (ConversationId::new(), UserId::new());
        let start = Instant::now();
        assert!(t.received(c, u, true, start));
        assert!(
            !t.received(c, u, true, start + Duration::from_secs(4)),
            "a repeat is no change"
        );
        assert!(
            t.expire(start + Duration::from_secs(9)).is_empty(),
            "the repeat extended it"
        );
        assert_eq!(t.expire(start + Duration::from_secs(10)), vec![(c, u)]);
        assert!(t.typing_in(c).is_empty());
        assert!(t.received(c, u, true, start));
        assert!(t.message_from(c, u), "a message from the typer clears it");
    }

    /// Expiry by tokio's paused clock, as the engine's once-a-second tick drives it.
    #[tokio::test(start_paused = true)]
    async fn expiry_follows_the_paused_clock() {
        let mut t = Typing::default();
        let (c, u) = (ConversationId::new(), UserId::new());
        assert!(t.received(c, u, true, Instant::now()));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut gone_after = None;
        for second in 0..10 {
            tick.tick().await;
            if !t.expire(Instant::now()).is_empty() {
                gone_after = Some(second);
                break;
            }
            assert_eq!(t.typing_in(c), vec![u], "second {second}");
        }
        assert_eq!(gone_after, Some(6), "gone at the first tick 6 s after");
    }

    #[tokio::test(start_paused = true)]
    async fn composing_repeats_by_the_paused_clock() {
        let mut t = Typing::default();
        let c = ConversationId::new();
        assert_eq!(t.composing(c, true, Instant::now()), Some(true));
        tokio::time::advance(REPEAT - Duration::from_millis(1)).await;
        assert_eq!(t.composing(c, true, Instant::now()), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(t.composing(c, true, Instant::now()), Some(true));
    }
}
