//! End-to-end encryption's delivery service (addition to v1, issue 31): the shapes with
//! which devices publish and claim MLS key packages, hand the server a group's commits
//! (one per epoch, the first one wins), fetch them in epoch order, find the welcomes that
//! add them to groups, and read a group's current info. Every MLS structure travels as
//! its TLS encoding (RFC 9420) in base64 ([`MlsBytes`]); the server reads only what it
//! must to order and route them (a group's id and epoch, a key package's owner, a
//! welcome's recipients) and never holds a private key.
//!
//! A device is a session: each signed-in session is its own member of every group, with
//! a credential naming `{user_id}:{session_id}` ([`credential_identity`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ConversationId, SessionId, Timestamp, UploadId, UserId, WelcomeId};

/// Most one-time key packages a device may have waiting on the server.
pub const MAX_KEY_PACKAGES: u32 = 100;
/// Most key packages one publish may carry.
pub const MAX_KEY_PACKAGES_PER_PUBLISH: usize = 100;
/// Most users one claim may name.
pub const MAX_CLAIM_USERS: usize = 100;
/// Most commits one page of `GET …/mls/commits` holds.
pub const MAX_COMMITS_PAGE: u32 = 100;

/// The identity in a device's MLS basic credential: whose device, and which session.
/// The server publishes a key package only for the device it names, so a member who sees
/// a credential knows the server vouched for its owner (and safety numbers check the
/// server).
pub fn credential_identity(user: UserId, session: SessionId) -> String {
    format!("{user}:{session}")
}

/// The device a credential's identity names ([`credential_identity`] read back), if a
/// Ferry device's.
pub fn credential_device(identity: &[u8]) -> Option<Device> {
    let identity = std::str::from_utf8(identity).ok()?;
    let (user, session) = identity.split_once(':')?;
    Some(Device {
        user_id: user.parse().ok()?,
        session_id: session.parse().ok()?,
    })
}

/// Bytes in base64 (standard alphabet, padded) on the wire: an MLS structure's TLS
/// encoding.
#[derive(Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
pub struct MlsBytes(pub Vec<u8>);

impl fmt::Debug for MlsBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlsBytes({} bytes)", self.0.len())
    }
}

impl Serialize for MlsBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for MlsBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format_args!("not base64: {e}")))
    }
}

/// `POST /mls/key-packages`: key packages of the caller's device. One-time ones are
/// added to those waiting; one marked last resort (RFC 9420's extension) replaces the
/// device's last-resort package, which is handed out whenever no one-time one is left.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPackages {
    /// Each a `KeyPackage` (not wrapped in an `MLSMessage`), signed by the device's key,
    /// whose credential names the caller's user and session.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub key_packages: Vec<MlsBytes>,
}

/// How many key packages the caller's device has waiting: a device tops them up when
/// they run low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPackageStock {
    /// One-time key packages not yet claimed.
    pub one_time: u32,
    /// Whether a last-resort key package is there.
    pub last_resort: bool,
}

/// `POST /mls/key-packages/claim`: a key package for every device of these users, to add
/// them to a group. Each must be the caller or share a conversation with the caller.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPackageClaim {
    /// Whose devices.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub user_ids: Vec<UserId>,
}

/// `POST /mls/devices`: the signed-in devices of these users, using up nothing (a claim
/// uses up key packages); users who are not the caller and share no conversation with
/// the caller are left out. A group member compares them with its group's devices: a
/// device whose session ended is taken out of the group.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceQuery {
    /// Whose devices.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub user_ids: Vec<UserId>,
}

/// The answer to a [`DeviceQuery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedInDevices {
    /// Every signed-in session of those users (the caller's own too), whether or not it
    /// published key packages.
    pub devices: Vec<Device>,
}

/// A device of a user: one signed-in session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// Whose.
    pub user_id: UserId,
    /// Which session.
    pub session_id: SessionId,
}

/// One device's claimed key package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedKeyPackage {
    /// Whose.
    #[serde(flatten)]
    pub device: Device,
    /// The key package, as the device published it.
    pub key_package: MlsBytes,
}

/// The answer to a claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedKeyPackages {
    /// One per device that had one: a one-time key package (now used up), else its
    /// last-resort one.
    pub key_packages: Vec<ClaimedKeyPackage>,
    /// Signed-in devices of those users that published no key package yet: they join
    /// once one of them has (a client shows "waiting for their device").
    #[serde(default)]
    pub without_keys: Vec<Device>,
}

/// `POST /conversations/{id}/mls/commits`: the group's next commit. The group's id is the
/// conversation's (its UUID's 16 bytes), and the commit must be made in the group's
/// current epoch: 0 for the commit that makes a conversation encrypted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCommit {
    /// The commit, as an `MLSMessage` (a private or public message).
    pub commit: MlsBytes,
    /// The group's info after the commit, as an `MLSMessage`: what a device needs to
    /// join by external commit.
    pub group_info: MlsBytes,
    /// The welcome for the devices the commit adds, as an `MLSMessage`; each one it
    /// names must be a key package claimed from this server by a member's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<MlsBytes>,
}

