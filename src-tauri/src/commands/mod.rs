//! The commands the UI calls (through `ui/src/lib/backend`). Each is a thin call into the
//! client core; reads answer from the local store, so they work offline. Arguments arrive
//! in camelCase from JavaScript (`conversationId`). Those of files are in `files.rs`, those
//! of the user's own account (which need the server) in `account.rs`; the UI's bindings
//! are generated from the signatures of this folder (`command_bindings.rs`).

use std::sync::Arc;

use ferry_proto::{ConversationId, MessageId, NotifyLevel, Presence, User, UserId};

use ferry_client::tokens::KeyringTokens;
use ferry_client::{
    Client, ClientOptions, ConnectionState, ConversationSummary, ErrorKind, ListPosition,
    LocalErrorKind, LocalMessage, SearchHit,
};
use tauri::{AppHandle, State};

use crate::error::CommandError;
use crate::notify::Attention;
use crate::state::{Desktop, KnownAccount, SessionView};

mod account;
mod app;
mod files;
pub use account::*;
pub use app::*;
pub use files::*;

type Result<T> = std::result::Result<T, CommandError>;

fn tokens() -> Result<Arc<KeyringTokens>> {
    KeyringTokens::new()
        .map(Arc::new)
        .map_err(|e| CommandError {
            kind: ErrorKind::Local(LocalErrorKind::Keyring),
            message: e.to_string(),
        })
}

/// Who is signed in (silently resumed at start) and the connection state.
#[tauri::command]
pub fn session(state: State<'_, Desktop>) -> SessionView {
    match state.client() {
        Ok(client) => SessionView {
            user: Some(client.me().clone()),
            connection: client.connection().borrow().clone(),
            last_account: Some(KnownAccount {
                server_url: client.server_url().to_owned(),
                username: client.me().username.clone(),
            }),
        },
        Err(_) => SessionView {
            user: None,
            connection: ConnectionState::SignedOut,
            // A device that cannot read its last account simply proposes the defaults.
            last_account: tokens()
                .ok()
                .and_then(|tokens| Client::last_account(&state.data_dir, &*tokens).ok())
                .flatten()
                .map(|account| KnownAccount {
                    server_url: account.server_url,
                    username: account.user.username,
                }),
        },
    }
}

/// Signs in to an existing account; tokens go to the OS keyring.
#[tauri::command]
pub async fn sign_in(
    app: AppHandle,
    state: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    allow_plain_http: Option<bool>,
) -> Result<User> {
    let options = options(&state, &server_url, allow_plain_http);
    let client = Client::login(options, tokens()?, &username, &password).await?;
    Ok(crate::attach(&app, &state, client))
}

/// Creates an account and signs in.
#[tauri::command]
pub async fn sign_up(
    app: AppHandle,
    state: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    display_name: String,
    allow_plain_http: Option<bool>,
) -> Result<User> {
    let options = options(&state, &server_url, allow_plain_http);
    let client = Client::register(options, tokens()?, &username, &password, &display_name).await?;
    Ok(crate::attach(&app, &state, client))
}

/// The core's options for signing in to `server_url`; plain http off this machine only
/// when the user ticked the box that says the password then travels unencrypted.
fn options(state: &Desktop, server_url: &str, allow_plain_http: Option<bool>) -> ClientOptions {
    ClientOptions {
        allow_plain_http: allow_plain_http.unwrap_or(false),
        ..ClientOptions::new(server_url.trim(), &state.data_dir)
    }
}

/// Signs out: ends the session and forgets the tokens (history stays on disk).
#[tauri::command]
pub async fn sign_out(state: State<'_, Desktop>) -> Result<()> {
    let client = state.client()?;
    state.set_client(None);
    client.sign_out().await?;
    Ok(())
}

/// A page of the conversation list, newest activity first: `limit` (default and most
/// 500) conversations below `after`, the place of the last row of the page before.
#[tauri::command]
pub fn conversations(
    state: State<'_, Desktop>,
    after: Option<ListPosition>,
    limit: Option<u32>,
) -> Result<Vec<ConversationSummary>> {
    let limit = limit.unwrap_or(LIST_PAGE).clamp(1, LIST_PAGE);
    Ok(state.client()?.conversations(after, limit)?)
}

/// The most conversations one call of [`conversations`] returns.
const LIST_PAGE: u32 = 500;

