//! [`PictureStore`] in SQL: the account's row names its picture.

use async_trait::async_trait;
use ferry_proto::{PictureId, User, UserId};
use macro_rules_attribute::apply;

use super::{Dialect, SqlStore, locked};
use crate::store::rows::UserRow;
use crate::store::{PictureStore, StoreResult};

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> PictureStore for SqlStore<D> {
    async fn set_picture(
        &self,
        id: UserId,
        picture: Option<PictureId>,
    ) -> StoreResult<Option<(User, Option<PictureId>)>> {
        let mut tx = self.write().await?;
        let before: Option<(UserId, Option<PictureId>)> = sqlx::query_as(locked(
            "SELECT u.id, u.picture FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL",
            D::lock("u"),
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((_, replaced)) = before else {
            return Ok(None);
        };
        let row: UserRow = sqlx::query_as(concat!(
            "UPDATE users SET picture = $2 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(picture)
        .fetch_one(&mut *tx)
        .await?;
        Self::mark_shown_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some((User::from(row), replaced)))
    }

    async fn picture_in_use(&self, picture: PictureId) -> StoreResult<bool> {
        let found: Option<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE picture = $1")
            .bind(picture)
            .fetch_optional(&self.readers)
            .await?;
        Ok(found.is_some())
    }
}