/// A commit the server accepted: one entry of the group's commit log, whose epochs count
/// 0, 1, 2, … without gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Commit {
    /// Which group.
    pub conversation_id: ConversationId,
    /// The epoch it was made in; the group is in `epoch + 1` after it.
    pub epoch: i64,
    /// Who committed.
    #[serde(flatten)]
    pub committer: Device,
    /// The commit, as sent.
    pub commit: MlsBytes,
    /// When the server accepted it.
    pub created_at: Timestamp,
}

/// `GET /conversations/{id}/mls/commits?after=&limit=`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CommitQuery {
    /// Commits made in epochs at or after this one (default 0: all).
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub from_epoch: Option<i64>,
    /// Page size (default and most [`MAX_COMMITS_PAGE`]).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
}

/// A page of a group's commit log, in epoch order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitPage {
    /// The commits.
    pub commits: Vec<Commit>,
    /// The group's current epoch (0 before its first commit).
    pub epoch: i64,
}

/// `GET /conversations/{id}/mls/group-info`: the group as its last commit left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    /// Which group.
    pub conversation_id: ConversationId,
    /// Its current epoch.
    pub epoch: i64,
    /// Its info, as an `MLSMessage`.
    pub group_info: MlsBytes,
}

/// A welcome waiting for the caller's device (`GET /mls/welcomes`), until the device
/// deletes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Welcome {
    /// Its id, to delete it by.
    pub id: WelcomeId,
    /// The group it adds the device to.
    pub conversation_id: ConversationId,
    /// The epoch the group is in once joined.
    pub epoch: i64,
    /// The welcome, as an `MLSMessage`.
    pub welcome: MlsBytes,
}

/// What a sealed entry carries inside, once opened: the parts of a send the server must
/// not read. The clients' own format (JSON in the MLS application message), so it grows
/// as they agree; a field this client does not know is skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedContent {
    /// A message's text, or an edit's new text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// A reaction's emoji.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// The message's encrypted files: what the server's `Attachment` says of them is of
    /// the encrypted bytes (`application/octet-stream`), this is the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SealedFile>,
}

/// One file of a sealed message, encrypted on the sender's device with a key of its own
/// (docs/protocol.md has the format): its real name, type, size and hash, the key, and
/// the preview the sender made of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedFile {
    /// The upload that holds the encrypted bytes (one of the message's attachments).
    pub id: UploadId,
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub content_type: String,
    /// Its bytes (before encryption).
    pub size: u64,
    /// SHA-256 of its bytes (before encryption), lowercase hex.
    pub sha256: String,
    /// The AES-256-GCM key its bytes are encrypted with.
    pub key: MlsBytes,
    /// Pixels, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// An image's preview (JPEG or PNG, at most 320 pixels a side), as its sender made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<MlsBytes>,
}

/// The server's words when a plain send reaches an encrypted conversation: the client
/// that hears them learns the conversation is encrypted, and seals the send once it is in
/// the group.
pub const ENCRYPTED_REFUSAL: &str = "this conversation is end-to-end encrypted";

/// The server's words when an entry sealed in another epoch than its group's current one
/// is refused (`conflict`): the client that hears them applies the group's commits and
/// seals the same entry again. `conflict` alone says nothing of the kind (a change to a
/// deleted message gets it too, and is final).
pub const STALE_EPOCH_REFUSAL: &str = "the conversation's group has moved to a later epoch";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_names_its_device_and_nothing_else_does() {
        let device = Device {
            user_id: UserId(uuid::Uuid::from_u128(1)),
            session_id: SessionId(uuid::Uuid::from_u128(2)),
        };
        let identity = credential_identity(device.user_id, device.session_id);
        assert_eq!(credential_device(identity.as_bytes()), Some(device));
        for other in [
            "",
            "alice",
            "alice:bob",
            &identity[..36],
            &format!("{identity}:x"),
        ] {
            assert_eq!(credential_device(other.as_bytes()), None, "{other:?}");
        }
        assert_eq!(credential_device(&[0xff, b':', 0xfe]), None);
    }

    #[test]
    fn bytes_travel_as_base64_and_bad_base64_is_refused() {
        let bytes = MlsBytes(vec![0, 1, 2, 255]);
        let text = serde_json::to_string(&bytes).expect("encode");
        assert_eq!(text, "\"AAEC/w==\"");
        let back: MlsBytes = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, bytes);
        let error = serde_json::from_str::<MlsBytes>("\"not base64!\"").expect_err("refused");
        assert!(error.to_string().contains("not base64"), "{error}");
    }

    #[test]
    fn a_claimed_key_package_names_its_device_flat() {
        let claimed = ClaimedKeyPackage {
            device: Device {
                user_id: UserId(uuid::Uuid::from_u128(1)),
                session_id: SessionId(uuid::Uuid::from_u128(2)),
            },
            key_package: MlsBytes(vec![7]),
        };
        let json = serde_json::to_value(&claimed).expect("encode");
        assert_eq!(json["user_id"], claimed.device.user_id.to_string());
        assert_eq!(json["session_id"], claimed.device.session_id.to_string());
        assert_eq!(json["key_package"], "Bw==");
    }
}
