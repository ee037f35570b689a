//! The MLS delivery service's addresses (end-to-end encryption, issue 31; additions to
//! v1, docs/protocol.md): devices publish and claim key packages under `/mls`, hand in a
//! group's commits and read its commit log and info under `/conversations/{id}/mls`, and
//! pick up the welcomes that add them to groups. What the server reads of the bytes is
//! `crate::mls`'s; who may do what is checked here and in the store.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::mls::{
    CommitPage, Device, MAX_CLAIM_USERS, MAX_COMMITS_PAGE, MAX_KEY_PACKAGES,
    MAX_KEY_PACKAGES_PER_PUBLISH, SignedInDevices,
};
use ferry_proto::{
    ConversationId, ErrorBody, ErrorCode, ServerFrame, Timestamp, UserId, WelcomeId,
};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Path, Query, Takes};
use crate::mls;
use crate::state::App;
use crate::store::mls::{CommitOutcome, NewCommit, NewKeyPackage};

fn device(caller: &Caller) -> Device {
    Device {
        user_id: caller.user_id,
        session_id: caller.session_id,
    }
}

/// Publishes key packages of the caller's device.
#[utoipa::path(post, path = endpoints::PublishKeyPackages::PATH, tag = "mls", security(("bearer" = [])),
    request_body = ferry_proto::mls::KeyPackages,
    responses((status = 200, body = ferry_proto::mls::KeyPackageStock), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn publish_key_packages(
    State(app): State<App>,
    caller: Caller,
    Json(published): Json<Takes<endpoints::PublishKeyPackages>>,
) -> Result<Json<Gives<endpoints::PublishKeyPackages>>> {
    let count = published.key_packages.len();
    if count == 0 || count > MAX_KEY_PACKAGES_PER_PUBLISH {
        return Err(Error::invalid(format!(
            "publish 1 to {MAX_KEY_PACKAGES_PER_PUBLISH} key packages at a time"
        )));
    }
    let mut packages = Vec::with_capacity(count);
    for bytes in published.key_packages {
        let checked = mls::key_package(&bytes.0, caller.user_id, caller.session_id)?;
        packages.push(NewKeyPackage {
            hash_ref: checked.hash_ref,
            bytes: bytes.0,
            last_resort: checked.last_resort,
        });
    }
    if packages.iter().filter(|p| p.last_resort).count() > 1 {
        return Err(Error::invalid("a device has one last-resort key package"));
    }
    let stock = app
        .store
        .publish_key_packages(
            device(&caller),
            &packages,
            MAX_KEY_PACKAGES,
            Timestamp::now(),
        )
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorCode::TooLarge,
                format!("a device keeps at most {MAX_KEY_PACKAGES} one-time key packages waiting"),
            )
        })?;
    Ok(Json(stock))
}

/// How many key packages the caller's device has waiting.
#[utoipa::path(get, path = endpoints::GetKeyPackageStock::PATH, tag = "mls", security(("bearer" = [])),
    responses((status = 200, body = ferry_proto::mls::KeyPackageStock), (status = 401, body = ErrorBody)))]
