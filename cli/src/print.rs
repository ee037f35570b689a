//! Output of the `ferry` commands: short lines for people, or JSON for scripts
//! (`--json`). Message bodies are printed as they are, never interpreted.

use anyhow::Result;
use ferry_client::store::{HIGHLIGHT_END, HIGHLIGHT_START};
use ferry_client::{Client, ConversationSummary, Event, LocalMessage, MessageStatus, SearchHit};
use ferry_proto::{ConversationId, MessageId, User, UserId};
use serde_json::json;

use crate::Cli;

pub(crate) fn emit(value: serde_json::Value) {
    println!("{value}");
}

fn name_of(client: &Client, conversation: ConversationId, user: UserId) -> String {
    if user == client.me().id {
        return "you".to_owned();
    }
    client
        .conversation(conversation)
        .summary()
        .ok()
        .flatten()
        .and_then(|c| c.members.into_iter().find(|m| m.user.id == user))
        .map_or_else(|| user.to_string(), |m| m.user.display_name)
}

/// A contact's display name, from any conversation shared with them.
fn contact_name(client: &Client, user: UserId) -> String {
    client
        .conversations(None, 10_000)
        .ok()
        .into_iter()
        .flatten()
        .flat_map(|c| c.members)
        .find(|m| m.user.id == user)
        .map_or_else(|| user.to_string(), |m| m.user.display_name)
}

fn connection_text(state: &ferry_client::ConnectionState) -> String {
    use ferry_client::ConnectionState::*;
    match state {
        Online => "online".into(),
        Connecting => "connecting".into(),
        SignedOut => "signed out".into(),
        Offline {
            reason: Some(reason),
            ..
        } => format!("offline ({reason})"),
        Offline { reason: None, .. } => "offline".into(),
        Polling { .. } => "online without a socket (polling)".into(),
    }
}

fn chat_name(client: &Client, conversation: ConversationId) -> String {
    client
        .conversation(conversation)
        .summary()
        .ok()
        .flatten()
        .map_or_else(|| conversation.to_string(), |c| c.name)
}

fn status_mark(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Pending => "pending",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered => "delivered",
        MessageStatus::Read => "read",
        MessageStatus::Failed => "FAILED",
    }
}

pub fn signed_in(cli: &Cli, user: &User, server: &str) {
    if cli.json {
        emit(json!({"user": user, "server": server}));
    } else {
        println!(
            "signed in as {} ({}) on {server}",
            user.username, user.display_name
        );
    }
}

pub fn done(cli: &Cli, what: &str) {
    if cli.json {
        emit(json!({"ok": true, "result": what}));
    } else {
        println!("{what}");
    }
}

