//! The server's background tasks, all started here ([`start`]), each ending when the
//! server shuts down: the sweep of unused files, the announcement of message requests
//! accepted by a send, the cluster lease, the erasure of deleted accounts
//! (`crate::erasure`), missed-message mail (`crate::digest`), retention
//! (`crate::retention`), the hourly sweep of profile pictures no one shows, the closing of
//! sockets whose sessions ended elsewhere (with word to the devices that must take them
//! out of their encrypted groups), the minutely count of the operators' queue, and the
//! hourly forgetting of ended sessions and freeing of the usernames of accounts deleted
//! long enough ago.
//! Each takes what it uses; the two that announce presence take the whole app, since
//! presence needs the hub, the store, the contacts and the announcer, and so do the
//! erasure (it commits through the committer) and the digest (the hub, mail and metrics).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::{ConversationId, SessionId, Timestamp, UserId};
use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::chat;
use crate::cluster::{self, Cluster, RENEW};
use crate::delivery::Outgoing;
use crate::files::Files;
use crate::limits::Limits;
use crate::presence;
use crate::state::App;
use crate::store::Store;
use crate::store::uploads::FINISH_CLAIM_MS;

/// Starts every background task. `shutdown` resolving cancels `app.shutdown`, which ends
/// them (the acceptances' task ends when the committers stop).
pub fn start(
    app: &App,
    acceptances: UnboundedReceiver<(ConversationId, UserId)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let stop = app.shutdown.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    tokio::spawn(sweep_files(
        app.files.clone(),
        app.store.clone(),
        millis(app.config.upload_ttl_secs),
        millis(app.config.file_grace_secs),
        app.shutdown.clone(),
    ));
    tokio::spawn(sweep_pictures(
        app.files.clone(),
        app.store.clone(),
        app.shutdown.clone(),
    ));
    tokio::spawn(housekeeping(
        app.limits.clone(),
        app.store.clone(),
        app.shutdown.clone(),
    ));
    tokio::spawn(moderation_counts(
        app.store.clone(),
        app.metrics.reports_open.clone(),
        app.metrics.users_suspended.clone(),
        app.shutdown.clone(),
    ));
    tokio::spawn(close_ended_sessions(
        app.hub.clone(),
        app.store.clone(),
        app.metrics.ended_sessions_told.clone(),
        app.shutdown.clone(),
    ));
    tokio::spawn(announce_acceptances(app.clone(), acceptances));
    tokio::spawn(crate::erasure::run(app.clone(), app.erasure.clone()));
    tokio::spawn(crate::digest::run(app.clone()));
    tokio::spawn(crate::retention::run(app.clone()));
    if let Some(cluster) = app.cluster {
        tokio::spawn(keep_lease(app.clone(), cluster));
    }
}

/// Leaves the cluster at shutdown: whoever is still counted on this node is announced
/// offline now, not when the lease runs out.
pub async fn leave(app: &App) {
    if let Some(cluster) = app.cluster {
        reap(app, Some(cluster.node)).await;
    }
}

fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Deletes the uploads never sent past their time (`FERRY_UPLOAD_TTL_SECS`, `ttl` ms),
/// then the blobs no upload has named for `grace` ms: on every wake-up after a deletion,
/// and once a minute, until the server stops.
async fn sweep_files(
    files: Arc<Files>,
    store: Arc<dyn Store>,
    ttl: i64,
    grace: i64,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = files.sweep.notified() => {}
            _ = every.tick() => {}
        }
        let now = Timestamp::now().as_millis();
        expire_unsent(&files, &*store, now.saturating_sub(ttl), now).await;
        let blobs = files.clone();
        let delete = move |sha256: String| -> BoxFuture<'static, bool> {
            let files = blobs.clone();
            Box::pin(async move {
                match files.delete(&sha256).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(%sha256, error = %e, "blob store: could not delete");
                        false
                    }
                }
            })
        };
        if let Err(e) = store
            .sweep_orphans(now.saturating_sub(grace), &delete)
            .await
        {
            tracing::warn!(error = %e, "could not look for unused files");
        }
    }
}

