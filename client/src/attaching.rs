//! Files in messages: attaching them (copied into the account's folder first, so the
//! message survives the original's moving), cancelling an upload, and reading what
//! arrived (a file's bytes, kept on this device, and an image's preview). The uploads
//! themselves run in `files`.

use std::path::PathBuf;

use ferry_proto::{MessageId, SendError, validate_body};

use crate::handles::{ConversationHandle, Files};
use crate::sending::refusal;
use crate::{Changes, ClientError, LocalMessage, files, store};

impl Files<'_> {
    /// Where this device keeps file `index` of `message`: downloaded first if it is not
    /// here (checked against its SHA-256), then kept in the cache.
    pub async fn download(&self, message: MessageId, index: u32) -> Result<PathBuf, ClientError> {
        files::download(&self.client.shared, message, index).await
    }

    /// The preview (JPEG or PNG bytes) of image `index` of `message`.
    pub async fn preview(&self, message: MessageId, index: u32) -> Result<Vec<u8>, ClientError> {
        files::preview(&self.client.shared, message, index).await
    }
}

impl ConversationHandle<'_> {
    /// Sends files (with `caption` as the message's text, which may be empty), replying
    /// to `reply_to` if set. Each file is copied into the account's folder first, so the
    /// message shows at once (with previews of images) and survives the originals being
    /// moved; the uploads and then the message go out in the background, online or
    /// later, resuming where they stopped.
    pub async fn send_files(
        &self,
        paths: &[PathBuf],
        caption: &str,
        reply_to: Option<MessageId>,
    ) -> Result<LocalMessage, ClientError> {
        let mut sources = Vec::new();
        for path in paths {
            let file = std::fs::File::open(path).map_err(|e| {
                ClientError::Invalid(format!("{} cannot be read: {e}", path.display()))
            })?;
            if file.metadata()?.is_dir() {
                return Err(ClientError::Invalid(format!(
                    "{} is a folder",
                    path.display()
                )));
            }
            sources.push((
                files::file_name(path),
                Box::new(file) as Box<dyn std::io::Read + Send>,
            ));
        }
        self.attach(sources, caption, reply_to).await
    }

    /// Sends one file given as bytes (a pasted image), named `name`.
    pub async fn send_file_data(
        &self,
        name: &str,
        bytes: Vec<u8>,
        caption: &str,
        reply_to: Option<MessageId>,
    ) -> Result<LocalMessage, ClientError> {
        let name = files::file_name(std::path::Path::new(name));
        let source = Box::new(std::io::Cursor::new(bytes)) as Box<dyn std::io::Read + Send>;
        self.attach(vec![(name, source)], caption, reply_to).await
    }

    async fn attach(
        &self,
        sources: Vec<(String, Box<dyn std::io::Read + Send>)>,
        caption: &str,
        reply_to: Option<MessageId>,
    ) -> Result<LocalMessage, ClientError> {
        let conversation = self.id;
        if sources.is_empty() {
            return Err(ClientError::Invalid("no files to send".into()));
        }
        if sources.len() > ferry_proto::MAX_ATTACHMENTS {
            return Err(refusal(SendError::TooManyFiles));
        }
        let caption = caption.trim_end();
        if !caption.is_empty() {
            validate_body(caption, ferry_proto::MAX_BODY_CHARS)
                .map_err(|e| refusal(SendError::Body(e)))?;
        }
        if !self.client.shared.store.has_conversation(conversation)? {
            return Err(ClientError::NotFound("conversation"));
        }
        let dir = files::folder(&self.client.shared, "outgoing");
        let prepared = tokio::task::spawn_blocking(move || {
            let mut prepared = Vec::new();
            for (name, mut source) in sources {
                match files::prepare(&mut *source, &name, &dir) {
                    Ok(file) => prepared.push(file),
                    Err(e) => {
                        // Nothing half-attached stays behind.
                        for file in &prepared {
                            let file: &store::PreparedFile = file;
                            let _ = std::fs::remove_file(&file.path);
                            if let Some(preview) = &file.preview {
                                let _ = std::fs::remove_file(preview);
                            }
                        }
                        return Err(e);
                    }
                }
            }
            Ok(prepared)
        })
        .await
        .map_err(|e| ClientError::Io(std::io::Error::other(e)))??;
        let id = self.client.shared.options.ids.new_id();
        self.stop_typing();
        let message = self.client.shared.store.compose_files(
            self.client.shared.me_id,
            id,
            conversation,
            caption,
            reply_to,
            &prepared,
            self.client.shared.options.clock.now(),
        )?;
        self.client.shared.announce(Changes::composed(&message));
        self.client.shared.uploads.notify_one();
        Ok(message)
    }

    /// Cancels an unsent message with files that are still uploading (or that failed):
    /// it is deleted here with its copies, and the server forgets its uploads.
    pub fn cancel_upload(&self, message: MessageId) -> Result<(), ClientError> {
        self.holds(message)?;
        let Some((paths, uploads)) = self.client.shared.store.cancel_files(message)? else {
            return Err(ClientError::Invalid(
                "nothing to cancel: the message has no files waiting (it may be on its way)".into(),
            ));
        };
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
        if !uploads.is_empty() {
            // Best effort: an upload the server keeps unsent costs only its owner's quota.
            let shared = self.client.shared.clone();
            tokio::spawn(async move {
                for id in uploads {
                    let _ = shared.api.cancel_upload(id).await;
                }
            });
        }
        self.client.shared.announce(Changes::conversation(self.id));
        Ok(())
    }
}
