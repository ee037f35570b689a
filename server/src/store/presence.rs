//! [`PresenceStore`]: who is online and when each was last seen. A cluster's nodes each
//! hold a lease and record whose sockets they hold, so that a user is online while any
//! node holds one of theirs, and a node that died without saying so is reaped when its
//! lease ends.

use async_trait::async_trait;
use ferry_proto::{Timestamp, UserId};
use uuid::Uuid;

use super::StoreResult;

/// Someone who shares a conversation with `user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Whose contact.
    pub user: UserId,
    /// The contact.
    pub contact: UserId,
    /// When the contact's last socket closed.
    pub last_seen: Option<Timestamp>,
}

/// The presence part of the store: last seen, and which node holds whose sockets.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// For each of `users`, everyone who shares a conversation with them that both
    /// accepted, unless one blocked the other, with when they were last seen:
    /// `(user, contact, last_seen)` rows (one query for many, as above).
    async fn contacts(&self, users: &[UserId]) -> StoreResult<Vec<Contact>>;
    /// Records when a user's last socket closed.
    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> StoreResult<()>;
    /// Renews a cluster node's lease until `until`; `false` when it held none (its first
    /// renewal, or it was presumed dead and reaped meanwhile).
    async fn renew_node(&self, node: Uuid, until: Timestamp) -> StoreResult<bool>;
    /// Records that `node` holds a socket of `user`; `true` when no node held one before.
    async fn node_joined(&self, node: Uuid, user: UserId) -> StoreResult<bool>;
    /// Records that `node` holds no socket of `user` any more; `true` when no node holds
    /// one now.
    async fn node_left(&self, node: Uuid, user: UserId) -> StoreResult<bool>;
    /// Which of `users` have a socket on some node.
    async fn online_users(&self, users: &[UserId]) -> StoreResult<Vec<UserId>>;
    /// Removes the nodes whose lease ended before `now`, or `node` whatever its lease
    /// (it is leaving); returns the users who were online only there.
    async fn drop_nodes(&self, now: Timestamp, node: Option<Uuid>) -> StoreResult<Vec<UserId>>;
}
