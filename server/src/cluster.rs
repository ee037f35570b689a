//! [`Cluster`]: this node among the others, when `FERRY_NATS_URL` makes it one of many.
//! Presence is counted across nodes in the database (`nodes`, `node_users`): a user is
//! online while some node holds one of their sockets. Each node renews its lease every
//! [`RENEW`]; a node silent for [`LEASE`] (SIGKILLed, frozen, cut off from the database)
//! is presumed dead, and whichever node notices first removes it and announces its users
//! offline, so a dead node cannot leave anyone online for ever. A node that finds its own
//! lease was taken (it was presumed dead, but lives) registers its sockets' users again.
//! This file holds the lease's terms; the task that keeps it is `crate::background`'s.

use std::time::Duration;

use ferry_proto::Timestamp;
use uuid::Uuid;

use crate::store::{Store, StoreResult};

/// How often a node renews its lease and looks for dead nodes.
pub const RENEW: Duration = Duration::from_secs(3);

/// How long a lease lasts: a node silent for this long is presumed dead.
pub const LEASE: Duration = Duration::from_secs(7);

/// This node's identity in the cluster.
#[derive(Clone, Copy, Debug)]
pub struct Cluster {
    /// Unique per process: a restarted node is a new one.
    pub node: Uuid,
}

impl Cluster {
    /// Joins: takes a lease in `store`.
    pub async fn join(store: &dyn Store) -> StoreResult<Self> {
        let node = Uuid::now_v7();
        store.renew_node(node, lease_end()).await?;
        Ok(Self { node })
    }
}

/// When a lease taken now ends.
pub fn lease_end() -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis() + LEASE.as_millis() as i64)
}
