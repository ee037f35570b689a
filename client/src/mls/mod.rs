//! End-to-end encryption (issue 31): this device as an MLS member ([`Device`]): its
//! signature key, its key packages, its copy of each encrypted conversation's group, and
//! the one place where MLS bytes are made and read. No I/O but the local store; the
//! engine's `e2e` does the talking to the server. Public for the benchmarks (`ferry-bench`
//! seals and opens with this very code, [`Device::in_memory`]); the app and the CLI go
//! through [`crate::Client`].
//!
//! openmls keeps its state (groups, keys, secrets) in a key-value storage. Here that is
//! openmls's memory storage, whose pairs are written to the local store ([`Device::flush`])
//! after each operation and before anything the operation made leaves the device: a
//! sealed entry or a commit is never sent from a state that was not saved, since a
//! restart from the older state would seal again with the same key. A device is a
//! session: a new sign-in starts a new MLS identity from nothing.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;

use ferry_proto::mls::{
    ClaimedKeyPackages, Commit, MlsBytes, NewCommit, SealedContent, Welcome, credential_device,
    credential_identity,
};
use ferry_proto::{ConversationId, SessionId, UserId};
use openmls::prelude::{
    BasicCredential, Capabilities, Ciphersuite, CredentialWithKey, ExtensionType,
    ExternalCommitBuilder, KeyPackage, KeyPackageIn, LeafNodeIndex, MlsGroup, MlsGroupCreateConfig,
    MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, OpenMlsProvider,
    ProcessedMessageContent, ProtocolMessage, ProtocolVersion, StagedWelcome,
    tls_codec::{Deserialize as _, Serialize as _},
};
use openmls_basic_credential::SignatureKeyPair;

use crate::store::{LocalStore, MlsDevice, StoreError};

pub(crate) mod history;
mod storage;
#[cfg(test)]
mod tests;

use storage::{State, group_id, loaded};

/// Ferry's one ciphersuite (docs/protocol.md).
const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Past epochs whose secrets a group keeps: a device that commits moves on at once, and
/// may still meet entries sent in the epoch it left before its commit landed.
const MAX_PAST_EPOCHS: usize = 5;

/// Sealed entries are padded to a multiple of this many bytes (with their signature and
/// AEAD tag), so that the server sees a message's length only to within it.
const PADDING: usize = 256;

/// How every group of this device behaves, however it came: the ratchet tree travels in
/// welcomes and group infos, past epochs are kept, sealed entries are padded.
fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .padding_size(PADDING)
        .build()
}

/// A failure of end-to-end encryption.
#[derive(Debug, thiserror::Error)]
pub enum MlsError {
    /// openmls refused, or bytes did not decode.
    #[error("end-to-end encryption: {0}")]
    Mls(String),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn failed(what: &str, e: impl Display) -> MlsError {
    MlsError::Mls(format!("{what}: {e}"))
}

/// A device in a group: the one its credential names (`None`: no Ferry device), its leaf,
/// and its signature key (what safety numbers are made of).
pub(crate) struct Member {
    pub(crate) device: Option<ferry_proto::mls::Device>,
    pub(crate) leaf: LeafNodeIndex,
    pub(crate) signature_key: Vec<u8>,
}

impl Member {
    /// Whose device it is.
    pub(crate) fn user(&self) -> Option<UserId> {
        self.device.map(|d| d.user_id)
    }
}

/// This device as an MLS member.
pub struct Device {
    state: State,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    session: SessionId,
    /// Groups read from the storage so far, by conversation.
    groups: HashMap<ConversationId, MlsGroup>,
    /// Groups this device joined by an external commit the server has not answered yet.
    joining: HashSet<ConversationId>,
}

impl Device {
    /// This device's MLS state for `session`, as stored; a new one (and nothing of an
    /// earlier session) when the store holds another session's or none.
    pub(crate) fn open(
        store: &LocalStore,
        user: UserId,
        session: SessionId,
    ) -> Result<Self, StoreError> {
        let stored = store
            .mls_device()?
            .filter(|d| d.session == session)
            .and_then(|d| serde_json::from_slice::<SignatureKeyPair>(&d.signer).ok());
        let (signer, saved) = match stored {
            Some(signer) => (signer, store.mls_state()?.into_iter().collect()),
            None => {
                let signer = new_signer();
                let bytes = serde_json::to_vec(&signer).expect("a key pair serializes");
                store.reset_mls(&MlsDevice {
                    session,
                    signer: bytes,
                })?;
                (signer, HashMap::new())
            }
        };
        Ok(Self::with_state(signer, saved, user, session))
    }

