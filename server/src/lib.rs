//! The Ferry server: protocol v1 over REST and one WebSocket per device, on Postgres or
//! an embedded SQLite file.
//!
//! [`run`] takes its listener, configuration and shutdown signal from the caller, so the
//! binary, the tests and the benchmarks all start the same server (tests on port 0).
//! The map of the code is `docs/ARCHITECTURE.md`: [`store`] persists, [`chat`] performs
//! the operations, [`http`] and [`ws`] speak the protocol, [`hub`] and [`bus`] deliver
//! live frames.

pub mod admin;
pub mod announce;
pub mod auth;
pub mod background;
pub mod backup;
pub mod bus;
pub mod chat;
pub mod cluster;
pub mod coalesce;
pub mod commit;
pub mod config;
pub mod delivery;
pub mod digest;
pub mod erasure;
pub mod error;
pub mod export;
pub mod fence;
pub mod files;
pub mod http;
pub mod hub;
pub mod limits;
pub mod listen;
pub mod mail;
pub mod members;
pub mod metrics;
pub mod mls;
pub mod panics;
pub mod presence;
pub mod retention;
pub mod state;
pub mod store;
pub mod typing;
pub mod ws;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::announce::Announcer;
use crate::auth::tokens::TokenKeys;
use crate::bus::nats::NatsBus;
use crate::bus::{Bus, LocalBus, Node};
use crate::cluster::Cluster;
use crate::commit::Committer;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// `DATABASE_URL` names no supported database.
    #[error("DATABASE_URL must start with postgres:// or sqlite:// (got {0})")]
    UnsupportedDatabase(String),
    /// The data directory or the JWT secret file could not be used.
    #[error("data directory: {0}")]
    DataDir(#[from] std::io::Error),
    /// `FERRY_JWT_SECRET_FILE` could not be read.
    #[error("FERRY_JWT_SECRET_FILE {0}: {1}")]
    SecretFile(String, std::io::Error),
    /// The configured JWT secret is too short.
    #[error("FERRY_JWT_SECRET must be at least 32 bytes")]
    WeakSecret,
    /// Cluster mode was asked for on a database only one node can use.
    #[error("a cluster (FERRY_NATS_URL) needs a Postgres DATABASE_URL that every node shares")]
    ClusterNeedsPostgres,
    /// The cluster bus could not be set up.
    #[error("cluster bus: {0}")]
    Bus(String),
    /// The blob store could not be opened.
    #[error("files (FERRY_FILES): {0}")]
    Files(#[from] files::FileError),
    /// Serving failed.
    #[error("serve: {0}")]
    Serve(std::io::Error),
    /// The mail settings cannot be used.
    #[error("mail: {0}")]
    Mail(#[from] mail::MailConfigError),
}

/// Opens the store named by `url`.
pub async fn open_store(url: &str, pool: u32) -> Result<Arc<dyn Store>, StartError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, pool).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StartError::UnsupportedDatabase(redact(url)))
    }
}

/// The JWT secret: configured (in the environment or a file), or generated once and kept
/// in the data directory.
fn jwt_secret(config: &Config) -> Result<Vec<u8>, StartError> {
    let configured = match &config.jwt_secret_file {
        // A secret file usually ends with a newline that is not part of the secret.
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| StartError::SecretFile(path.display().to_string(), e))?
                .trim()
                .to_owned(),
        ),
        None => config.jwt_secret.clone(),
    };
    if let Some(secret) = configured {
        return if secret.len() >= 32 {
            Ok(secret.into_bytes())
        } else {
            Err(StartError::WeakSecret)
        };
    }
    let path = config.data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => return Ok(secret.trim().as_bytes().to_vec()),
        Ok(_) => return Err(StartError::WeakSecret),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let secret = hex::encode(bytes);
    write_private(&path, &secret)?;
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// A database URL with any password hidden, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Runs the server on `listener` until `shutdown` completes, then stops accepting, closes
/// every socket with 1001 and lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let url = config.effective_database_url();
    if config.nats_url.is_some() && url.starts_with("sqlite:") {
        return Err(StartError::ClusterNeedsPostgres);
    }
    let store = open_store(&url, config.db_pool).await?;
    let metrics = Metrics::new();
    let files = files::Files::open(&config, &metrics)?;
    let mail = mail::Mailer::new(
        &config,
        metrics.mail_sent.clone(),
        metrics.mail_failed.clone(),
    )?;
    let secret = jwt_secret(&config)?;
    let tokens = TokenKeys::new(
        &secret,
        Duration::from_secs(config.access_ttl_secs),
        Duration::from_secs(config.refresh_ttl_days * 24 * 3600),
    );
    let hub = Arc::new(Hub::new(metrics.frame_bytes.clone()));
    let members = Arc::new(Members::new());
    let shutdown_token = CancellationToken::new();
    let node = Node {
        hub: hub.clone(),
        members: members.clone(),
        store: store.clone(),
    };
    let (bus, cluster): (Arc<dyn Bus>, _) = match &config.nats_url {
        Some(nats) => {
            let bus = NatsBus::start(
                nats,
                &config.nats_subject,
                node,
                metrics.bus.clone(),
                shutdown_token.clone(),
            )
            .await
            .map_err(|e| StartError::Bus(e.to_string()))?;
            (bus, Some(Cluster::join(&*store).await?))
        }
        None => {
            metrics.bus.connected.set(1);
            (Arc::new(LocalBus::new(node)), None)
        }
    };
    let announce = Announcer::new(bus);
    let (accepted, acceptances) = tokio::sync::mpsc::unbounded_channel();
    let committer = Committer::start(
        store.clone(),
        commit::Outlets {
            announce: announce.clone(),
            stored: metrics.messages.clone(),
            accepted,
            panics: metrics.panics.clone(),
        },
        metrics.commit_batch.clone(),
        config.committers_for(&url),
    );
    let departures = presence::departures::Departures::new(metrics.departing_users.clone());
    let app = Arc::new(AppState {
        sessions: auth::session_lookup(store.clone()),
        contacts: presence::contacts_lookup(store.clone()),
        store,
        tokens,
        announce,
        hub,
        limits: Arc::new(Limits::new(&config)),
        metrics,
        config,
        shutdown: shutdown_token,
        sockets: TaskTracker::new(),
        presence: presence::turns::Turns::new(),
        departures,
        committer,
        members,
        cluster,
        typing: typing::TypingRelay::new(),
        files: Arc::new(files),
        readiness: Default::default(),
        mail,
        erasure: Default::default(),
        exports: Arc::new(tokio::sync::Semaphore::new(export::AT_ONCE)),
    });
    background::start(&app, acceptances, shutdown);

    let router = http::router(app.clone());
    listen::serve(
        listener,
        router,
        &app.config,
        app.metrics.http_connections.clone(),
        app.shutdown.clone(),
    )
    .await;
    // Socket tasks saw the same cancellation and are closing with 1001.
    app.sockets.close();
    // Each answers the sends it took first, within the grace (ws/connection.rs), then closes.
    let grace = Duration::from_secs(app.config.shutdown_grace_secs.max(1) + 1);
    if tokio::time::timeout(grace, app.sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sockets did not close within the shutdown grace");
    }
    background::leave(&app).await;
    // The database last, once nothing needs it (`Store::close`), bounded as the rest is.
    if tokio::time::timeout(grace, app.store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database's connections did not close within the shutdown grace");
    }
    Ok(())
}
