//! Notes between one user's own devices (addition to v1, issue 31), and what Ferry's
//! clients write in them: the transfer of a user's encrypted history to a new device.
//!
//! A note is a few opaque bytes that a device leaves on the server for another signed-in
//! device of the same user ([`NewDeviceNote`]); the server keeps it until that device
//! deletes it, its session ends, or a week passes, and tells the user's sockets when one
//! arrives. The server reads nothing in it: the clients sign and seal what matters.
//!
//! History transfer uses two kinds of note ([`HistoryNote`]). A device that holds entries
//! sealed before it joined asks the user's other devices, with a fresh HPKE public key
//! signed by its MLS signature key. A device whose user agrees builds an archive of what
//! it has opened ([`HistoryArchive`]), encrypts it as a file (the format of encrypted
//! files, under a fresh key), uploads it, and answers with where it is and its key,
//! sealed to the asker's public key and signed by its own MLS signature key. Each side
//! checks the other's signature against that device's leaf in a group both are in.

use serde::{Deserialize, Serialize};

use crate::mls::{MlsBytes, SealedFile};
use crate::{ConversationId, MessageId, NoteId, SessionId, Timestamp, UploadId};

/// Most bytes a note may carry (before base64): just under 16 KiB, so that the most is a
/// whole number of base64's 4-character groups (21,844 characters), which the API
/// document can say exactly.
pub const MAX_NOTE_BYTES: usize = 16_383;
/// Most notes that may wait for one device: more are refused until it takes some.
pub const MAX_NOTES_WAITING: u32 = 100;
/// How long a note waits for its device before the server forgets it: a week. A device
/// whose ask went unanswered that long asks again.
pub const NOTE_KEPT_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A note for another signed-in device of the caller's user (`POST /mls/notes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewDeviceNote {
    /// The device (session) it is for: one of the caller's user's, not the caller's own.
    pub to_session_id: SessionId,
    /// What it says, opaque to the server: 1 to [`MAX_NOTE_BYTES`] bytes (in base64, 4
    /// to 21,844 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, format = Byte, min_length = 4, max_length = 21844)
    )]
    pub note: MlsBytes,
}

/// A note waiting for the caller's device (`GET /mls/notes`, the `mls_note` frame).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceNote {
    /// Its id, to delete it by.
    pub id: NoteId,
    /// The device that left it (the server vouches that it is the same user's).
    pub from_session_id: SessionId,
    /// What it says.
    pub note: MlsBytes,
    /// When it was left.
    pub created_at: Timestamp,
}

/// What Ferry's clients write in a note (the clients' format, JSON): a history transfer's
/// two steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HistoryNote {
    /// The device asks for the history of its user's encrypted conversations.
    Request {
        /// An X25519 public key (HPKE, RFC 9180) to seal the answer to, fresh for the ask.
        public_key: MlsBytes,
        /// The asker's MLS signature (Ed25519) over [`request_signed`]'s bytes.
        signature: MlsBytes,
    },
    /// The history is ready.
    Ready {
        /// The public key of the request it answers.
        public_key: MlsBytes,
        /// A [`HistoryKey`] in JSON, sealed to `public_key` with HPKE (base mode,
        /// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; info
        /// [`HISTORY_HPKE_INFO`], no associated data): the encapsulated key (32 bytes)
        /// followed by the ciphertext.
        sealed: MlsBytes,
        /// The answering device's MLS signature over [`ready_signed`]'s bytes.
        signature: MlsBytes,
    },
}

/// The HPKE `info` of a history's key.
pub const HISTORY_HPKE_INFO: &[u8] = b"Ferry history transfer v1";

/// What a request's signature covers: a label, the asking device's session (16 bytes),
/// then its public key.
pub fn request_signed(asker: SessionId, public_key: &[u8]) -> Vec<u8> {
    labelled(b"Ferry history request v1\0", asker, public_key)
}

/// What an answer's signature covers: a label, the asking device's session (16 bytes),
/// then the sealed key.
pub fn ready_signed(asker: SessionId, sealed: &[u8]) -> Vec<u8> {
    labelled(b"Ferry history ready v1\0", asker, sealed)
}

fn labelled(label: &[u8], asker: SessionId, bytes: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(label.len() + 16 + bytes.len());
    signed.extend_from_slice(label);
    signed.extend_from_slice(asker.0.as_bytes());
    signed.extend_from_slice(bytes);
    signed
}

/// Where a history is and what opens it (sealed inside [`HistoryNote::Ready`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryKey {
    /// The upload holding the encrypted archive (an unsent upload of the user's, which
    /// any of the user's devices may download and delete).
    pub upload_id: UploadId,
    /// The file key it is encrypted with.
    pub key: MlsBytes,
    /// The archive's size before encryption.
    pub size: u64,
    /// SHA-256 of the archive before encryption, lowercase hex.
    pub sha256: String,
}

/// What a device sends another of its user's devices: the entries of encrypted
/// conversations that it opened, as they opened (JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryArchive {
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
}

/// One opened entry: its id, and what its sealed bytes said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The entry (a message or a change).
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Its text, or an edit's new text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// A reaction's emoji.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// Its encrypted files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<HistoryFile>,
}

/// An encrypted file of an entry: what its sealed message said of it, and the size of its
/// encrypted bytes on the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFile {
    /// As the sealed message described it.
    pub file: SealedFile,
    /// The encrypted bytes' size, as the server holds them.
    pub stored_size: u64,
}