    /// A new device for `session` whose state lives in memory only and is never saved:
    /// what the benchmarks use to seal and open as a device does.
    pub fn in_memory(user: UserId, session: SessionId) -> Self {
        Self::with_state(new_signer(), HashMap::new(), user, session)
    }

    fn with_state(
        signer: SignatureKeyPair,
        saved: HashMap<Vec<u8>, Vec<u8>>,
        user: UserId,
        session: SessionId,
    ) -> Self {
        let credential = CredentialWithKey {
            credential: BasicCredential::new(credential_identity(user, session).into_bytes())
                .into(),
            signature_key: signer.public().into(),
        };
        Self {
            state: State::new(saved),
            signer,
            credential,
            session,
            groups: HashMap::new(),
            joining: HashSet::new(),
        }
    }

    /// Writes what changed in the MLS state since the last flush to the local store (it
    /// compares only what the operations since may have changed: see `storage`).
    pub fn flush(&mut self, store: &LocalStore) -> Result<(), StoreError> {
        self.state.flush(store)
    }

    /// `count` new one-time key packages, and a last-resort one if asked, to publish (their
    /// private keys are in the state: flush before publishing).
    pub fn key_packages(
        &mut self,
        count: usize,
        last_resort: bool,
    ) -> Result<Vec<MlsBytes>, MlsError> {
        let mut packages = Vec::with_capacity(count + 1);
        for i in 0..count + usize::from(last_resort) {
            let mut builder = KeyPackage::builder();
            if i == count {
                // A leaf must list the extensions its key package carries.
                builder = builder.mark_as_last_resort().leaf_node_capabilities(
                    Capabilities::builder()
                        .extensions(vec![ExtensionType::LastResort])
                        .build(),
                );
            }
            let bundle = builder
                .build(
                    SUITE,
                    self.state.any(),
                    &self.signer,
                    self.credential.clone(),
                )
                .map_err(|e| failed("a key package", e))?;
            let bytes = bundle
                .key_package()
                .tls_serialize_detached()
                .map_err(|e| failed("a key package", e))?;
            packages.push(MlsBytes(bytes));
        }
        Ok(packages)
    }

    /// The conversation's group, if this device is in it.
    fn group(&mut self, conversation: ConversationId) -> Result<Option<&mut MlsGroup>, MlsError> {
        loaded(&mut self.groups, &mut self.state, conversation)
    }

    /// The epoch this device's copy of the conversation's group is in; `None` when it is
    /// not in the group.
    pub(crate) fn epoch(&mut self, conversation: ConversationId) -> Result<Option<i64>, MlsError> {
        Ok(self.group(conversation)?.map(|g| g.epoch().as_u64() as i64))
    }

    /// The claimed key packages, checked: each valid, and naming the device the server
    /// said it is for (the server vouches for whose device a key package is; this checks
    /// that it says so).
    fn claimed_packages(&self, claimed: &ClaimedKeyPackages) -> Result<Vec<KeyPackage>, MlsError> {
        claimed
            .key_packages
            .iter()
            .map(|claim| {
                let package = KeyPackageIn::tls_deserialize_exact(&claim.key_package.0)
                    .map_err(|e| failed("a claimed key package", e))?
                    .validate(self.state.crypto(), ProtocolVersion::Mls10)
                    .map_err(|e| failed("a claimed key package", e))?;
                let named = credential_identity(claim.device.user_id, claim.device.session_id);
                if package.leaf_node().credential().serialized_content() != named.as_bytes() {
                    return Err(MlsError::Mls(format!(
                        "a claimed key package does not name its device {named}"
                    )));
                }
                Ok(package)
            })
            .collect()
    }

    /// Makes the conversation's group with the claimed devices in it: the commit of epoch
    /// 0, pending until the server takes it ([`Device::committed`]) or another device's
    /// first commit wins ([`Device::abandon`]).
    pub fn create(
        &mut self,
        conversation: ConversationId,
        claimed: &ClaimedKeyPackages,
    ) -> Result<NewCommit, MlsError> {
        let packages = self.claimed_packages(claimed)?;
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .padding_size(PADDING)
            .build();
        debug_assert_eq!(config.join_config(), &join_config());
        self.forget(conversation)?;
        let group = MlsGroup::new_with_group_id(
            self.state.any(),
            &self.signer,
            &config,
            group_id(conversation),
            self.credential.clone(),
        )
        .map_err(|e| failed("a group", e))?;
        self.groups.insert(conversation, group);
        self.add_packages(conversation, packages)
    }

