//! [`SendFence`] and [`SocketOrder`]: how a socket's pipelined sends keep their order
//! when one of them fails transiently.
//!
//! A client pipelines its outbox over one socket: message n+1 is read (and queued to
//! commit) before message n's answer is back. If n fails transiently (rate limited,
//! database unavailable) the client sends it again, so n+1 must not be stored before
//! it. The fence refuses n+1 (with n's code) until n comes again, or until a deletion of
//! n comes (the user gave n up: it will not come again). It is consulted at
//! two moments, each through [`SocketOrder::admit`]: when a send is read (so a refused
//! send costs no rate-limit token), and when its batch commits (an earlier send of the
//! same socket may have failed in between). [`SocketOrder::settle`] records failures.
//! Sends over REST carry no order: each request is answered before the next is sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_proto::{Change, ChangeKind, ConversationId, ErrorCode, MessageId};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A send read from a socket: which socket, and its place in that socket's order.
#[derive(Clone)]
pub struct SocketOrder {
    /// The socket that sent it: it gets the ack, not a copy of the frame.
    pub socket: Uuid,
    /// That socket's fence.
    pub fence: Arc<SendFence>,
    /// The send's number in the order the socket read its sends.
    pub n: u64,
}

impl SocketOrder {
    /// `Ok` if this send (message `id`, or `change`) may be stored now; otherwise the
    /// refusal to answer it with.
    pub fn admit(
        &self,
        conversation: ConversationId,
        id: MessageId,
        change: Option<&Change>,
    ) -> Result<()> {
        let deletes = change
            .filter(|c| c.kind == ChangeKind::Delete)
            .map(|c| c.target);
        let attempt = Attempt { id, deletes };
        self.fence
            .admit(conversation, attempt, self.n)
            .map_err(|code| {
                Error::new(
                    code,
                    "an earlier message to this conversation failed; send it again first",
                )
            })
    }

    /// Records how this send ended: a transient failure fences its conversation.
    pub fn settle<T>(&self, conversation: ConversationId, id: MessageId, outcome: &Result<T>) {
        if let Err(e) = outcome {
            let code = e.to_api().code;
            if code.is_transient() {
                self.fence.fail(conversation, id, self.n, code);
            }
        }
    }
}

/// A send as the fence sees it (one attempt at it): its id, and the message it deletes,
/// if it is a deletion.
#[derive(Clone, Copy)]
pub struct Attempt {
    /// The message's (or the change's) id.
    pub id: MessageId,
    /// For a deletion, the message it deletes.
    pub deletes: Option<MessageId>,
}

/// One socket's send fence: per conversation, the earliest of its sends that failed
/// transiently. The socket's later sends there are refused until that message comes
/// again, or a deletion of it (a client that gives a failed message up deletes it, in its
/// place, so the server may have it or not). Sends are numbered in the order the socket
/// read them; one read before the failure is not held back by it.
#[derive(Default)]
pub struct SendFence {
    failed: Mutex<HashMap<ConversationId, Failed>>,
}

#[derive(Clone, Copy)]
struct Failed {
    id: MessageId,
    n: u64,
    code: ErrorCode,
}

impl SendFence {
    /// Records that send number `n`, message `id`, failed transiently with `code`.
    pub fn fail(&self, conversation: ConversationId, id: MessageId, n: u64, code: ErrorCode) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        match failed.get(&conversation) {
            // An earlier failure stands: that message must come first.
            Some(earlier) if earlier.n < n => {}
            _ => {
                failed.insert(conversation, Failed { id, n, code });
            }
        }
    }

    /// Whether send number `n` may be stored now: `Err` with the failure's code if it came
    /// after a failed send that has not come again. The failed message itself lifts the
    /// fence, and so does a deletion of it.
    pub fn admit(
        &self,
        conversation: ConversationId,
        attempt: Attempt,
        n: u64,
    ) -> std::result::Result<(), ErrorCode> {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        match failed.get(&conversation).copied() {
            Some(f) if f.id == attempt.id || attempt.deletes == Some(f.id) => {
                failed.remove(&conversation);
                Ok(())
            }
            Some(f) if n > f.n => Err(f.code),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(id: MessageId) -> Attempt {
        Attempt { id, deletes: None }
    }

    #[test]
    fn a_failed_send_holds_back_later_ones_until_it_comes_again() {
        let fence = SendFence::default();
        let (conv, other) = (ConversationId::new(), ConversationId::new());
        let (m1, m2, m3) = (MessageId::new(), MessageId::new(), MessageId::new());
        fence.fail(conv, m1, 1, ErrorCode::RateLimited);
        // Read before the failure: not held back.
        assert_eq!(fence.admit(conv, send(MessageId::new()), 0), Ok(()));
        assert_eq!(fence.admit(conv, send(m2), 2), Err(ErrorCode::RateLimited));
        assert_eq!(
            fence.admit(other, send(m2), 2),
            Ok(()),
            "other conversations flow"
        );
        // The resend of m1 lifts the fence; m2 and m3 may follow.
        assert_eq!(fence.admit(conv, send(m1), 3), Ok(()));
        assert_eq!(fence.admit(conv, send(m2), 4), Ok(()));
        assert_eq!(fence.admit(conv, send(m3), 5), Ok(()));
    }

    #[test]
    fn the_earliest_failure_wins() {
        let fence = SendFence::default();
        let conv = ConversationId::new();
        let (m0, m1) = (MessageId::new(), MessageId::new());
        // m1 was refused when read; m0, read before it, failed later in the database.
        fence.fail(conv, m1, 1, ErrorCode::RateLimited);
        fence.fail(conv, m0, 0, ErrorCode::Unavailable);
        assert_eq!(fence.admit(conv, send(m1), 2), Err(ErrorCode::Unavailable));
        assert_eq!(fence.admit(conv, send(m0), 3), Ok(()));
        assert_eq!(fence.admit(conv, send(m1), 4), Ok(()));
        // And a later failure does not replace an earlier one.
        fence.fail(conv, m0, 5, ErrorCode::Internal);
        fence.fail(conv, m1, 6, ErrorCode::RateLimited);
        assert_eq!(fence.admit(conv, send(m1), 7), Err(ErrorCode::Internal));
    }

    #[test]
    fn a_deletion_of_the_failed_send_lifts_the_fence() {
        let fence = SendFence::default();
        let conv = ConversationId::new();
        let (m1, m2) = (MessageId::new(), MessageId::new());
        fence.fail(conv, m1, 1, ErrorCode::RateLimited);
        // A deletion of another message is held back like any send.
        let of_m2 = Attempt {
            id: MessageId::new(),
            deletes: Some(m2),
        };
        assert_eq!(fence.admit(conv, of_m2, 2), Err(ErrorCode::RateLimited));
        // The user gave m1 up: its deletion goes in its place, and what follows flows.
        let of_m1 = Attempt {
            id: MessageId::new(),
            deletes: Some(m1),
        };
        assert_eq!(fence.admit(conv, of_m1, 3), Ok(()));
        assert_eq!(fence.admit(conv, send(m2), 4), Ok(()));
    }
}