/// Profile pictures younger than this are left alone by the sweep: one being set has its
/// object written before the account's row names it.
const PICTURE_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Every hour, deletes the profile pictures no one shows: one replaced or removed whose
/// deletion failed, or written for a change that then failed (each path deletes what it
/// can at once; this catches the rest). Not at start: a leftover waits an hour at most,
/// and a node (every node of a cluster) starting needs no listing of the file store.
async fn sweep_pictures(files: Arc<Files>, store: Arc<dyn Store>, shutdown: CancellationToken) {
    let hour = Duration::from_secs(3600);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        let kept = match files.pictures().await {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the profile pictures");
                continue;
            }
        };
        let old_enough = chrono::Utc::now() - PICTURE_GRACE;
        for (picture, _) in kept.into_iter().filter(|(_, at)| *at < old_enough) {
            match store.picture_in_use(picture).await {
                Ok(true) => {}
                Ok(false) => {
                    if let Err(e) = files.delete_picture(picture).await {
                        tracing::warn!(%picture, error = %e, "could not delete an unused picture");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for unused pictures");
                    break;
                }
            }
        }
    }
}

/// Forgets the uploads no message carries that were begun before `before`: their chunks
/// go now, their blobs (if stored) become orphans for the sweep that follows.
async fn expire_unsent(files: &Files, store: &dyn Store, before: i64, now: i64) {
    let old = match store.unsent_uploads(before, 1000).await {
        Ok(old) => old,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for abandoned uploads");
            return;
        }
    };
    for id in old {
        match store.drop_upload(id, now, now - FINISH_CLAIM_MS).await {
            Ok(Some((row, chunks))) => files.forget_chunks(id, &row.sha256, &chunks).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(%id, error = %e, "could not forget an abandoned upload"),
        }
    }
}

/// Every minute, lets the rate limiters forget idle users; every hour (and at start),
/// deletes ended sessions and expired refresh tokens, which would otherwise stay in the
/// database for ever (every node of a cluster may; the statements are idempotent).
async fn housekeeping(limits: Arc<Limits>, store: Arc<dyn Store>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        limits.shrink();
        if ticks.is_multiple_of(60) {
            match store.forget_ended_sessions(Timestamp::now()).await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(sessions = gone, "forgot ended sessions"),
                Err(e) => tracing::warn!(error = %e, "could not forget ended sessions"),
            }
            match store.free_held_usernames(Timestamp::now()).await {
                Ok(0) => {}
                Ok(freed) => {
                    tracing::info!(usernames = freed, "freed usernames of deleted accounts")
                }
                Err(e) => tracing::warn!(error = %e, "could not free held usernames"),
            }
            // Expired an hour ago or more: past what the hourly mail limits count.
            let hour_ago = Timestamp::from_millis(Timestamp::now().as_millis() - 3_600_000);
            match store.forget_spent_mail_tokens(hour_ago).await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(tokens = gone, "forgot expired mail tokens"),
                Err(e) => tracing::warn!(error = %e, "could not forget expired mail tokens"),
            }
        }
        ticks += 1;
    }
}

/// How often a node looks for sessions that ended without its hearing of it.
const ENDED_SESSIONS_LOOK: Duration = Duration::from_secs(2);

/// How far before its last look a node looks again: sessions are ended by other
/// processes (other nodes, a command on the host) whose clocks may be a little off.
const CLOCK_MARGIN_MS: i64 = 10_000;

