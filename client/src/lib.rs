//! Ferry's local-first core, shared by the desktop app and the `ferry` CLI.
//!
//! A [`Client`] is one signed-in account on this device. Everything it shows comes from
//! its SQLite [`store`]; [`Client::send`] writes the message and its outbox entry in one
//! transaction and returns at once, online or not. [`Client::start`] runs the sync engine
//! (`engine`), which keeps the store in step with the server and sends the outbox in
//! compose order, exactly once. Every change is announced on [`Client::events`] after it
//! is stored. Tokens live in a [`TokenStore`] (the OS keyring), never in the database.
//! The outbox's sending rules are the `outbox` module's, one set for the socket and the
//! REST fallback; an account's files are laid out by `account`. The client takes its
//! [`Clock`] and its message [`Ids`] from [`ClientOptions`], so tests can pin them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_client::ClientError> {
//! use std::sync::Arc;
//! use ferry_client::{Client, ClientOptions, tokens::KeyringTokens};
//!
//! let options = ClientOptions::new("http://127.0.0.1:8080", "/tmp/ferry-demo");
//! let tokens = Arc::new(KeyringTokens::new()?);
//! let client = Client::login(options, tokens, "alice", "correct horse battery").await?;
//! client.start();
//! let chat = client.open_direct("bob").await?;
//! client.send(chat, "hello")?; // stored and queued; goes out when online
//! # Ok(()) }
//! ```

mod account;
pub mod api;
pub mod backoff;
pub mod clock;
mod engine;
mod error;
pub mod events;
mod files;
pub mod ids;
mod outbox;
pub mod session;
pub mod store;
pub mod tokens;
pub mod typing;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_proto::{
    Change, ChangeKind, ClientFrame, Conversation, ErrorCode, NewReport, Presence, SendError, User,
    validate_body, validate_change,
};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use crate::account::current_account_dir;
use crate::account::{AccountDir, account_key};
pub use crate::api::{Api, ApiError};
pub use crate::clock::{Clock, SystemClock, TokioClock};
pub use crate::error::{ClientError, ErrorKind, LocalErrorKind};
pub use crate::events::{ConnectionState, Event};
pub use crate::ids::{Ids, RandomIds, SequentialIds};
use crate::session::{Session, SessionError};
use crate::store::ChangeRefusal;
pub use crate::store::{
    AccountRecord, ConversationSummary, ListPosition, LocalAttachment, LocalMessage, LocalStore,
    MemberView, MessageStatus, Quote, Reaction, SearchHit, StoreError,
};
use crate::tokens::{Credentials, TokenError, TokenStore};
use crate::typing::Typing;

/// Where and how a client runs.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The server, `http(s)://host:port`.
    pub server_url: String,
    /// Where account databases live (one subdirectory per account).
    pub data_dir: PathBuf,
    /// A name for this device's session.
    pub device_name: Option<String>,
    /// Whether a password may go over plain `http://` to a server that is not on this
    /// machine (it then crosses the network readable by anyone on the way); off unless
    /// the user asked for it.
    pub allow_plain_http: bool,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Where the time comes from: the system's clock (tests pin it).
    pub clock: Arc<dyn Clock>,
    /// Where new message ids come from: random v7 UUIDs (tests pin them).
    pub ids: Arc<dyn Ids>,
    /// The most bytes of downloaded files (and previews) kept on this device; past it the
    /// least recently used go (they download again when opened).
    pub file_cache_bytes: u64,
}

impl ClientOptions {
    /// Options with the usual reconnect delays (0.5 s doubling up to 30 s), the system's
    /// clock and random message ids.
    pub fn new(server_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            server_url: with_scheme(server_url.into().trim().trim_end_matches('/')),
            data_dir: data_dir.into(),
            device_name: None,
            allow_plain_http: false,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            file_cache_bytes: 1024 * 1024 * 1024,
        }
    }

    /// The OS's data directory for Ferry (e.g. `~/.local/share/ferry` on Linux).
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "ferry").map(|d| d.data_dir().to_path_buf())
    }
}

/// `host:port` means `https://host:port`, or `http://` for this machine's own server (a
/// loopback address or `localhost`); an address with a scheme is kept as it is.
fn with_scheme(url: &str) -> String {
    if url.is_empty() || url.contains("://") {
        url.to_owned()
    } else if reqwest::Url::parse(&format!("http://{url}")).is_ok_and(|u| is_loopback(&u)) {
        format!("http://{url}")
    } else {
        format!("https://{url}")
    }
}

