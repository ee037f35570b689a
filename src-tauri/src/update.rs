//! Ferry updating itself, through Tauri's updater plugin: where the feed is, checking it
//! (at start, at sign-in, once a day, and when asked), and installing what it offers,
//! its signature checked against the key this build carries, then starting again as the
//! new version over the same local store and outbox.
//!
//! The feed is the one the build names (`plugins.updater.endpoints`, for a vendor's own
//! builds) or else `/updates/latest.json` on the server the person is signed in to, so an
//! operator publishes updates beside their server (`FERRY_UPDATES_DIR`). A build made
//! without a key (`plugins.updater.pubkey` empty, as every development build is) cannot
//! update itself and says so: an update is never installed unchecked. The signature
//! must also name the version the feed announces, so a feed cannot pass off an older
//! signed release as a newer one. On Linux only the `.deb` and `.rpm` bundles can
//! replace themselves (through `pkexec`, a graphical `sudo` or `sudo`); Windows runs
//! the new installer, which starts Ferry again itself.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, Url};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::error::CommandError;
use crate::events::{AvailableUpdate, EVENT, UiEvent};
use crate::state::Desktop;

/// How often a running app looks again, as Slack and Signal Desktop do.
const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Where the server publishes its updates, under its own address.
const SERVER_FEED: &str = "updates/latest.json";

/// The update found last, kept until it is installed (the plugin's handle carries the
/// download address and the signature), and whether an install is under way.
#[derive(Default)]
pub struct Updates {
    found: Mutex<Option<Update>>,
    installing: AtomicBool,
}

/// What the build says of updates: its key and its own feed, if any.
struct Built {
    pubkey: String,
    endpoints: bool,
}

fn built(app: &AppHandle) -> Built {
    let updater = app.config().plugins.0.get("updater");
    let pubkey = updater
        .and_then(|u| u.get("pubkey"))
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let endpoints = updater
        .and_then(|u| u.get("endpoints"))
        .and_then(|e| e.as_array())
        .is_some_and(|e| !e.is_empty());
    Built { pubkey, endpoints }
}

/// The feed on the server at `server_url`.
pub fn server_feed(server_url: &str) -> Result<Url, CommandError> {
    let base = format!("{}/", server_url.trim_end_matches('/'));
    Url::parse(&base)
        .and_then(|base| base.join(SERVER_FEED))
        .map_err(|e| {
            CommandError::local(format!(
                "The server's address {server_url:?} is not usable: {e}"
            ))
        })
}

/// The version running now (the bundle's, which is what the feed compares with).
pub fn current_version(app: &AppHandle) -> String {
    app.package_info().version.to_string()
}

/// The address of the server signed in to, if anyone is.
pub fn signed_in_server(app: &AppHandle) -> Option<String> {
    let desktop = app.try_state::<Desktop>()?;
    Some(desktop.client().ok()?.server_url().to_owned())
}

/// Asks the feed whether a newer version is published; keeps what it offers for
/// [`install`]. `server` is the address of the server signed in to.
pub async fn check(
    app: &AppHandle,
    server: Option<&str>,
) -> Result<Option<AvailableUpdate>, CommandError> {
    let built = built(app);
    if built.pubkey.is_empty() {
        return Err(CommandError::local(
            "This build of Ferry was made without an update key, so it cannot update \
             itself. Install new versions by hand."
                .into(),
        ));
    }
    let mut builder = app.updater_builder().timeout(Duration::from_secs(60));
    if !built.endpoints {
        let feed = server_feed(server.ok_or_else(CommandError::signed_out)?)?;
        builder = builder
            .endpoints(vec![feed])
            .map_err(|e| CommandError::local(format!("The update feed is not usable: {e}")))?;
    }
    let updater = builder
        .build()
        .map_err(|e| CommandError::local(format!("The update feed is not usable: {e}")))?;
    let found = updater.check().await.map_err(|e| {
        CommandError::local(format!(
            "Could not ask for updates ({e}). Try again later, or ask whoever runs your server."
        ))
    })?;
    let view = found.as_ref().map(|u| AvailableUpdate {
        version: u.version.clone(),
        current_version: u.current_version.clone(),
        notes: u.body.clone().filter(|n| !n.trim().is_empty()),
        // As the manifest has it (the plugin has checked that it parses).
        date: u
            .raw_json
            .get("pub_date")
            .and_then(|d| d.as_str())
            .map(str::to_owned),
    });
    *app.state::<Updates>()
        .found
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = found;
    Ok(view)
}

