//! [`PictureStore`]: which profile picture each account shows. The pictures' bytes are
//! the file store's (`crate::files`); the store names the current one, so a picture is
//! served only while someone shows it.

use async_trait::async_trait;
use ferry_proto::{PictureId, User, UserId};

use super::StoreResult;

/// The pictures part of the store.
#[async_trait]
pub trait PictureStore: Send + Sync {
    /// Sets (or with `None` removes) an account's profile picture, and stamps the
    /// conversations it is in for `/sync`; the user as now and the picture it replaced,
    /// or `None` when there is no such account in use.
    async fn set_picture(
        &self,
        id: UserId,
        picture: Option<PictureId>,
    ) -> StoreResult<Option<(User, Option<PictureId>)>>;
    /// Whether `picture` is someone's picture now (only those are served).
    async fn picture_in_use(&self, picture: PictureId) -> StoreResult<bool>;
}
