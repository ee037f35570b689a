//! Safety numbers (issue 31): sixty digits two people compare, side by side or over a
//! channel they trust, to know that the devices which can open their encrypted
//! conversation are theirs and no one else's. The server hands out the key packages
//! groups are made from; a device it slipped in would change the number one side sees,
//! so comparing the numbers checks the server.
//!
//! The construction is Signal's numeric fingerprint with a user's device keys in place of
//! Signal's one identity key (a Ferry device is its own MLS member, with its own
//! signature key): for each of the two users, 5,200 rounds of SHA-512 over the
//! signature keys of their devices in the group (sorted, each with its length) and their
//! user id; the first 30 bytes make 30 digits, five from each five bytes. The two halves
//! are put in the order of the user ids (as UUIDs), so both people see the same sixty digits, and
//! the number changes when either one adds or removes a device.

use std::collections::HashMap;
use std::fmt;

use ferry_proto::UserId;
use sha2::{Digest, Sha256, Sha512};

use crate::mls::Member;

/// The format's version, hashed first (a later construction would change it).
const VERSION: [u8; 2] = [0, 0];
/// Rounds of SHA-512 per half: what makes finding keys that give a chosen number dear.
const ROUNDS: usize = 5_200;

/// Sixty digits, shown as twelve groups of five ([`fmt::Display`]: three lines of four).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The number between two users, each with the signature keys of their devices.
    pub(crate) fn between(a: (UserId, &[Vec<u8>]), b: (UserId, &[Vec<u8>])) -> Self {
        let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        Self(half(first.0, first.1) + &half(second.0, second.1))
    }

    /// The sixty digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The twelve groups of five digits, in order.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        (0..self.0.len()).step_by(5).map(|i| &self.0[i..i + 5])
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<&str> = self.groups().collect();
        for (i, line) in groups.chunks(4).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", line.join(" "))?;
        }
        Ok(())
    }
}

/// `user`'s signature keys among a group's members (see `Device::members`).
pub(crate) fn keys_of(members: &[Member], user: UserId) -> Vec<Vec<u8>> {
    members
        .iter()
        .filter(|m| m.user() == Some(user))
        .map(|m| m.signature_key.clone())
        .collect()
}

/// Each user's devices among a group's members as one fingerprint: SHA-256 over their
/// sorted signature keys, each with its length. A fingerprint that changes is a device
/// added or gone, and so a safety number changed.
pub(crate) fn device_fingerprints(members: &[Member]) -> Vec<(UserId, [u8; 32])> {
    let mut keys: HashMap<UserId, Vec<&[u8]>> = HashMap::new();
    for member in members {
        if let Some(user) = member.user() {
            keys.entry(user).or_default().push(&member.signature_key);
        }
    }
    keys.into_iter()
        .map(|(user, mut keys)| {
            keys.sort();
            let mut hasher = Sha256::new();
            for key in keys {
                hasher.update((key.len() as u32).to_be_bytes());
                hasher.update(key);
            }
            (user, hasher.finalize().into())
        })
        .collect()
}

/// One user's thirty digits.
fn half(user: UserId, keys: &[Vec<u8>]) -> String {
    let mut sorted = keys.to_vec();
    sorted.sort();
    let mut joined = Vec::new();
    for key in &sorted {
        // A length before each key: no two key lists join into the same bytes.
        joined.extend_from_slice(&(key.len() as u32).to_be_bytes());
        joined.extend_from_slice(key);
    }
    let mut hash = Sha512::new()
        .chain_update(VERSION)
        .chain_update(&joined)
        .chain_update(user.to_string().as_bytes())
        .finalize();
    for _ in 1..ROUNDS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(&joined)
            .finalize();
    }
    hash[..30]
        .chunks(5)
        .map(|chunk| {
            let n = chunk.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_u128(n)
    }

    #[test]
    fn both_sides_see_the_same_sixty_digits() {
        let (alice, bob) = (user(1), user(2));
        let (a, b) = (vec![vec![1u8; 32]], vec![vec![2u8; 32], vec![3u8; 32]]);
        let mine = SafetyNumber::between((alice, &a), (bob, &b));
        let theirs = SafetyNumber::between((bob, &b), (alice, &a));
        assert_eq!(mine, theirs);
        assert_eq!(mine.digits().len(), 60);
        assert!(mine.digits().bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(mine.groups().count(), 12);
        assert_eq!(mine.to_string().lines().count(), 3);
        // The order of a user's devices does not matter.
        let reordered = vec![vec![3u8; 32], vec![2u8; 32]];
        assert_eq!(mine, SafetyNumber::between((alice, &a), (bob, &reordered)));
    }

    #[test]
    fn a_device_added_or_a_key_swapped_changes_the_number() {
        let (alice, bob) = (user(1), user(2));
        let a = vec![vec![1u8; 32]];
        let before = SafetyNumber::between((alice, &a), (bob, &[vec![2u8; 32]]));
        let added = SafetyNumber::between((alice, &a), (bob, &[vec![2u8; 32], vec![9u8; 32]]));
        let swapped = SafetyNumber::between((alice, &a), (bob, &[vec![9u8; 32]]));
        assert_ne!(before, added);
        assert_ne!(before, swapped);
        // Only Bob's half moved.
        let alices_half = |n: &SafetyNumber| n.digits()[..30].to_owned();
        assert_eq!(alices_half(&before), alices_half(&added));
    }
}