/// Downloads the update [`check`] found (its progress as [`UiEvent::UpdateProgress`]),
/// checks its signature, installs it and starts Ferry again as the new version. Answers
/// only when it failed: a bundle whose signature does not match is refused and nothing
/// changes.
pub async fn install(app: &AppHandle) -> Result<(), CommandError> {
    let updates = app.state::<Updates>();
    let Some(update) = updates
        .found
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    else {
        return Err(CommandError::local(
            "There is no update to install: check for updates first.".into(),
        ));
    };
    if updates.installing.swap(true, Ordering::SeqCst) {
        return Err(CommandError::local(
            "The update is already being installed.".into(),
        ));
    }
    let done = download_and_install(app, &update).await;
    updates.installing.store(false, Ordering::SeqCst);
    done?;
    tracing::info!(
        from = %update.current_version,
        to = %update.version,
        "update installed; starting again as the new version"
    );
    app.restart()
}

async fn download_and_install(app: &AppHandle, update: &Update) -> Result<(), CommandError> {
    let mut received = 0u64;
    let progress = app.clone();
    let finished = app.clone();
    let bytes = update
        .download(
            move |chunk, total| {
                received += chunk as u64;
                let _ = progress.emit(EVENT, UiEvent::UpdateProgress { received, total });
            },
            move || {
                let _ = finished.emit(EVENT, UiEvent::UpdateDownloaded);
            },
        )
        .await
        .map_err(|e| refused(update, e))?;
    // `download` checked the signature already; `install` checks it once more before it
    // touches anything.
    update.install(bytes).map_err(|e| refused(update, e))
}

/// What to tell the person when an update could not be installed.
fn refused(update: &Update, e: tauri_plugin_updater::Error) -> CommandError {
    use tauri_plugin_updater::Error as E;
    tracing::warn!(version = %update.version, error = %e, "update not installed");
    let message = match e {
        E::Minisign(_)
        | E::Base64(_)
        | E::SignatureUtf8(_)
        | E::SignedVersionMismatch { .. }
        | E::MissingSignedVersion => format!(
            "The download of Ferry {} is not signed with Ferry's update key, so it was \
             refused and nothing changed. Tell whoever runs your server.",
            update.version
        ),
        E::AuthenticationFailed | E::PackageInstallFailed | E::DebInstallFailed => format!(
            "Ferry {} was downloaded and verified, but installing it needs an \
             administrator's permission, which was not given. Nothing changed.",
            update.version
        ),
        E::InvalidUpdaterFormat => format!(
            "Ferry {} cannot replace this copy of Ferry: it was installed in a way that \
             cannot update itself. Install the new version by hand.",
            update.version
        ),
        other => format!(
            "Ferry {} could not be installed ({other}). Nothing changed.",
            update.version
        ),
    };
    CommandError::local(message)
}

/// Looks for an update without being asked (`server`: the one signed in to), and tells
/// the window when there is one; failures are only logged (a server that publishes no
/// updates is not news).
pub fn check_in_background(app: &AppHandle, server: Option<String>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        look(&app, server.as_deref()).await;
    });
}

async fn look(app: &AppHandle, server: Option<&str>) {
    if built(app).pubkey.is_empty() {
        return;
    }
    match check(app, server).await {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, "an update is available");
            let _ = app.emit(EVENT, UiEvent::UpdateAvailable { update });
        }
        Ok(None) => tracing::debug!("Ferry is up to date"),
        Err(e) => tracing::debug!(error = %e.message, "no update check"),
    }
}

/// Checks again once a day for as long as the app runs (the check at start is
/// [`check_in_background`]'s, at sign-in).
pub fn check_daily(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut daily =
            tokio::time::interval_at(tokio::time::Instant::now() + CHECK_EVERY, CHECK_EVERY);
        daily.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            daily.tick().await;
            look(&app, signed_in_server(&app).as_deref()).await;
        }
    });
}

/// Whether the app checks a feed of its own even before anyone signs in.
pub fn has_own_feed(app: &AppHandle) -> bool {
    let built = built(app);
    built.endpoints && !built.pubkey.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_feed_is_under_the_servers_address() {
        for (server, feed) in [
            (
                "https://chat.example.com",
                "https://chat.example.com/updates/latest.json",
            ),
            (
                "https://chat.example.com/",
                "https://chat.example.com/updates/latest.json",
            ),
            (
                "https://example.com/ferry",
                "https://example.com/ferry/updates/latest.json",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/updates/latest.json",
            ),
        ] {
            assert_eq!(
                server_feed(server).expect("a feed").as_str(),
                feed,
                "{server}"
            );
        }
        assert!(server_feed("not a url").is_err());
    }
}
