//! `/uploads` and `/attachments`: files sent in resumable chunks, then downloaded by the
//! members of the conversation they were sent to (addition to v1, see docs/protocol.md).
//!
//! An upload is declared (`POST /uploads`), then its bytes arrive in order in `PATCH`es
//! of at most [`UPLOAD_CHUNK_BYTES`], each naming where it starts (`Upload-Offset`); a
//! dropped connection loses only the chunk in flight, and `GET /uploads/{id}` says where
//! to go on. The last chunk has the bytes checked and stored (`crate::files`). These
//! routes have their own body limit and timeout (`http::router`).
//!
//! Files are served only to callers allowed to see them, under ids no one can guess,
//! and never as something a webview would run: `Content-Disposition: attachment`,
//! `X-Content-Type-Options: nosniff`, a sandboxing `Content-Security-Policy`, and
//! active types served as bytes ([`media::served_type`]).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::media::{self, MediaError};
use ferry_proto::{
    ErrorBody, ErrorCode, NewUpload, Timestamp, UPLOAD_CHUNK_BYTES, Upload, UploadError, UploadId,
    validate_upload,
};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::files::FileError;

use crate::http::extract::{Gives, Json, Path, Takes};
use crate::state::App;
use crate::store::UploadRow;
use crate::store::uploads::{Declined, FINISH_CLAIM_MS, MAX_OPEN_UPLOADS};

/// The header that says where a chunk starts.
pub const UPLOAD_OFFSET: &str = "upload-offset";

/// The error a client sees for a file that failed its checks, or a blob store failure.
impl From<FileError> for Error {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Media(e @ MediaError::Mismatch { .. }) => {
                Error::new(ErrorCode::MediaMismatch, e.to_string())
            }
            FileError::Media(e @ MediaError::TooManyPixels { .. }) => {
                Error::new(ErrorCode::ImageTooLarge, e.to_string())
            }
            FileError::Hash | FileError::EmptyChunk | FileError::ChunkCut => {
                Error::invalid(e.to_string())
            }
            FileError::ChunkTooLarge { .. } => Error::new(ErrorCode::TooLarge, e.to_string()),
            FileError::Store(e) => Error::Unavailable(format!("blob store: {e}")),
        }
    }
}

/// The upload as the protocol shows it.
fn shown(row: &UploadRow) -> Upload {
    Upload {
        id: row.id,
        size: row.size as u64,
        offset: row.received as u64,
        chunk_size: UPLOAD_CHUNK_BYTES,
        attachment: row.attachment(),
    }
}

/// Declares an upload: 201 with where to start (0), or at once stored when this user
/// already sent the same bytes.
#[utoipa::path(post, path = endpoints::CreateUpload::PATH, tag = "files", security(("bearer" = [])),
    request_body = NewUpload,
    responses((status = 201, body = Upload), (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Json(req): Json<Takes<endpoints::CreateUpload>>,
) -> Result<(StatusCode, Json<Gives<endpoints::CreateUpload>>)> {
    let max = app.config.max_file_bytes;
    let mut req = req;
    req.content_type = media::normalize(&req.content_type);
    validate_upload(&req, max).map_err(|e| match e {
        UploadError::Empty => Error::invalid("the file is empty: there is nothing to send"),
        UploadError::TooLarge => Error::new(
            ErrorCode::TooLarge,
            format!("files are at most {max} bytes"),
        ),
        UploadError::Name => Error::invalid(
            "a file name is 1 to 255 characters, without path separators, control characters \
             or bidirectional overrides (U+202A to U+202E, U+2066 to U+2069)",
        ),
        UploadError::ContentType => {
            Error::invalid("content_type must be a media type: type/subtype")
        }
        UploadError::Sha256 => Error::invalid("sha256 must be 64 lowercase hex digits"),
    })?;
    let row = UploadRow {
        // Random, not time-ordered: the id is the file's address, and must not be guessed.
        id: UploadId(Uuid::new_v4()),
        owner_id: caller.user_id,
        name: req.name,
        size: req.size as i64,
        content_type: req.content_type,
        sha256: req.sha256,
        received: 0,
        state: "open".into(),
        width: None,
        height: None,
        preview: 0,
        conversation_id: None,
        message_id: None,
        created_at: Timestamp::now().as_millis(),
    };
    let row = match app
        .store
        .create_upload(&row, app.config.file_quota_bytes)
        .await?
    {
        Ok(row) => row,
        Err(Declined::Quota) => {
            return Err(Error::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "your files (and uploads not finished) would take more than your {} bytes \
                     of storage; delete some messages with files, or cancel unfinished uploads",
                    app.config.file_quota_bytes
                ),
            ));
        }
        Err(Declined::TooManyOpen) => {
            return Err(Error::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "you have {MAX_OPEN_UPLOADS} uploads not finished; finish or cancel some first"
                ),
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(shown(&row))))
}

