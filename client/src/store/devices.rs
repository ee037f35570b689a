//! Whose devices changed in an encrypted conversation (issue 31): each member's devices
//! in the conversation's group, kept as one fingerprint per member (`mls_devices`), and
//! the members whose fingerprint changed since, until this user looks at their safety
//! number (`device_changes`). A member's first devices are not a change; a member who
//! comes back with other devices is one (the rows of members who left are kept for it).

use ferry_proto::{ConversationId, UserId};
use rusqlite::{OptionalExtension, params};

use super::{LocalStore, StoreResult, id_at};

impl LocalStore {
    /// Records each member's devices in `conversation`'s group (`prints`: a fingerprint
    /// per user) and notes those of others than `me` that changed. Returns whether any did.
    pub fn note_devices(
        &self,
        me: UserId,
        conversation: ConversationId,
        prints: &[(UserId, [u8; 32])],
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let key = conversation.to_string();
            let mut changed = false;
            for (user, print) in prints {
                let user_key = user.to_string();
                let known: Option<Vec<u8>> = tx
                    .prepare_cached(
                        "SELECT fingerprint FROM mls_devices \
                         WHERE conversation_id = ?1 AND user_id = ?2",
                    )?
                    .query_row(params![key, user_key], |r| r.get(0))
                    .optional()?;
                if known.as_deref() == Some(print.as_slice()) {
                    continue;
                }
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO mls_devices (conversation_id, user_id, fingerprint) \
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![key, user_key, print.as_slice()])?;
                if known.is_some() && *user != me {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO device_changes (conversation_id, user_id) \
                         VALUES (?1, ?2)",
                    )?
                    .execute(params![key, user_key])?;
                    changed = true;
                }
            }
            Ok(changed)
        })
    }

    /// The members of `conversation` whose devices changed since this user last looked
    /// at their safety number there.
    pub fn device_changes(&self, conversation: ConversationId) -> StoreResult<Vec<UserId>> {
        self.read(|tx| device_changes_in(tx, &conversation.to_string()))
    }

    /// This user looked at their safety number with `user` in `conversation`: the change
    /// of `user`'s devices is known. Returns whether one was noted.
    pub fn clear_device_change(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM device_changes WHERE conversation_id = ?1 AND user_id = ?2",
                params![conversation.to_string(), user.to_string()],
            )?;
            Ok(n > 0)
        })
    }
}

/// The members whose devices changed in the conversation `key`, in a read of the caller's.
pub(super) fn device_changes_in(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
) -> rusqlite::Result<Vec<UserId>> {
    let mut rows = tx.prepare_cached(
        "SELECT user_id FROM device_changes WHERE conversation_id = ?1 ORDER BY user_id",
    )?;
    let found = rows.query_map([key], |r| id_at(r, 0))?;
    found.collect()
}
