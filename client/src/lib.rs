//! Ferry's local-first core, shared by the desktop app and the `ferry` CLI.
//!
//! A [`Client`] is one signed-in account on this device. Everything it shows comes from
//! its SQLite [`store`]; what is done in one conversation goes through its handle,
//! [`Client::conversation`], whose `send` writes the message and its outbox entry in one
//! transaction and returns at once, online or not. [`Client::start`] runs the sync engine
//! (`engine`), which keeps the store in step with the server and sends the outbox in
//! compose order, exactly once. Every change is announced on [`Client::events`] after it
//! is stored, by one function that turns the store's [`Changes`] into events. Tokens live in a [`TokenStore`] (the OS keyring), never in the database.
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
//! client.conversation(chat).send("hello")?; // stored and queued; goes out when online
//! # Ok(()) }
//! ```

mod account;
pub mod api;
mod attaching;
pub mod backoff;
pub mod clock;
mod conversations;
mod engine;
mod error;
pub mod events;
mod file_seal;
mod files;
mod handles;
pub mod ids;
pub mod mls;
mod options;
mod outbox;
mod pictures;
mod profile;
mod quiet;
mod reading;
mod safety_number;
mod sending;
pub mod session;
pub mod store;
pub mod tokens;
mod transfer;
pub mod typing;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ferry_proto::{ClientFrame, ConversationId, User, UserId};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

pub use crate::account::current_account_dir;
use crate::account::{AccountDir, account_key};
pub use crate::api::{Api, ApiError};
pub use crate::clock::{Clock, SystemClock, TokioClock};
pub use crate::error::{ClientError, ErrorKind, LocalErrorKind};
pub use crate::events::{ConnectionState, Event};
pub use crate::handles::{ConversationHandle, Files, Safety};
pub use crate::ids::{Ids, RandomIds, SequentialIds};
pub(crate) use crate::options::check_transport;
pub use crate::options::{ClientOptions, default_device_name};
pub use crate::profile::{AccountHandle, forgot_password, reset_password};
pub use crate::safety_number::SafetyNumber;
use crate::session::Session;
pub use crate::store::HistoryRequest;
use crate::store::Shown;
pub use crate::store::{
    AccountRecord, Changes, ConversationSummary, ListPosition, LocalAttachment, LocalMessage,
    LocalStore, MemberView, MessageStatus, Quote, Reaction, SearchHit, StoreError,
};
use crate::tokens::{Credentials, TokenError, TokenStore};
use crate::typing::Typing;