/// One conversation's summary (`None` if this device does not know it), for the UI to
/// place a conversation it just created or changed without re-reading the whole list.
#[tauri::command]
pub fn conversation(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
) -> Result<Option<ConversationSummary>> {
    Ok(state.client()?.conversation(conversation_id).summary()?)
}

/// A page of a conversation (oldest first); `before_seq` pages back in history.
#[tauri::command]
pub fn messages(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    before_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<LocalMessage>> {
    Ok(state
        .client()?
        .conversation(conversation_id)
        .messages(before_seq, limit.clamp(1, 500))?)
}

/// The UI has painted the conversation list for the first time: logged with the time
/// since the process started, for the start-up benchmark (B12, docs/benchmarks.md).
#[tauri::command]
pub fn first_paint() {
    tracing::info!(
        since_start_ms = crate::STARTED.elapsed().as_millis() as u64,
        "first paint"
    );
}

/// Writes and queues a message (a reply to `reply_to`, if given); returns at once with its
/// pending copy.
#[tauri::command]
pub fn send_message(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    body: String,
    reply_to: Option<MessageId>,
) -> Result<LocalMessage> {
    let client = state.client()?;
    Ok(match reply_to {
        Some(parent) => client.conversation(conversation_id).reply(parent, &body)?,
        None => client.conversation(conversation_id).send(&body)?,
    })
}

/// Replaces the text of one of this user's messages; returns it as it now shows.
#[tauri::command]
pub fn edit_message(
    state: State<'_, Desktop>,
    message_id: MessageId,
    body: String,
) -> Result<LocalMessage> {
    let client = state.client()?;
    Ok(client
        .conversation_of(message_id)?
        .edit(message_id, &body)?)
}

/// Deletes a message for everyone; returns it as it now shows, or nothing when it was
/// never sent and is gone.
#[tauri::command]
pub fn delete_message(
    state: State<'_, Desktop>,
    message_id: MessageId,
) -> Result<Option<LocalMessage>> {
    let client = state.client()?;
    Ok(client.conversation_of(message_id)?.delete(message_id)?)
}

/// Adds an emoji to a message, or takes this user's back; returns the message as it
/// now shows.
#[tauri::command]
pub fn react(
    state: State<'_, Desktop>,
    message_id: MessageId,
    emoji: String,
) -> Result<LocalMessage> {
    let client = state.client()?;
    Ok(client
        .conversation_of(message_id)?
        .react(message_id, &emoji)?)
}

/// Puts a failed message back in the outbox.
#[tauri::command]
pub fn retry_message(state: State<'_, Desktop>, message_id: MessageId) -> Result<()> {
    let client = state.client()?;
    Ok(client.conversation_of(message_id)?.retry(message_id)?)
}

/// Deletes a message that never went out.
#[tauri::command]
pub fn discard_message(state: State<'_, Desktop>, message_id: MessageId) -> Result<()> {
    let client = state.client()?;
    Ok(client.conversation_of(message_id)?.discard(message_id)?)
}

/// Marks a conversation read (on every device of this user).
#[tauri::command]
pub fn mark_read(state: State<'_, Desktop>, conversation_id: ConversationId) -> Result<()> {
    Ok(state.client()?.conversation(conversation_id).mark_read()?)
}

/// The user is composing (or stopped) in a conversation.
#[tauri::command]
pub fn set_typing(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    composing: bool,
) -> Result<()> {
    state
        .client()?
        .conversation(conversation_id)
        .set_typing(composing);
    Ok(())
}

/// Saves a conversation's draft (empty clears it).
#[tauri::command]
pub fn set_draft(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    body: String,
) -> Result<()> {
    Ok(state
        .client()?
        .conversation(conversation_id)
        .set_draft(&body)?)
}

/// Chooses what this user is told of a conversation's new messages (all, mentions only,
/// none), on every device of theirs; works offline (sent on the next connect).
#[tauri::command]
pub async fn set_notifications(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    level: NotifyLevel,
) -> Result<()> {
    let client = state.client()?;
    Ok(client
        .conversation(conversation_id)
        .set_notifications(level)
        .await?)
}

/// Users whose username or display name starts with `prefix`.
#[tauri::command]
pub async fn find_users(state: State<'_, Desktop>, prefix: String) -> Result<Vec<User>> {
    let client = state.client()?;
    let me = client.me().id;
    Ok(client
        .find_users(prefix.trim())
        .await?
        .into_iter()
        .filter(|u| u.id != me)
        .collect())
}

/// The direct conversation with `username` (created if needed).
#[tauri::command]
pub async fn open_direct(state: State<'_, Desktop>, username: String) -> Result<ConversationId> {
    Ok(state.client()?.open_direct(&username).await?)
}

/// Creates a group.
#[tauri::command]
pub async fn create_group(
    state: State<'_, Desktop>,
    title: String,
    member_ids: Vec<UserId>,
) -> Result<ConversationId> {
    Ok(state.client()?.create_group(&title, &member_ids).await?)
}

/// Adds people to a group (owner only).
#[tauri::command]
pub async fn add_members(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    user_ids: Vec<UserId>,
) -> Result<()> {
    Ok(state
        .client()?
        .conversation(conversation_id)
        .add_members(&user_ids)
        .await?)
}

/// Leaves a group.
#[tauri::command]
pub async fn leave_conversation(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
) -> Result<()> {
    let client = state.client()?;
    Ok(client.conversation(conversation_id).leave().await?)
}

/// The safety number between this user and `with` in an encrypted conversation: sixty
/// digits, the same on their screen while the devices that can read it are theirs and
/// this user's (`None` while it has none: not encrypted, or a device not in it yet).
#[tauri::command]
pub async fn safety_number(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    with: UserId,
) -> Result<Option<String>> {
    let client = state.client()?;
    let number = client
        .conversation(conversation_id)
        .safety_number(with)
        .await?;
    Ok(number.map(|n| n.digits().to_owned()))
}

/// Accepts a message request.
#[tauri::command]
pub async fn accept_request(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
) -> Result<()> {
    Ok(state
        .client()?
        .conversation(conversation_id)
        .accept()
        .await?)
}

/// Deletes a message request on this device (works offline; nobody is told).
#[tauri::command]
pub fn dismiss_request(state: State<'_, Desktop>, conversation_id: ConversationId) -> Result<()> {
    Ok(state
        .client()?
        .conversation(conversation_id)
        .dismiss_request()?)
}

/// Blocks or unblocks someone.
#[tauri::command]
pub async fn set_blocked(state: State<'_, Desktop>, user_id: UserId, blocked: bool) -> Result<()> {
    Ok(state
        .client()?
        .safety()
        .set_blocked(user_id, blocked)
        .await?)
}

/// Whom this user blocked, most recent first.
#[tauri::command]
pub async fn blocked_users(state: State<'_, Desktop>) -> Result<Vec<User>> {
    Ok(state.client()?.safety().blocked_users().await?)
}

/// Reports someone to the server's operators (and blocks them when `block` is set).
#[tauri::command]
pub async fn report_user(
    state: State<'_, Desktop>,
    user_id: UserId,
    conversation_id: Option<ConversationId>,
    message_id: Option<MessageId>,
    reason: String,
    block: bool,
) -> Result<()> {
    state
        .client()?
        .safety()
        .report(&ferry_proto::NewReport {
            user_id,
            conversation_id,
            message_id,
            reason,
            block,
            copies: Vec::new(),
        })
        .await?;
    Ok(())
}

/// Full-text search over every stored message (works offline).
#[tauri::command]
pub fn search(state: State<'_, Desktop>, query: String, limit: u32) -> Result<Vec<SearchHit>> {
    Ok(state.client()?.search(&query, limit.clamp(1, 200))?)
}

/// Presence of known contacts.
#[tauri::command]
pub fn presence(state: State<'_, Desktop>) -> Result<Vec<Presence>> {
    Ok(state.client()?.presence()?)
}

/// What the window shows: whether it is focused and which conversation is open (for
/// notifications, and to mark the open conversation read).
#[tauri::command]
pub fn set_attention(
    state: State<'_, Desktop>,
    focused: bool,
    open_conversation: Option<ConversationId>,
) -> Result<()> {
    *state.attention.lock().unwrap_or_else(|p| p.into_inner()) = Attention {
        focused,
        open: open_conversation,
    };
    if let (true, Some(conversation)) = (focused, open_conversation)
        && let Ok(client) = state.client()
    {
        client.conversation(conversation).mark_read()?;
    }
    Ok(())
}

/// Skips the reconnect wait ("retry now" in the offline banner).
#[tauri::command]
pub fn reconnect_now(state: State<'_, Desktop>) -> Result<()> {
    state.client()?.reconnect_now();
    Ok(())
}
