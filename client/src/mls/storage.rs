//! The storage side of a device's MLS state: openmls's provider (RustCrypto and a memory
//! storage) kept with what of it is saved in the local store ([`State`]), and a group read
//! from that storage the first time it is needed, in today's configuration.
//!
//! openmls writes its state as key-value pairs and does not say which it wrote. Comparing
//! the whole storage with what was saved costs in proportion to every group the device is
//! in, and a device seals and opens one message at a time, saving after each: so the
//! provider is handed out only with a note of what it may change. Sealing and opening
//! touch only their group's pairs (openmls keys those by the group id), and a flush after
//! them compares only those; anything else makes the next flush compare everything.

use std::collections::{HashMap, HashSet};

use ferry_proto::ConversationId;
use openmls::prelude::{GroupId, MlsGroup, OpenMlsProvider};
use openmls_rust_crypto::{MemoryStorage, RustCrypto};

use super::{MlsError, failed, join_config};
use crate::store::{LocalStore, StoreError};

/// openmls's provider: RustCrypto, and the memory storage [`super::Device::flush`] saves.
#[derive(Default)]
pub(super) struct Provider {
    crypto: RustCrypto,
    pub(super) storage: MemoryStorage,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &MemoryStorage {
        &self.storage
    }

    fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }

    fn rand(&self) -> &RustCrypto {
        &self.crypto
    }
}

/// openmls's provider, what of its storage the local store holds, and what may have
/// changed since.
pub(super) struct State {
    provider: Provider,
    /// The storage's pairs as the local store has them.
    saved: HashMap<Vec<u8>, Vec<u8>>,
    changed: Changed,
}

/// A storage key and its value.
type Pair = (Vec<u8>, Vec<u8>);

/// What of the storage may differ from what was saved. `Groups` rests on what openmls
/// 0.9 writes when it seals, opens or loads (only the group's message secrets and join
/// config) and on how its memory storage 0.6 builds keys: an upgrade of either, or
/// openmls's `virtual-clients-draft` feature (which writes a tree keyed by epoch), must
/// be checked against them; `mls::tests` fails if a seal or an open leaves a pair unsaved.
enum Changed {
    /// Only pairs of these groups' (none: nothing).
    Groups(HashSet<ConversationId>),
    /// Any pair.
    Anything,
}

impl State {
    /// The storage holding `saved`, as read from the local store.
    pub(super) fn new(saved: HashMap<Vec<u8>, Vec<u8>>) -> Self {
        let provider = Provider::default();
        *provider
            .storage
            .values
            .write()
            .unwrap_or_else(|p| p.into_inner()) = saved.clone();
        Self {
            provider,
            saved,
            changed: Changed::Groups(HashSet::new()),
        }
    }

    /// The provider, for anything: the next flush compares every pair.
    pub(super) fn any(&mut self) -> &Provider {
        self.changed = Changed::Anything;
        &self.provider
    }

    /// The provider, for what writes only the conversation's group's pairs: reading it
    /// from the storage, sealing and opening its application messages.
    pub(super) fn of_group(&mut self, conversation: ConversationId) -> &Provider {
        if let Changed::Groups(groups) = &mut self.changed {
            groups.insert(conversation);
        }
        &self.provider
    }

    /// The crypto provider, which keeps nothing.
    pub(super) fn crypto(&self) -> &RustCrypto {
        &self.provider.crypto
    }

    /// Writes the pairs that may have changed and did to the local store.
    pub(super) fn flush(&mut self, store: &LocalStore) -> Result<(), StoreError> {
        let (set, gone) = self.unsaved();
        if !(set.is_empty() && gone.is_empty()) {
            let pairs: Vec<(&[u8], &[u8])> = set
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            let keys: Vec<&[u8]> = gone.iter().map(Vec::as_slice).collect();
            store.write_mls_state(&pairs, &keys)?;
            for key in gone {
                self.saved.remove(&key);
            }
            self.saved.extend(set);
        }
        self.changed = Changed::Groups(HashSet::new());
        Ok(())
    }

    /// How many groups the next flush compares (`None`: every pair).
    #[cfg(test)]
    pub(super) fn marked(&self) -> Option<usize> {
        match &self.changed {
            Changed::Groups(groups) => Some(groups.len()),
            Changed::Anything => None,
        }
    }

    /// Every pair the storage holds now.
    #[cfg(test)]
    pub(super) fn pairs(&self) -> HashMap<Vec<u8>, Vec<u8>> {
        self.provider
            .storage
            .values
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The pairs set and the keys gone since the last flush.
    fn unsaved(&self) -> (Vec<Pair>, Vec<Vec<u8>>) {
        let keys: Option<Vec<Vec<u8>>> = match &self.changed {
            Changed::Anything => None,
            Changed::Groups(groups) if groups.is_empty() => return Default::default(),
            Changed::Groups(groups) => Some(groups.iter().map(|c| group_key(*c)).collect()),
        };
        // openmls keys a group's pairs as a label (a plain word), then the group id's
        // JSON (an object, alone or first in a list), then whatever else.
        let candidate = |key: &[u8]| {
            keys.as_ref().is_none_or(|keys| {
                memchr::memchr(b'{', key)
                    .is_some_and(|at| keys.iter().any(|group| key[at..].starts_with(group)))
            })
        };
        let values = self
            .provider
            .storage
            .values
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let set = values
            .iter()
            .filter(|(k, v)| candidate(k) && self.saved.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let gone = self
            .saved
            .keys()
            .filter(|k| candidate(k) && !values.contains_key(*k))
            .cloned()
            .collect();
        (set, gone)
    }
}

/// How openmls writes the conversation's group id in its storage keys.
fn group_key(conversation: ConversationId) -> Vec<u8> {
    serde_json::to_vec(&group_id(conversation)).expect("a group id serializes")
}

/// The conversation's group's id.
pub(super) fn group_id(conversation: ConversationId) -> GroupId {
    GroupId::from_slice(conversation.0.as_bytes())
}

/// The conversation's group from `groups`, reading it from the storage the first time;
/// only that first read marks the group for the next flush (it may re-configure the
/// group), so reading a group already held leaves the flush nothing to compare.
pub(super) fn loaded<'a>(
    groups: &'a mut HashMap<ConversationId, MlsGroup>,
    state: &mut State,
    conversation: ConversationId,
) -> Result<Option<&'a mut MlsGroup>, MlsError> {
    use std::collections::hash_map::Entry;
    match groups.entry(conversation) {
        Entry::Occupied(group) => Ok(Some(group.into_mut())),
        Entry::Vacant(slot) => {
            let provider = state.of_group(conversation);
            let Some(mut group) = MlsGroup::load(provider.storage(), &group_id(conversation))
                .map_err(|e| failed("reading a group", e))?
            else {
                return Ok(None);
            };
            // A group stored under an older configuration (before sealed entries were
            // padded) takes today's: the change is saved with the next flush.
            let config = join_config();
            if group.configuration() != &config {
                group
                    .set_configuration(provider.storage(), &config)
                    .map_err(|e| failed("configuring a group", e))?;
            }
            Ok(Some(slot.insert(group)))
        }
    }
}
