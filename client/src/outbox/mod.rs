//! [`Outbox`]: the rules for sending the outbox, one set for both transports (the socket
//! and the REST fallback), with no I/O and the time passed in.
//!
//! A pass walks the stored outbox in compose order ([`Outbox::begin`], then
//! [`Outbox::offer`] for each entry) and says which entries go out now: those within the
//! send [`Window`], and never one behind an entry of its conversation that waits for a
//! retry, so each conversation's messages reach the server in compose order. The server's
//! [`Answer`] to a send gets a [`Verdict`]: stored (confirm it), refused for now (try it
//! again after a backoff, holding its conversation back meanwhile), or refused for good
//! (mark it failed, with a reason a person can read). Nothing is ever dropped silently.
//! An encrypted conversation adds one rule: its sends in flight all went in one epoch of
//! its group ([`Outbox::epoch_in_flight`]), since a send sealed in a later epoch would be
//! stored ahead of an earlier one the server refuses for its stale epoch and that goes
//! again, sealed anew.
//! The caller does the reading, sending and storing; it keeps one `Outbox` per
//! connection (per REST pass), since what is in flight dies with it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use ferry_proto::mls::{ENCRYPTED_REFUSAL, STALE_EPOCH_REFUSAL};
use ferry_proto::{ConversationId, ErrorCode, MessageId, Timestamp};

use crate::backoff::retry_delay;
use crate::clock::later;
use crate::store::OutboxItem;

/// How much may be in flight (sent, not yet answered) at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Sends.
    pub(crate) sends: usize,
    /// Bytes of their frames.
    pub(crate) bytes: usize,
}

impl Window {
    /// The socket's: within the server's 1,024 unanswered sends per socket
    /// (docs/protocol.md). Each round trip to the server moves up to this many sends, so it
    /// sets how fast a long outbox drains (B9: 10k messages took 2.0 s with 500, 0.9 s with
    /// 1,000). The bytes are enough to keep the pipe full, little enough that writes to a
    /// live server (busy committing what it already read) never block for long, so a
    /// blocked write really means a peer that stopped reading.
    pub(crate) const SOCKET: Self = Self {
        sends: 1000,
        bytes: 256 * 1024,
    };

    /// REST's: one call at a time, each answered before the next goes.
    pub(crate) const REST: Self = Self {
        sends: 1,
        bytes: usize::MAX,
    };
}

/// What a send frame costs beyond its text, for the byte window.
const FRAME_OVERHEAD: usize = 128;

/// A send awaiting its answer.
struct InFlight {
    conversation: ConversationId,
    /// Its frame's size, counted in the byte window.
    size: usize,
    /// Transient failures before this try (the next retry's backoff grows with them).
    attempts: u32,
    /// An edit, deletion or reaction rather than a message.
    change: bool,
    /// The epoch of its conversation's group it went in (0: in the open); `None` until it
    /// has gone.
    epoch: Option<i64>,
}

impl InFlight {
    /// Sealed for its conversation's end-to-end encrypted group.
    fn sealed(&self) -> bool {
        self.epoch.is_some_and(|epoch| epoch > 0)
    }
}

/// A conversation's sends in flight: the one epoch they went in, and how many they are.
struct Going {
    epoch: i64,
    sends: usize,
}

/// The server's answer to one send.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer<'a> {
    /// Stored (an `ack` frame, or the REST call's message).
    Stored(MessageId),
    /// Refused (an `error` frame naming the send, or the REST call's error).
    Refused {
        /// The send.
        id: MessageId,
        /// The protocol's code; `None` for an answer this client could not read.
        code: Option<ErrorCode>,
        /// For people, from the server.
        message: &'a str,
        /// The server's wish for the earliest retry.
        retry_after_ms: Option<u64>,
    },
}

