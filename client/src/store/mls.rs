//! End-to-end encryption's part of the store (issue 31): this device's MLS state, kept
//! as openmls's own key-value pairs and written as they change (`crate::mls` says which),
//! the session it belongs to with its signature key pair, and per conversation the
//! group's epoch as the server last said, whether this device is in the group, and when
//! this device last found members without keys (and which).

use ferry_proto::{ConversationId, MessageId, SessionId, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{LocalStore, StoreResult, id_at};

/// This device's MLS identity as stored: the session it belongs to and its signature
/// key pair (serialized by `crate::mls`).
pub struct MlsDevice {
    /// The session.
    pub session: SessionId,
    /// The key pair.
    pub signer: Vec<u8>,
}

impl LocalStore {
    /// The MLS identity stored, if any.
    pub fn mls_device(&self) -> StoreResult<Option<MlsDevice>> {
        self.read(|tx| {
            let row: Option<(Option<String>, Option<Vec<u8>>)> = tx
                .query_row("SELECT mls_session, mls_signer FROM account", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            Ok(match row {
                Some((Some(session), Some(signer))) => session
                    .parse()
                    .ok()
                    .map(|session| MlsDevice { session, signer }),
                _ => None,
            })
        })
    }

    /// Starts this device's MLS state over for `device` (a new session): everything of
    /// the session before it goes, and every conversation is tried again.
    pub fn reset_mls(&self, device: &MlsDevice) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM mls_state", [])?;
            tx.execute(
                "UPDATE conversations SET mls_tried_at = NULL, mls_member = 0",
                [],
            )?;
            tx.execute("DELETE FROM mls_without_keys", [])?;
            // An ask for history was sealed to the session before: the answer would be too.
            tx.execute("DELETE FROM history_ask", [])?;
            tx.execute(
                "UPDATE account SET mls_session = ?1, mls_signer = ?2",
                params![device.session.to_string(), device.signer],
            )?;
            Ok(())
        })
    }

    /// Every key-value pair of the MLS state.
    pub fn mls_state(&self) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.read(|tx| {
            tx.prepare("SELECT key, value FROM mls_state")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }

    /// Writes what changed in the MLS state, in one transaction: pairs set and keys gone.
    pub fn write_mls_state(&self, set: &[(&[u8], &[u8])], gone: &[&[u8]]) -> StoreResult<()> {
        self.write(|tx| {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO mls_state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?;
            for (key, value) in set {
                upsert.execute(params![key, value])?;
            }
            let mut delete = tx.prepare_cached("DELETE FROM mls_state WHERE key = ?1")?;
            for key in gone {
                delete.execute([key])?;
            }
            Ok(())
        })
    }

    /// The epoch of a conversation's group as the server last said (0: not encrypted).
    pub fn mls_epoch(&self, conversation: ConversationId) -> StoreResult<i64> {
        self.read(|tx| {
            tx.query_row(
                "SELECT mls_epoch FROM conversations WHERE id = ?1",
                [conversation.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    /// Notes a later epoch of a conversation's group (never an earlier one).
    pub fn raise_mls_epoch(&self, conversation: ConversationId, epoch: i64) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET mls_epoch = max(mls_epoch, ?2) WHERE id = ?1",
                params![conversation.to_string(), epoch],
            )?;
            Ok(())
        })
    }

    /// Conversations this device is in that are not encrypted and that it has not tried
    /// to encrypt since `tried_before` (Unix ms), with their members.
    pub fn plain_conversations(
        &self,
        tried_before: i64,
    ) -> StoreResult<Vec<(ConversationId, Vec<UserId>)>> {
        self.read(|tx| {
            let ids: Vec<ConversationId> = tx
                .prepare(
                    "SELECT id FROM conversations WHERE mls_epoch = 0 AND left_at IS NULL \
                     AND (mls_tried_at IS NULL OR mls_tried_at < ?1) ORDER BY id",
                )?
                .query_map([tried_before], |r| id_at(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            ids.into_iter()
                .map(|id| Ok((id, members_of(tx, id)?)))
                .collect()
        })
    }

    /// Notes that a member of `conversation` had a device without keys at `at` (Unix ms):
    /// it is tried again later, not on every connection.
    pub fn mls_tried(&self, conversation: ConversationId, at: i64) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET mls_tried_at = ?2 WHERE id = ?1",
                params![conversation.to_string(), at],
            )?;
            Ok(())
        })
    }

    /// Notes whether this device is in the conversation's group; whether that changed.
    pub fn set_mls_member(&self, conversation: ConversationId, member: bool) -> StoreResult<bool> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET mls_member = ?2 WHERE id = ?1 AND mls_member <> ?2",
                )?
                .execute(params![conversation.to_string(), member])?;
            Ok(changed > 0)
        })
    }

    /// Notes the members whose devices had no keys when this device last tried to make
    /// the conversation's group or add them to it (none: everyone's had); whether that
    /// changed.
    pub fn set_without_keys(
        &self,
        conversation: ConversationId,
        users: &[UserId],
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let key = conversation.to_string();
            let mut before: Vec<UserId> = tx
                .prepare_cached(
                    "SELECT user_id FROM mls_without_keys WHERE conversation_id = ?1 \
                     ORDER BY user_id",
                )?
                .query_map([&key], |r| id_at(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut after = users.to_vec();
            after.sort();
            after.dedup();
            before.sort();
            if before == after {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM mls_without_keys WHERE conversation_id = ?1",
                [&key],
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO mls_without_keys (conversation_id, user_id) VALUES (?1, ?2)",
            )?;
            for user in after {
                insert.execute(params![key, user.to_string()])?;
            }
            Ok(true)
        })
    }

    /// Members whose devices are in the conversation's group now are waited for no more;
    /// whether any was.
    pub fn keys_arrived(
        &self,
        conversation: ConversationId,
        users: &[UserId],
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let mut delete = tx.prepare_cached(
                "DELETE FROM mls_without_keys WHERE conversation_id = ?1 AND user_id = ?2",
            )?;
            let mut gone = 0;
            for user in users {
                gone += delete.execute(params![conversation.to_string(), user.to_string()])?;
            }
            Ok(gone > 0)
        })
    }

    /// Whether a message is stored: a sealed entry already stored was opened before (or
    /// is this device's own), and is never opened again.
    pub fn holds_message(&self, id: MessageId) -> StoreResult<bool> {
        self.read(|tx| {
            tx.query_row(
                "SELECT count(*) > 0 FROM messages WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
        })
    }

    /// Encrypted conversations this device is in whose members it has not found without
    /// keys since `tried_before` (Unix ms).
    pub fn encrypted_conversations_due(
        &self,
        tried_before: i64,
    ) -> StoreResult<Vec<ConversationId>> {
        self.read(|tx| {
            tx.prepare(
                "SELECT id FROM conversations WHERE mls_epoch > 0 AND left_at IS NULL \
                 AND (mls_tried_at IS NULL OR mls_tried_at < ?1) ORDER BY id",
            )?
            .query_map([tried_before], |r| id_at(r, 0))?
            .collect()
        })
    }

    /// Every conversation the server said is encrypted, with its group's epoch.
    pub fn encrypted_conversations(&self) -> StoreResult<Vec<(ConversationId, i64)>> {
        self.read(|tx| {
            tx.prepare("SELECT id, mls_epoch FROM conversations WHERE mls_epoch > 0 ORDER BY id")?
                .query_map([], |r| Ok((id_at(r, 0)?, r.get(1)?)))?
                .collect()
        })
    }

    /// Who is in a conversation now.
    pub fn member_ids(&self, conversation: ConversationId) -> StoreResult<Vec<UserId>> {
        self.read(|tx| members_of(tx, conversation))
    }
}

/// The conversation's members' ids, in order.
fn members_of(tx: &Transaction<'_>, conversation: ConversationId) -> rusqlite::Result<Vec<UserId>> {
    tx.prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1 ORDER BY user_id")?
        .query_map([conversation.to_string()], |r| id_at(r, 0))?
        .collect()
}
