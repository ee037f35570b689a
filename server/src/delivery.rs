//! [`Delivered`]: what one socket has been given of each conversation, so that its
//! `message` frames go out once each and in seq order. On one node they always do (a
//! conversation's messages are published in commit order by one committer), so only a
//! cluster's sockets keep this; in a cluster two nodes that commit messages of one conversation publish them over
//! different NATS connections, and a third node may hear seq 8 before seq 7. The socket
//! then fills the gap from the database (seq 7 is committed: seq 8 was stored after it,
//! under the conversation's lock) and drops seq 7's frame when it comes. A socket's
//! frames of a conversation only ever rise: a frame at or below the highest one given is
//! dropped, even below the socket's first frame of that conversation, where the socket
//! never knew what its client holds. The client fetches that gap itself, as it does for
//! any `message` frame past its highest seq + 1 (protocol guarantee 4).

use std::collections::{BTreeSet, HashMap};

use axum::extract::ws::Utf8Bytes;
use ferry_proto::ConversationId;

/// A frame queued for a socket, with its conversation and seq when it is a `message`.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The frame's JSON text.
    pub frame: Utf8Bytes,
    /// `(conversation, seq)` of a `message` frame.
    pub message: Option<(ConversationId, i64)>,
    /// A hint that is stale in seconds (typing, presence): dropped, not queued, for a
    /// socket that falls behind.
    pub ephemeral: bool,
}

impl Outgoing {
    /// A frame's JSON text, with `(conversation, seq)` if it is a `message` frame.
    pub fn new(frame: String, message: Option<(ConversationId, i64)>) -> Self {
        Self {
            frame: Utf8Bytes::from(frame),
            message,
            ephemeral: false,
        }
    }

    /// A hint that may be dropped for a socket that falls behind.
    pub fn ephemeral(frame: String) -> Self {
        Self {
            ephemeral: true,
            ..Self::new(frame, None)
        }
    }
}

/// Gaps this long or shorter are filled by the socket; a longer one (a node that missed
/// much of the bus) is left to the client, told to catch up.
pub const MAX_FILL: i64 = 256;

/// What to do with a `message` frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The next one: write it.
    Write,
    /// Given already (through a gap fill, or an ack of this socket's own send), or below
    /// the socket's first frame of the conversation (its client fills that gap): drop it.
    Skip,
    /// Messages after this seq and before the frame's are missing: fill them first.
    FillAfter(i64),
}

/// What one socket has been given of one conversation.
#[derive(Default)]
struct Given {
    /// The highest seq given: every message from the socket's first frame of the
    /// conversation up to this one.
    highest: i64,
    /// This socket's own sends above `highest`, acked (it holds them without a frame).
    own: BTreeSet<i64>,
}

impl Given {
    fn advance(&mut self) {
        while self.own.remove(&(self.highest + 1)) {
            self.highest += 1;
        }
    }
}

/// The highest seq of each conversation this socket has been given.
#[derive(Default)]
pub struct Delivered {
    conversations: HashMap<ConversationId, Given>,
}

impl Delivered {
    /// Decides about the frame of message `seq` in `conversation` (and counts it as
    /// given when the answer is [`Verdict::Write`]).
    pub fn check(&mut self, conversation: ConversationId, seq: i64) -> Verdict {
        let Some(given) = self.conversations.get_mut(&conversation) else {
            // The first frame of a conversation is written whatever its seq: the client
            // fills what it lacks below it.
            self.conversations.insert(
                conversation,
                Given {
                    highest: seq,
                    own: BTreeSet::new(),
                },
            );
            return Verdict::Write;
        };
        given.advance();
        if seq <= given.highest {
            Verdict::Skip
        } else if seq == given.highest + 1 {
            given.highest = seq;
            Verdict::Write
        } else {
            Verdict::FillAfter(given.highest)
        }
    }

    /// Counts messages up to `seq` of `conversation` as given (a gap filled).
    pub fn filled(&mut self, conversation: ConversationId, seq: i64) {
        let given = self.conversations.entry(conversation).or_default();
        given.highest = given.highest.max(seq);
    }

    /// Counts this socket's own message `seq` as given: it was acked. An ack may come
    /// before the frames of lower seqs, so it only fills its own place.
    pub fn acked(&mut self, conversation: ConversationId, seq: i64) {
        if let Some(given) = self.conversations.get_mut(&conversation)
            && seq > given.highest
        {
            given.own.insert(seq);
            given.advance();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_go_out_once_and_in_order() {
        let mut delivered = Delivered::default();
        let c = ConversationId::new();
        assert_eq!(delivered.check(c, 5), Verdict::Write);
        assert_eq!(delivered.check(c, 6), Verdict::Write);
        assert_eq!(delivered.check(c, 6), Verdict::Skip);
        assert_eq!(delivered.check(c, 9), Verdict::FillAfter(6));
        delivered.filled(c, 8);
        assert_eq!(delivered.check(c, 9), Verdict::Write);
        // Seq 7's own frame, late: dropped.
        assert_eq!(delivered.check(c, 7), Verdict::Skip);
        assert_eq!(delivered.check(ConversationId::new(), 1), Verdict::Write);
        // Below the first frame nothing was given, but the client fetched that gap when
        // seq 5 came past its highest: a late frame there would go backwards.
        assert_eq!(delivered.check(c, 4), Verdict::Skip);
    }

    #[test]
    fn own_sends_fill_only_their_own_places() {
        let mut delivered = Delivered::default();
        let c = ConversationId::new();
        assert_eq!(delivered.check(c, 1), Verdict::Write);
        // This socket's send got seq 3 and was acked before seq 2's frame came.
        delivered.acked(c, 3);
        assert_eq!(delivered.check(c, 2), Verdict::Write);
        assert_eq!(delivered.check(c, 4), Verdict::Write);
        // Acked seq 5, then seq 7 comes: seq 6 is missing.
        delivered.acked(c, 5);
        assert_eq!(delivered.check(c, 7), Verdict::FillAfter(5));
        // An ack below what was given changes nothing.
        delivered.acked(c, 2);
        assert_eq!(delivered.check(c, 3), Verdict::Skip);
    }
}
