//! [`NoteStore`] in SQL. A note is left only for a signed-in session of the sender's
//! user, checked in the inserting transaction under that session's row lock, so that
//! two notes left at once cannot both pass the count of those waiting.

use async_trait::async_trait;
use ferry_proto::mls::{Device, MlsBytes};
use ferry_proto::notes::{DeviceNote, NOTE_KEPT_MS};
use ferry_proto::{NoteId, SessionId, Timestamp};
use macro_rules_attribute::apply;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore, locked};
use crate::store::notes::NoteOutcome;
use crate::store::{NoteStore, StoreResult};

/// A waiting note.
#[derive(sqlx::FromRow)]
pub(crate) struct NoteRow {
    id: Uuid,
    from_session_id: Uuid,
    note: Vec<u8>,
    created_at: i64,
}

impl From<NoteRow> for DeviceNote {
    fn from(row: NoteRow) -> Self {
        Self {
            id: NoteId(row.id),
            from_session_id: SessionId(row.from_session_id),
            note: MlsBytes(row.note),
            created_at: Timestamp::from_millis(row.created_at),
        }
    }
}

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// In the transaction that forgets ended sessions: the notes for a device whose
    /// session ended, and those older than a week, go.
    pub(super) async fn forget_old_notes(
        conn: &mut Conn<D>,
        ended: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM device_notes WHERE created_at < $1 OR session_id IN {ended}"
        )))
        .bind(now.as_millis() - NOTE_KEPT_MS)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> NoteStore for SqlStore<D> {
    async fn leave_note(
        &self,
        from: Device,
        to: SessionId,
        note: &[u8],
        max_waiting: u32,
        now: Timestamp,
    ) -> StoreResult<NoteOutcome> {
        if to == from.session_id {
            return Ok(NoteOutcome::NoSuchDevice);
        }
        let mut tx = self.write().await?;
        // As claims count devices: a session not revoked, of an account not deleted.
        let found: Option<(Uuid,)> = sqlx::query_as(locked(
            "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL \
             AND u.deleted_at IS NULL",
            D::lock("s"),
        ))
        .bind(to)
        .bind(from.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(NoteOutcome::NoSuchDevice);
        }
        let (waiting,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM device_notes WHERE session_id = $1")
                .bind(to)
                .fetch_one(&mut *tx)
                .await?;
        if waiting >= i64::from(max_waiting) {
            return Ok(NoteOutcome::Full);
        }
        let left = DeviceNote {
            id: NoteId(Uuid::now_v7()),
            from_session_id: from.session_id,
            note: MlsBytes(note.to_vec()),
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO device_notes (id, session_id, from_session_id, note, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(left.id)
        .bind(to)
        .bind(from.session_id)
        .bind(&left.note.0)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(NoteOutcome::Left(left))
    }

    async fn notes(&self, session: SessionId) -> StoreResult<Vec<DeviceNote>> {
        let rows: Vec<NoteRow> = sqlx::query_as(
            "SELECT id, from_session_id, note, created_at FROM device_notes \
             WHERE session_id = $1 ORDER BY created_at, id",
        )
        .bind(session)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(DeviceNote::from).collect())
    }

    async fn drop_note(&self, session: SessionId, note: NoteId) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let gone: Option<(Uuid,)> = sqlx::query_as(
            "DELETE FROM device_notes WHERE id = $1 AND session_id = $2 RETURNING id",
        )
        .bind(note)
        .bind(session)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone.is_some())
    }
}
