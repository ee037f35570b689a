//! History transfer's part of the store (issue 31): this device's ask for the history its
//! user's other devices hold, the asks of other devices waiting for this user's answer,
//! what this device has opened (to send), and what a received history says (to fill in
//! the entries this device could not open, now or when a page of them comes).
//!
//! A history fills an entry only where this device holds it unreadable (sealed before it
//! joined the group); what it reads itself, it keeps. Filling does what opening would
//! have: the text, the emoji and the files' descriptions go in, and a change takes effect
//! (`apply_change` resolves by seq alone, so the order entries are filled in does not
//! matter), except that a message's text never replaces a newer edit's.

use ferry_proto::{Attachment, ConversationId, MessageId, SessionId, Timestamp, UploadId};
use rusqlite::{OptionalExtension, Transaction, params};
use zeroize::Zeroizing;

use super::changed::Changes;
use super::changes::apply_change;
use super::file_keys::{keep_secrets, secret_of};
use super::read::change_at;
use super::{FileSecret, LocalStore, StoreResult, id_at};

/// This device's ask for its history: the HPKE key pair the answer is sealed to.
#[derive(Clone)]
pub struct HistoryAsk {
    /// The public key, as the ask carried it.
    pub public_key: Vec<u8>,
    /// Its private key, wiped from memory when dropped.
    pub private_key: Zeroizing<Vec<u8>>,
    /// When the ask went out.
    pub asked_at: Timestamp,
    /// When a history came (`None`: none yet).
    pub received_at: Option<Timestamp>,
}

// Written by hand so that the private key never reaches a log.
impl std::fmt::Debug for HistoryAsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryAsk")
            .field("public_key", &self.public_key)
            .field("asked_at", &self.asked_at)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// Another device of this user asks for the history this device holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HistoryRequest {
    /// The asking device (its session).
    pub session_id: SessionId,
    /// When it asked.
    pub asked_at: Timestamp,
}

/// An ask as it came, to check and answer.
#[derive(Clone, Debug)]
pub struct StoredHistoryRequest {
    /// The key to seal the answer to.
    pub public_key: Vec<u8>,
    /// The asker's signature over it.
    pub signature: Vec<u8>,
}

/// An entry as this device opened it (to send), or as a history says it opened (to fill).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedEntry {
    /// The entry.
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Its text (or an edit's new text).
    pub body: String,
    /// A reaction's emoji.
    pub emoji: Option<String>,
    /// Its encrypted files, as they are (names, types, sizes, hashes).
    pub attachments: Vec<Attachment>,
}

/// An encrypted file of an opened entry, with what opening it needs.
#[derive(Clone, Debug)]
pub struct OpenedFile {
    /// The entry's file.
    pub attachment: Attachment,
    /// Its key, encrypted size and preview.
    pub secret: FileSecret,
}

fn attachments_json(attachments: &[Attachment]) -> Option<String> {
    (!attachments.is_empty())
        .then(|| serde_json::to_string(attachments).expect("attachments serialize"))
}

/// Fills entry `id` in where this device holds it unreadable: what the history says of it
/// goes in, and a change takes effect. False when there is no such entry here, or it
/// opened, or it was deleted.
fn fill(
    tx: &Transaction<'_>,
    id: &str,
    body: &str,
    emoji: Option<&str>,
    attachments: Option<&str>,
) -> rusqlite::Result<bool> {
    // A newer edit that this device could read has set the text already: it stays.
    let filled = tx
        .prepare_cached(
            "UPDATE messages SET body = CASE WHEN edit_seq IS NULL THEN ?2 ELSE body END, \
             emoji = ?3, attachments = ?4, unreadable = 0 \
             WHERE id = ?1 AND unreadable = 1 AND deleted_at IS NULL",
        )?
        .execute(params![id, body, emoji, attachments])?;
    if filled == 0 {
        return Ok(false);
    }
    let row = tx
        .prepare_cached(
            "SELECT sender_id, seq, created_at, removed_by_operator, change_kind, target, emoji \
             FROM messages WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                id_at(r, 0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, bool>(3)?,
                change_at(r, 4)?,
            ))
        })?;
    if let (sender, Some(seq), at, by_operator, Some(change)) = row {
        apply_change(
            tx,
            sender,
            &change,
            body,
            seq,
            Timestamp::from_millis(at),
            by_operator,
        )?;
    }
    Ok(true)
}