pub fn chats(cli: &Cli, client: &Client, chats: &[ConversationSummary]) {
    for c in chats {
        if cli.json {
            emit(json!(c));
            continue;
        }
        let unread = match (c.unread_count, c.unread_mentions) {
            (0, _) => String::new(),
            (n, 0) => format!(" [{n} unread]"),
            (n, 1) => format!(" [{n} unread, 1 mentions you]"),
            (n, m) => format!(" [{n} unread, {m} mention you]"),
        };
        let level = match c.notify {
            ferry_proto::NotifyLevel::All => "",
            ferry_proto::NotifyLevel::Mentions => " (notifies for mentions only)",
            ferry_proto::NotifyLevel::Nothing => " (notifications off)",
        };
        let preview = match (&c.last_message, c.typing.is_empty()) {
            (_, false) => "typing…".to_owned(),
            (Some(m), true) => {
                let who = if m.mine { "you: " } else { "" };
                let state = if m.mine {
                    format!(" ({})", status_mark(m.status))
                } else {
                    String::new()
                };
                let body = crate::mention::show(client, c.id, &m.body);
                let first = body.lines().next().unwrap_or_default();
                let text = match (first.is_empty(), m.attachments.as_slice()) {
                    (_, []) => printable(first).into_owned(),
                    (false, _) => format!("📎 {}", printable(first)),
                    (true, [one]) => format!("📎 {}", file_label(&one.name)),
                    (true, many) => format!("📎 {} files", many.len()),
                };
                format!("{who}{text}{state}")
            }
            (None, true) => "no messages yet".to_owned(),
        };
        let place = if c.left {
            " (left)"
        } else if c.request && c.kind == ferry_proto::ConversationKind::Group {
            " (group request: `ferry accept` to join in, `ferry leave` to refuse)"
        } else if c.request {
            " (message request: `ferry accept` to reply, `ferry block` to refuse)"
        } else if c.blocked {
            " (blocked)"
        } else {
            ""
        };
        // The lock: what is sent here is end-to-end encrypted.
        let lock = if c.encrypted { " 🔒" } else { "" };
        let usernames = |ids: &[ferry_proto::UserId]| -> String {
            let names: Vec<String> = ids
                .iter()
                .filter_map(|id| c.members.iter().find(|m| m.user.id == *id))
                .map(|m| printable(&m.user.username).into_owned())
                .collect();
            names.join(", ")
        };
        // Someone's devices changed: their safety number did (`ferry verify` shows it).
        let changed = if c.devices_changed.is_empty() {
            String::new()
        } else {
            format!(" (new safety number: {})", usernames(&c.devices_changed))
        };
        // Why it is not encrypted yet, or whom its encryption does not reach yet.
        let waits = if c.joining {
            " (this device is joining the encryption: what you send waits)".to_owned()
        } else if c.without_keys.is_empty() {
            String::new()
        } else if c.encrypted {
            let who = usernames(&c.without_keys);
            format!(" (waiting for {who} to set up encryption: they cannot read it yet)")
        } else {
            let who = usernames(&c.without_keys);
            format!(" (not encrypted yet: waiting for {who} to set up encryption)")
        };
        println!(
            "{}{place}{level}{unread}{lock}{changed}{waits}  {preview}",
            printable(&c.name)
        );
    }
    if chats.is_empty() && !cli.json {
        println!("no chats yet; start one with `ferry new <username>`");
    }
}

/// People, one per line.
pub fn users(cli: &Cli, users: &[ferry_proto::User]) {
    for u in users {
        if cli.json {
            emit(json!(u));
        } else {
            println!(
                "{} ({})",
                printable(&u.display_name),
                printable(&u.username)
            );
        }
    }
    if users.is_empty() && !cli.json {
        println!("nobody");
    }
}

pub fn safety_number(cli: &Cli, with: &User, number: &ferry_client::SafetyNumber) {
    if cli.json {
        emit(json!({"user": with, "safety_number": number.digits()}));
    } else {
        println!(
            "your safety number with {} ({}):\n\n{number}\n\n\
             compare it with the one on their screen; if they differ, someone else's \
             device may be reading along",
            printable(&with.display_name),
            printable(&with.username)
        );
    }
}

pub fn messages(
    cli: &Cli,
    client: &Client,
    conversation: ConversationId,
    messages: &[LocalMessage],
) -> Result<()> {
    for m in messages {
        if cli.json {
            emit(json!(m));
            continue;
        }
        let seq = m.seq.map_or_else(|| "…".to_owned(), |s| s.to_string());
        let who = name_of(client, conversation, m.sender_id);
        let mark = if m.mine {
            format!("  [{}]", status_mark(m.status))
        } else {
            String::new()
        };
        let error = m
            .error
            .as_deref()
            .map(|e| format!(" ({e}; id {})", m.id))
            .unwrap_or_default();
        if let Some(parent) = m.reply_to {
            println!(
                "    ↪ {}",
                quote_line(client, conversation, parent, m.quote.as_ref())
            );
        }
        println!(
            "#{seq} {} {}: {}{mark}{error}{}",
            m.created_at,
            printable(&who),
            text_of(client, m),
            reactions_of(m)
        );
    }
    Ok(())
}