/// The caller's own upload `id`, or 404.
async fn own(app: &App, caller: &Caller, id: UploadId) -> Result<UploadRow> {
    match app.store.upload(id).await? {
        Some(row) if row.owner_id == caller.user_id => Ok(row),
        _ => Err(Error::not_found("upload")),
    }
}

/// Where an upload stands: the next `PATCH` starts at `offset`.
#[utoipa::path(get, path = endpoints::UploadStatus::PATH, tag = "files", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Upload), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn status(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<UploadId>,
) -> Result<Json<Gives<endpoints::UploadStatus>>> {
    Ok(Json(shown(&own(&app, &caller, id).await?)))
}

/// Appends the next chunk (the body, `application/offset+octet-stream`) at
/// `Upload-Offset`. The last one has the file checked and stored: the answer then
/// carries the attachment. A chunk at the wrong offset is `conflict`: ask where it stands.
#[utoipa::path(patch, path = endpoints::AppendChunk::PATH, tag = "files", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Upload-Offset" = u64, Header, description = "where this chunk starts")),
    request_body(content = serde_json::Value, content_type = "application/offset+octet-stream",
        description = "the chunk's bytes"),
    responses((status = 200, body = Upload), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the file is being checked: ask again")))]
pub async fn append(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<UploadId>,
    request: Request,
) -> Result<Json<Gives<endpoints::AppendChunk>>> {
    let row = own(&app, &caller, id).await?;
    let start: u64 = request
        .headers()
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::invalid("Upload-Offset must be the byte this chunk starts at"))?;
    if row.is_stored() {
        // A repeat of the last chunk whose answer was lost.
        drain(request).await;
        return Ok(Json(shown(&row)));
    }
    if start != row.received as u64 {
        drain(request).await;
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("the upload holds {} bytes; send from there", row.received),
        ));
    }
    let left = (row.size - row.received) as u64;
    if left > 0 {
        // One user's chunks take turns (a few at once): each is a connection's worth of
        // buffers and a write, and a user holding hundreds open held their memory.
        let _turn = app.limits.uploads.turn(caller.user_id).await;
        let max = left.min(UPLOAD_CHUNK_BYTES);
        let body = request.into_body().into_data_stream();
        let chunk = app.files.put_chunk(id, start, body, max).await?;
        let len = chunk.len;
        if !app
            .store
            .add_chunk(id, start as i64, len as i64, &chunk.object)
            .await?
        {
            // Not counted (another try at this offset came first, or the upload was
            // cancelled meanwhile): nothing else will ever name this object.
            app.files.drop_chunks(id, &[chunk.object]).await;
            return Err(Error::new(
                ErrorCode::Conflict,
                "another chunk at this offset came first, or the upload is gone; ask where it stands",
            ));
        }
        app.files.counted(id, chunk);
        if start + len < row.size as u64 {
            let mut row = row;
            row.received += len as i64;
            return Ok(Json(shown(&row)));
        }
    } else {
        drain(request).await;
    }
    finish(&app, row).await.map(Json)
}

/// Reads and drops a chunk that is answered without being stored: a server that answers
/// while the client still sends makes the connection close under it, and the client
/// loses the answer (see `http::limit`). Bounded by the chunk size and a few seconds.
async fn drain(request: Request) {
    let mut body = request.into_body().into_data_stream();
    let mut seen = 0u64;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(piece)) = body.next().await {
            seen += piece.len() as u64;
            if seen > UPLOAD_CHUNK_BYTES {
                break;
            }
        }
    })
    .await;
}

