//! What the server reads of the MLS structures it relays (end-to-end encryption, issue
//! 31), parsed by openmls rather than by hand: a key package's owner, suite and
//! signatures; a commit's group and epoch; a group info's group and epoch; a welcome's
//! recipients. Everything else in them is ciphertext to the server. Each check answers
//! bad bytes with a clear `invalid_request`, so a client's mistake never reaches the
//! store.

use ferry_proto::mls::credential_identity;
use ferry_proto::{ConversationId, SessionId, UserId};
use openmls::prelude::{
    BasicCredential, Ciphersuite, ContentType, KeyPackageIn, MlsMessageBodyIn, MlsMessageIn,
    ProtocolVersion, tls_codec::Deserialize as _,
};
use openmls_rust_crypto::RustCrypto;

use crate::error::{Error, Result};

/// The one ciphersuite Ferry's groups use: X25519, AES-128-GCM, SHA-256, Ed25519.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// A key package the server checked: its hash reference (how welcomes name it) and
/// whether it is the device's last resort.
#[derive(Debug)]
pub struct CheckedKeyPackage {
    /// RFC 9420's `KeyPackageRef`.
    pub hash_ref: Vec<u8>,
    /// Marked with the last-resort extension: handed out whenever no one-time one is
    /// left, and never used up.
    pub last_resort: bool,
}

/// Checks a `KeyPackage` for the caller's device: it decodes, its signatures hold, its
/// suite is Ferry's and its credential names exactly this user's session (so no device
/// can publish keys in another's name).
pub fn key_package(bytes: &[u8], user: UserId, session: SessionId) -> Result<CheckedKeyPackage> {
    let package = KeyPackageIn::tls_deserialize_exact(bytes)
        .map_err(|e| Error::invalid(format!("a key package does not decode: {e}")))?;
    let crypto = RustCrypto::default();
    let package = package
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|e| Error::invalid(format!("a key package is not valid: {e}")))?;
    if package.ciphersuite() != CIPHERSUITE {
        return Err(Error::invalid(format!(
            "a key package must use {CIPHERSUITE:?}, not {:?}",
            package.ciphersuite()
        )));
    }
    let credential = BasicCredential::try_from(package.leaf_node().credential().clone())
        .map_err(|_| Error::invalid("a key package must carry a basic credential"))?;
    if credential.identity() != credential_identity(user, session).as_bytes() {
        return Err(Error::invalid(
            "a key package's credential must name the caller's user and session \
             (\"{user_id}:{session_id}\")",
        ));
    }
    let hash_ref = package
        .hash_ref(&crypto)
        .map_err(|e| Error::Internal(format!("hashing a key package: {e}")))?;
    Ok(CheckedKeyPackage {
        hash_ref: hash_ref.as_slice().to_vec(),
        last_resort: package.last_resort(),
    })
}

/// Decodes an `MLSMessage` whole (no bytes left over), saying which field failed.
fn message(bytes: &[u8], what: &str) -> Result<MlsMessageBodyIn> {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .map(MlsMessageIn::extract)
        .map_err(|e| Error::invalid(format!("{what} is not an MLS message: {e}")))
}

/// What an MLS private or public message says in the open: its group, epoch and kind of
/// content, and whether it is private.
struct Header {
    group: Vec<u8>,
    epoch: i64,
    content: ContentType,
    private: bool,
}

/// The header of `what`, which must be a private or public message of `conversation`'s
/// group: a conversation's group id is its id's 16 bytes, so nothing made for one group
/// can be replayed into another conversation.
fn header(bytes: &[u8], what: &str, conversation: ConversationId) -> Result<Header> {
    let header = match message(bytes, what)? {
        MlsMessageBodyIn::PrivateMessage(m) => Header {
            group: m.group_id().as_slice().to_vec(),
            epoch: epoch_number(m.epoch().as_u64())?,
            content: m.content_type(),
            private: true,
        },
        MlsMessageBodyIn::PublicMessage(m) => Header {
            group: m.group_id().as_slice().to_vec(),
            epoch: epoch_number(m.epoch().as_u64())?,
            content: m.content_type(),
            private: false,
        },
        _ => {
            return Err(Error::invalid(format!(
                "{what} must be a private or public message"
            )));
        }
    };
    if header.group != conversation.0.as_bytes() {
        return Err(Error::invalid(format!(
            "{what} is for another group: a conversation's group id is its id's 16 bytes"
        )));
    }
    Ok(header)
}

/// The epoch a commit for `conversation`'s group was made in.
pub fn commit_epoch(bytes: &[u8], conversation: ConversationId) -> Result<i64> {
    let header = header(bytes, "the commit", conversation)?;
    if header.content != ContentType::Commit {
        return Err(Error::invalid("the commit's content is not a commit"));
    }
    Ok(header.epoch)
}

/// The epoch a sealed entry of `conversation`'s stream was made in: an application
/// message, encrypted (a private message), of the group in an epoch a commit began (1 or
/// later).
pub fn sealed_epoch(bytes: &[u8], conversation: ConversationId) -> Result<i64> {
    let header = header(bytes, "the sealed message", conversation)?;
    if !header.private || header.content != ContentType::Application {
        return Err(Error::invalid(
            "the sealed message must be an encrypted application message (a private message)",
        ));
    }
    if header.epoch == 0 {
        return Err(Error::invalid(
            "the sealed message is of epoch 0: a group takes messages once its first commit \
             is accepted",
        ));
    }
    Ok(header.epoch)
}

/// Checks the group info sent with a commit: of the same group, in the epoch the commit
/// leads to.
pub fn group_info(bytes: &[u8], conversation: ConversationId, epoch: i64) -> Result<()> {
    let MlsMessageBodyIn::GroupInfo(info) = message(bytes, "the group info")? else {
        return Err(Error::invalid("the group info is not a group info"));
    };
    if info.group_id().as_slice() != conversation.0.as_bytes() {
        return Err(Error::invalid("the group info is for another group"));
    }
    if epoch_number(info.epoch().as_u64())? != epoch {
        return Err(Error::invalid(format!(
            "the group info must be of epoch {epoch}, the one the commit leads to"
        )));
    }
    Ok(())
}

/// The key packages a welcome is for (their hash references), one per added device.
pub fn welcome_recipients(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let MlsMessageBodyIn::Welcome(welcome) = message(bytes, "the welcome")? else {
        return Err(Error::invalid("the welcome is not a welcome"));
    };
    if welcome.ciphersuite() != CIPHERSUITE {
        return Err(Error::invalid(format!(
            "a welcome must use {CIPHERSUITE:?}"
        )));
    }
    let recipients: Vec<Vec<u8>> = welcome
        .secrets()
        .iter()
        .map(|secret| secret.new_member().as_slice().to_vec())
        .collect();
    if recipients.is_empty() {
        return Err(Error::invalid("the welcome adds no one"));
    }
    Ok(recipients)
}

/// An epoch as the database keeps it (a signed 64-bit number).
fn epoch_number(epoch: u64) -> Result<i64> {
    i64::try_from(epoch).map_err(|_| Error::invalid("the epoch is out of range"))
}