/// Every [`ENDED_SESSIONS_LOOK`], closes this node's sockets of sessions that ended
/// since the last look, and tells this node's sockets of everyone who shares an encrypted
/// conversation with their users ([`tell_co_members`]). A session ended through the API
/// is announced on the bus and its sockets close at once; this catches the ends nobody
/// announced to this node: a suspension or sign-out by a command on the server's host
/// (which reaches no node's bus), or an announcement lost while this node was cut off
/// from the cluster. Every node looks, so every end is told on every node, whoever ended
/// it.
async fn close_ended_sessions(
    hub: Arc<crate::hub::Hub>,
    store: Arc<dyn Store>,
    told_count: Counter,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(ENDED_SESSIONS_LOOK);
    let mut since = Timestamp::now();
    // The sessions the last look found: the looks overlap by the clock margin, so one end
    // is found several times, and told the first time only.
    let mut told: HashSet<SessionId> = HashSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        let look = Timestamp::now();
        match store
            .sessions_ended_since(Timestamp::from_millis(since.as_millis() - CLOCK_MARGIN_MS))
            .await
        {
            Ok(ended) => {
                hub.close_sessions_of(&ended);
                let new: Vec<(UserId, SessionId)> = ended
                    .iter()
                    .filter(|(_, session)| !told.contains(session))
                    .copied()
                    .collect();
                // Not told (the database failed): the next look finds them again.
                if tell_co_members(&hub, &*store, &new, &told_count).await {
                    told = ended.into_iter().map(|(_, session)| session).collect();
                    since = look;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for ended sessions"),
        }
    }
}

/// Sends `mls_session_ended` for each of these sessions, just ended, to this node's
/// sockets of everyone in an encrypted conversation with its user: the ended devices may
/// still be in those conversations' groups until a member's device takes them out, and
/// the frame has the members' devices look now rather than within minutes. A hint, as
/// typing is: dropped for a socket that is behind (its catch-up looks anyway), and it
/// wakes no long poll. `false` when the members could not be read.
async fn tell_co_members(
    hub: &crate::hub::Hub,
    store: &dyn Store,
    ended: &[(UserId, SessionId)],
    told_count: &Counter,
) -> bool {
    if ended.is_empty() {
        return true;
    }
    let users: Vec<UserId> = ended.iter().map(|(user, _)| *user).collect();
    let pairs = match store.encrypted_co_members(&users).await {
        Ok(pairs) => pairs,
        Err(e) => {
            tracing::warn!(error = %e, "could not tell of ended sessions");
            return false;
        }
    };
    let mut to: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for (user, member) in pairs {
        to.entry(user).or_default().push(member);
    }
    for (user, session) in ended {
        let Some(members) = to.get(user) else {
            continue;
        };
        let frame = ferry_proto::ServerFrame::MlsSessionEnded {
            user_id: *user,
            session_id: *session,
        };
        match serde_json::to_string(&frame) {
            Ok(frame) => {
                hub.deliver(
                    members,
                    None,
                    crate::hub::Audience::All,
                    Outgoing::ephemeral(frame),
                );
                // Counted once queued on every socket: anything delivered to those
                // sockets after this count moved reaches them after the frame.
                told_count.inc();
            }
            Err(e) => tracing::error!(error = %e, "could not encode a frame"),
        }
    }
    true
}

/// Every minute, counts the reports still open and the accounts suspended, for the
/// metrics (the database's figures, the same on every node).
async fn moderation_counts(
    store: Arc<dyn Store>,
    reports_open: prometheus_client::metrics::gauge::Gauge,
    users_suspended: prometheus_client::metrics::gauge::Gauge,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        crate::admin::count_queue(&*store, &reports_open, &users_suspended).await;
    }
}

/// Announces each message request that a send accepted, as
/// `POST /conversations/{id}/accept` does: the conversation to its members, and the
/// presence of the new contacts to each other. Runs until the committers stop.
async fn announce_acceptances(
    app: App,
    mut acceptances: UnboundedReceiver<(ConversationId, UserId)>,
) {
    while let Some((conversation, user)) = acceptances.recv().await {
        if let Err(e) = chat::accepted(&app, conversation, user).await {
            tracing::warn!(error = %e, %conversation, "an acceptance was not announced");
        }
    }
}

/// Renews the lease and reaps dead nodes every [`RENEW`], until shutdown (then [`leave`]
/// gives up this node's own users).
async fn keep_lease(app: App, cluster: Cluster) {
    let mut every = tokio::time::interval(RENEW);
    every.tick().await;
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        match app
            .store
            .renew_node(cluster.node, cluster::lease_end())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("this node was presumed dead; registering its users again");
                // Another node announced them all offline: a departing user who comes
                // back must be announced online again, not silently kept.
                app.departures.forget_all();
                for user in app.hub.users() {
                    if let Err(e) = presence::came_online(&app, user).await {
                        tracing::warn!(error = %e, "could not register a user's presence");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew this node's lease"),
        }
        reap(&app, None).await;
    }
}

/// Removes the nodes whose lease ended (and `leaving`, if given) and announces offline
/// the users who were online only there.
async fn reap(app: &App, leaving: Option<Uuid>) {
    match app.store.drop_nodes(Timestamp::now(), leaving).await {
        Ok(users) => {
            for user in users {
                if let Err(e) = presence::announce_offline(app, user).await {
                    tracing::warn!(error = %e, "could not announce a user offline");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not look for dead nodes"),
    }
}
