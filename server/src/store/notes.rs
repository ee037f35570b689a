//! [`NoteStore`]: notes between one user's own devices (issue 31), kept until the device
//! they are for deletes them, its session ends, or
//! [`NOTE_KEPT_MS`](ferry_proto::notes::NOTE_KEPT_MS) passes. The bytes are
//! the clients' (a history transfer's ask and answer): opaque here.

use async_trait::async_trait;
use ferry_proto::mls::Device;
use ferry_proto::notes::DeviceNote;
use ferry_proto::{NoteId, SessionId, Timestamp};

use super::StoreResult;

/// What became of a note.
#[derive(Clone, Debug)]
pub enum NoteOutcome {
    /// Kept for its device.
    Left(DeviceNote),
    /// The device is not a signed-in device of the sender's user (or is the sender).
    NoSuchDevice,
    /// The device has as many notes waiting as it may.
    Full,
}

/// The notes part of the store.
#[async_trait]
pub trait NoteStore: Send + Sync {
    /// Keeps a note from `from` for `to`, a signed-in session of the same user, unless `to`
    /// already has `max_waiting` notes waiting.
    async fn leave_note(
        &self,
        from: Device,
        to: SessionId,
        note: &[u8],
        max_waiting: u32,
        now: Timestamp,
    ) -> StoreResult<NoteOutcome>;

    /// The notes waiting for a device, oldest first.
    async fn notes(&self, session: SessionId) -> StoreResult<Vec<DeviceNote>>;

    /// Deletes a note of a device; whether there was one.
    async fn drop_note(&self, session: SessionId, note: NoteId) -> StoreResult<bool>;
}