/// Whether a URL names this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// Refuses to send a password over plain `http://` off this machine unless the user
/// allowed it: it would cross the network in the clear.
fn check_transport(options: &ClientOptions) -> Result<(), ClientError> {
    let Ok(url) = reqwest::Url::parse(&options.server_url) else {
        return Ok(()); // the request itself says what is wrong with the address
    };
    if url.scheme() != "http" || is_loopback(&url) || options.allow_plain_http {
        return Ok(());
    }
    Err(ClientError::Invalid(format!(
        "{} is plain http: your password would cross the network unencrypted. Use https://, \
         or allow plain http explicitly",
        options.server_url
    )))
}

/// What the client and its engine task share.
pub(crate) struct Shared {
    pub(crate) store: LocalStore,
    pub(crate) api: Api,
    pub(crate) session: Session,
    pub(crate) me: User,
    pub(crate) server_url: String,
    pub(crate) options: ClientOptions,
    events: broadcast::Sender<Event>,
    state: watch::Sender<ConnectionState>,
    /// Outbox or outgoing frames changed: the engine should look.
    pub(crate) wake: Notify,
    /// Skip the reconnect wait (the user asked, or the network came back).
    pub(crate) reconnect_now: Notify,
    /// A file was attached: the uploader should look.
    pub(crate) uploads: Notify,
    /// The account's files: copies of attached files, downloads and previews.
    pub(crate) files_dir: PathBuf,
    outgoing: Mutex<Vec<ClientFrame>>,
    typing: Mutex<Typing>,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is fine: the store holds the truth.
        let _ = self.events.send(event);
    }

    /// Announces the message `id` as stored now; for a change, the message it changed.
    pub(crate) fn emit_message(&self, id: Uuid) {
        let found = self
            .store
            .is_change(id)
            .and_then(|change| Ok((change, self.store.message(self.me.id, id)?)));
        match found {
            Ok((false, Some(message))) => self.emit(Event::Message { message }),
            Ok((true, Some(message))) => self.emit(Event::Changed { message }),
            Ok((_, None)) => {}
            Err(e) => tracing::error!(error = %e, "local database failed"),
        }
    }

    pub(crate) fn set_state(&self, state: ConnectionState) {
        let changed = self.state.send_if_modified(|s| {
            let changed = *s != state;
            *s = state.clone();
            changed
        });
        if changed {
            self.emit(Event::Connection { state });
        }
    }

    pub(crate) fn typing(&self) -> MutexGuard<'_, Typing> {
        self.typing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn queue(&self, frame: ClientFrame) {
        self.outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(frame);
        self.wake.notify_one();
    }

    pub(crate) fn take_outgoing(&self) -> Vec<ClientFrame> {
        std::mem::take(&mut *self.outgoing.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One signed-in account on this device.
pub struct Client {
    shared: Arc<Shared>,
    engine: Mutex<Option<Running>>,
}

/// The background tasks of a started client: the sync engine and the uploader, and the
/// switch that stops both.
type Running = (watch::Sender<bool>, JoinHandle<()>, JoinHandle<()>);

impl Client {
    /// Creates an account on the server and signs this device in.
    pub async fn register(
        options: ClientOptions,
        tokens: Arc<dyn TokenStore>,
        username: &str,
        password: &str,
        display_name: &str,
    ) -> Result<Self, ClientError> {
        check_transport(&options)?;
        let api = Api::new(&options.server_url)?;
        // Before the server makes the account: a keyring that cannot keep its sign-in
        // would leave an account this device cannot use, whose name is then taken.
        tokens.check()?;
        let issued = api.register(username, password, display_name).await?;
        Self::signed_in(options, tokens, api, issued).map_err(|e| match e {
            ClientError::Tokens(TokenError(why)) => ClientError::Tokens(TokenError(format!(
                "{why}. Your account {username} was made: sign in (not up) once the keyring works"
            ))),
            other => other,
        })
    }

    /// Signs this device in to an existing account.
    pub async fn login(
        options: ClientOptions,
        tokens: Arc<dyn TokenStore>,
        username: &str,
        password: &str,
    ) -> Result<Self, ClientError> {
        check_transport(&options)?;
        let api = Api::new(&options.server_url)?;
        tokens.check()?;
        let issued = api
            .login(username, password, options.device_name.as_deref())
            .await?;
        Self::signed_in(options, tokens, api, issued)
    }

    fn signed_in(
        options: ClientOptions,
        tokens: Arc<dyn TokenStore>,
        api: Api,
        issued: ferry_proto::Tokens,
    ) -> Result<Self, ClientError> {
        let user = issued.user.clone();
        tokens.save(
            &account_key(&options.server_url, user.id),
            &Credentials::from(&issued),
        )?;
        let dir = AccountDir::new(&options.data_dir, &options.server_url, user.id);
        dir.create_current(&options.data_dir)?;
        let store = LocalStore::open(&dir.database())?;
        Self::open(options, tokens, api, dir, store, user)?.ok_or(ClientError::SignedOut)
    }

    /// Resumes the account last signed in under `options.data_dir`, silently. `None` when
    /// there is none or its credentials are gone (signed out).
    pub fn resume(
        options: ClientOptions,
        tokens: Arc<dyn TokenStore>,
    ) -> Result<Option<Self>, ClientError> {
        let Some(dir) = AccountDir::current(&options.data_dir)? else {
            return Ok(None);
        };
        let store_path = dir.database();
        if !store_path.exists() {
            return Ok(None);
        }
        let store = LocalStore::open(&store_path)?;
        let Some(account) = store.account()? else {
            return Ok(None);
        };
        let options = ClientOptions {
            server_url: account.server_url.clone(),
            ..options
        };
        let api = Api::new(&options.server_url)?;
        Self::open(options, tokens, api, dir, store, account.user)
    }

    fn open(
        options: ClientOptions,
        tokens: Arc<dyn TokenStore>,
        api: Api,
        dir: AccountDir,
        store: LocalStore,
        user: User,
    ) -> Result<Option<Self>, ClientError> {
        let key = account_key(&options.server_url, user.id);
        let Some(credentials) = tokens.load(&key)? else {
            return Ok(None);
        };
        store.set_account(&AccountRecord {
            server_url: options.server_url.clone(),
            user: user.clone(),
        })?;
        let session = Session::with_clock(
            api.clone(),
            tokens,
            key,
            dir.refresh_lock(),
            credentials,
            options.clock.clone(),
        );
        let (events, _) = broadcast::channel(4096);
        let (state, _) = watch::channel(ConnectionState::Offline {
            retry_at: None,
            reason: None,
        });
        let shared = Shared {
            store,
            api,
            session,
            me: user,
            server_url: options.server_url.clone(),
            options,
            events,
            state,
            wake: Notify::new(),
            reconnect_now: Notify::new(),
            uploads: Notify::new(),
            files_dir: dir.path().join("files"),
            outgoing: Mutex::new(Vec::new()),
            typing: Mutex::new(Typing::default()),
        };
        Ok(Some(Self {
            shared: Arc::new(shared),
            engine: Mutex::new(None),
        }))
    }

    /// The account used last under `data_dir`, signed in or signed out of since: what a
    /// sign-in form proposes (its server and username). `None` when there was none.
    pub fn last_account(data_dir: &std::path::Path) -> Result<Option<AccountRecord>, ClientError> {
        let Some(dir) = AccountDir::last(data_dir)? else {
            return Ok(None);
        };
        let path = dir.database();
        if !path.exists() {
            return Ok(None);
        }
        Ok(LocalStore::open(&path)?.account()?)
    }

    /// Who is signed in.
    pub fn me(&self) -> &User {
        &self.shared.me
    }

    /// The server this account is on.
    pub fn server_url(&self) -> &str {
        &self.shared.server_url
    }

    /// The device's store (for reads beyond the helpers here).
    pub fn store(&self) -> &LocalStore {
        &self.shared.store
    }

    /// Starts the sync engine (idempotent). It runs until [`Client::stop`] or sign-out.
    pub fn start(&self) {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if engine
            .as_ref()
            .is_some_and(|(_, task, _)| !task.is_finished())
        {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(engine::run(self.shared.clone(), stopped.clone()));
        let uploads = tokio::spawn(files::run_uploads(self.shared.clone(), stopped));
        *engine = Some((stop, task, uploads));
    }

    /// Stops the sync engine and waits for it (the socket is closed cleanly).
    pub async fn stop(&self) {
        let running = self.engine.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, task, uploads)) = running {
            let _ = stop.send(true);
            let _ = task.await;
            let _ = uploads.await;
        }
    }

    /// Skips the current reconnect wait.
    pub fn reconnect_now(&self) {
        self.shared.reconnect_now.notify_one();
    }

    /// Every change, after it is stored. Slow subscribers miss events (and should re-read
    /// the store), they never slow the engine.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// The connection state now, and its changes.
    pub fn connection(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// Writes a message and queues it; returns at once, online or not.
    pub fn send(&self, conversation: Uuid, body: &str) -> Result<LocalMessage, ClientError> {
        self.compose(conversation, body, None)
    }

    /// Sends a reply to `parent`, a message of the same conversation, the way
    /// [`Self::send`] sends a message.
    pub fn reply(
        &self,
        conversation: Uuid,
        parent: Uuid,
        body: &str,
    ) -> Result<LocalMessage, ClientError> {
        match self.shared.store.message(self.me().id, parent)? {
            Some(m) if m.conversation_id == conversation => {}
            _ => return Err(ClientError::NotFound("message to reply to")),
        }
        self.compose(conversation, body, Some(parent))
    }

    fn compose(
        &self,
        conversation: Uuid,
        body: &str,
        reply_to: Option<Uuid>,
    ) -> Result<LocalMessage, ClientError> {
        validate_body(body, ferry_proto::MAX_BODY_CHARS)
            .map_err(|e| refusal(SendError::Body(e)))?;
        if !self.shared.store.has_conversation(conversation)? {
            return Err(ClientError::NotFound("conversation"));
        }
        let options = &self.shared.options;
        let message = self.shared.store.compose(
            self.me().id,
            options.ids.new_id(),
            conversation,
            body,
            reply_to,
            options.clock.now(),
        )?;
        self.stop_typing(conversation);
        self.shared.emit(Event::Message {
            message: message.clone(),
        });
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        self.shared.wake.notify_one();
        Ok(message)
    }

    /// Replaces the text of one of this user's messages, for everyone. Offline first, like
    /// a send: it shows at once and goes out in order. A message still waiting in the
    /// outbox, never sent, simply gets the new text (it goes out once, not edited); one
    /// that may have gone out is followed by the edit.
    pub fn edit(&self, message: Uuid, body: &str) -> Result<LocalMessage, ClientError> {
        let change = Change {
            kind: ChangeKind::Edit,
            target: message,
            emoji: None,
        };
        self.change(&change, body)?
            .ok_or(ClientError::NotFound("message"))
    }

    /// Deletes a message for everyone: this user's own, or any in a group they own.
    /// Returns it as it now shows (deleted; its text leaves this device once the server
    /// confirms), or `None` when it was never sent and is simply gone.
    pub fn delete(&self, message: Uuid) -> Result<Option<LocalMessage>, ClientError> {
        let change = Change {
            kind: ChangeKind::Delete,
            target: message,
            emoji: None,
        };
        self.change(&change, "")
    }

    /// Adds `emoji` to a message, or takes it back if this user already put it there.
    pub fn react(&self, message: Uuid, emoji: &str) -> Result<LocalMessage, ClientError> {
        let on = !self
            .shared
            .store
            .has_reacted(self.me().id, message, emoji)?;
        self.set_reaction(message, emoji, on)
    }

    /// Puts `emoji` on a message (`on`) or takes it off.
    pub fn set_reaction(
        &self,
        message: Uuid,
        emoji: &str,
        on: bool,
    ) -> Result<LocalMessage, ClientError> {
        let change = Change {
            kind: if on {
                ChangeKind::React
            } else {
                ChangeKind::Unreact
            },
            target: message,
            emoji: Some(emoji.to_owned()),
        };
        self.change(&change, "")?
            .ok_or(ClientError::NotFound("message"))
    }

    /// Stores and queues a change, then announces the message as it now shows.
    fn change(&self, change: &Change, body: &str) -> Result<Option<LocalMessage>, ClientError> {
        validate_change(change, body, ferry_proto::MAX_BODY_CHARS)
            .map_err(|e| refusal(SendError::Change(e)))?;
        let options = &self.shared.options;
        let (conversation_id, shown) = self
            .shared
            .store
            .compose_change(
                self.me().id,
                options.ids.new_id(),
                change,
                body,
                options.clock.now(),
            )?
            .map_err(|refusal| match refusal {
                ChangeRefusal::NoSuchMessage => ClientError::NotFound("message"),
                ChangeRefusal::NotAllowed => ClientError::Refused(
                    ErrorCode::Forbidden,
                    "only the author may edit a message, and only the author or the group's \
                     owner may delete it",
                ),
                ChangeRefusal::Deleted => {
                    ClientError::Refused(ErrorCode::Conflict, "the message was deleted")
                }
            })?;
        if let Some(message) = &shown {
            self.shared.emit(Event::Changed {
                message: message.clone(),
            });
        }
        // The preview may show the message changed (or, deleted unsent, another one).
        self.shared.emit(Event::Conversation { conversation_id });
        self.shared.wake.notify_one();
        Ok(shown)
    }

    /// Puts a failed message back in the outbox.
    pub fn retry(&self, message: Uuid) -> Result<(), ClientError> {
        if !self.shared.store.retry(message)? {
            return Err(ClientError::NotFound("failed message"));
        }
        self.shared.emit_message(message);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Sends files (with `caption` as the message's text, which may be empty), replying
    /// to `reply_to` if set. Each file is copied into the account's folder first, so the
    /// message shows at once (with previews of images) and survives the originals being
    /// moved; the uploads and then the message go out in the background, online or
    /// later, resuming where they stopped.
    pub async fn send_files(
        &self,
        conversation: Uuid,
        paths: &[PathBuf],
        caption: &str,
        reply_to: Option<Uuid>,
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
        self.attach(conversation, sources, caption, reply_to).await
    }

    /// Sends one file given as bytes (a pasted image), named `name`.
    pub async fn send_file_data(
        &self,
        conversation: Uuid,
        name: &str,
        bytes: Vec<u8>,
        caption: &str,
        reply_to: Option<Uuid>,
    ) -> Result<LocalMessage, ClientError> {
        let name = files::file_name(std::path::Path::new(name));
        let source = Box::new(std::io::Cursor::new(bytes)) as Box<dyn std::io::Read + Send>;
        self.attach(conversation, vec![(name, source)], caption, reply_to)
            .await
    }

    async fn attach(
        &self,
        conversation: Uuid,
        sources: Vec<(String, Box<dyn std::io::Read + Send>)>,
        caption: &str,
        reply_to: Option<Uuid>,
    ) -> Result<LocalMessage, ClientError> {
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
        if !self.shared.store.has_conversation(conversation)? {
            return Err(ClientError::NotFound("conversation"));
        }
        let dir = files::folder(&self.shared, "outgoing");
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
        let id = self.shared.options.ids.new_id();
        self.stop_typing(conversation);
        let message = self.shared.store.compose_files(
            self.me().id,
            id,
            conversation,
            caption,
            reply_to,
            &prepared,
            self.shared.options.clock.now(),
        )?;
        self.shared.emit(Event::Message {
            message: message.clone(),
        });
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        self.shared.uploads.notify_one();
        Ok(message)
    }

    /// Cancels an unsent message with files that are still uploading (or that failed):
    /// it is deleted here with its copies, and the server forgets its uploads.
    pub fn cancel_upload(&self, message: Uuid) -> Result<(), ClientError> {
        let conversation = self
            .shared
            .store
            .message(self.me().id, message)?
            .map(|m| m.conversation_id);
        let Some((paths, uploads)) = self.shared.store.cancel_files(message)? else {
            return Err(ClientError::Invalid(
                "nothing to cancel: the message has no files waiting (it may be on its way)".into(),
            ));
        };
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
        if !uploads.is_empty() {
            // Best effort: an upload the server keeps unsent costs only its owner's quota.
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let api = &shared.api;
                for id in uploads {
                    let _ = shared
                        .session
                        .call(|t| async move { api.cancel_upload(&t, id).await })
                        .await;
                }
            });
        }
        if let Some(conversation_id) = conversation {
            self.shared.emit(Event::Conversation { conversation_id });
        }
        Ok(())
    }

    /// Where this device keeps file `index` of `message`: downloaded first if it is not
    /// here (checked against its SHA-256), then kept in the cache.
    pub async fn download(&self, message: Uuid, index: u32) -> Result<PathBuf, ClientError> {
        files::download(&self.shared, message, index).await
    }

    /// The preview (JPEG or PNG bytes) of image `index` of `message`.
    pub async fn preview(&self, message: Uuid, index: u32) -> Result<Vec<u8>, ClientError> {
        files::preview(&self.shared, message, index).await
    }

    /// Deletes a failed message (a pending one may already be on its way).
    pub fn discard(&self, message: Uuid) -> Result<(), ClientError> {
        if self.cancel_upload(message).is_ok() {
            return Ok(());
        }
        let conversation = self
            .shared
            .store
            .message(self.me().id, message)?
            .map(|m| m.conversation_id);
        if !self.shared.store.discard(message)? {
            return Err(ClientError::NotFound("unsent message"));
        }
        if let Some(conversation_id) = conversation {
            self.shared.emit(Event::Conversation { conversation_id });
        }
        Ok(())
    }

    /// Marks a conversation read up to its newest message (on every device of this user).
    pub fn mark_read(&self, conversation: Uuid) -> Result<(), ClientError> {
        if let Some(seq) = self.shared.store.mark_read_locally(conversation)? {
            self.shared.queue(ClientFrame::Read {
                conversation_id: conversation,
                seq,
            });
            self.shared.emit(Event::Conversation {
                conversation_id: conversation,
            });
        }
        Ok(())
    }

    /// The user is composing in a conversation (or stopped); typing frames follow the
    /// protocol's 3 s rule. Nothing is sent while offline.
    pub fn set_typing(&self, conversation: Uuid, composing: bool) {
        let due =
            self.shared
                .typing()
                .composing(conversation, composing, tokio::time::Instant::now());
        if let Some(typing) = due
            && *self.shared.state.borrow() == ConnectionState::Online
        {
            self.shared.queue(ClientFrame::Typing {
                conversation_id: conversation,
                typing,
            });
        }
    }

    fn stop_typing(&self, conversation: Uuid) {
        self.set_typing(conversation, false);
    }

    /// Who is typing in a conversation.
    pub fn typing_in(&self, conversation: Uuid) -> Vec<Uuid> {
        self.shared.typing().typing_in(conversation)
    }

    /// The message requests deleted on this device (`dismiss_request`), which the
    /// conversation list leaves out: a chat can still be found by name among them.
    pub fn dismissed_requests(&self) -> Result<Vec<ConversationSummary>, ClientError> {
        Ok(self.shared.store.dismissed(self.me().id)?)
    }

    /// The conversation list, newest activity first, with who is typing in each; `after`
    /// pages on below the last row of the previous page (see
    /// [`LocalStore::conversations`]).
    pub fn conversations(
        &self,
        after: Option<ListPosition>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, ClientError> {
        let mut list = self
            .shared
            .store
            .conversations(self.me().id, after, limit)?;
        let typing = self.shared.typing();
        for c in &mut list {
            c.typing = typing.typing_in(c.id);
        }
        Ok(list)
    }

    /// The unread count of each conversation that counts towards the unread total (see
    /// [`LocalStore::unread_counts`]).
    pub fn unread_counts(&self) -> Result<Vec<(Uuid, i64)>, ClientError> {
        Ok(self.shared.store.unread_counts(self.me().id)?)
    }

    /// One conversation, with who is typing in it.
    pub fn conversation(&self, id: Uuid) -> Result<Option<ConversationSummary>, ClientError> {
        let mut found = self.shared.store.conversation(self.me().id, id)?;
        if let Some(c) = &mut found {
            c.typing = self.typing_in(id);
        }
        Ok(found)
    }

    /// A page of a conversation, oldest first (see [`LocalStore::messages`]).
    pub fn messages(
        &self,
        conversation: Uuid,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LocalMessage>, ClientError> {
        Ok(self
            .shared
            .store
            .messages(self.me().id, conversation, before_seq, limit)?)
    }

    /// The message at `seq` of a conversation, or with `None` this user's newest one that
    /// can still be edited (see [`LocalStore::message_at`]).
    pub fn message_at(
        &self,
        conversation: Uuid,
        seq: Option<i64>,
    ) -> Result<Option<LocalMessage>, ClientError> {
        Ok(self
            .shared
            .store
            .message_at(self.me().id, conversation, seq)?)
    }

    /// One message as it shows now (`None` if this device does not have it).
    pub fn message(&self, id: Uuid) -> Result<Option<LocalMessage>, ClientError> {
        Ok(self.shared.store.message(self.me().id, id)?)
    }

    /// Full-text search over every stored message (works offline).
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<SearchHit>, ClientError> {
        Ok(self.shared.store.search(text, limit)?)
    }

    /// Presence of known contacts, as last heard.
    pub fn presence(&self) -> Result<Vec<Presence>, ClientError> {
        Ok(self.shared.store.presence(self.me().id)?)
    }

    /// Messages waiting to go out.
    pub fn outbox_len(&self) -> Result<usize, ClientError> {
        Ok(self.shared.store.outbox_len()?)
    }

    /// Saves a conversation's draft (empty clears it).
    pub fn set_draft(&self, conversation: Uuid, body: &str) -> Result<(), ClientError> {
        Ok(self.shared.store.set_draft(conversation, body)?)
    }

    /// Turns a conversation's notifications off or on.
    pub fn set_muted(&self, conversation: Uuid, muted: bool) -> Result<(), ClientError> {
        self.shared.store.set_muted(conversation, muted)?;
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        Ok(())
    }

    /// Users whose username or display name starts with `prefix` (needs the server).
    pub async fn find_users(&self, prefix: &str) -> Result<Vec<User>, ClientError> {
        let api = &self.shared.api;
        Ok(self
            .shared
            .session
            .call(|t| async move { api.search_users(&t, prefix).await })
            .await?)
    }

    /// The direct conversation with `username`, created on the server if needed.
    pub async fn open_direct(&self, username: &str) -> Result<Uuid, ClientError> {
        let wanted = username.trim().to_ascii_lowercase();
        let user = self
            .find_users(&wanted)
            .await?
            .into_iter()
            .find(|u| u.username == wanted)
            .ok_or(ClientError::NotFound("user"))?;
        let api = &self.shared.api;
        let other = user.id;
        let conversation = self
            .shared
            .session
            .call(|t| async move { api.direct(&t, other).await })
            .await?;
        // Opened on purpose: a request deleted here before is shown again.
        self.shared.store.undismiss(conversation.id)?;
        self.keep(&conversation)
    }

    /// Creates a group with these users (by id) and returns its id.
    pub async fn create_group(&self, title: &str, members: &[Uuid]) -> Result<Uuid, ClientError> {
        let api = &self.shared.api;
        let conversation = self
            .shared
            .session
            .call(|t| async move { api.group(&t, title, members).await })
            .await?;
        self.keep(&conversation)
    }

    /// Adds users to a group (owner only).
    pub async fn add_members(&self, conversation: Uuid, users: &[Uuid]) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let updated = self
            .shared
            .session
            .call(|t| async move { api.add_members(&t, conversation, users).await })
            .await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Accepts a message request: this user may send there, and shares presence and
    /// receipts with its members from now on (needs the server).
    pub async fn accept(&self, conversation: Uuid) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let updated = self
            .shared
            .session
            .call(|t| async move { api.accept(&t, conversation).await })
            .await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Deletes a message request on this device, as Signal's Delete does: nothing is
    /// sent and the other person is not told (so it works offline); the conversation
    /// leaves the list until they write again, and comes back as a request. A chat
    /// with someone this user blocked can be deleted the same way; it stays out of the
    /// list until they are unblocked.
    pub fn dismiss_request(&self, conversation: Uuid) -> Result<(), ClientError> {
        if !self.shared.store.dismiss(self.me().id, conversation)? {
            return Err(ClientError::Invalid(
                "only a message request or a blocked chat can be deleted".into(),
            ));
        }
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        Ok(())
    }

    /// Blocks or unblocks someone (needs the server). A block closes the direct
    /// conversation with them both ways, stops new conversations between the two of
    /// you, and hides each one's presence from the other; unblocking opens the
    /// conversation again.
    pub async fn set_blocked(&self, user: Uuid, blocked: bool) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let session = &self.shared.session;
        session
            .call(|t| async move { api.set_blocked(&t, user, blocked).await })
            .await?;
        self.refresh_direct(user).await
    }

    /// Fetches the direct conversation with `user` again, if this device has one: a
    /// block or unblock changed its state.
    async fn refresh_direct(&self, user: Uuid) -> Result<(), ClientError> {
        let Some(direct) = self.shared.store.direct_with(self.me().id, user)? else {
            return Ok(());
        };
        let api = &self.shared.api;
        let updated = self
            .shared
            .session
            .call(|t| async move { api.conversation(&t, direct).await })
            .await?;
        self.keep(&updated)?;
        Ok(())
    }

    /// Whom this user blocked, most recent first (needs the server).
    pub async fn blocked_users(&self) -> Result<Vec<User>, ClientError> {
        let api = &self.shared.api;
        Ok(self
            .shared
            .session
            .call(|t| async move { api.blocked(&t).await })
            .await?)
    }

    /// Reports someone to the server's operators, optionally naming the conversation and
    /// message, and blocks them when `block` is set (needs the server).
    pub async fn report(&self, report: &NewReport) -> Result<Uuid, ClientError> {
        let api = &self.shared.api;
        let receipt = self
            .shared
            .session
            .call(|t| async move { api.report(&t, report).await })
            .await?;
        if report.block {
            self.refresh_direct(report.user_id).await?;
        }
        Ok(receipt.id)
    }

    /// Stores a conversation as the server just returned it, and announces it.
    fn keep(&self, conversation: &Conversation) -> Result<Uuid, ClientError> {
        self.shared
            .store
            .apply_conversation(self.me().id, conversation)?;
        self.shared.emit(Event::Conversation {
            conversation_id: conversation.id,
        });
        Ok(conversation.id)
    }

    /// Leaves a group (or, as its owner, removes someone).
    pub async fn remove_member(&self, conversation: Uuid, user: Uuid) -> Result<(), ClientError> {
        let api = &self.shared.api;
        let session = &self.shared.session;
        session
            .call(|t| async move { api.remove_member(&t, conversation, user).await })
            .await?;
        let updated = session
            .call(|t| async move { api.conversation(&t, conversation).await })
            .await;
        match updated {
            Ok(c) => self.shared.store.apply_conversation(self.me().id, &c)?,
            // We left: the server no longer shows it to us.
            Err(SessionError::Api(ApiError::Server {
                code: ErrorCode::NotFound,
                ..
            })) => {
                self.shared.store.mark_left(conversation)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.shared.emit(Event::Conversation {
            conversation_id: conversation,
        });
        Ok(())
    }

    /// Checks that the server answers and accepts this session (one authenticated call).
    pub async fn check_server(&self) -> Result<(), ClientError> {
        let api = &self.shared.api;
        self.shared
            .session
            .call(|t| async move { api.me(&t).await })
            .await?;
        Ok(())
    }

    /// Catches up, uploads the files waiting, and pushes the outbox over REST, once,
    /// without a socket (for scripts: `ferry sync`). Returns how many outbox messages
    /// went out.
    pub async fn sync_now(&self) -> Result<usize, ClientError> {
        let delivered = engine::catch_up(&self.shared).await?;
        let (api, session) = (&self.shared.api, &self.shared.session);
        for (conversation, seq) in delivered {
            session
                .call(|t| async move { api.delivered(&t, conversation, seq).await })
                .await?;
        }
        for (conversation, seq) in self.shared.store.unsent_reads(self.me().id)? {
            session
                .call(|t| async move { api.read(&t, conversation, seq).await })
                .await?;
        }
        files::upload_all(&self.shared).await?;
        Ok(engine::push_outbox_over_rest(&self.shared).await?)
    }

    /// Signs out: ends the session on the server and forgets the credentials. The local
    /// history stays on disk; signing in again resumes it.
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        self.stop().await;
        // The credentials are gone here whatever the server says; an error only means the
        // server could not be told (its session then lasts until the refresh token expires).
        let told = self.shared.session.sign_out().await;
        let _ = AccountDir::forget_current(&self.shared.options.data_dir);
        self.shared.set_state(ConnectionState::SignedOut);
        Ok(told?)
    }
}

/// A send refused before it is queued, in the words the server would use.
fn refusal(error: SendError) -> ClientError {
    ClientError::Invalid(error.to_string())
}

#[cfg(test)]
mod transport_tests {
    use super::*;

    fn options(url: &str) -> ClientOptions {
        ClientOptions::new(url, "/nonexistent")
    }

    #[test]
    fn a_bare_address_means_https_but_on_this_machine() {
        assert_eq!(
            options("chat.example.com").server_url,
            "https://chat.example.com"
        );
        assert_eq!(
            options("chat.example.com:8443/").server_url,
            "https://chat.example.com:8443"
        );
        assert_eq!(
            options("127.0.0.1:8080").server_url,
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            options("localhost:8080").server_url,
            "http://localhost:8080"
        );
        assert_eq!(options("[::1]:8080").server_url, "http://[::1]:8080");
        assert_eq!(
            options("http://chat.example.com").server_url,
            "http://chat.example.com"
        );
    }

    #[test]
    fn a_password_goes_over_plain_http_only_on_this_machine_or_when_allowed() {
        for ok in [
            "https://chat.example.com",
            "http://127.0.0.1:8080",
            "http://127.0.0.2:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(check_transport(&options(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "http://chat.example.com",
            "http://192.0.2.1:8080",
            "chat.example.com:80",
        ] {
            let mut opts = options(refused);
            if opts.server_url.starts_with("https://") {
                // A bare address went to https: nothing to refuse.
                assert!(check_transport(&opts).is_ok(), "{refused}");
                continue;
            }
            let err = check_transport(&opts).expect_err(refused);
            assert_eq!(
                err.kind(),
                ErrorKind::Code(ferry_proto::ErrorCode::InvalidRequest)
            );
            assert!(err.to_string().contains("unencrypted"), "{err}");
            opts.allow_plain_http = true;
            assert!(check_transport(&opts).is_ok(), "{refused} when allowed");
        }
    }
}
