//! `ferry`: a terminal client on Ferry's local-first core, for people and for scripts.
//!
//! Every command works on the account last signed in under the data directory
//! (`--data-dir`, `FERRY_CLIENT_DIR`, or the OS data directory); the tokens live in the OS
//! keyring. Reading commands (`chats`, `open`, `search`, `status`) answer from the local
//! store, offline too (`chats` and `open` catch up first when the server answers); `send`
//! (and `reply`, `edit`, `delete`, `react`) queues first and then tries to deliver;
//! `watch` runs the sync engine and prints events (one JSON object per line with
//! `--json`). Errors go to stderr with a non-zero exit status.

mod account;
mod history;
mod mention;
mod print;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ferry_client::tokens::KeyringTokens;
use ferry_client::{Client, ClientError, ClientOptions, ConnectionState, Event, MessageStatus};
use ferry_proto::{ConversationId, MessageId, NewReport};

#[derive(Parser)]
#[command(name = "ferry", version, about = "Ferry chat in the terminal")]
struct Cli {
    /// Where account data lives (default: the OS data directory).
    #[arg(long, env = "FERRY_CLIENT_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of text (one object per line for `watch`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account and sign in on this device.
    Register {
        /// 3-32 characters of a-z, 0-9, '_', '.' or '-'.
        username: String,
        /// The server.
        #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// The name others see (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
        /// Send the password over plain http to a server that is not on this machine
        /// (unencrypted: anyone on the way can read it). Refused without this.
        #[arg(long)]
        allow_plain_http: bool,
    },
    /// Sign in to an existing account on this device.
    Login {
        /// The account.
        username: String,
        /// The server.
        #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Read the password from standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
        /// Send the password over plain http to a server that is not on this machine
        /// (unencrypted: anyone on the way can read it). Refused without this.
        #[arg(long)]
        allow_plain_http: bool,
    },
    /// Sign out: end the session and forget its tokens (history stays on disk).
    Logout,
    /// The conversation list, newest activity first.
    Chats {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A conversation's latest messages (and mark it read).
    Open {
        /// Name, username of the other person, or id.
        chat: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Start (or find) the direct conversation with someone.
    New {
        /// Their username.
        username: String,
    },
    /// Create a group.
    Group {
        /// Its title.
        title: String,
        /// Usernames of the members.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Send a message, or files with an optional caption; queued when offline, it goes
    /// out later (uploads resume where they stopped).
    Send {
        /// Name, username of the other person, or id.
        chat: String,
        /// The text (a caption, with files).
        #[arg(required_unless_present = "file")]
        text: Option<String>,
        /// A file to send (repeat for several, up to 10).
        #[arg(long, value_name = "PATH")]
        file: Vec<std::path::PathBuf>,
    },
    /// Save the files of a message (downloading them if this device does not have them).
    Download {
        /// The message's id; or a chat followed by the message as `reply` takes it (its
        /// number as `open` shows it, or `last`).
        #[arg(required = true, num_args = 1..=2, value_name = "[CHAT] MESSAGE")]
        message: Vec<String>,
        /// The folder to save them in.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
    /// Reply to a message; queued like `send`.
    Reply {
        /// Name, username of the other person, or id.
        chat: String,
        /// The message: its number as `open` shows it (#12 → 12), its id, or `last`.
        message: String,
        /// The text.
        text: String,
    },
    /// Replace the text of one of your messages, for everyone.
    Edit {
        /// Name, username of the other person, or id.
        chat: String,
        /// The message: its number as `open` shows it, its id, or `last` (your newest).
        message: String,
        /// The new text.
        text: String,
    },
    /// Delete a message for everyone (yours, or any in a group you own).
    Delete {
        /// Name, username of the other person, or id.
        chat: String,
        /// The message: its number as `open` shows it, its id, or `last` (your newest).
        message: String,
    },
    /// Add a reaction to a message, or take yours back if it is there.
    React {
        /// Name, username of the other person, or id.
        chat: String,
        /// The message: its number as `open` shows it, its id, or `last`.
        message: String,
        /// The emoji.
        emoji: String,
    },
    /// Accept a message request: someone you do not talk to started the chat or added
    /// you to a group; until you accept, you cannot reply and they do not see you.
    Accept {
        /// Name, username of the other person, or id.
        chat: String,
    },
    /// Choose what you are told of a chat's new messages, on all your devices: every
    /// message, only those that mention you (`@username`), or nothing (works offline).
    Notify {
        /// Name, username of the other person, or id.
        chat: String,
        /// all, mentions or none.
        #[arg(value_parser = ["all", "mentions", "none"])]
        level: String,
    },
    /// Delete a message request (or a chat with someone you blocked) on this device:
    /// nobody is told, and it comes back if they write again, or are unblocked (works
    /// offline).
    Dismiss {
        /// Name, username of the other person, or id.
        chat: String,
    },
    /// Leave a group (or refuse a group's message request).
    Leave {
        /// Name or id.
        chat: String,
    },
    /// Block someone: no chat between you, each other's presence hidden.
    Block {
        /// Their username.
        username: String,
    },
    /// Unblock someone.
    Unblock {
        /// Their username.
        username: String,
    },
    /// Whom you blocked.
    Blocked,
    /// The safety number you share with someone in an end-to-end encrypted chat: the same
    /// sixty digits on their screen mean no one else's device can read along.
    Verify {
        /// Their username.
        username: String,
        /// The chat (default: your direct chat with them).
        #[arg(long)]
        chat: Option<String>,
    },
    /// Report someone to the server's operators.
    Report {
        /// Their username.
        username: String,
        /// The chat it happened in (name, username or id).
        #[arg(long)]
        chat: Option<String>,
        /// The message: its number as `open` shows it, or its id (needs --chat).
        #[arg(long, requires = "chat")]
        message: Option<String>,
        /// What happened, in your words.
        #[arg(long, default_value = "")]
        reason: String,
        /// Also block them.
        #[arg(long)]
        block: bool,
    },
    /// Stay connected and print every event until interrupted.
    Watch,
    /// Search all stored messages (works offline).
    Search {
        /// Words to find (prefixes match).
        query: String,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Who is signed in, whether the server answers, and what waits to go out.
    Status,
    /// Catch up and send the outbox now, then exit.
    Sync,
    /// The history of your encrypted chats, sent between your own devices: the asks of a
    /// new device, and sending one.
    History {
        #[command(subcommand)]
        command: Option<history::HistoryCommand>,
    },
    /// Your own account: name, password, email address, sessions, settings, deleting it.
    Account {
        #[command(subcommand)]
        command: Option<account::AccountCommand>,
    },
    /// Forgot your password? Mails a code to your account's confirmed address.
    ForgotPassword {
        /// Your username, or your confirmed email address.
        login: String,
        /// The server.
        #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Set a new password with the code a reset mail carried (asks for the password).
    ResetPassword {
        /// The code (or the whole link) from the mail.
        code: String,
        /// The server.
        #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Put a failed message back in the outbox.
    Retry {
        /// The message id (as shown by `open`).
        message: MessageId,
    },
    /// Delete a message that never went out.
    Discard {
        /// The message id (as shown by `open`).
        message: MessageId,
    },
}

/// How long a one-shot command waits for the server before leaving work queued.
const ONLINE_WAIT: Duration = Duration::from_secs(10);
/// How long `chats` waits to catch up before it lists the local copy.
const LIST_WAIT: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn options(cli: &Cli, server: &str) -> Result<ClientOptions> {
    let dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => ClientOptions::default_data_dir().context("no data directory; pass --data-dir")?,
    };
    Ok(ClientOptions::new(server, dir))
}

fn tokens() -> Result<Arc<KeyringTokens>> {
    Ok(Arc::new(KeyringTokens::new()?))
}

fn password(from_stdin: bool) -> Result<String> {
    if let Ok(password) = std::env::var("FERRY_PASSWORD") {
        return Ok(password);
    }
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(rpassword::prompt_password("Password: ")?)
}

async fn signed_in(cli: &Cli) -> Result<Client> {
    match Client::resume(options(cli, "")?, tokens()?)? {
        Some(client) => Ok(client),
        None => bail!("not signed in; run `ferry login <username>` (or `ferry register`)"),
    }
}

/// Finds a conversation by id, name, or the other person's username; syncs once if the
/// store does not know it yet.
async fn resolve(client: &Client, chat: &str) -> Result<ConversationId> {
    for attempt in 0..2 {
        if let Ok(id) = chat.parse::<ConversationId>() {
            return Ok(id);
        }
        let wanted = chat.trim().to_lowercase();
        if wanted.is_empty() {
            bail!("say which chat (a name, a username or an id; see `ferry chats`)");
        }
        let me = client.me().id;
        // Deleted requests too: `accept` or `block` must still find them.
        let found: Vec<ConversationId> = client
            .conversations(None, 10_000)?
            .into_iter()
            .chain(client.dismissed_requests()?)
            .filter(|c| {
                c.name.to_lowercase() == wanted
                    // An id prefix must be long enough not to match by accident.
                    || (wanted.len() >= 8 && c.id.to_string().starts_with(&wanted))
                    || (c.kind == ferry_proto::ConversationKind::Direct
                        && c.members
                            .iter()
                            .any(|m| m.user.id != me && m.user.username == wanted))
            })
            .map(|c| c.id)
            .collect();
        match found[..] {
            [id] => return Ok(id),
            [] if attempt == 0 => {
                // Maybe it is new: learn about it from the server (if it answers).
                let _ = tokio::time::timeout(ONLINE_WAIT, client.sync_now()).await;
            }
            [] => break,
            _ => bail!("more than one chat matches {chat:?}; use its id (see `ferry chats`)"),
        }
    }
    bail!("no chat matches {chat:?} (see `ferry chats`, or start one with `ferry new`)")
}

/// Finds a message of a chat (see [`resolve`]) by its number (seq, as `open` shows it),
/// its id, or `last` (this user's newest).
/// The user with exactly this username (asks the server).
async fn user_named(client: &Client, name: &str) -> Result<ferry_proto::User> {
    let wanted = name.trim().to_lowercase();
    client
        .find_users(&wanted)
        .await?
        .into_iter()
        .find(|u| u.username == wanted)
        .with_context(|| format!("no user named {name:?}"))
}

async fn find_message(
    client: &Client,
    chat: &str,
    which: &str,
) -> Result<ferry_client::LocalMessage> {
    let conversation = resolve(client, chat).await?;
    let which = which.trim().trim_start_matches('#');
    let found = if which.eq_ignore_ascii_case("last") {
        client.conversation(conversation).message_at(None)?
    } else if let Ok(seq) = which.parse::<i64>() {
        client.conversation(conversation).message_at(Some(seq))?
    } else if let Ok(id) = which.parse::<MessageId>() {
        client
            .message(id)?
            .filter(|m| m.conversation_id == conversation)
    } else {
        bail!("say which message: its number as `ferry open` shows it, its id, or `last`");
    };
    found.with_context(|| format!("no message {which:?} in this chat (see `ferry open`)"))
}

/// After a message is queued: tries to send it, then says whether it went (an error if
/// the server refused it for good).
async fn sent(cli: &Cli, client: &Client, queued: ferry_client::LocalMessage) -> Result<()> {
    let online = try_sync(client).await?.is_some();
    let message = client.message(queued.id)?.unwrap_or(queued);
    if message.status == MessageStatus::Failed {
        bail!("not sent: {}", message.error.unwrap_or_default());
    }
    print::sent(cli, &message, online, client.outbox_len()?);
    Ok(())
}

/// After a message with files is queued: uploads them and sends it, however long that
/// takes (each chunk has its own time limit), showing how far it got.
async fn sent_files(cli: &Cli, client: &Client, queued: ferry_client::LocalMessage) -> Result<()> {
    let mut events = client.events();
    let total: u64 = queued.attachments.iter().map(|a| a.size).sum();
    let show = !cli.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = async {
        let mut done = std::collections::HashMap::new();
        while let Ok(event) = events.recv().await {
            if let Event::UploadProgress {
                message_id,
                index,
                sent,
                ..
            } = event
                && message_id == queued.id
            {
                done.insert(index, sent);
                if show {
                    let sum: u64 = done.values().sum();
                    eprint!("\ruploading {}%", sum * 100 / total.max(1));
                }
            }
        }
    };
    let outcome = tokio::select! {
        outcome = client.sync_now() => outcome,
        () = progress => unreachable!("the client outlives this"),
    };
    if show {
        eprintln!();
    }
    let online = synced(outcome)?.is_some();
    let message = client.message(queued.id)?.unwrap_or(queued);
    if message.status == MessageStatus::Failed {
        bail!("not sent: {}", message.error.unwrap_or_default());
    }
    print::sent(cli, &message, online, client.outbox_len()?);
    Ok(())
}

/// `dir/name`, or `dir/name (1)`… when that is taken: a download never overwrites.
fn free_name(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    // The name came from another user: only its last component, never a path, and
    // without the characters that would disguise it (a bidirectional override).
    // Characters Windows refuses in a name become `_` (`:` would write a stream).
    let name: String = name
        .chars()
        .filter(|c| !print::is_hidden_format(*c) && !c.is_control())
        .map(|c| if r#"<>:"|?*"#.contains(c) { '_' } else { c })
        .collect();
    let name = name.trim().trim_end_matches(['.', ' ']);
    let name = std::path::Path::new(name)
        .file_name()
        .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    let first = dir.join(&name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_owned(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    (1..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .expect("some name is free")
}

/// After a change is queued: tries to send it, then says how the message shows now, or
/// why the server refused it.
async fn changed(cli: &Cli, client: &Client, message: MessageId, what: &str) -> Result<()> {
    let mut events = client.events();
    let online = try_sync(client).await?.is_some();
    while let Ok(event) = events.try_recv() {
        if let Event::ChangeRefused { message: m, reason } = event
            && m.id == message
        {
            bail!("refused by the server: {reason}");
        }
    }
    let shown = client.message(message)?;
    let waiting = client.outbox_len()?;
    print::changed(cli, shown.as_ref(), what, online, waiting);
    Ok(())
}

/// Tries to catch up and send the outbox; offline is not an error for one-shot commands.
async fn try_sync(client: &Client) -> Result<Option<usize>> {
    match tokio::time::timeout(ONLINE_WAIT, client.sync_now()).await {
        Ok(outcome) => synced(outcome),
        Err(_) => Ok(None),
    }
}

/// What a sync came to: how many went out, `None` when the server is out of reach (the
/// rest waits), an error when it refused for good or the session ended.
fn synced(outcome: Result<usize, ClientError>) -> Result<Option<usize>> {
    match outcome {
        Ok(sent) => Ok(Some(sent)),
        Err(ClientError::SignedOut) => bail!("the session has ended; sign in again"),
        Err(ClientError::Api(e)) if e.is_transient() => Ok(None),
        Err(ClientError::Offline(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Register {
            username,
            server,
            display_name,
            password_stdin,
            allow_plain_http,
        } => {
            let password = password(*password_stdin)?;
            let display = display_name.clone().unwrap_or_else(|| username.clone());
            let client = Client::register(
                ClientOptions {
                    allow_plain_http: *allow_plain_http,
                    ..options(&cli, server)?
                },
                tokens()?,
                username,
                &password,
                &display,
            )
            .await?;
            print::signed_in(&cli, &client.me(), server);
        }
        Command::Login {
            username,
            server,
            password_stdin,
            allow_plain_http,
        } => {
            let password = password(*password_stdin)?;
            let options = ClientOptions {
                allow_plain_http: *allow_plain_http,
                ..options(&cli, server)?
            };
            let client = Client::login(options, tokens()?, username, &password).await?;
            let _ = try_sync(&client).await?;
            print::signed_in(&cli, &client.me(), server);
        }
        Command::History { command } => {
            let client = signed_in(&cli).await?;
            let command = command
                .as_ref()
                .unwrap_or(&history::HistoryCommand::Requests);
            history::history(&cli, &client, command).await?;
        }
        Command::Account { command } => {
            let client = signed_in(&cli).await?;
            let command = command.as_ref().unwrap_or(&account::AccountCommand::Show);
            account::account(&cli, &client, command).await?;
        }
        Command::ForgotPassword { login, server } => account::forgot(&cli, server, login).await?,
        Command::ResetPassword { code, server } => account::reset(&cli, server, code).await?,
        Command::Logout => {
            let client = signed_in(&cli).await?;
            match client.sign_out().await {
                Ok(()) => print::done(&cli, "signed out"),
                // Signed out here all the same; only the server's copy of the session lives
                // on until its refresh token expires.
                Err(e) => {
                    eprintln!(
                        "ferry: the server could not be told ({e}); its session ends when the refresh token expires"
                    );
                    print::done(&cli, "signed out on this device");
                }
            }
        }
        Command::Chats { limit } => {
            let client = signed_in(&cli).await?;
            // What arrived while no `watch` ran (a chat or group someone started) shows
            // too: catch up first when the server answers soon; offline, the local copy.
            let _ = tokio::time::timeout(LIST_WAIT, client.sync_now()).await;
            let chats = client.conversations(None, *limit)?;
            print::chats(&cli, &client, &chats);
        }
        Command::Open { chat, limit } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat).await?;
            // Catch up first so the page and its ticks are current, then mark it read and
            // tell the server (both best effort: offline, the local copy is shown).
            let _ = try_sync(&client).await?;
            let messages = client.conversation(id).messages(None, *limit)?;
            client.conversation(id).mark_read()?;
            let _ = try_sync(&client).await?;
            print::messages(&cli, &client, id, &messages)?;
        }
        Command::New { username } => {
            let client = signed_in(&cli).await?;
            let id = client.open_direct(username).await?;
            print::chat_created(&cli, &client, id)?;
        }
        Command::Group { title, members } => {
            let client = signed_in(&cli).await?;
            let mut ids = Vec::new();
            for name in members {
                ids.push(user_named(&client, name).await?.id);
            }
            let id = client.create_group(title, &ids).await?;
            print::chat_created(&cli, &client, id)?;
        }
        Command::Accept { chat } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat).await?;
            client.conversation(id).accept().await?;
            print::done(&cli, "accepted");
        }
        Command::Dismiss { chat } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat).await?;
            client.conversation(id).dismiss_request()?;
            print::done(&cli, "deleted on this device");
        }
        Command::Leave { chat } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat).await?;
            client.conversation(id).leave().await?;
            print::done(&cli, "left");
        }
        Command::Block { username } => {
            let client = signed_in(&cli).await?;
            let user = user_named(&client, username).await?;
            client.safety().set_blocked(user.id, true).await?;
            print::done(&cli, "blocked");
        }
        Command::Unblock { username } => {
            let client = signed_in(&cli).await?;
            let user = user_named(&client, username).await?;
            client.safety().set_blocked(user.id, false).await?;
            print::done(&cli, "unblocked");
        }
        Command::Blocked => {
            let client = signed_in(&cli).await?;
            print::users(&cli, &client.safety().blocked_users().await?);
        }
        Command::Verify { username, chat } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat.as_deref().unwrap_or(username)).await?;
            // The group as the server has it now (best effort: offline, this copy).
            let _ = try_sync(&client).await?;
            let wanted = username.trim().to_lowercase();
            let them = client
                .conversation(id)
                .summary()?
                .and_then(|c| c.members.into_iter().find(|m| m.user.username == wanted))
                .with_context(|| format!("{username} is not in this chat"))?
                .user;
            match client.conversation(id).safety_number(them.id).await? {
                Some(number) => print::safety_number(&cli, &them, &number),
                None => bail!(
                    "this chat has no safety number: it is not end-to-end encrypted, or this \
                     device or theirs is not in it yet (see `ferry chats`: 🔒 marks encrypted \
                     chats)"
                ),
            }
        }
        Command::Report {
            username,
            chat,
            message,
            reason,
            block,
        } => {
            let client = signed_in(&cli).await?;
            let user = user_named(&client, username).await?;
            let conversation_id = match chat {
                Some(chat) => Some(resolve(&client, chat).await?),
                None => None,
            };
            let message_id = match (chat, message) {
                (Some(chat), Some(message)) => Some(find_message(&client, chat, message).await?.id),
                _ => None,
            };
            client
                .safety()
                .report(&NewReport {
                    user_id: user.id,
                    conversation_id,
                    message_id,
                    reason: reason.clone(),
                    block: *block,
                    copies: Vec::new(),
                })
                .await?;
            print::done(
                &cli,
                if *block {
                    "reported and blocked"
                } else {
                    "reported"
                },
            );
        }
        Command::Send { chat, text, file } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat).await?;
            let text = mention::write(&client, id, text.as_deref().unwrap_or_default());
            let text = text.as_str();
            if file.is_empty() {
                let queued = client.conversation(id).send(text)?;
                sent(&cli, &client, queued).await?;
            } else {
                let queued = client.conversation(id).send_files(file, text, None).await?;
                sent_files(&cli, &client, queued).await?;
            }
        }
        Command::Download { message, out } => {
            let client = signed_in(&cli).await?;
            let found = match message.as_slice() {
                [id] => {
                    let id: MessageId = id
                        .parse()
                        .context("a message id (or give the chat first: CHAT MESSAGE)")?;
                    client
                        .message(id)?
                        .context("no such message on this device")?
                }
                [chat, which] => find_message(&client, chat, which).await?,
                _ => bail!("give a message id, or a chat and a message"),
            };
            if found.attachments.is_empty() {
                bail!("that message has no files");
            }
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot make {}", out.display()))?;
            let mut saved = Vec::new();
            for attachment in &found.attachments {
                let cached = client.files().download(found.id, attachment.index).await?;
                let to = free_name(out, &attachment.name);
                std::fs::copy(&cached, &to)
                    .with_context(|| format!("cannot write {}", to.display()))?;
                saved.push(to);
            }
            print::downloaded(&cli, &saved);
        }
        Command::Reply {
            chat,
            message,
            text,
        } => {
            let client = signed_in(&cli).await?;
            let parent = find_message(&client, chat, message).await?;
            let text = mention::write(&client, parent.conversation_id, text);
            let queued = client
                .conversation(parent.conversation_id)
                .reply(parent.id, &text)?;
            sent(&cli, &client, queued).await?;
        }
        Command::Edit {
            chat,
            message,
            text,
        } => {
            let client = signed_in(&cli).await?;
            let target = find_message(&client, chat, message).await?;
            let text = mention::write(&client, target.conversation_id, text);
            client
                .conversation(target.conversation_id)
                .edit(target.id, &text)?;
            changed(&cli, &client, target.id, "edited").await?;
        }
        Command::Delete { chat, message } => {
            let client = signed_in(&cli).await?;
            let target = find_message(&client, chat, message).await?;
            client
                .conversation(target.conversation_id)
                .delete(target.id)?;
            changed(&cli, &client, target.id, "deleted").await?;
        }
        Command::React {
            chat,
            message,
            emoji,
        } => {
            let client = signed_in(&cli).await?;
            let target = find_message(&client, chat, message).await?;
            let shown = client
                .conversation(target.conversation_id)
                .react(target.id, emoji)?;
            let what = if shown.reactions.iter().any(|r| r.emoji == *emoji && r.mine) {
                "reacted"
            } else {
                "reaction taken back"
            };
            changed(&cli, &client, target.id, what).await?;
        }
        Command::Notify { chat, level } => {
            let client = signed_in(&cli).await?;
            let id = resolve(&client, chat).await?;
            let level = ferry_proto::NotifyLevel::parse(level).context("all, mentions or none")?;
            client.conversation(id).set_notifications(level).await?;
            // Sent now if the server answers, else on the next connect of any command.
            let online = try_sync(&client).await?.is_some();
            let what = match level {
                ferry_proto::NotifyLevel::All => "you will be told of every message",
                ferry_proto::NotifyLevel::Mentions => "you will be told only when mentioned",
                ferry_proto::NotifyLevel::Nothing => "notifications off",
            };
            let when = if online {
                ""
            } else {
                " (the server is told when it can be reached)"
            };
            print::done(&cli, &format!("{what}{when}"));
        }
        Command::Watch => watch(&cli).await?,
        Command::Search { query, limit } => {
            let client = signed_in(&cli).await?;
            let hits = client.search(query, *limit)?;
            print::hits(&cli, &client, &hits);
        }
        Command::Status => {
            let client = signed_in(&cli).await?;
            let reachable =
                tokio::time::timeout(Duration::from_secs(5), client.check_server()).await;
            let server = match reachable {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 5 s".to_owned()),
            };
            print::status(&cli, &client, server, client.outbox_len()?);
        }
        Command::Sync => {
            let client = signed_in(&cli).await?;
            match try_sync(&client).await? {
                Some(sent) => print::synced(&cli, sent, client.outbox_len()?),
                None => bail!(
                    "the server cannot be reached; {} message(s) wait in the outbox",
                    client.outbox_len()?
                ),
            }
        }
        Command::Retry { message } => {
            let client = signed_in(&cli).await?;
            client.conversation_of(*message)?.retry(*message)?;
            let _ = try_sync(&client).await?;
            print::done(&cli, "queued again");
        }
        Command::Discard { message } => {
            let client = signed_in(&cli).await?;
            client.conversation_of(*message)?.discard(*message)?;
            print::done(&cli, "discarded");
        }
    }
    Ok(())
}

/// Runs the engine and prints events until Ctrl-C or the session ends.
async fn watch(cli: &Cli) -> Result<()> {
    let client = signed_in(cli).await?;
    let mut events = client.events();
    client.start();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => match event {
                Ok(event) => {
                    print::event(cli, &client, &event)?;
                    if matches!(event, Event::Connection { state: ConnectionState::SignedOut }) {
                        client.stop().await;
                        bail!("the session has ended; sign in again");
                    }
                }
                // Fell behind: the store is still right; say so and go on.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("ferry: skipped {n} events (the store is up to date)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    client.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::free_name;

    #[test]
    fn a_download_keeps_a_name_that_shows_what_it_is() {
        let dir = tempfile::tempdir().expect("dir");
        let saved = |name| {
            free_name(dir.path(), name)
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(saved("invoice\u{202e}gnp.exe"), "invoicegnp.exe");
        assert_eq!(saved("../../.bashrc"), ".bashrc");
        assert_eq!(saved("notes.txt:evil.exe"), "notes.txt_evil.exe");
        assert_eq!(saved("evil.exe. . "), "evil.exe");
        assert_eq!(saved(".."), "file");
    }
}