/// What to do with an outbox entry after its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It is stored: confirm it with the seq the server gave.
    Confirm,
    /// Refused for now: try it again, not before this time.
    Retry {
        /// The earliest next attempt.
        not_before: Timestamp,
    },
    /// Refused until sealed (again) for its conversation's group, which is encrypted or
    /// moved to a later epoch: catch up with the group, then try again, not before this
    /// time.
    Reseal {
        /// Whose group.
        conversation: ConversationId,
        /// The earliest next attempt.
        not_before: Timestamp,
    },
    /// Refused for good: it leaves the outbox and shows as failed, for this reason.
    Fail {
        /// For people.
        reason: String,
    },
    /// A refusal of nothing this outbox sent (a frame from before a reconnect): no
    /// entry's fate changes.
    NotOurs,
}

/// The outbox's sending state for one connection: the window, and the current pass.
pub(crate) struct Outbox {
    window: Window,
    /// Sends awaiting their answer, in the order they went out.
    order: VecDeque<MessageId>,
    /// The same sends, by id.
    in_flight: HashMap<MessageId, InFlight>,
    bytes: usize,
    /// When the current pass started (Unix ms).
    now: i64,
    /// Conversations the current pass goes past: an earlier entry waits for its retry.
    held: HashSet<ConversationId>,
    /// When the earliest entry the pass went past becomes due (Unix ms).
    next_due: Option<i64>,
    /// Per conversation with sends in flight, the epoch they went in.
    going: HashMap<ConversationId, Going>,
}

impl Outbox {
    /// Nothing in flight, within `window`.
    pub(crate) fn new(window: Window) -> Self {
        Self {
            window,
            order: VecDeque::new(),
            in_flight: HashMap::new(),
            bytes: 0,
            now: 0,
            held: HashSet::new(),
            next_due: None,
            going: HashMap::new(),
        }
    }

    /// Starts a pass over the outbox, in compose order, at `now`.
    pub(crate) fn begin(&mut self, now: Timestamp) {
        self.now = now.as_millis();
        self.held.clear();
        self.next_due = None;
    }

    /// The pass's next entry: whether to send it now. If so, it is in flight from here.
    pub(crate) fn offer(&mut self, item: &OutboxItem) -> bool {
        if self.in_flight.contains_key(&item.message_id)
            || self.held.contains(&item.conversation_id)
        {
            return false;
        }
        if item.waiting {
            // Its files are uploading: it goes out once they are stored, and what follows
            // it in its conversation after it.
            self.held.insert(item.conversation_id);
            return false;
        }
        if item.next_attempt_at > self.now {
            self.held.insert(item.conversation_id);
            self.next_due = Some(
                self.next_due
                    .map_or(item.next_attempt_at, |d| d.min(item.next_attempt_at)),
            );
            return false;
        }
        let size = item.body.len() + FRAME_OVERHEAD;
        self.order.push_back(item.message_id);
        self.in_flight.insert(
            item.message_id,
            InFlight {
                conversation: item.conversation_id,
                size,
                attempts: item.attempts,
                change: item.change.is_some(),
                epoch: None,
            },
        );
        self.bytes += size;
        true
    }

    /// The epoch of its conversation's group that the sends of `conversation` in flight
    /// went in (0: in the open), if any are: the next one goes only in the same epoch. In a
    /// later one it would overtake them if the server refused them for a stale epoch.
    pub(crate) fn epoch_in_flight(&self, conversation: ConversationId) -> Option<i64> {
        self.going.get(&conversation).map(|going| going.epoch)
    }

    /// The entry offered last went out, sealed in this epoch of its conversation's group
    /// (0: in the open). A sealed one refused for its epoch is no failure: it is sealed
    /// again.
    pub(crate) fn went(&mut self, id: MessageId, epoch: i64) {
        let Some(sent) = self.in_flight.get_mut(&id) else {
            return;
        };
        sent.epoch = Some(epoch);
        let going = self
            .going
            .entry(sent.conversation)
            .or_insert(Going { epoch, sends: 0 });
        debug_assert_eq!(
            going.epoch, epoch,
            "a conversation's sends in flight share an epoch"
        );
        going.sends += 1;
    }

    /// Takes back an offered entry that cannot go yet (its conversation is encrypted and
    /// this device is not in the group): it and what follows it in its conversation wait
    /// for the next pass.
    pub(crate) fn withdraw(&mut self, id: MessageId) {
        if let Some(sent) = self.settle(id) {
            self.held.insert(sent.conversation);
        }
    }

