//! Profile pictures in the blob store: small squares made from an uploaded image
//! (`pictures/{id}`), a new object for each new picture, deleted once no one shows them.

use bytes::Bytes;
use ferry_proto::PictureId;
use ferry_proto::media;
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::{FileError, Files, PREVIEW_SOURCE_BYTES};

impl Files {
    fn picture_at(picture: PictureId) -> Path {
        Path::from(format!("pictures/{picture}"))
    }

    /// Makes a profile picture of a stored image: its middle square, small (see
    /// `media::square`); `None` when it is not an image this server decodes, or larger
    /// than it decodes for previews.
    pub async fn make_picture(
        &self,
        sha256: &str,
        content_type: &str,
        size: u64,
        pixels: Option<(u32, u32)>,
    ) -> Result<Option<Bytes>, FileError> {
        let (Some(format), Some((width, height))) = (media::previewable(content_type), pixels)
        else {
            return Ok(None);
        };
        if size > PREVIEW_SOURCE_BYTES {
            return Ok(None);
        }
        let pieces: Vec<Bytes> = self.read(sha256, 0).await?.try_collect().await?;
        let bytes = Bytes::from(pieces.concat());
        let turn = self
            .decoding_turn(media::decoded_bytes(width, height) + bytes.len() as u64)
            .await;
        let made = tokio::task::spawn_blocking(move || {
            let made = media::square(format, &bytes, ferry_proto::PICTURE_SIDE);
            drop(turn);
            made
        })
        .await;
        match made {
            Ok(Ok(Some(square))) => Ok(Some(Bytes::from(square))),
            Ok(Ok(None)) | Ok(Err(_)) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "making a profile picture failed");
                Ok(None)
            }
        }
    }

    /// Keeps a profile picture's bytes.
    pub async fn put_picture(&self, picture: PictureId, bytes: Bytes) -> Result<(), FileError> {
        self.store
            .put(&Self::picture_at(picture), bytes.into())
            .await?;
        Ok(())
    }

    /// A profile picture's bytes.
    pub async fn picture(&self, picture: PictureId) -> Result<Bytes, FileError> {
        Ok(self
            .store
            .get(&Self::picture_at(picture))
            .await?
            .bytes()
            .await?)
    }

    /// The profile pictures kept, each with when it was written.
    pub async fn pictures(
        &self,
    ) -> Result<Vec<(PictureId, chrono::DateTime<chrono::Utc>)>, FileError> {
        let mut listing = self.store.list(Some(&Path::from("pictures")));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await.transpose()? {
            if let Some(Ok(id)) = meta.location.filename().map(str::parse::<PictureId>) {
                found.push((id, meta.last_modified));
            }
        }
        Ok(found)
    }

    /// Deletes a profile picture no one shows any more.
    pub async fn delete_picture(&self, picture: PictureId) -> Result<(), FileError> {
        match self.store.delete(&Self::picture_at(picture)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a picture no one shows, as far as the file store lets it now: what it does
    /// not is deleted by the hourly sweep of unused pictures (`crate::background`), so
    /// the request that let it go never fails for it.
    pub async fn forget_picture(&self, picture: PictureId) {
        if let Err(e) = self.delete_picture(picture).await {
            tracing::warn!(%picture, error = %e, "a picture no one shows is left for the sweep");
        }
    }
}
