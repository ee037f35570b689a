//! Profile pictures on this device: setting the signed-in person's own from an image file
//! ([`AccountHandle::set_picture`]; the server makes the square), removing it, and reading
//! anyone's ([`Client::picture`]), fetched once and kept in the account's folder under its
//! id, since the bytes under a picture's id never change. Setting one needs the server,
//! as every change of the account's own does; reading one already kept works offline.

use std::io::Read;
use std::path::Path;

use ferry_proto::{NewUpload, PictureId, UPLOAD_CHUNK_BYTES, User};
use sha2::{Digest, Sha256};

use crate::files::{declared_type, folder};
use crate::profile::AccountHandle;
use crate::{Client, ClientError};

/// The largest image a picture is made of (what the server decodes for previews).
const MAX_SOURCE_BYTES: u64 = 32 * 1024 * 1024;

impl AccountHandle<'_> {
    /// Uploads the image at `path` and makes it this person's picture: the server keeps
    /// its middle square, small, and every device of theirs and every contact sees it.
    pub async fn set_picture(&self, path: &Path) -> Result<User, ClientError> {
        let (bytes, name) = read_image(path).await?;
        let shared = &self.client().shared;
        let declared = NewUpload {
            content_type: declared_type(&name, &bytes),
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            name,
        };
        let mut upload = shared.api.create_upload(&declared).await?;
        while upload.attachment.is_none() {
            let start = usize::try_from(upload.offset).unwrap_or(usize::MAX);
            let end = (upload.offset + upload.chunk_size.min(UPLOAD_CHUNK_BYTES))
                .min(bytes.len() as u64) as usize;
            let chunk = bytes.get(start..end).unwrap_or_default().to_vec();
            if chunk.is_empty() {
                return Err(ClientError::Invalid(
                    "the server asks for bytes past the end of the picture".into(),
                ));
            }
            upload = shared
                .api
                .upload_chunk(upload.id, upload.offset, chunk)
                .await?;
        }
        let user = shared.api.set_picture(upload.id).await?;
        self.client().adopt_profile(&user)?;
        Ok(user)
    }

    /// Removes this person's picture: their initials show again, everywhere.
    pub async fn remove_picture(&self) -> Result<User, ClientError> {
        let user = self.client().shared.api.remove_picture().await?;
        self.client().adopt_profile(&user)?;
        Ok(user)
    }
}

impl Client {
    /// A profile picture's bytes (a JPEG or PNG, square): from this device when it was
    /// fetched before, else from the server, then kept.
    pub async fn picture(&self, picture: PictureId) -> Result<Vec<u8>, ClientError> {
        let dir = folder(&self.shared, "pictures");
        let path = dir.join(picture.to_string());
        match tokio::fs::read(&path).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let bytes = self.shared.api.picture(picture).await?;
        tokio::fs::create_dir_all(&dir).await?;
        // Written aside under a name of its own and renamed: a reader never finds half a
        // picture, and two fetches of one picture at once do not write into each other.
        let partial = dir.join(format!("{picture}.{}.part", uuid::Uuid::now_v7()));
        tokio::fs::write(&partial, &bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(bytes)
    }
}

/// The image file at `path`, whole, and its name; a file too large to be made a picture
/// of is refused before anything is sent.
async fn read_image(path: &Path) -> Result<(Vec<u8>, String), ClientError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        if file.metadata()?.len() > MAX_SOURCE_BYTES {
            return Err(ClientError::Invalid(
                "a picture is made of an image of at most 32 MB".into(),
            ));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let name = path.file_name().map_or_else(
            || "picture".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok((bytes, name))
    })
    .await
    .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
}