/// A message's text as a line shows it: a placeholder once deleted, a mark once edited,
/// its files after it.
fn text_of(client: &Client, m: &LocalMessage) -> String {
    let body = crate::mention::show(client, m.conversation_id, &m.body);
    let text = if m.removed_by_operator {
        "(removed by an administrator)".to_owned()
    } else if m.deleted {
        "(message deleted)".to_owned()
    } else if m.unreadable {
        "(encrypted before this device joined: not readable here)".to_owned()
    } else if m.edited {
        format!("{} (edited)", printable(&body))
    } else {
        printable(&body).into_owned()
    };
    let files: Vec<String> = m
        .attachments
        .iter()
        .map(|a| {
            let progress = match a.uploaded {
                Some(done) if done < a.size => format!(", {}% up", done * 100 / a.size.max(1)),
                _ => String::new(),
            };
            format!("📎 {} ({}{progress})", file_label(&a.name), size(a.size))
        })
        .collect();
    match (text.is_empty(), files.is_empty()) {
        (_, true) => text,
        (true, false) => files.join(" "),
        (false, false) => format!("{text} {}", files.join(" ")),
    }
}

/// A size for people: `512 B`, `3.4 KB`, `12.0 MB` (steps of 1024).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Where the files of a message were saved.
pub fn downloaded(cli: &Cli, saved: &[std::path::PathBuf]) {
    if cli.json {
        emit(json!({"files": saved}));
    } else {
        for path in saved {
            println!("saved {}", path.display());
        }
    }
}

/// `  [👍 2, 🎉 1]`, or nothing without reactions.
fn reactions_of(m: &LocalMessage) -> String {
    if m.reactions.is_empty() {
        return String::new();
    }
    let chips: Vec<String> = m
        .reactions
        .iter()
        .map(|r| format!("{} {}", printable(&r.emoji), r.user_ids.len()))
        .collect();
    format!("  [{}]", chips.join(", "))
}

/// The line above a reply: whom and what it answers.
fn quote_line(
    client: &Client,
    conversation: ConversationId,
    parent: MessageId,
    quote: Option<&ferry_client::Quote>,
) -> String {
    let Some(q) = quote else {
        return format!("reply to a message this device does not have ({parent})");
    };
    let place = q.seq.map_or_else(|| "…".to_owned(), |s| format!("#{s}"));
    let who = name_of(client, conversation, q.sender_id);
    let text = if q.deleted {
        "(message deleted)".to_owned()
    } else if q.unreadable {
        "(encrypted before this device joined: not readable here)".to_owned()
    } else {
        let body = crate::mention::show(client, conversation, &q.body);
        let first = body.lines().next().unwrap_or_default();
        let short: String = first.chars().take(60).collect();
        let more = if short.len() < first.len() { "…" } else { "" };
        format!("{}{more}", printable(&short))
    };
    format!("{place} {}: {text}", printable(&who))
}

pub fn changed(
    cli: &Cli,
    message: Option<&LocalMessage>,
    what: &str,
    online: bool,
    waiting: usize,
) {
    if cli.json {
        emit(json!({"message": message, "online": online, "outbox": waiting}));
    } else if waiting > 0 {
        println!("{what}; it goes out when the server is reachable ({waiting} waiting)");
    } else {
        println!("{what}");
    }
}

pub fn chat_created(cli: &Cli, client: &Client, id: ConversationId) -> Result<()> {
    let name = chat_name(client, id);
    if cli.json {
        emit(json!({"id": id, "name": name}));
    } else {
        println!("{name}  (id {id})");
    }
    Ok(())
}

pub fn sent(cli: &Cli, message: &LocalMessage, online: bool, waiting: usize) {
    if cli.json {
        emit(json!({"message": message, "online": online, "outbox": waiting}));
    } else if message.status == MessageStatus::Pending {
        println!("queued; it goes out when the server is reachable ({waiting} waiting)");
    } else {
        println!("sent (#{})", message.seq.unwrap_or_default());
    }
}

pub fn hits(cli: &Cli, client: &Client, hits: &[SearchHit]) {
    for h in hits {
        if cli.json {
            emit(json!(h));
            continue;
        }
        let snippet: String = h
            .snippet
            .chars()
            .map(|c| match c {
                HIGHLIGHT_START => '[',
                HIGHLIGHT_END => ']',
                c => c,
            })
            .collect();
        println!(
            "{}  #{}  {snippet}",
            chat_name(client, h.conversation_id),
            h.seq.unwrap_or_default()
        );
    }
}

