//! [`MlsStore`]: the delivery service's part of the database (end-to-end encryption,
//! issue 31). Each device's key packages, each group's commit log, which holds exactly
//! one commit per epoch because a commit is stored only in the group's current epoch
//! under the conversation's lock, the group's latest info, and the welcomes waiting for
//! the devices they add. The bytes were checked on the way in (`crate::mls`); here they
//! are opaque.

use async_trait::async_trait;
use ferry_proto::mls::{ClaimedKeyPackages, Commit, Device, GroupInfo, KeyPackageStock, Welcome};
use ferry_proto::{ConversationId, SessionId, Timestamp, UserId, WelcomeId};

use super::StoreResult;

/// A key package to keep, with what the server read of it.
#[derive(Clone, Debug)]
pub struct NewKeyPackage {
    /// Its hash reference.
    pub hash_ref: Vec<u8>,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The device's last-resort package.
    pub last_resort: bool,
}

/// A commit to append to a group's log.
#[derive(Clone, Debug)]
pub struct NewCommit {
    /// The group.
    pub conversation_id: ConversationId,
    /// The committing device.
    pub committer: Device,
    /// The epoch it was made in.
    pub epoch: i64,
    /// The commit's bytes.
    pub commit: Vec<u8>,
    /// The group's info after it.
    pub group_info: Vec<u8>,
    /// The welcome and the hash references of the key packages it is for.
    pub welcome: Option<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Now.
    pub now: Timestamp,
}

/// What became of a commit.
#[derive(Clone, Debug)]
pub enum CommitOutcome {
    /// Stored: the log's new entry, the welcomes made for the devices it adds, and the
    /// conversation's members (to tell).
    Accepted {
        /// The entry.
        commit: Commit,
        /// One per added device.
        welcomes: Vec<(Device, Welcome)>,
        /// Who to tell.
        members: Vec<UserId>,
    },
    /// The group is in another epoch: another commit won (or the sender is behind).
    Stale {
        /// The group's epoch now.
        epoch: i64,
    },
    /// The caller is not a member of the conversation (or it does not exist).
    NotMember,
    /// The welcome names a key package that this server did not hand out for a member's
    /// device.
    UnknownRecipient,
}

/// The MLS part of the store.
#[async_trait]
pub trait MlsStore: Send + Sync {
    /// Keeps key packages of a device: one-time ones are added (unless that would leave
    /// more than `max_one_time` waiting: then nothing is kept and `None` answers), a
    /// last-resort one replaces the device's last. Publishing the same one again is a
    /// no-op.
    async fn publish_key_packages(
        &self,
        device: Device,
        packages: &[NewKeyPackage],
        max_one_time: u32,
        now: Timestamp,
    ) -> StoreResult<Option<KeyPackageStock>>;

    /// How many key packages a device has waiting.
    async fn key_package_stock(&self, session: SessionId) -> StoreResult<KeyPackageStock>;

    /// A key package of each signed-in device of `users` (the oldest one-time one, used
    /// up, else the last-resort one), or `None` when one of them is neither `claimer` nor
    /// in a conversation with `claimer`.
    async fn claim_key_packages(
        &self,
        claimer: UserId,
        users: &[UserId],
        now: Timestamp,
    ) -> StoreResult<Option<ClaimedKeyPackages>>;

    /// The signed-in devices (sessions not ended, of accounts not deleted) of those of
    /// `users` who are `asker` or in a conversation with `asker`; the others' are left
    /// out, as if they had none.
    async fn signed_in_devices(&self, asker: UserId, users: &[UserId]) -> StoreResult<Vec<Device>>;

    /// For each of `users`, whoever is in an end-to-end encrypted conversation with them,
    /// themselves included when they are in one: `(user, member)` pairs. Those whose
    /// devices are to take an ended session's device out of their groups.
    async fn encrypted_co_members(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, UserId)>>;

    /// Appends a commit to its group's log if it was made in the group's current epoch.
    async fn append_commit(&self, commit: NewCommit) -> StoreResult<CommitOutcome>;

    /// Commits of a group from `from_epoch` on, at most `limit`, and the group's epoch;
    /// `None` when `user` is not a member.
    async fn commits(
        &self,
        conversation: ConversationId,
        user: UserId,
        from_epoch: i64,
        limit: u32,
    ) -> StoreResult<Option<(Vec<Commit>, i64)>>;

    /// The group's info as its last commit left it; `None` when `user` is not a member
    /// or the group has no commit yet.
    async fn group_info(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<GroupInfo>>;

    /// The welcomes waiting for a device, oldest first.
    async fn welcomes(&self, session: SessionId) -> StoreResult<Vec<Welcome>>;

    /// Deletes a welcome of a device; whether there was one.
    async fn drop_welcome(&self, session: SessionId, welcome: WelcomeId) -> StoreResult<bool>;
}