    /// A commit adding the claimed devices to the group, pending until the server takes
    /// it.
    pub(crate) fn add(
        &mut self,
        conversation: ConversationId,
        claimed: &ClaimedKeyPackages,
    ) -> Result<NewCommit, MlsError> {
        let packages = self.claimed_packages(claimed)?;
        self.add_packages(conversation, packages)
    }

    fn add_packages(
        &mut self,
        conversation: ConversationId,
        packages: Vec<KeyPackage>,
    ) -> Result<NewCommit, MlsError> {
        let group = loaded(&mut self.groups, &mut self.state, conversation)?
            .ok_or_else(|| MlsError::Mls("this device is not in the group".into()))?;
        let (provider, signer) = (self.state.any(), &self.signer);
        let (commit, welcome, info) = group
            .add_members(provider, signer, &packages)
            .map_err(|e| failed("adding members", e))?;
        let info = info.ok_or_else(|| MlsError::Mls("a commit without group info".into()))?;
        Ok(NewCommit {
            commit: encoded(&commit)?,
            group_info: encoded(&MlsMessageOut::from(info))?,
            welcome: Some(encoded(&welcome)?),
        })
    }

    /// A commit removing these members' devices from the group, pending until the server
    /// takes it: once it is in, they can open nothing sealed after it.
    pub(crate) fn remove(
        &mut self,
        conversation: ConversationId,
        leaves: &[LeafNodeIndex],
    ) -> Result<NewCommit, MlsError> {
        let group = loaded(&mut self.groups, &mut self.state, conversation)?
            .ok_or_else(|| MlsError::Mls("this device is not in the group".into()))?;
        let (provider, signer) = (self.state.any(), &self.signer);
        let (commit, _, info) = group
            .remove_members(provider, signer, leaves)
            .map_err(|e| failed("removing members", e))?;
        let info = info.ok_or_else(|| MlsError::Mls("a commit without group info".into()))?;
        Ok(NewCommit {
            commit: encoded(&commit)?,
            group_info: encoded(&MlsMessageOut::from(info))?,
            welcome: None,
        })
    }

    /// The devices in the conversation's group, as this device's copy of it has them
    /// (`None` when this device is not in the group).
    pub(crate) fn members(
        &mut self,
        conversation: ConversationId,
    ) -> Result<Option<Vec<Member>>, MlsError> {
        let Some(group) = self.group(conversation)? else {
            return Ok(None);
        };
        Ok(Some(
            group
                .members()
                .map(|m| Member {
                    device: credential_device(m.credential.serialized_content()),
                    leaf: m.index,
                    signature_key: m.signature_key,
                })
                .collect(),
        ))
    }

    /// Joins the conversation's group by an external commit, from its group info (which
    /// carries the ratchet tree): what a device does in an encrypted conversation it was
    /// not added to (it signed in after the group was made). The commit is merged here
    /// already; if the server refuses it, [`Device::abandon`] forgets the group.
    pub(crate) fn join_external(
        &mut self,
        conversation: ConversationId,
        group_info: &MlsBytes,
    ) -> Result<NewCommit, MlsError> {
        let MlsMessageBodyIn::GroupInfo(info) = MlsMessageIn::tls_deserialize_exact(&group_info.0)
            .map_err(|e| failed("a group info", e))?
            .extract()
        else {
            return Err(MlsError::Mls("a group info that is not one".into()));
        };
        if info.group_id().as_slice() != conversation.0.as_bytes() {
            return Err(MlsError::Mls("a group info of another group".into()));
        }
        let config = join_config();
        let provider = self.state.any();
        let (group, bundle) = ExternalCommitBuilder::new()
            .with_config(config)
            .build_group(provider, info, self.credential.clone())
            .map_err(|e| failed("joining by external commit", e))?
            .load_psks(provider.storage())
            .map_err(|e| failed("joining by external commit", e))?
            .build(provider.rand(), provider.crypto(), &self.signer, |_| true)
            .map_err(|e| failed("joining by external commit", e))?
            .finalize(provider)
            .map_err(|e| failed("joining by external commit", e))?;
        let (commit, _, info) = bundle.into_contents();
        let info = info.ok_or_else(|| MlsError::Mls("a commit without group info".into()))?;
        self.groups.insert(conversation, group);
        self.joining.insert(conversation);
        Ok(NewCommit {
            commit: encoded(&commit)?,
            group_info: encoded(&MlsMessageOut::from(info))?,
            welcome: None,
        })
    }