/// Every byte is in: check and store the file, once (a repeat of the last chunk while it
/// is being checked is told to come back). A file that fails its checks is forgotten
/// (its chunks too); a blob store failure leaves the upload to be finished by a repeat
/// of the last `PATCH`.
async fn finish(app: &App, row: UploadRow) -> Result<Upload> {
    let now = Timestamp::now().as_millis();
    if !app
        .store
        .claim_finish(row.id, now, now - FINISH_CLAIM_MS)
        .await?
    {
        return match app.store.upload(row.id).await? {
            Some(done) if done.is_stored() => Ok(shown(&done)),
            // Said to the client as it is (an `Error::Unavailable` is a failure of this
            // server's, logged and shown as one): a repeat while the check runs is normal.
            Some(_) => Err(Error::new(
                ErrorCode::Unavailable,
                "the file is being checked; ask again in a moment",
            )),
            None => Err(Error::not_found("upload")),
        };
    }
    let objects = app.store.chunks(row.id).await?;
    let assembled = app
        .files
        .assemble(
            row.id,
            &objects,
            row.size as u64,
            &row.sha256,
            &row.content_type,
        )
        .await;
    let assembled = match assembled {
        Ok(assembled) => assembled,
        Err(e @ FileError::Store(_)) => {
            app.store.release_finish(row.id).await?;
            return Err(e.into());
        }
        Err(e) => {
            // Under this finish's own claim.
            app.store
                .drop_upload(row.id, Timestamp::now().as_millis(), i64::MAX)
                .await?;
            app.files.forget_chunks(row.id, &row.sha256, &objects).await;
            return Err(e.into());
        }
    };
    let done = app
        .store
        .finish_upload(
            row.id,
            &assembled.content_type,
            assembled.size,
            assembled.preview,
        )
        .await?;
    // The same bytes were stored already: these chunks are nobody's. (Cancelled after
    // its claim went stale, `None`: the cancel forgot the chunks as `forget_chunks` says.)
    if done.is_some() && !assembled.kept {
        app.files.drop_chunks(row.id, &objects).await;
    }
    done.map(|done| shown(&done))
        .ok_or_else(|| Error::not_found("upload"))
}

/// Cancels an upload that no message carries yet.
#[utoipa::path(delete, path = endpoints::CancelUpload::PATH, tag = "files", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn cancel(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<UploadId>,
) -> Result<StatusCode> {
    let row = own(&app, &caller, id).await?;
    if row.message_id.is_some() {
        return Err(Error::new(
            ErrorCode::Conflict,
            "the file was sent; delete its message instead",
        ));
    }
    let now = Timestamp::now().as_millis();
    match app
        .store
        .drop_upload(id, now, now - FINISH_CLAIM_MS)
        .await?
    {
        Some((row, chunks)) => {
            app.files.forget_chunks(id, &row.sha256, &chunks).await;
            app.files.sweep.notify_one();
        }
        // Still there: its last chunk is being checked (or it was sent meanwhile).
        None if app.store.upload(id).await?.is_some() => {
            return Err(Error::new(
                ErrorCode::Conflict,
                "the file is being checked or was sent; ask where it stands",
            ));
        }
        None => {}
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The headers every file response carries: never rendered, never run.
fn guarded(headers: &mut HeaderMap, content_type: &str, name: &str) {
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        name.chars()
            .map(
                |c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            )
            .collect::<String>(),
        percent_encode(name)
    );
    let values = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox".into(),
        ),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable".into(),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// RFC 8187's encoding of a file name for `filename*`.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The caller's view of attachment `id`, or 404 (not found and not allowed look alike).
async fn visible(app: &App, caller: &Caller, id: UploadId) -> Result<UploadRow> {
    app.store
        .attachment(caller.user_id, id)
        .await?
        .ok_or_else(|| Error::not_found("attachment"))
}

/// A file's bytes, streamed; `Range: bytes=N-` resumes a download from byte N (206).
#[utoipa::path(get, path = endpoints::Download::PATH, tag = "files", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the file, with its own media type", content_type = "*/*"),
        (status = 206, description = "the file from the asked byte on", content_type = "*/*"),
        (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn download(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<UploadId>,
    headers: HeaderMap,
) -> Result<Response> {
    let row = visible(&app, &caller, id).await?;
    let size = row.size as u64;
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&start| start < size)
        .unwrap_or(0);
    let blob = app.files.read(&row.sha256, start).await?;
    let mut response = Body::from_stream(blob).into_response();
    let headers = response.headers_mut();
    guarded(headers, media::served_type(&row.content_type), &row.name);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size - start));
    if start > 0 {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(range) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", size - 1)) {
            response.headers_mut().insert(header::CONTENT_RANGE, range);
        }
    }
    Ok(response)
}

/// An image's preview: at most 320 pixels a side, JPEG or PNG, without metadata.
#[utoipa::path(get, path = endpoints::Thumbnail::PATH, tag = "files", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the preview", content(("image/jpeg"), ("image/png"))),
        (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn thumbnail(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<UploadId>,
) -> Result<Response> {
    let row = visible(&app, &caller, id).await?;
    if row.preview == 0 {
        return Err(Error::not_found("preview"));
    }
    let bytes = app.files.preview(&row.sha256).await?;
    let kind = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut response = bytes.into_response();
    guarded(
        response.headers_mut(),
        kind,
        &format!("{}.preview", row.name),
    );
    Ok(response)
}