    /// Whether the pass holds back this conversation's later entries.
    pub(crate) fn holds(&self, conversation: ConversationId) -> bool {
        self.held.contains(&conversation)
    }

    /// How long after the pass's start an entry it went past becomes due (then a new pass
    /// should run); `None` when it went past none.
    pub(crate) fn next_due_in(&self) -> Option<Duration> {
        self.next_due
            .map(|due| Duration::from_millis((due - self.now).max(0) as u64))
    }

    /// The verdict on an answer, at `now`; the send is no longer in flight.
    pub(crate) fn answer(&mut self, answer: Answer<'_>, now: Timestamp) -> Verdict {
        match answer {
            // Confirmed even when not in flight here: storing a seq twice is harmless, and
            // the ack is the truth.
            Answer::Stored(id) => {
                self.settle(id);
                Verdict::Confirm
            }
            Answer::Refused {
                id,
                code,
                message,
                retry_after_ms,
            } => {
                let Some(sent) = self.settle(id) else {
                    return Verdict::NotOurs;
                };
                let reseal = match code {
                    // The group moved on since this was sealed (and not, say, a change
                    // to a message deleted meanwhile, which is final).
                    Some(ErrorCode::Conflict) => {
                        sent.sealed() && message.starts_with(STALE_EPOCH_REFUSAL)
                    }
                    // Encrypted since this device last heard.
                    Some(ErrorCode::InvalidRequest) => {
                        !sent.sealed() && message.starts_with(ENCRYPTED_REFUSAL)
                    }
                    _ => false,
                };
                if reseal {
                    self.held.insert(sent.conversation);
                    return Verdict::Reseal {
                        conversation: sent.conversation,
                        not_before: later(now, retry_delay(sent.attempts, retry_after_ms)),
                    };
                }
                match code {
                    // A change's refusal is the server's to explain (only the author
                    // edits, the message was deleted…); a message's is said here.
                    Some(code) if refuses_for_good(code) => Verdict::Fail {
                        reason: if sent.change {
                            message.to_owned()
                        } else {
                            failure_reason(code, message)
                        },
                    },
                    _ => {
                        // Later entries of its conversation wait behind it, for the rest
                        // of this pass; the next pass sees its new due time.
                        self.held.insert(sent.conversation);
                        Verdict::Retry {
                            not_before: later(now, retry_delay(sent.attempts, retry_after_ms)),
                        }
                    }
                }
            }
        }
    }

    fn settle(&mut self, id: MessageId) -> Option<InFlight> {
        let sent = self.in_flight.remove(&id)?;
        self.bytes -= sent.size;
        if sent.epoch.is_some()
            && let Some(going) = self.going.get_mut(&sent.conversation)
        {
            going.sends -= 1;
            if going.sends == 0 {
                self.going.remove(&sent.conversation);
            }
        }
        // Answers come back in send order: the front, nearly always.
        if self.order.front() == Some(&id) {
            self.order.pop_front();
        } else {
            self.order.retain(|i| *i != id);
        }
        Some(sent)
    }

    /// Whether the window has no room for another send.
    pub(crate) fn is_full(&self) -> bool {
        self.order.len() >= self.window.sends || self.bytes >= self.window.bytes
    }

    /// Whether to refill: at half, so the pipe never runs dry while answers come in.
    pub(crate) fn wants_more(&self) -> bool {
        self.order.len() <= self.window.sends / 2 && self.bytes <= self.window.bytes / 2
    }
}

/// Whether a refused send will never succeed as it is (anything else is tried again:
/// overload, a server fault, an answer this client could not read, an expired token).
fn refuses_for_good(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidRequest
            | ErrorCode::TooLarge
            | ErrorCode::NotFound
            | ErrorCode::Forbidden
            | ErrorCode::Conflict
    )
}

/// What a person should read when a message is refused for good. A refusal of the
/// rules (`forbidden`: a block, an edit too late) keeps the server's words, which say
/// which rule.
fn failure_reason(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::NotFound => "you are no longer in this conversation".into(),
        ErrorCode::TooLarge => "the message is too long".into(),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests;