/// What the client and its engine task share.
pub(crate) struct Shared {
    pub(crate) store: LocalStore,
    /// The server, called as this session (it refreshes the tokens itself).
    pub(crate) api: Api,
    /// The credentials: the socket signs in with them, and sign-out ends them.
    pub(crate) session: Arc<Session>,
    /// Who is signed in.
    pub(crate) me_id: UserId,
    /// Their profile as last heard: a change from this or another device updates it.
    pub(crate) me: std::sync::RwLock<User>,
    pub(crate) server_url: String,
    pub(crate) options: ClientOptions,
    events: broadcast::Sender<Event>,
    state: watch::Sender<ConnectionState>,
    /// Outbox or outgoing frames changed: the engine should look.
    pub(crate) wake: Notify,
    /// Skip the reconnect wait (the user asked, or the network came back).
    pub(crate) reconnect_now: Notify,
    /// This device ended another session of its user: the engine takes that device out
    /// of the groups now, rather than at its next look.
    pub(crate) session_ended: Notify,
    /// A file was attached: the uploader should look.
    pub(crate) uploads: Notify,
    /// The account's files: copies of attached files, downloads and previews.
    pub(crate) files_dir: PathBuf,
    outgoing: Mutex<Vec<ClientFrame>>,
    typing: Mutex<Typing>,
    /// This device as an MLS member (end-to-end encryption): the engine's alone, held
    /// across the calls to the server that one MLS step makes.
    pub(crate) mls: tokio::sync::Mutex<mls::Device>,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is fine: the store holds the truth.
        let _ = self.events.send(event);
    }

    /// Tells the UI that a user's profile changed: the rows of `conversations` (which
    /// show them), and the signed-in user's own profile when it is theirs.
    pub(crate) fn announce_users(&self, user: &User, conversations: Vec<ConversationId>) {
        if user.id == self.me_id {
            self.emit(Event::Profile { user: user.clone() });
        }
        let mut changes = Changes::default();
        changes.conversations.extend(conversations);
        self.announce(changes);
    }

    /// Tells the UI what a write changed: the one place store changes become events.
    /// Each message is read as it shows now unless the write read it already (one gone
    /// meanwhile is no news), and the
    /// conversations' rows come last, after the messages that moved them.
    pub(crate) fn announce(&self, changes: Changes) {
        let me = self.me_id;
        let shown = |id| match self.store.message(me, id) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "local database failed");
                None
            }
        };
        for change in changes.shown {
            let (message, changed) = match change {
                Shown::Message(id) => (shown(id), false),
                Shown::Changed(id) => (shown(id), true),
                Shown::MessageAsRead(message) => (Some(message), false),
                Shown::ChangedAsRead(message) => (Some(message), true),
            };
            match (message, changed) {
                (Some(message), false) => self.emit(Event::Message { message }),
                (Some(message), true) => self.emit(Event::Changed { message }),
                (None, _) => {}
            }
        }
        for conversation_id in changes.conversations {
            self.emit(Event::Conversation { conversation_id });
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
        let issued = api
            .register(&ferry_proto::RegisterRequest {
                username: username.into(),
                password: password.into(),
                display_name: display_name.into(),
                email: None,
                device_name: options.device_name.clone(),
            })
            .await?;
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
        let store = dir.store_for_sign_in(&*tokens)?;
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
        let Some(store) = dir.existing_store(&*tokens)? else {
            return Ok(None);
        };
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
        let device = mls::Device::open(&store, user.id, credentials.session_id)?;
        let session = Arc::new(Session::with_clock(
            api.clone(),
            tokens,
            key,
            dir.refresh_lock(),
            credentials,
            options.clock.clone(),
        ));
        let (events, _) = broadcast::channel(4096);
        let (state, _) = watch::channel(ConnectionState::Offline {
            retry_at: None,
            reason: None,
        });
        let shared = Shared {
            store,
            api: api.with_session(session.clone()),
            session,
            me_id: user.id,
            me: std::sync::RwLock::new(user),
            server_url: options.server_url.clone(),
            options,
            events,
            state,
            wake: Notify::new(),
            reconnect_now: Notify::new(),
            session_ended: Notify::new(),
            uploads: Notify::new(),
            files_dir: dir.path().join("files"),
            outgoing: Mutex::new(Vec::new()),
            typing: Mutex::new(Typing::default()),
            mls: tokio::sync::Mutex::new(device),
        };
        Ok(Some(Self {
            shared: Arc::new(shared),
            engine: Mutex::new(None),
        }))
    }

    /// The account used last under `data_dir`, signed in or signed out of since: what a
    /// sign-in form proposes (its server and username). `None` when there was none, or
    /// when its database's key (in `tokens`) is gone.
    pub fn last_account(
        data_dir: &std::path::Path,
        tokens: &dyn TokenStore,
    ) -> Result<Option<AccountRecord>, ClientError> {
        let Some(dir) = AccountDir::last(data_dir)? else {
            return Ok(None);
        };
        match dir.existing_store(tokens)? {
            Some(store) => Ok(store.account()?),
            None => Ok(None),
        }
    }

    /// Who is signed in, as their profile is now.
    pub fn me(&self) -> User {
        self.shared
            .me
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
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

    /// Checks that the server answers and accepts this session (one authenticated call).
    pub async fn check_server(&self) -> Result<(), ClientError> {
        self.shared.api.me().await?;
        Ok(())
    }

    /// Catches up, uploads the files waiting, and pushes the outbox over REST, once,
    /// without a socket (for scripts: `ferry sync`). Returns how many outbox messages
    /// went out.
    pub async fn sync_now(&self) -> Result<usize, ClientError> {
        let delivered = engine::catch_up(&self.shared).await?;
        let api = &self.shared.api;
        for (conversation, seq) in delivered {
            api.delivered(conversation, seq).await?;
        }
        for (conversation, seq) in self.shared.store.unsent_reads(self.shared.me_id)? {
            api.read(conversation, seq).await?;
        }
        conversations::send_unsent_notifications(&self.shared).await?;
        quiet::settle(&self.shared).await?;
        files::upload_all(&self.shared).await?;
        engine::prepare_encryption(&self.shared).await?;
        let sent = engine::push_outbox_over_rest(&self.shared).await?;
        engine::settle_groups(&self.shared).await?;
        Ok(sent)
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
