//! [`MailTokenStore`] in SQL: the mailed one-time tokens, one row each (`mail_tokens`),
//! used once by an `UPDATE … RETURNING` that only an unused, unexpired token matches.

use async_trait::async_trait;
use ferry_proto::{Timestamp, UserId};
use macro_rules_attribute::apply;

use super::{Dialect, SqlStore};
use crate::store::{MailPurpose, MailToken, MailTokenStore, StoreResult};

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> MailTokenStore for SqlStore<D> {
    async fn create_mail_token(&self, token: &MailToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mail_tokens (token_hash, user_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.hash.clone())
        .bind(token.user)
        .bind(token.purpose.as_str().to_owned())
        .bind(token.email.clone())
        .bind(token.created_at.as_millis())
        .bind(token.expires_at.as_millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn mail_tokens_since(
        &self,
        user: UserId,
        purpose: MailPurpose,
        since: Timestamp,
    ) -> StoreResult<u64> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM mail_tokens WHERE user_id = $1 AND purpose = $2 \
             AND created_at >= $3",
        )
        .bind(user)
        .bind(purpose.as_str().to_owned())
        .bind(since.as_millis())
        .fetch_one(&self.readers)
        .await?;
        Ok(count.max(0) as u64)
    }

    async fn use_mail_token(
        &self,
        hash: &[u8],
        purpose: MailPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<(UserId, Option<String>)>> {
        let row: Option<(UserId, Option<String>)> = sqlx::query_as(
            "UPDATE mail_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING user_id, email",
        )
        .bind(hash.to_vec())
        .bind(purpose.as_str().to_owned())
        .bind(now.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(row)
    }

    async fn forget_spent_mail_tokens(&self, before: Timestamp) -> StoreResult<u64> {
        let gone: Vec<(i64,)> =
            sqlx::query_as("DELETE FROM mail_tokens WHERE expires_at < $1 RETURNING expires_at")
                .bind(before.as_millis())
                .fetch_all(&self.writer)
                .await?;
        Ok(gone.len() as u64)
    }
}
