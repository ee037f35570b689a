//! The MLS delivery service's calls (issue 31, docs/protocol.md "End-to-end encryption"):
//! this device's key packages, claiming others', who is signed in where, a group's commits
//! and welcomes, and the notes a user's devices leave each other. The bytes are opaque
//! here; `crate::mls` makes and reads them.

use ferry_proto::endpoints;
use ferry_proto::mls::{
    ClaimedKeyPackages, Commit, CommitPage, CommitQuery, Device, DeviceQuery, GroupInfo,
    KeyPackageClaim, KeyPackageStock, KeyPackages, MAX_CLAIM_USERS, MlsBytes, NewCommit, Welcome,
};
use ferry_proto::notes::{DeviceNote, NewDeviceNote};
use ferry_proto::{ConversationId, NoteId, SessionId, UserId, WelcomeId};

use super::{Api, SessionError};

impl Api {
    /// `POST /mls/key-packages`: publishes this device's key packages.
    pub async fn publish_key_packages(
        &self,
        key_packages: Vec<MlsBytes>,
    ) -> Result<KeyPackageStock, SessionError> {
        self.send_to::<endpoints::PublishKeyPackages>((), &KeyPackages { key_packages })
            .await
    }

    /// `GET /mls/key-packages`: how many this device has waiting.
    pub async fn key_package_stock(&self) -> Result<KeyPackageStock, SessionError> {
        self.call_to::<endpoints::GetKeyPackageStock>(()).await
    }

    /// `POST /mls/key-packages/claim`: a key package for every device of `users`, asked
    /// for [`MAX_CLAIM_USERS`] at a time (a group may have ten times as many members).
    pub async fn claim_key_packages(
        &self,
        users: &[UserId],
    ) -> Result<ClaimedKeyPackages, SessionError> {
        let mut all = ClaimedKeyPackages::default();
        for some in users.chunks(MAX_CLAIM_USERS) {
            let claim = KeyPackageClaim {
                user_ids: some.to_vec(),
            };
            let claimed = self
                .send_to::<endpoints::ClaimKeyPackages>((), &claim)
                .await?;
            all.key_packages.extend(claimed.key_packages);
            all.without_keys.extend(claimed.without_keys);
        }
        Ok(all)
    }

    /// `POST /mls/devices`: the signed-in devices of `users`, using up nothing, asked for
    /// [`MAX_CLAIM_USERS`] at a time.
    pub async fn signed_in_devices(&self, users: &[UserId]) -> Result<Vec<Device>, SessionError> {
        let mut all = Vec::new();
        for some in users.chunks(MAX_CLAIM_USERS) {
            let query = DeviceQuery {
                user_ids: some.to_vec(),
            };
            let answer = self.send_to::<endpoints::ListDevices>((), &query).await?;
            all.extend(answer.devices);
        }
        Ok(all)
    }

    /// `POST /conversations/{id}/mls/commits`: the group's next commit (409 when the group
    /// moved on meanwhile).
    pub async fn submit_commit(
        &self,
        conversation: ConversationId,
        commit: &NewCommit,
    ) -> Result<Commit, SessionError> {
        self.send_to::<endpoints::SubmitCommit>((conversation,), commit)
            .await
    }

    /// `GET /conversations/{id}/mls/commits?from_epoch=`: a page of the commit log.
    pub async fn commit_log(
        &self,
        conversation: ConversationId,
        from_epoch: i64,
    ) -> Result<CommitPage, SessionError> {
        let query = CommitQuery {
            from_epoch: Some(from_epoch),
            limit: None,
        };
        self.send_to::<endpoints::CommitLog>((conversation,), &query)
            .await
    }

    /// `GET /conversations/{id}/mls/group-info`: the group as its last commit left it,
    /// to join by external commit.
    pub async fn group_info(
        &self,
        conversation: ConversationId,
    ) -> Result<GroupInfo, SessionError> {
        self.call_to::<endpoints::GetGroupInfo>((conversation,))
            .await
    }

    /// `GET /mls/welcomes`: the welcomes waiting for this device.
    pub async fn welcomes(&self) -> Result<Vec<Welcome>, SessionError> {
        self.call_to::<endpoints::Welcomes>(()).await
    }

    /// `DELETE /mls/welcomes/{id}`: a welcome this device has joined with.
    pub async fn drop_welcome(&self, id: WelcomeId) -> Result<(), SessionError> {
        self.call_to::<endpoints::DropWelcome>((id,)).await
    }
    /// `POST /mls/notes`: leaves a note for another signed-in device of this user.
    pub async fn leave_note(
        &self,
        to: SessionId,
        note: Vec<u8>,
    ) -> Result<DeviceNote, SessionError> {
        let new = NewDeviceNote {
            to_session_id: to,
            note: MlsBytes(note),
        };
        self.send_to::<endpoints::LeaveNote>((), &new).await
    }

    /// `GET /mls/notes`: the notes waiting for this device.
    pub async fn notes(&self) -> Result<Vec<DeviceNote>, SessionError> {
        self.call_to::<endpoints::Notes>(()).await
    }

    /// `DELETE /mls/notes/{id}`: a note this device has read.
    pub async fn drop_note(&self, id: NoteId) -> Result<(), SessionError> {
        self.call_to::<endpoints::DropNote>((id,)).await
    }
}
