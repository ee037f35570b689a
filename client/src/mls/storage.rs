//! The storage side of a device's MLS state: openmls's provider (RustCrypto and the
//! memory storage whose pairs `Device::flush` saves to the local store), and a group read
//! from that storage the first time it is needed, in today's configuration.

use std::collections::HashMap;

use ferry_proto::ConversationId;
use openmls::prelude::{GroupId, MlsGroup, OpenMlsProvider};
use openmls_rust_crypto::{MemoryStorage, RustCrypto};

use super::{MlsError, failed, join_config};

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

/// The conversation's group from `groups`, reading it from the storage the first time.
pub(super) fn loaded<'a>(
    groups: &'a mut HashMap<ConversationId, MlsGroup>,
    provider: &Provider,
    conversation: ConversationId,
) -> Result<Option<&'a mut MlsGroup>, MlsError> {
    use std::collections::hash_map::Entry;
    match groups.entry(conversation) {
        Entry::Occupied(group) => Ok(Some(group.into_mut())),
        Entry::Vacant(slot) => {
            let id = GroupId::from_slice(conversation.0.as_bytes());
            let Some(mut group) = MlsGroup::load(provider.storage(), &id)
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
