//! Profile pictures: `PUT /me/picture` makes one of an uploaded image (the middle square,
//! `PICTURE_SIDE` pixels a side, made by the server), `DELETE /me/picture` removes it, and
//! `GET /pictures/{picture_id}` serves one. A change reaches the person's devices and
//! contacts live (a `user` frame), as a new name does; each picture has an id of its own,
//! so its bytes never change and clients keep them for good.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{ErrorBody, PictureId, Timestamp, User};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::account::announce_user;
use crate::http::extract::{Gives, Json, Path, Takes};
use crate::state::App;
use crate::store::uploads::FINISH_CLAIM_MS;

/// Sets the caller's picture from an upload of theirs, whole and an image; an upload not
/// sent in a message is used up by it.
#[utoipa::path(put, path = endpoints::SetPicture::PATH, tag = "account", security(("bearer" = [])),
    request_body = ferry_proto::PictureChange,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn set_picture(
    State(app): State<App>,
    caller: Caller,
    Json(change): Json<Takes<endpoints::SetPicture>>,
) -> Result<Json<Gives<endpoints::SetPicture>>> {
    let upload = match app.store.upload(change.upload_id).await? {
        Some(row) if row.owner_id == caller.user_id => row,
        _ => return Err(Error::not_found("upload")),
    };
    if upload.state != "stored" {
        return Err(Error::invalid(
            "the upload is not finished: send all of its bytes first",
        ));
    }
    let pixels = upload
        .width
        .zip(upload.height)
        .and_then(|(w, h)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?)));
    let square = app
        .files
        .make_picture(
            &upload.sha256,
            &upload.content_type,
            upload.size.max(0) as u64,
            pixels,
        )
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "a picture must be an image this server can read (JPEG, PNG, GIF or WebP, \
                 at most 32 MB)",
            )
        })?;
    let picture = PictureId::new();
    app.files.put_picture(picture, square).await?;
    let (user, replaced) = match app.store.set_picture(caller.user_id, Some(picture)).await {
        Ok(Some(set)) => set,
        failed => {
            app.files.forget_picture(picture).await;
            return Err(failed.map_or_else(Error::from, |_| Error::not_found("user")));
        }
    };
    let now = Timestamp::now().as_millis();
    if upload.message_id.is_none()
        && let Some((row, chunks)) = app
            .store
            .drop_upload(upload.id, now, now - FINISH_CLAIM_MS)
            .await?
    {
        app.files
            .forget_chunks(upload.id, &row.sha256, &chunks)
            .await;
        app.files.sweep.notify_one();
    }
    announce_user(&app, &user).await?;
    if let Some(old) = replaced {
        app.files.forget_picture(old).await;
    }
    Ok(Json(user))
}

/// Removes the caller's picture (people see their initials again).
#[utoipa::path(delete, path = endpoints::RemovePicture::PATH, tag = "account", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_picture(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::RemovePicture>>> {
    let (user, replaced) = app
        .store
        .set_picture(caller.user_id, None)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    if let Some(old) = replaced {
        announce_user(&app, &user).await?;
        app.files.forget_picture(old).await;
    }
    Ok(Json(user))
}

/// A profile picture's bytes, to anyone signed in, while it is someone's picture.
#[utoipa::path(get, path = endpoints::Picture::PATH, tag = "account", security(("bearer" = [])),
    params(("picture_id" = PictureId, Path)),
    responses((status = 200, description = "the picture", content(("image/jpeg"), ("image/png"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn picture(
    State(app): State<App>,
    _: Caller,
    Path(picture): Path<PictureId>,
) -> Result<Response> {
    if !app.store.picture_in_use(picture).await? {
        return Err(Error::not_found("picture"));
    }
    let bytes = app.files.picture(picture).await?;
    let kind = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Its bytes never change under its id.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
