//! When a new message becomes an OS notification: only messages from others, never in a
//! muted conversation, and only when the user is not already looking at that
//! conversation in a focused window.

use ferry_client::{ConversationSummary, LocalMessage, MessageStatus};
use uuid::Uuid;

/// What the window shows now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attention {
    /// The window has keyboard focus.
    pub focused: bool,
    /// The conversation open in the window.
    pub open: Option<Uuid>,
}

/// Whether `message` deserves a notification.
pub fn should_notify(
    message: &LocalMessage,
    conversation: &ConversationSummary,
    attention: Attention,
) -> bool {
    let looking = attention.focused && attention.open == Some(message.conversation_id);
    !message.mine && message.status != MessageStatus::Pending && !conversation.muted && !looking
}

/// Title and body of a notification: who and where, then the first line of the text.
pub fn render(message: &LocalMessage, conversation: &ConversationSummary) -> (String, String) {
    let sender = conversation
        .members
        .iter()
        .find(|m| m.user.id == message.sender_id)
        .map_or("Someone", |m| m.user.display_name.as_str());
    let title = match conversation.kind {
        ferry_proto::ConversationKind::Direct => sender.to_owned(),
        ferry_proto::ConversationKind::Group => format!("{sender} in {}", conversation.name),
    };
    let first_line = message.body.lines().next().unwrap_or_default();
    let body = if first_line.chars().count() > 120 {
        format!("{}…", first_line.chars().take(120).collect::<String>())
    } else {
        first_line.to_owned()
    };
    (title, body)
}