    /// The server took this device's pending commit: the group moves on.
    pub fn committed(&mut self, conversation: ConversationId) -> Result<(), MlsError> {
        self.joining.remove(&conversation);
        if let Some(group) = loaded(&mut self.groups, &mut self.state, conversation)? {
            let provider = self.state.any();
            group
                .merge_pending_commit(provider)
                .map_err(|e| failed("merging a commit", e))?;
        }
        Ok(())
    }

    /// The server refused this device's pending commit (another came first): it is
    /// dropped, and a group this device was making or joining goes with it (it joins the
    /// winner's, or tries again).
    pub(crate) fn abandon(&mut self, conversation: ConversationId) -> Result<(), MlsError> {
        let joining = self.joining.remove(&conversation);
        let Some(group) = loaded(&mut self.groups, &mut self.state, conversation)? else {
            return Ok(());
        };
        let provider = self.state.any();
        if joining || group.epoch().as_u64() == 0 {
            self.forget(conversation)
        } else {
            group
                .clear_pending_commit(provider.storage())
                .map_err(|e| failed("dropping a commit", e))
        }
    }

    /// Drops this device's copy of a group, from memory and from the storage.
    fn forget(&mut self, conversation: ConversationId) -> Result<(), MlsError> {
        loaded(&mut self.groups, &mut self.state, conversation)?;
        if let Some(mut group) = self.groups.remove(&conversation) {
            group
                .delete(self.state.any().storage())
                .map_err(|e| failed("dropping a group", e))?;
        }
        Ok(())
    }

    /// Applies one commit of the group's log, made in the epoch the group is in (a commit
    /// of an epoch already passed is skipped). A commit that removes this device leaves
    /// the group.
    pub(crate) fn apply(&mut self, commit: &Commit) -> Result<(), MlsError> {
        let conversation = commit.conversation_id;
        let Some(group) = loaded(&mut self.groups, &mut self.state, conversation)? else {
            return Ok(());
        };
        let (provider, session) = (self.state.any(), self.session);
        let epoch = group.epoch().as_u64() as i64;
        if commit.epoch < epoch {
            return Ok(());
        }
        if commit.epoch > epoch {
            return Err(MlsError::Mls(format!(
                "commit of epoch {} reached a group in epoch {epoch}",
                commit.epoch
            )));
        }
        if commit.committer.session_id == session && group.pending_commit().is_some() {
            // This device's own, taken by the server before it heard the answer.
            return group
                .merge_pending_commit(provider)
                .map_err(|e| failed("merging a commit", e));
        }
        let message = protocol_message(&commit.commit.0)?;
        let processed = group
            .process_message(provider, message)
            .map_err(|e| failed("a commit", e))?;
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(MlsError::Mls("the commit log holds something else".into()));
        };
        group
            .merge_staged_commit(provider, *staged)
            .map_err(|e| failed("merging a commit", e))?;
        if !group.is_active() {
            self.forget(conversation)?;
        }
        Ok(())
    }

    /// Joins a group with a welcome for this device; a welcome to an epoch the device's
    /// copy of the group has already reached changes nothing.
    pub fn join(&mut self, welcome: &Welcome) -> Result<(), MlsError> {
        let conversation = welcome.conversation_id;
        if self
            .epoch(conversation)?
            .is_some_and(|epoch| epoch >= welcome.epoch)
        {
            return Ok(());
        }
        let MlsMessageBodyIn::Welcome(body) =
            MlsMessageIn::tls_deserialize_exact(&welcome.welcome.0)
                .map_err(|e| failed("a welcome", e))?
                .extract()
        else {
            return Err(MlsError::Mls("a welcome that is not one".into()));
        };
        let config = join_config();
        // An older copy goes first (one this device was making itself, whose commit lost):
        // openmls refuses a welcome to a group it holds, and the new copy is stored under
        // the same group id.
        self.forget(conversation)?;
        let provider = self.state.any();
        let staged = StagedWelcome::new_from_welcome(provider, &config, body, None)
            .map_err(|e| failed("a welcome", e))?;
        if staged.group_context().group_id().as_slice() != conversation.0.as_bytes() {
            return Err(MlsError::Mls("a welcome to another group".into()));
        }
        let group = staged
            .into_group(provider)
            .map_err(|e| failed("joining a group", e))?;
        self.groups.insert(conversation, group);
        Ok(())
    }

