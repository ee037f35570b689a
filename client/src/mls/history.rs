//! History transfer's cryptography (issue 31, docs/protocol.md "History transfer"): the
//! HPKE key pair an ask carries and the answer is sealed to, and the signatures that bind
//! an ask and its answer to the devices that made them. A device signs with its MLS
//! signature key; the other side checks the signature against the key that device's
//! leaf has in a group both are in, so a server that forged either would have to be in
//! those groups too, which safety numbers show.

use ferry_proto::ConversationId;
use ferry_proto::notes::HISTORY_HPKE_INFO;
use openmls::prelude::{
    HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType, HpkeKemType, OpenMlsCrypto,
    SignatureScheme,
};
use openmls_rust_crypto::RustCrypto;
use openmls_traits::signatures::Signer as _;
use zeroize::Zeroizing;

use super::{Device, MlsError, failed};

/// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: the ciphersuite's own HPKE.
const HPKE: HpkeConfig = HpkeConfig(
    HpkeKemType::DhKem25519,
    HpkeKdfType::HkdfSha256,
    HpkeAeadType::AesGcm128,
);

/// Bytes of an X25519 encapsulated key: what a sealed answer starts with.
const KEM_OUTPUT: usize = 32;

/// A fresh HPKE key pair for an ask: the public key and the private one.
pub(crate) fn hpke_pair() -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), MlsError> {
    let mut ikm = Zeroizing::new([0u8; 32]);
    getrandom::fill(ikm.as_mut_slice()).map_err(|e| failed("randomness", e))?;
    let pair = RustCrypto::default()
        .derive_hpke_keypair(HPKE, ikm.as_slice())
        .map_err(|e| failed("making a key pair", format!("{e:?}")))?;
    Ok((pair.public, Zeroizing::new(pair.private.to_vec())))
}

/// `plaintext` sealed to `public_key`: the encapsulated key, then the ciphertext.
pub(crate) fn hpke_seal(public_key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, MlsError> {
    let sealed = RustCrypto::default()
        .hpke_seal(HPKE, public_key, HISTORY_HPKE_INFO, &[], plaintext)
        .map_err(|e| failed("sealing", format!("{e:?}")))?;
    let mut bytes = sealed.kem_output.as_slice().to_vec();
    bytes.extend_from_slice(sealed.ciphertext.as_slice());
    Ok(bytes)
}

/// Opens what [`hpke_seal`] sealed to the public key of `private_key`.
pub(crate) fn hpke_open(private_key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, MlsError> {
    if sealed.len() <= KEM_OUTPUT {
        return Err(MlsError::Mls(
            "a sealed history key that is too short".into(),
        ));
    }
    let (kem_output, ciphertext) = sealed.split_at(KEM_OUTPUT);
    let input = HpkeCiphertext {
        kem_output: kem_output.to_vec().into(),
        ciphertext: ciphertext.to_vec().into(),
    };
    RustCrypto::default()
        .hpke_open(HPKE, &input, private_key, HISTORY_HPKE_INFO, &[])
        .map_err(|e| failed("opening a history key", format!("{e:?}")))
}

/// Whether `signature` is the signature of the holder of `signature_key` (Ed25519) over
/// `signed`.
pub(crate) fn verify(signature_key: &[u8], signed: &[u8], signature: &[u8]) -> bool {
    RustCrypto::default()
        .verify_signature(SignatureScheme::ED25519, signed, signature_key, signature)
        .is_ok()
}

impl Device {
    /// This device's signature (with its MLS signature key) over `bytes`.
    pub(crate) fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, MlsError> {
        self.signer
            .sign(bytes)
            .map_err(|e| failed("signing", format!("{e:?}")))
    }

    /// Of `conversations`, those whose group (as this device has it) holds `device`, and
    /// the signature key its leaf has there (the same in every group: a device has one).
    pub(crate) fn groups_with(
        &mut self,
        device: ferry_proto::mls::Device,
        conversations: &[ConversationId],
    ) -> Result<(Vec<ConversationId>, Option<Vec<u8>>), MlsError> {
        let mut found = Vec::new();
        let mut key = None;
        for &conversation in conversations {
            let Some(members) = self.members(conversation)? else {
                continue;
            };
            if let Some(member) = members.into_iter().find(|m| m.device == Some(device)) {
                found.push(conversation);
                key.get_or_insert(member.signature_key);
            }
        }
        Ok((found, key))
    }
}

#[cfg(test)]
mod tests {
    use ferry_proto::{SessionId, UserId};
    use uuid::Uuid;

    use super::*;

    fn device(n: u128) -> Device {
        Device::in_memory(UserId(Uuid::from_u128(1)), SessionId(Uuid::from_u128(n)))
    }

    #[test]
    fn only_the_asks_private_key_opens_what_was_sealed_to_it() {
        let (public, private) = hpke_pair().expect("pair");
        let (_, other) = hpke_pair().expect("pair");
        let sealed = hpke_seal(&public, b"the history's key").expect("seal");
        assert_eq!(
            hpke_open(&private, &sealed).expect("open"),
            b"the history's key"
        );
        assert!(hpke_open(&other, &sealed).is_err(), "another key");
        let mut changed = sealed.clone();
        *changed.last_mut().expect("bytes") ^= 1;
        assert!(hpke_open(&private, &changed).is_err(), "changed bytes");
        assert!(hpke_open(&private, &sealed[..20]).is_err(), "cut short");
    }

    #[test]
    fn a_signature_checks_only_against_its_devices_key() {
        let (laptop, phone) = (device(2), device(3));
        let signature = laptop.sign(b"ask").expect("sign");
        let key = laptop.signer.public();
        assert!(verify(key, b"ask", &signature));
        assert!(!verify(key, b"another ask", &signature), "other bytes");
        assert!(
            !verify(phone.signer.public(), b"ask", &signature),
            "another device"
        );
    }
}
