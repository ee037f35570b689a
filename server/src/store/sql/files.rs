//! [`FileStore`] in SQL: uploads within a quota, chunks counted as they arrive, the
//! download rule, and the sweep of blobs no upload names.

use async_trait::async_trait;
use ferry_proto::{UploadId, UserId};
use macro_rules_attribute::apply;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore};
use crate::store::StoreResult;
use crate::store::rows::UploadRow;
use crate::store::uploads::{Declined, DeleteBlob, FileStore, MAX_OPEN_UPLOADS};

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> FileStore for SqlStore<D> {
    async fn create_upload(
        &self,
        upload: &UploadRow,
        quota: u64,
    ) -> StoreResult<Result<UploadRow, Declined>> {
        let mut tx = self.write().await?;
        // The owner's row serialises their uploads, so two at once cannot both take the
        // last of the quota.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT u.id FROM users u WHERE u.id = $1 {}",
            D::lock("u")
        )))
        .bind(upload.owner_id)
        .execute(&mut *tx)
        .await?;
        let same: Option<UploadRow> = sqlx::query_as(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE owner_id = $1 AND sha256 = $2 AND size = $3 \
             AND content_type = $4 AND state = 'stored' LIMIT 1"
        ))
        .bind(upload.owner_id)
        .bind(upload.sha256.clone())
        .bind(upload.size)
        .bind(upload.content_type.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let mut row = upload.clone();
        if let Some(same) = same {
            row.state = "stored".into();
            row.received = row.size;
            row.width = same.width;
            row.height = same.height;
            row.preview = same.preview;
        } else {
            // Stored files once each; unfinished uploads each at their full size, whatever
            // hash they declared (it is checked only at the end, and each holds chunks of
            // its own until then).
            let (stored, open, open_count): (i64, i64, i64) = sqlx::query_as(
                "SELECT \
                 (SELECT CAST(COALESCE(sum(size), 0) AS BIGINT) FROM \
                  (SELECT DISTINCT sha256, size FROM uploads \
                   WHERE owner_id = $1 AND state = 'stored') AS files), \
                 (SELECT CAST(COALESCE(sum(size), 0) AS BIGINT) FROM uploads \
                  WHERE owner_id = $1 AND state <> 'stored'), \
                 (SELECT count(*) FROM uploads WHERE owner_id = $1 AND state <> 'stored')",
            )
            .bind(upload.owner_id)
            .fetch_one(&mut *tx)
            .await?;
            if open_count >= MAX_OPEN_UPLOADS {
                return Ok(Err(Declined::TooManyOpen));
            }
            if (stored.max(0) as u64)
                .saturating_add(open.max(0) as u64)
                .saturating_add(upload.size as u64)
                > quota
            {
                return Ok(Err(Declined::Quota));
            }
        }
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, name, size, content_type, sha256, received, \
             state, width, height, preview, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(row.id)
        .bind(row.owner_id)
        .bind(row.name.clone())
        .bind(row.size)
        .bind(row.content_type.clone())
        .bind(row.sha256.clone())
        .bind(row.received)
        .bind(row.state.clone())
        .bind(row.width)
        .bind(row.height)
        .bind(row.preview)
        .bind(row.created_at)
        .execute(&mut *tx)
        .await?;
        // The same bytes, named again: not an orphan any more.
        sqlx::query("DELETE FROM blob_orphans WHERE sha256 = $1")
            .bind(row.sha256.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(row))
    }

    async fn upload(&self, id: UploadId) -> StoreResult<Option<UploadRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.readers)
        .await?)
    }

    async fn add_chunk(
        &self,
        id: UploadId,
        start: i64,
        len: i64,
        object: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let counted: Option<Uuid> = sqlx::query_scalar(
            "UPDATE uploads SET received = received + $3 \
             WHERE id = $1 AND received = $2 AND state = 'open' AND received + $3 <= size \
             RETURNING id",
        )
        .bind(id)
        .bind(start)
        .bind(len)
        .fetch_optional(&mut *tx)
        .await?;
        if counted.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO upload_chunks (upload_id, start, len, object) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(start)
        .bind(len)
        .bind(object.to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn chunks(&self, id: UploadId) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT object FROM upload_chunks WHERE upload_id = $1 ORDER BY start",
        )
        .bind(id)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn claim_finish(&self, id: UploadId, now: i64, stale_before: i64) -> StoreResult<bool> {
        let claimed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE uploads SET checking_since = $2 \
             WHERE id = $1 AND state = 'open' AND received = size \
             AND (checking_since IS NULL OR checking_since < $3) RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(stale_before)
        .fetch_optional(&self.writer)
        .await?;
        Ok(claimed.is_some())
    }

    async fn release_finish(&self, id: UploadId) -> StoreResult<()> {
        sqlx::query("UPDATE uploads SET checking_since = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn finish_upload(
        &self,
        id: UploadId,
        content_type: &str,
        size: Option<(u32, u32)>,
        preview: bool,
    ) -> StoreResult<Option<UploadRow>> {
        let mut tx = self.write().await?;
        let row: Option<UploadRow> = sqlx::query_as(concat!(
            "UPDATE uploads SET state = 'stored', content_type = $2, width = $3, height = $4, \
             preview = $5 WHERE id = $1 AND state = 'open' AND received = size RETURNING ",
            upload_columns!()
        ))
        .bind(id)
        .bind(content_type.to_owned())
        .bind(size.map(|(w, _)| i64::from(w)))
        .bind(size.map(|(_, h)| i64::from(h)))
        .bind(i64::from(preview))
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM upload_chunks WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn drop_upload(
        &self,
        id: UploadId,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Option<(UploadRow, Vec<String>)>> {
        let mut tx = self.write().await?;
        // The chunks first: deleting the upload would take their rows with it (cascade)
        // before they could say which objects to delete.
        let chunks: Vec<String> = sqlx::query_scalar(
            "DELETE FROM upload_chunks WHERE upload_id = $1 AND EXISTS \
             (SELECT 1 FROM uploads WHERE id = $1 AND message_id IS NULL \
             AND (state <> 'open' OR checking_since IS NULL OR checking_since < $2)) \
             RETURNING object",
        )
        .bind(id)
        .bind(stale_before)
        .fetch_all(&mut *tx)
        .await?;
        let row: Option<UploadRow> = sqlx::query_as(concat!(
            "DELETE FROM uploads WHERE id = $1 AND message_id IS NULL \
             AND (state <> 'open' OR checking_since IS NULL OR checking_since < $2) RETURNING ",
            upload_columns!()
        ))
        .bind(id)
        .bind(stale_before)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // A whole upload's chunks may be its content's blob already (a finish that did not
        // reach the database): the sweeper looks at it, as at a stored one's.
        if row.is_stored() || row.received == row.size {
            Self::orphan(&mut tx, &row.sha256, now).await?;
        }
        tx.commit().await?;
        Ok(Some((row, chunks)))
    }

    async fn attachment(&self, viewer: UserId, id: UploadId) -> StoreResult<Option<UploadRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads u WHERE u.id = $1 AND u.state = 'stored' AND \
             ((u.message_id IS NULL AND u.owner_id = $2) OR EXISTS \
              (SELECT 1 FROM members m WHERE m.conversation_id = u.conversation_id \
               AND m.user_id = $2))"
        ))
        .bind(id)
        .bind(viewer)
        .fetch_optional(&self.readers)
        .await?)
    }

    async fn unsent_uploads(&self, before: i64, limit: i64) -> StoreResult<Vec<UploadId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM uploads WHERE message_id IS NULL AND created_at < $1 \
             ORDER BY created_at LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        Ok(ids.into_iter().map(UploadId).collect())
    }

    async fn sweep_orphans(&self, before: i64, delete: &DeleteBlob) -> StoreResult<usize> {
        let mut tx = self.write().await?;
        // A hundred at a time: the transaction (on SQLite, the one writer) is held while
        // their blobs are deleted.
        let gone: Vec<String> = sqlx::query_scalar(
            "DELETE FROM blob_orphans WHERE sha256 IN \
             (SELECT o.sha256 FROM blob_orphans o WHERE o.since <= $1 AND NOT EXISTS \
              (SELECT 1 FROM uploads u WHERE u.sha256 = o.sha256) LIMIT 100) \
             RETURNING sha256",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        for sha256 in &gone {
            if !delete(sha256.clone()).await {
                // The row goes anyway: the blob stays unused until an operator removes it.
                tracing::warn!(%sha256, "could not delete an unused file");
            }
        }
        tx.commit().await?;
        Ok(gone.len())
    }
}

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Marks a blob as possibly unnamed from `now` on (the sweeper checks again).
    pub(super) async fn orphan(conn: &mut Conn<D>, sha256: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO blob_orphans (sha256, since) VALUES ($1, $2) \
             ON CONFLICT (sha256) DO UPDATE SET since = excluded.since",
        )
        .bind(sha256.to_owned())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
