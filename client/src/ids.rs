//! [`Ids`]: where the client gets the id of a message it composes. The id travels with
//! the message to the server, which stores an id once, so resending after a lost ack can
//! never make a duplicate.
//!
//! The client takes its id source from [`ClientOptions`](crate::ClientOptions) like its
//! clock, so a test can pin it. [`RandomIds`] is the real one (v7 UUIDs: time-ordered,
//! with random bits); [`SequentialIds`] gives v7 UUIDs in a known sequence.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_proto::MessageId;

/// A source of new message ids: v7 UUIDs, each one new.
pub trait Ids: Send + Sync + fmt::Debug {
    /// A new id.
    fn new_id(&self) -> MessageId;
}

/// Time-ordered random ids (`Uuid::now_v7`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn new_id(&self) -> MessageId {
        MessageId::new()
    }
}

/// v7 ids that all carry one timestamp and count up from 1 in their remaining bits: the
/// same run always makes the same ids, and they sort in the order they were made.
#[derive(Debug)]
pub struct SequentialIds {
    millis: u64,
    next: AtomicU64,
}

impl SequentialIds {
    /// Ids stamped with `millis` (Unix ms), the first one numbered 1.
    pub fn new(millis: u64) -> Self {
        Self {
            millis,
            next: AtomicU64::new(1),
        }
    }

    /// The `n`th id this source makes (from 1), without making it.
    pub fn nth(&self, n: u64) -> MessageId {
        let mut counter = [0u8; 10];
        counter[2..].copy_from_slice(&n.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.millis, &counter)
            .into_uuid()
            .into()
    }
}

impl Ids for SequentialIds {
    fn new_id(&self) -> MessageId {
        self.nth(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_are_v7_known_and_ordered() {
        let ids = SequentialIds::new(1_700_000_000_000);
        let made: Vec<MessageId> = (0..3).map(|_| ids.new_id()).collect();
        assert_eq!(made, vec![ids.nth(1), ids.nth(2), ids.nth(3)]);
        assert!(made.windows(2).all(|w| w[0] < w[1]));
        assert!(made.iter().all(|id| id.as_uuid().get_version_num() == 7));
        assert_eq!(SequentialIds::new(1_700_000_000_000).new_id(), made[0]);
    }

    #[test]
    fn random_ids_are_v7_and_new() {
        let (a, b) = (RandomIds.new_id(), RandomIds.new_id());
        assert_ne!(a, b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
    }
}