pub async fn key_package_stock(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::GetKeyPackageStock>>> {
    Ok(Json(app.store.key_package_stock(caller.session_id).await?))
}

/// Claims a key package of every device of some users (the caller's other devices too).
#[utoipa::path(post, path = endpoints::ClaimKeyPackages::PATH, tag = "mls", security(("bearer" = [])),
    request_body = ferry_proto::mls::KeyPackageClaim,
    responses((status = 200, body = ferry_proto::mls::ClaimedKeyPackages), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn claim_key_packages(
    State(app): State<App>,
    caller: Caller,
    Json(claim): Json<Takes<endpoints::ClaimKeyPackages>>,
) -> Result<Json<Gives<endpoints::ClaimKeyPackages>>> {
    some_users(&claim.user_ids, "claim the devices of")?;
    let mut claimed = app
        .store
        .claim_key_packages(caller.user_id, &claim.user_ids, Timestamp::now())
        .await?
        // Strangers' devices are not the caller's to know of, as with an unknown user.
        .ok_or_else(|| Error::not_found("a user in a conversation with you"))?;
    // The calling device is in its own groups already.
    claimed
        .key_packages
        .retain(|p| p.device.session_id != caller.session_id);
    claimed
        .without_keys
        .retain(|d| d.session_id != caller.session_id);
    Ok(Json(claimed))
}

/// The signed-in devices of some users (the caller's own too), using up nothing: what a
/// group's member compares its group's devices with, to take out those whose session
/// ended. Users who share no conversation with the caller are left out, as if they had no
/// device: a stranger's devices are not the caller's to know of, and a stranger has no
/// place in the caller's groups either.
#[utoipa::path(post, path = endpoints::ListDevices::PATH, tag = "mls", security(("bearer" = [])),
    request_body = ferry_proto::mls::DeviceQuery,
    responses((status = 200, body = ferry_proto::mls::SignedInDevices), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn signed_in_devices(
    State(app): State<App>,
    caller: Caller,
    Json(query): Json<Takes<endpoints::ListDevices>>,
) -> Result<Json<Gives<endpoints::ListDevices>>> {
    some_users(&query.user_ids, "ask for the devices of")?;
    let devices = app
        .store
        .signed_in_devices(caller.user_id, &query.user_ids)
        .await?;
    Ok(Json(SignedInDevices { devices }))
}

/// Refuses a list of users that is empty or longer than [`MAX_CLAIM_USERS`]; `what` is
/// what the caller asked to do with them ("claim the devices of").
fn some_users(user_ids: &[UserId], what: &str) -> Result<()> {
    if user_ids.is_empty() || user_ids.len() > MAX_CLAIM_USERS {
        return Err(Error::invalid(format!(
            "{what} 1 to {MAX_CLAIM_USERS} users at a time"
        )));
    }
    Ok(())
}

/// Hands the server a group's next commit. It is accepted only in the group's current
/// epoch: of two commits made in one epoch the first wins, and the other's device is told
/// to apply the winner and try again (409).
#[utoipa::path(post, path = endpoints::SubmitCommit::PATH, tag = "mls", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ferry_proto::mls::NewCommit,
    responses((status = 200, body = ferry_proto::mls::Commit), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn commit(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Json(new): Json<Takes<endpoints::SubmitCommit>>,
) -> Result<Json<Gives<endpoints::SubmitCommit>>> {
    let epoch = mls::commit_epoch(&new.commit.0, id)?;
    mls::group_info(&new.group_info.0, id, epoch + 1)?;
    let welcome = match new.welcome {
        Some(welcome) => {
            let recipients = mls::welcome_recipients(&welcome.0)?;
            Some((welcome.0, recipients))
        }
        None => None,
    };
    let outcome = app
        .store
        .append_commit(NewCommit {
            conversation_id: id,
            committer: device(&caller),
            epoch,
            commit: new.commit.0,
            group_info: new.group_info.0,
            welcome,
            now: Timestamp::now(),
        })
        .await?;
    match outcome {
        CommitOutcome::Accepted {
            commit,
            welcomes,
            members,
        } => {
            app.announce.frame(
                members,
                None,
                &ServerFrame::MlsCommit {
                    commit: Box::new(commit.clone()),
                },
            );
            for (device, welcome) in welcomes {
                app.announce.frame(
                    vec![device.user_id],
                    None,
                    &ServerFrame::MlsWelcome {
                        session_id: device.session_id,
                        welcome: Box::new(welcome),
                    },
                );
            }
            Ok(Json(commit))
        }
        CommitOutcome::Stale { epoch: now } => Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "the group is in epoch {now}, not {epoch}: apply its commits from epoch {epoch} \
                 on, then commit again"
            ),
        )),
        CommitOutcome::NotMember => Err(Error::not_found("conversation")),
        CommitOutcome::UnknownRecipient => Err(Error::invalid(
            "the welcome is for a key package this server did not hand out for a member's \
             device: claim the key packages of the conversation's members",
        )),
    }
}

/// A page of a group's commit log, in epoch order.
#[utoipa::path(get, path = endpoints::CommitLog::PATH, tag = "mls", security(("bearer" = [])),
    params(("id" = Uuid, Path), ferry_proto::mls::CommitQuery),
    responses((status = 200, body = CommitPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn commits(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Query(query): Query<Takes<endpoints::CommitLog>>,
) -> Result<Json<Gives<endpoints::CommitLog>>> {
    let from = query.from_epoch.unwrap_or(0);
    if from < 0 {
        return Err(Error::invalid("from_epoch must be 0 or more"));
    }
    let limit = query
        .limit
        .unwrap_or(MAX_COMMITS_PAGE)
        .clamp(1, MAX_COMMITS_PAGE);
    let (commits, epoch) = app
        .store
        .commits(id, caller.user_id, from, limit)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))?;
    Ok(Json(CommitPage { commits, epoch }))
}

/// The group's info as its last commit left it: what a device needs to join the group by
/// an external commit.
#[utoipa::path(get, path = endpoints::GetGroupInfo::PATH, tag = "mls", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ferry_proto::mls::GroupInfo), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn group_info(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> Result<Json<Gives<endpoints::GetGroupInfo>>> {
    app.store
        .group_info(id, caller.user_id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("encrypted conversation"))
}

/// The welcomes waiting for the caller's device, oldest first.
#[utoipa::path(get, path = endpoints::Welcomes::PATH, tag = "mls", security(("bearer" = [])),
    responses((status = 200, body = [ferry_proto::mls::Welcome]), (status = 401, body = ErrorBody)))]
pub async fn welcomes(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::Welcomes>>> {
    Ok(Json(app.store.welcomes(caller.session_id).await?))
}

/// Deletes a welcome the caller's device has joined with (or cannot use).
#[utoipa::path(delete, path = endpoints::DropWelcome::PATH, tag = "mls", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn drop_welcome(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<WelcomeId>,
) -> Result<StatusCode> {
    if app.store.drop_welcome(caller.session_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("welcome"))
    }
}
