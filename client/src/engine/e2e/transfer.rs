//! History transfer between one user's devices (issue 31, docs/protocol.md "History
//! transfer"), as the engine does it.
//!
//! - A device that holds entries it could not open (sealed before it joined) asks its
//!   user's other signed-in devices ([`ask_if_due`]: once, and again when a week passed
//!   unanswered; [`ask`] asks again at once): a note carrying a fresh HPKE public key,
//!   signed with its MLS signature key.
//! - A device that receives an ask keeps it until its user answers ([`on_note`]): the app
//!   and the CLI show it, because only the person can tell their own new device from one
//!   someone else signed in.
//! - Sending ([`send_history`]) checks the ask's signature against the asker's leaf in a
//!   group both are in, gathers what this device opened in those groups (newest first,
//!   up to [`HISTORY_BUDGET`]), encrypts it as a file under a fresh key, uploads it, and
//!   leaves the asker a note with where it is and its key, sealed to the ask's key and
//!   signed.
//! - Receiving checks that signature the same way, opens the key, downloads and opens
//!   the history, checks its hash, and fills in the entries it could not open (or keeps
//!   what it says for entries on pages not fetched yet). The upload is deleted after.

use ferry_proto::mls::{Device, MlsBytes, SealedFile};
use ferry_proto::notes::{
    DeviceNote, HistoryArchive, HistoryEntry, HistoryFile, HistoryKey, HistoryNote, NOTE_KEPT_MS,
    ready_signed, request_signed,
};
use ferry_proto::{ConversationId, ErrorCode, NewUpload, NoteId, SessionId, Timestamp, UploadId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::api::SessionError;
use crate::engine::End;
use crate::events::Event;
use crate::mls::history::{hpke_open, hpke_pair, hpke_seal, verify};
use crate::store::{HistoryAsk, OpenedEntry, StoredHistoryRequest};
use crate::{ClientError, Shared, file_seal};

/// Most bytes of text, file descriptions and previews one history holds: the newest
/// entries, up to this (the server's file limit is 100 MiB unless its operator lowers it).
const HISTORY_BUDGET: usize = 32 * 1024 * 1024;

fn this_session(shared: &Shared) -> SessionId {
    shared.session.credentials().session_id
}

/// The conversations this device holds as encrypted.
fn encrypted(shared: &Shared) -> Result<Vec<ConversationId>, End> {
    Ok(shared
        .store
        .encrypted_conversations()?
        .into_iter()
        .map(|(c, _)| c)
        .collect())
}

/// Of this device's groups, those `session` (a device of this user) is in, and its
/// signature key there.
async fn shared_groups(
    shared: &Shared,
    session: SessionId,
) -> Result<(Vec<ConversationId>, Option<Vec<u8>>), End> {
    let device = Device {
        user_id: shared.me_id,
        session_id: session,
    };
    let conversations = encrypted(shared)?;
    let mut mls = shared.mls.lock().await;
    Ok(mls.groups_with(device, &conversations)?)
}

/// Reads the notes waiting for this device (after each connection's upkeep).
pub(crate) async fn read_notes(shared: &Shared) -> Result<(), End> {
    for note in shared.api.notes().await? {
        on_note(shared, &note).await?;
    }
    Ok(())
}

/// One note for this device: an ask is kept for the user's answer, a history is taken in.
/// The note is deleted once done with, and kept for the next look when a transient
/// failure stopped it.
pub(crate) async fn on_note(shared: &Shared, note: &DeviceNote) -> Result<(), End> {
    match serde_json::from_slice::<HistoryNote>(&note.note.0) {
        Ok(HistoryNote::Request {
            public_key,
            signature,
        }) => {
            let request = StoredHistoryRequest {
                public_key: public_key.0,
                signature: signature.0,
            };
            shared
                .store
                .keep_history_request(note.from_session_id, &request, note.created_at)?;
            announce_requests(shared)?;
        }
        Ok(HistoryNote::Ready {
            public_key,
            sealed,
            signature,
        }) => {
            let taken = receive(
                shared,
                note.from_session_id,
                &public_key.0,
                &sealed.0,
                &signature.0,
            )
            .await?;
            match taken {
                Ok(filled) => tracing::info!(filled, "took in a history from another device"),
                Err(why) => tracing::warn!(why, "a history that cannot be taken in"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "a note this device does not understand"),
    }
    drop_note(shared, note.id).await
}

async fn drop_note(shared: &Shared, id: NoteId) -> Result<(), End> {
    match shared.api.drop_note(id).await {
        // Read on another connection of this device's meanwhile.
        Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => Ok(()),
        other => Ok(other?),
    }
}

fn announce_requests(shared: &Shared) -> Result<(), End> {
    let requests = shared.store.history_requests()?;
    shared.emit(Event::HistoryRequests { requests });
    Ok(())
}

/// Asks for the history when this device holds entries it could not open and has not
/// asked yet, or asked and heard nothing for as long as the server keeps a note (the
/// devices asked were away all that time: the ask is gone from the server, so it goes
/// again for when they are back).
pub(crate) async fn ask_if_due(shared: &Shared) -> Result<(), End> {
    let now = shared.options.clock.now();
    if !ask_due(shared.store.history_ask()?.as_ref(), now) || !shared.store.has_unreadable()? {
        return Ok(());
    }
    ask(shared).await.map(drop)
}

/// Whether a (new) ask is due, given this device's last one.
fn ask_due(last: Option<&HistoryAsk>, now: Timestamp) -> bool {
    last.is_none_or(|ask| {
        ask.received_at.is_none() && now.as_millis() - ask.asked_at.as_millis() >= NOTE_KEPT_MS
    })
}

/// Asks every other signed-in device of this user for the history they hold, with a new
/// key (an answer to an earlier ask then no longer opens); how many devices were asked.
pub(crate) async fn ask(shared: &Shared) -> Result<usize, End> {
    let me = this_session(shared);
    let others: Vec<SessionId> = shared
        .api
        .signed_in_devices(&[shared.me_id])
        .await?
        .into_iter()
        .map(|d| d.session_id)
        .filter(|s| *s != me)
        .collect();
    if others.is_empty() {
        return Ok(0);
    }
    let (public_key, private_key) = hpke_pair()?;
    let signature = shared
        .mls
        .lock()
        .await
        .sign(&request_signed(me, &public_key))?;
    let note = serde_json::to_vec(&HistoryNote::Request {
        public_key: MlsBytes(public_key.clone()),
        signature: MlsBytes(signature),
    })
    .expect("a note serializes");
    let mut asked = 0;
    for to in others {
        match shared.api.leave_note(to, note.clone()).await {
            Ok(_) => asked += 1,
            // Signed out meanwhile, or too many notes waiting for it: the others still hear.
            Err(SessionError::Api(e))
                if matches!(e.code(), Some(ErrorCode::NotFound | ErrorCode::TooLarge)) =>
            {
                tracing::warn!(error = %e, %to, "a device could not be asked for history");
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Kept once the asks are out: an ask that failed half way is made again, new.
    shared.store.set_history_ask(&HistoryAsk {
        public_key,
        private_key,
        asked_at: shared.options.clock.now(),
        received_at: None,
    })?;
    Ok(asked)
}

/// Sends the history this device holds to the device of this user that asked for it:
/// how many entries it held.
pub(crate) async fn send_history(shared: &Shared, to: SessionId) -> Result<usize, ClientError> {
    let Some(request) = shared.store.history_request(to)? else {
        return Err(ClientError::Invalid(
            "no device of yours asked this one for its history with that id".into(),
        ));
    };
    let (conversations, key) = shared_groups(shared, to).await?;
    let Some(key) = key else {
        return Err(ClientError::Invalid(
            "that device is in none of your encrypted conversations yet: it joins them when it \
             connects; send the history after that"
                .into(),
        ));
    };
    if !verify(
        &key,
        &request_signed(to, &request.public_key),
        &request.signature,
    ) {
        shared.store.drop_history_request(to)?;
        announce_requests(shared)?;
        return Err(ClientError::Invalid(
            "that ask is not signed by the device it names: nothing was sent".into(),
        ));
    }
    let archive = HistoryArchive {
        entries: shared
            .store
            .opened_entries(&conversations, HISTORY_BUDGET)?
            .into_iter()
            .map(|(entry, files)| HistoryEntry {
                id: entry.id,
                conversation_id: entry.conversation_id,
                body: entry.body,
                emoji: entry.emoji,
                files: files
                    .into_iter()
                    .map(|f| HistoryFile {
                        file: SealedFile {
                            id: f.attachment.id,
                            name: f.attachment.name,
                            content_type: f.attachment.content_type,
                            size: f.attachment.size,
                            sha256: f.attachment.sha256,
                            key: MlsBytes(f.secret.key.to_vec()),
                            width: f.attachment.width,
                            height: f.attachment.height,
                            preview: f.secret.preview.map(MlsBytes),
                        },
                        stored_size: f.secret.size,
                    })
                    .collect(),
            })
            .collect(),
    };
    let count = archive.entries.len();
    let plain = Zeroizing::new(serde_json::to_vec(&archive).expect("a history serializes"));
    drop(archive);
    let file_key = Zeroizing::new(file_seal::new_key()?);
    let sealed = file_seal::seal_bytes(&file_key, &plain)?;
    let upload_id = upload(shared, sealed).await?;
    let history_key = Zeroizing::new(
        serde_json::to_vec(&HistoryKey {
            upload_id,
            key: MlsBytes(file_key.to_vec()),
            size: plain.len() as u64,
            sha256: hex::encode(Sha256::digest(plain.as_slice())),
        })
        .expect("a key serializes"),
    );
    let sealed_key = hpke_seal(&request.public_key, &history_key).map_err(End::from)?;
    let signature = shared
        .mls
        .lock()
        .await
        .sign(&ready_signed(to, &sealed_key))
        .map_err(End::from)?;
    let note = serde_json::to_vec(&HistoryNote::Ready {
        public_key: MlsBytes(request.public_key),
        sealed: MlsBytes(sealed_key),
        signature: MlsBytes(signature),
    })
    .expect("a note serializes");
    let left = shared.api.leave_note(to, note).await;
    if let Err(SessionError::Api(e)) = &left
        && e.code() == Some(ErrorCode::NotFound)
    {
        // Signed out since it asked: the upload expires unsent on the server.
        shared.store.drop_history_request(to)?;
        announce_requests(shared)?;
        return Err(ClientError::Invalid(
            "that device has signed out since it asked: nothing was sent".into(),
        ));
    }
    left?;
    shared.store.drop_history_request(to)?;
    announce_requests(shared)?;
    Ok(count)
}

/// Forgets another device's ask without answering it.
pub(crate) fn dismiss(shared: &Shared, session: SessionId) -> Result<bool, ClientError> {
    let dropped = shared.store.drop_history_request(session)?;
    announce_requests(shared)?;
    Ok(dropped)
}

/// Uploads encrypted bytes held in memory as an unsent file of this user's: its id.
async fn upload(shared: &Shared, bytes: Vec<u8>) -> Result<UploadId, ClientError> {
    let size = bytes.len() as u64;
    let new = NewUpload {
        name: "encrypted".into(),
        size,
        content_type: "application/octet-stream".into(),
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    let mut upload = shared.api.create_upload(&new).await?;
    while upload.offset < size {
        let start = upload.offset as usize;
        let end = (upload.offset + upload.chunk_size).min(size) as usize;
        upload = shared
            .api
            .upload_chunk(upload.id, upload.offset, bytes[start..end].to_vec())
            .await?;
    }
    Ok(upload.id)
}

/// Takes in a history another device of this user sent: the entries filled in, or why
/// it cannot be taken in (for good; a transient failure is an `End`, and the note stays).
async fn receive(
    shared: &Shared,
    from: SessionId,
    public_key: &[u8],
    sealed: &[u8],
    signature: &[u8],
) -> Result<Result<usize, String>, End> {
    let Some(ask) = shared.store.history_ask()? else {
        return Ok(Err("this device did not ask for one".into()));
    };
    if ask.public_key != public_key {
        return Ok(Err("it answers an earlier ask".into()));
    }
    let (_, key) = shared_groups(shared, from).await?;
    let Some(key) = key else {
        return Ok(Err(
            "it comes from a device in none of this device's groups".into(),
        ));
    };
    if !verify(&key, &ready_signed(this_session(shared), sealed), signature) {
        return Ok(Err("it is not signed by the device it names".into()));
    }
    let opened = match hpke_open(&ask.private_key, sealed) {
        Ok(opened) => Zeroizing::new(opened),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let Ok(found) = serde_json::from_slice::<HistoryKey>(&opened) else {
        return Ok(Err("its key does not read".into()));
    };
    let Ok(file_key) = <[u8; 32]>::try_from(found.key.0.as_slice()) else {
        return Ok(Err("its key is not a file key".into()));
    };
    let file_key = Zeroizing::new(file_key);
    let response = match shared.api.download(found.upload_id, 0).await {
        Ok(response) => response,
        Err(SessionError::Api(e)) if e.code() == Some(ErrorCode::NotFound) => {
            return Ok(Err("it is gone from the server".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let bytes = response
        .bytes()
        .await
        .map_err(|e| End::Reconnect(None, format!("downloading a history: {e}")))?;
    let (plain, sha256) = match file_seal::open_bytes(&file_key, &bytes, found.size) {
        Ok(opened) => (Zeroizing::new(opened.0), opened.1),
        Err(e) => return Ok(Err(e.to_string())),
    };
    if sha256 != found.sha256 || plain.len() as u64 != found.size {
        return Ok(Err("it is not the history its key names".into()));
    }
    let Ok(archive) = serde_json::from_slice::<HistoryArchive>(&plain) else {
        return Ok(Err("it does not read".into()));
    };
    let mut entries = Vec::with_capacity(archive.entries.len());
    let mut secrets = Vec::new();
    for entry in archive.entries {
        let mut attachments = Vec::new();
        for file in entry.files {
            if let Some((attachment, secret)) = file_seal::described(file.file, file.stored_size) {
                secrets.push((attachment.id, secret));
                attachments.push(attachment);
            }
        }
        entries.push(OpenedEntry {
            id: entry.id,
            conversation_id: entry.conversation_id,
            body: entry.body,
            emoji: entry.emoji,
            attachments,
        });
    }
    let now = shared.options.clock.now();
    let (changes, filled) = shared.store.apply_history(&entries, &secrets, now)?;
    shared.announce(changes);
    shared.emit(Event::HistoryReceived {
        entries: filled as u32,
    });
    // Read: nobody needs it on the server any more (the server expires it otherwise).
    if let Err(e) = shared.api.cancel_upload(found.upload_id).await {
        tracing::debug!(error = %e, "a history's upload is left to expire");
    }
    Ok(Ok(filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(at: i64, received: Option<i64>) -> HistoryAsk {
        HistoryAsk {
            public_key: vec![1],
            private_key: Zeroizing::new(vec![2]),
            asked_at: Timestamp::from_millis(at),
            received_at: received.map(Timestamp::from_millis),
        }
    }

    #[test]
    fn an_ask_goes_again_only_when_a_week_passed_unanswered() {
        let start = 1_800_000_000_000;
        let now = |after| Timestamp::from_millis(start + after);
        assert!(ask_due(None, now(0)), "never asked");
        let waiting = asked(start, None);
        assert!(!ask_due(Some(&waiting), now(NOTE_KEPT_MS - 1)));
        assert!(ask_due(Some(&waiting), now(NOTE_KEPT_MS)));
        let answered = asked(start, Some(start + 1));
        assert!(!ask_due(Some(&answered), now(10 * NOTE_KEPT_MS)));
    }
}