    /// Seals what a send must not show for the conversation's group, in its epoch; `None`
    /// when this device is not in the group.
    pub fn seal(
        &mut self,
        conversation: ConversationId,
        content: &SealedContent,
    ) -> Result<Option<MlsBytes>, MlsError> {
        let plain = serde_json::to_vec(content).map_err(|e| failed("sealing", e))?;
        let Some(group) = loaded(&mut self.groups, &mut self.state, conversation)? else {
            return Ok(None);
        };
        // Only this group's pairs change (see `storage`).
        let (provider, signer) = (self.state.of_group(conversation), &self.signer);
        let message = group
            .create_message(provider, signer, &plain)
            .map_err(|e| failed("sealing", e))?;
        Ok(Some(encoded(&message)?))
    }

    /// Opens a sealed entry of the conversation, once (MLS forgets a message key once
    /// used): the caller stores what it gives. The group must have reached the entry's
    /// epoch ([`sealed_epoch`]).
    pub fn unseal(
        &mut self,
        conversation: ConversationId,
        sealed: &MlsBytes,
    ) -> Result<SealedContent, MlsError> {
        self.unseal_signed(conversation, sealed)
            .map(|(content, _)| content)
    }

    /// [`unseal`](Self::unseal) for an entry the server says `sender` sent: `None` unless
    /// the member who sealed it (the credential its MLS signature was checked against) is
    /// a device of that user, so that a server cannot put one member's words, edit or
    /// reaction in another's name. The entry's key is used up either way.
    pub(crate) fn unseal_from(
        &mut self,
        conversation: ConversationId,
        sealed: &MlsBytes,
        sender: UserId,
    ) -> Result<Option<SealedContent>, MlsError> {
        let (content, signer) = self.unseal_signed(conversation, sealed)?;
        Ok(signer
            .is_some_and(|device| device.user_id == sender)
            .then_some(content))
    }

    /// Opens a sealed entry, with the device that sealed it (`None`: a credential that
    /// names no Ferry device).
    fn unseal_signed(
        &mut self,
        conversation: ConversationId,
        sealed: &MlsBytes,
    ) -> Result<(SealedContent, Option<ferry_proto::mls::Device>), MlsError> {
        let message = protocol_message(&sealed.0)?;
        let Some(group) = loaded(&mut self.groups, &mut self.state, conversation)? else {
            return Err(MlsError::Mls("this device is not in the group".into()));
        };
        // Only this group's pairs change (see `storage`): the message secrets (a proposal
        // or a commit is only read here, not queued or merged).
        let provider = self.state.of_group(conversation);
        let processed = group
            .process_message(provider, message)
            .map_err(|e| failed("opening", e))?;
        let signer = credential_device(processed.credential().serialized_content());
        let ProcessedMessageContent::ApplicationMessage(message) = processed.into_content() else {
            return Err(MlsError::Mls("a sealed entry that is no message".into()));
        };
        let content =
            serde_json::from_slice(&message.into_bytes()).map_err(|e| failed("opening", e))?;
        Ok((content, signer))
    }
}

/// A new signature key pair; fails only without a random number generator, when nothing
/// would work.
fn new_signer() -> SignatureKeyPair {
    SignatureKeyPair::new(SUITE.signature_algorithm())
        .expect("the system's random number generator works")
}

/// The epoch a sealed entry was sealed in (from its header, in the clear).
pub(crate) fn sealed_epoch(sealed: &MlsBytes) -> Result<i64, MlsError> {
    Ok(protocol_message(&sealed.0)?.epoch().as_u64() as i64)
}

fn protocol_message(bytes: &[u8]) -> Result<ProtocolMessage, MlsError> {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(|e| failed("MLS bytes", e))?
        .try_into_protocol_message()
        .map_err(|e| failed("MLS bytes", e))
}

fn encoded(message: &MlsMessageOut) -> Result<MlsBytes, MlsError> {
    message
        .tls_serialize_detached()
        .map(MlsBytes)
        .map_err(|e| failed("encoding", e))
}