pub fn status(cli: &Cli, client: &Client, server: Result<(), String>, waiting: usize) {
    let me = client.me();
    if cli.json {
        emit(json!({
            "user": me,
            "online": server.is_ok(),
            "error": server.as_ref().err(),
            "outbox": waiting,
        }));
        return;
    }
    println!("signed in as {} ({})", me.username, me.display_name);
    match server {
        Ok(()) => println!("server: reachable"),
        Err(e) => println!("server: not reachable ({e})"),
    }
    println!("outbox: {waiting} message(s) waiting");
}

pub fn synced(cli: &Cli, sent: usize, waiting: usize) {
    if cli.json {
        emit(json!({"sent": sent, "outbox": waiting}));
    } else {
        println!("synced; sent {sent}, {waiting} still waiting");
    }
}

pub fn event(cli: &Cli, client: &Client, event: &Event) -> Result<()> {
    if cli.json {
        emit(serde_json::to_value(event)?);
        return Ok(());
    }
    match event {
        Event::Message { message } if !message.mine && message.status != MessageStatus::Pending => {
            let who = name_of(client, message.conversation_id, message.sender_id);
            println!(
                "[{}] {}: {}",
                printable(&chat_name(client, message.conversation_id)),
                printable(&who),
                text_of(client, message)
            );
        }
        Event::Message { message } if message.mine => {
            println!(
                "[{}] your message is {}",
                chat_name(client, message.conversation_id),
                status_mark(message.status)
            );
        }
        Event::Changed { message } => {
            println!(
                "[{}] changed: {}: {}{}",
                printable(&chat_name(client, message.conversation_id)),
                printable(&name_of(client, message.conversation_id, message.sender_id)),
                text_of(client, message),
                reactions_of(message)
            );
        }
        Event::ChangeRefused { message, reason } => {
            println!(
                "[{}] your change to a message was refused: {}",
                printable(&chat_name(client, message.conversation_id)),
                printable(reason)
            );
        }
        Event::Typing {
            conversation_id,
            user_id,
            typing: true,
        } => {
            println!(
                "[{}] {} is typing…",
                chat_name(client, *conversation_id),
                name_of(client, *conversation_id, *user_id)
            );
        }
        Event::Presence { presence } => {
            let state = if presence.online { "online" } else { "offline" };
            println!("{} is {state}", contact_name(client, presence.user_id));
        }
        Event::Connection { state } => println!("connection: {}", connection_text(state)),
        _ => {}
    }
    Ok(())
}

/// Text from other people as a terminal should show it: control characters (an escape
/// sequence that would move the cursor or retitle the window, say) become U+FFFD; tab
/// and line breaks stay. The server refuses them, but a store may hold older messages.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unwanted = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if text.chars().any(unwanted) {
        text.chars()
            .map(|c| if unwanted(c) { '\u{fffd}' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// Characters that change how text reads without showing: bidirectional embeddings,
/// overrides, isolates and marks, zero-width characters, the byte-order mark.
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A file name from another user as a terminal should show it: printable, and without
/// the invisible characters that would disguise it (`invoice\u{202e}gnp.exe` shows as
/// "invoiceexe.png" on a terminal that applies bidirectional text; here it reads
/// "invoicegnp.exe").
pub fn file_label(name: &str) -> String {
    let plain: String = name.chars().filter(|c| !is_hidden_format(*c)).collect();
    printable(&plain).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{file_label, printable};

    #[test]
    fn file_names_lose_their_disguise() {
        assert_eq!(file_label("invoice\u{202e}gnp.exe"), "invoicegnp.exe");
        assert_eq!(file_label("a\u{2066}b\u{2069}\u{200f}.pdf"), "ab.pdf");
        assert_eq!(file_label("x\u{1b}[2J.txt"), "x\u{fffd}[2J.txt");
    }

    #[test]
    fn control_characters_print_as_replacements() {
        assert_eq!(
            printable("hi\u{1b}]0;owned\u{7}!"),
            "hi\u{fffd}]0;owned\u{fffd}!"
        );
        assert_eq!(
            printable("two\tcolumns\nand lines"),
            "two\tcolumns\nand lines"
        );
    }
}
