//! Notes between one user's own devices (issue 31; an addition to v1, docs/protocol.md):
//! a device leaves a few opaque bytes for another signed-in device of its user, which
//! reads them live (`mls_note`) or at its next connection, and deletes them. History
//! transfer's ask and answer travel this way; the server reads neither.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::mls::Device;
use ferry_proto::notes::{MAX_NOTE_BYTES, MAX_NOTES_WAITING};
use ferry_proto::{ErrorBody, ErrorCode, NoteId, ServerFrame, Timestamp};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Path, Takes};
use crate::state::App;
use crate::store::notes::NoteOutcome;

/// Leaves a note for another signed-in device of the caller's user.
#[utoipa::path(post, path = endpoints::LeaveNote::PATH, tag = "mls", security(("bearer" = [])),
    request_body = ferry_proto::notes::NewDeviceNote,
    responses((status = 200, body = ferry_proto::notes::DeviceNote), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn leave_note(
    State(app): State<App>,
    caller: Caller,
    Json(new): Json<Takes<endpoints::LeaveNote>>,
) -> Result<Json<Gives<endpoints::LeaveNote>>> {
    let size = new.note.0.len();
    if size == 0 || size > MAX_NOTE_BYTES {
        return Err(Error::invalid(format!(
            "a note holds 1 to {MAX_NOTE_BYTES} bytes"
        )));
    }
    let from = Device {
        user_id: caller.user_id,
        session_id: caller.session_id,
    };
    let outcome = app
        .store
        .leave_note(
            from,
            new.to_session_id,
            &new.note.0,
            MAX_NOTES_WAITING,
            Timestamp::now(),
        )
        .await?;
    match outcome {
        NoteOutcome::Left(note) => {
            app.announce.frame(
                vec![caller.user_id],
                None,
                &ServerFrame::MlsNote {
                    session_id: new.to_session_id,
                    note: Box::new(note.clone()),
                },
            );
            Ok(Json(note))
        }
        // A stranger's session is as unknown as one that does not exist.
        NoteOutcome::NoSuchDevice => Err(Error::not_found("device")),
        NoteOutcome::Full => Err(Error::new(
            ErrorCode::TooLarge,
            format!(
                "a device keeps at most {MAX_NOTES_WAITING} notes waiting: it reads them when it next connects"
            ),
        )),
    }
}

/// The notes waiting for the caller's device, oldest first.
#[utoipa::path(get, path = endpoints::Notes::PATH, tag = "mls", security(("bearer" = [])),
    responses((status = 200, body = [ferry_proto::notes::DeviceNote]), (status = 401, body = ErrorBody)))]
pub async fn notes(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::Notes>>> {
    Ok(Json(app.store.notes(caller.session_id).await?))
}

/// Deletes a note the caller's device has read.
#[utoipa::path(delete, path = endpoints::DropNote::PATH, tag = "mls", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn drop_note(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<NoteId>,
) -> Result<StatusCode> {
    if app.store.drop_note(caller.session_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("note"))
    }
}
