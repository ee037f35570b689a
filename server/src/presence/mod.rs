//! Presence: a user is online while any of their sockets is open, and for a grace period
//! (`FERRY_PRESENCE_GRACE_SECS`) after the last one closes, so that a dropped connection
//! that comes straight back announces nothing and writes nothing (`departures`).
//! Transitions are announced to everyone who shares a conversation with them; when the
//! grace ends with no socket back, `last_seen` is stored as the time the last one closed.
//!
//! On a single node the hub's sockets are the truth. In a cluster each node records in
//! the database which users it holds sockets of (`crate::cluster`): a node announces
//! a user online when it is the first to hold one of their sockets, and offline when it
//! was the last; the bus carries the frames either way.

pub mod departures;
pub mod turns;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferry_proto::{Presence, ServerFrame, Timestamp, UserId};

use crate::coalesce::Coalescer;
use crate::error::Result;
use crate::state::App;
use crate::store::{Contact, Store};
use departures::Departure;

/// Announces that `user` came online (if they still are), unless they are back within
/// the grace of a departure: then they were never announced offline.
pub async fn came_online(app: &App, user: UserId) -> Result<()> {
    let _turn = app.presence.take(user).await;
    if !app.hub.is_online(user) {
        return Ok(());
    }
    if app.departures.cancel(user) {
        // Still registered as online on this node's row too (`went_offline` did not run).
        return Ok(());
    }
    if let Some(cluster) = &app.cluster
        && !app.store.node_joined(cluster.node, user).await?
    {
        // Already online on another node.
        return Ok(());
    }
    let contacts = app.contacts.get(user).await?;
    let frame = ServerFrame::Presence {
        user_id: user,
        online: true,
        last_seen: None,
    };
    app.announce.frame(
        contacts.into_iter().map(|c| c.contact).collect(),
        None,
        &frame,
    );
    Ok(())
}

/// `user`'s last socket on this node closed: waits out the grace (cut short by shutdown),
/// then records and announces them offline unless a socket came back meanwhile. Awaited
/// by the closing socket's task, so that shutdown waits for it too.
pub async fn left(app: &App, user: UserId) -> Result<()> {
    let departure = app.departures.start(user);
    tokio::select! {
        () = tokio::time::sleep(app.config.presence_grace()) => {}
        () = app.shutdown.cancelled() => {}
    }
    went_offline(app, user, departure).await
}

/// Records and announces that `user`'s last socket closed at `departure` (unless one
/// opened since).
async fn went_offline(app: &App, user: UserId, departure: Departure) -> Result<()> {
    let _turn = app.presence.take(user).await;
    if app.hub.is_online(user) {
        // Back: that socket's `came_online` ends the departure.
        return Ok(());
    }
    if !app.departures.end(user, departure) {
        // Back and gone again: the later departure decides.
        return Ok(());
    }
    if let Some(cluster) = &app.cluster
        && !app.store.node_left(cluster.node, user).await?
    {
        // Still online on another node.
        return Ok(());
    }
    offline(app, user, departure.at).await
}

/// Records and announces that `user` is offline: their last node died or left.
pub async fn announce_offline(app: &App, user: UserId) -> Result<()> {
    let _turn = app.presence.take(user).await;
    if app.hub.is_online(user) {
        return Ok(());
    }
    offline(app, user, Timestamp::now()).await
}

async fn offline(app: &App, user: UserId, last_seen: Timestamp) -> Result<()> {
    app.store.set_last_seen(user, last_seen).await?;
    let contacts = app.contacts.get(user).await?;
    let frame = ServerFrame::Presence {
        user_id: user,
        online: false,
        last_seen: Some(last_seen),
    };
    app.announce.frame(
        contacts.into_iter().map(|c| c.contact).collect(),
        None,
        &frame,
    );
    Ok(())
}

/// Tells `user` and `others`, who just became contacts (a request accepted), of each
/// other's presence, online or last seen: announcements go out on changes only, so each
/// would otherwise see the other as unknown until their next sign-in.
pub async fn introduce(app: &App, user: UserId, others: &[UserId]) -> Result<()> {
    // Only those who are contacts now: not members who have not accepted, not anyone
    // either one blocked.
    let theirs: Vec<Presence> = of_contacts(app, user)
        .await?
        .into_iter()
        .filter(|p| others.contains(&p.user_id))
        .collect();
    for p in &theirs {
        app.announce.frame(
            vec![user],
            None,
            &ServerFrame::Presence {
                user_id: p.user_id,
                online: p.online,
                last_seen: p.last_seen,
            },
        );
    }
    let Some(first) = theirs.first() else {
        return Ok(());
    };
    // In `user`'s turn, as their transitions are: a socket opening meanwhile announces
    // itself after this, so a stale "offline" cannot come last.
    let _turn = app.presence.take(user).await;
    let online = here(app, user)
        || (app.cluster.is_some() && !app.store.online_users(&[user]).await?.is_empty());
    // Offline, they are told when `user` was last seen, as `GET /presence` would: a
    // client that knows only frames would otherwise show nothing until `user` comes on.
    let last_seen = if online {
        None
    } else {
        app.contacts
            .get(first.user_id)
            .await?
            .into_iter()
            .find(|c| c.contact == user)
            .and_then(|c| c.last_seen)
    };
    let frame = ServerFrame::Presence {
        user_id: user,
        online,
        last_seen,
    };
    app.announce
        .frame(theirs.iter().map(|p| p.user_id).collect(), None, &frame);
    Ok(())
}

/// The presence of everyone who shares a conversation with `user`.
pub async fn of_contacts(app: &App, user: UserId) -> Result<Vec<Presence>> {
    let contacts = app.contacts.get(user).await?;
    let elsewhere: HashSet<UserId> = match &app.cluster {
        Some(_) => {
            let ids: Vec<UserId> = contacts.iter().map(|c| c.contact).collect();
            app.store.online_users(&ids).await?.into_iter().collect()
        }
        None => HashSet::new(),
    };
    Ok(contacts
        .into_iter()
        .map(|c| {
            let online = here(app, c.contact) || elsewhere.contains(&c.contact);
            Presence {
                user_id: c.contact,
                online,
                last_seen: if online { None } else { c.last_seen },
            }
        })
        .collect())
}

/// Whether `user` counts as online on this node: a socket open, or within the grace.
fn here(app: &App, user: UserId) -> bool {
    app.hub.is_online(user) || app.departures.is_pending(user)
}

/// The coalesced contacts lookup: each asked user's contacts.
pub fn contacts_lookup(store: Arc<dyn Store>) -> Coalescer<UserId, Vec<Contact>> {
    Coalescer::new(Arc::new(move |users: Vec<UserId>| {
        let store = store.clone();
        Box::pin(async move {
            let mut of: HashMap<UserId, Vec<Contact>> = HashMap::new();
            for contact in store.contacts(&users).await? {
                of.entry(contact.user).or_default().push(contact);
            }
            Ok(of)
        })
    }))
}