/// Called as an unreadable entry is stored: fills it in from a history that came before
/// it did.
pub(super) fn fill_from_kept(tx: &Transaction<'_>, id: MessageId) -> rusqlite::Result<()> {
    let id = id.to_string();
    let kept: Option<(String, Option<String>, Option<String>)> = tx
        .prepare_cached(
            "DELETE FROM history_kept WHERE message_id = ?1 RETURNING body, emoji, attachments",
        )?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((body, emoji, attachments)) = kept {
        fill(tx, &id, &body, emoji.as_deref(), attachments.as_deref())?;
    }
    Ok(())
}

impl LocalStore {
    /// This device's ask for its history, if it made one (in this session).
    pub fn history_ask(&self) -> StoreResult<Option<HistoryAsk>> {
        self.read(|tx| {
            tx.query_row(
                "SELECT public_key, private_key, asked_at, received_at FROM history_ask",
                [],
                |r| {
                    Ok(HistoryAsk {
                        public_key: r.get(0)?,
                        private_key: Zeroizing::new(r.get(1)?),
                        asked_at: Timestamp::from_millis(r.get(2)?),
                        received_at: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
                    })
                },
            )
            .optional()
        })
    }

    /// Keeps this device's new ask (in place of any before it).
    pub fn set_history_ask(&self, ask: &HistoryAsk) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO history_ask (id, public_key, private_key, asked_at, \
                 received_at) VALUES (1, ?1, ?2, ?3, ?4)",
                params![
                    ask.public_key,
                    *ask.private_key,
                    ask.asked_at.as_millis(),
                    ask.received_at.map(Timestamp::as_millis)
                ],
            )?;
            Ok(())
        })
    }

    /// Whether this device holds an entry it could not open.
    pub fn has_unreadable(&self) -> StoreResult<bool> {
        self.read(|tx| {
            tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE unreadable = 1 AND deleted_at IS NULL)",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Keeps another device's ask (the newest of each device), until answered or dismissed.
    pub fn keep_history_request(
        &self,
        session: SessionId,
        request: &StoredHistoryRequest,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO history_asks (session_id, public_key, signature, asked_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.to_string(),
                    request.public_key,
                    request.signature,
                    at.as_millis()
                ],
            )?;
            Ok(())
        })
    }

    /// The asks waiting for this user's answer, oldest first.
    pub fn history_requests(&self) -> StoreResult<Vec<HistoryRequest>> {
        self.read(|tx| {
            tx.prepare(
                "SELECT session_id, asked_at FROM history_asks ORDER BY asked_at, session_id",
            )?
            .query_map([], |r| {
                Ok(HistoryRequest {
                    session_id: id_at(r, 0)?,
                    asked_at: Timestamp::from_millis(r.get(1)?),
                })
            })?
            .collect()
        })
    }

    /// A device's ask, as it came.
    pub fn history_request(&self, session: SessionId) -> StoreResult<Option<StoredHistoryRequest>> {
        self.read(|tx| {
            tx.query_row(
                "SELECT public_key, signature FROM history_asks WHERE session_id = ?1",
                [session.to_string()],
                |r| {
                    Ok(StoredHistoryRequest {
                        public_key: r.get(0)?,
                        signature: r.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Forgets a device's ask (answered or dismissed); whether there was one.
    pub fn drop_history_request(&self, session: SessionId) -> StoreResult<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM history_asks WHERE session_id = ?1",
                [session.to_string()],
            )? == 1)
        })
    }

    /// The entries of `conversations` this device opened, newest first, each with its
    /// encrypted files (which the entry itself no longer lists), while their texts, files
    /// and previews come to at most `budget` bytes: what a history holds. Deleted entries
    /// and those that say nothing are left out.
    pub fn opened_entries(
        &self,
        conversations: &[ConversationId],
        budget: usize,
    ) -> StoreResult<Vec<(OpenedEntry, Vec<OpenedFile>)>> {
        self.read(|tx| {
            let mut rows = tx.prepare(
                "SELECT id, conversation_id, body, emoji, attachments, created_at FROM messages \
                 WHERE conversation_id = ?1 AND seq IS NOT NULL AND unreadable = 0 \
                 AND deleted_at IS NULL AND (body != '' OR emoji IS NOT NULL \
                 OR attachments IS NOT NULL)",
            )?;
            let mut all = Vec::new();
            for conversation in conversations {
                let found = rows.query_map([conversation.to_string()], |r| {
                    let attachments: Option<String> = r.get(4)?;
                    let entry = OpenedEntry {
                        id: id_at(r, 0)?,
                        conversation_id: id_at(r, 1)?,
                        body: r.get(2)?,
                        emoji: r.get(3)?,
                        attachments: attachments
                            .and_then(|a| serde_json::from_str(&a).ok())
                            .unwrap_or_default(),
                    };
                    Ok((r.get::<_, i64>(5)?, entry))
                })?;
                for entry in found {
                    all.push(entry?);
                }
            }
            // Newest first across all of them, so the budget leaves out the oldest.
            all.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
            let mut budget = budget;
            let mut history = Vec::new();
            for (_, mut entry) in all {
                let mut files = Vec::new();
                // Only encrypted files travel: a plain one is the server's to show.
                for attachment in std::mem::take(&mut entry.attachments) {
                    if let Some(secret) = secret_of(tx, attachment.id)? {
                        files.push(OpenedFile { attachment, secret });
                    }
                }
                let cost = 256
                    + entry.body.len()
                    + files
                        .iter()
                        .map(|f| 512 + f.secret.preview.as_ref().map_or(0, Vec::len) * 4 / 3)
                        .sum::<usize>();
                let Some(left) = budget.checked_sub(cost) else {
                    break;
                };
                budget = left;
                history.push((entry, files));
            }
            Ok(history)
        })
    }

    /// Takes in a history from another of this user's devices: each entry this device
    /// holds unreadable is filled in, one it does not hold yet is kept for when it comes,
    /// one it reads is left as it is. The files' secrets are kept. Returns what shows
    /// differently and how many entries were filled in.
    pub fn apply_history(
        &self,
        entries: &[OpenedEntry],
        secrets: &[(UploadId, FileSecret)],
        now: Timestamp,
    ) -> StoreResult<(Changes, usize)> {
        self.write(|tx| {
            keep_secrets(tx, secrets)?;
            let mut changes = Changes::default();
            let mut filled = 0;
            for entry in entries {
                let id = entry.id.to_string();
                let attachments = attachments_json(&entry.attachments);
                let held: Option<Option<String>> = tx
                    .prepare_cached("SELECT target FROM messages WHERE id = ?1")?
                    .query_row([&id], |r| r.get(0))
                    .optional()?;
                match held {
                    Some(target) => {
                        if fill(
                            tx,
                            &id,
                            &entry.body,
                            entry.emoji.as_deref(),
                            attachments.as_deref(),
                        )? {
                            filled += 1;
                            changes.note(entry.id, target.and_then(|t| t.parse().ok()));
                            changes.conversations.insert(entry.conversation_id);
                        }
                    }
                    None => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO history_kept (message_id, body, emoji, \
                             attachments) VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            id,
                            entry.body,
                            entry.emoji,
                            attachments
                        ])?;
                    }
                }
            }
            tx.execute("UPDATE history_ask SET received_at = ?1", [now.as_millis()])?;
            Ok((changes, filled))
        })
    }
}

#[cfg(test)]
mod tests;
