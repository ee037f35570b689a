//! When a new message becomes an OS notification: only messages from others, never in a
//! muted or blocked conversation, and only when the user is not already looking at that
//! conversation in a focused window. A message request shows who, not what: a stranger's
//! words reach the screen only once the user opens the request.

use ferry_client::{ConversationSummary, LocalMessage, MessageStatus};
use ferry_proto::ConversationId;

/// What the window shows now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attention {
    /// The window has keyboard focus.
    pub focused: bool,
    /// The conversation open in the window.
    pub open: Option<ConversationId>,
}

/// Whether `message` deserves a notification.
pub fn should_notify(
    message: &LocalMessage,
    conversation: &ConversationSummary,
    attention: Attention,
) -> bool {
    let looking = attention.focused && attention.open == Some(message.conversation_id);
    !message.mine
        && message.status != MessageStatus::Pending
        && !conversation.muted
        && !conversation.blocked
        && !conversation.dismissed
        && !looking
}

/// Title and body of a notification: who and where, then the first line of the text.
pub fn render(message: &LocalMessage, conversation: &ConversationSummary) -> (String, String) {
    let sender = conversation
        .members
        .iter()
        .find(|m| m.user.id == message.sender_id)
        .map_or("Someone", |m| m.user.display_name.as_str());
    if conversation.request {
        return (
            format!("Message request from {sender}"),
            "Open Ferry to read it, then accept or block".to_owned(),
        );
    }
    let title = match conversation.kind {
        ferry_proto::ConversationKind::Direct => sender.to_owned(),
        ferry_proto::ConversationKind::Group => format!("{sender} in {}", conversation.name),
    };
    let first_line = message.body.lines().next().unwrap_or_default();
    let text = if first_line.chars().count() > 120 {
        format!("{}…", first_line.chars().take(120).collect::<String>())
    } else {
        first_line.to_owned()
    };
    (title, with_files(message, text))
}

/// A notification's text for a message with files: a clip, then the caption, or the
/// file's name (or how many files) when there is none.
fn with_files(message: &LocalMessage, text: String) -> String {
    match (message.attachments.as_slice(), text.is_empty()) {
        ([], _) => text,
        (_, false) => format!("📎 {text}"),
        ([one], true) => format!("📎 {}", one.name),
        (many, true) => format!("📎 {} files", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use ferry_client::{LocalAttachment, MessageStatus};
    use ferry_proto::{MessageId, Timestamp, UploadId, UserId};

    use super::*;

    fn message(body: &str, files: &[&str]) -> LocalMessage {
        LocalMessage {
            id: MessageId::from_u128(1),
            conversation_id: ConversationId::from_u128(2),
            seq: Some(1),
            sender_id: UserId::from_u128(3),
            body: body.into(),
            created_at: Timestamp::from_millis(0),
            mine: false,
            status: MessageStatus::Sent,
            error: None,
            reply_to: None,
            quote: None,
            edited: false,
            deleted: false,
            removed_by_operator: false,
            reactions: Vec::new(),
            attachments: files
                .iter()
                .enumerate()
                .map(|(index, name)| LocalAttachment {
                    index: index as u32,
                    id: Some(UploadId::from_u128(10 + index as u128)),
                    name: (*name).into(),
                    size: 1,
                    content_type: "image/png".into(),
                    width: None,
                    height: None,
                    has_preview: false,
                    uploaded: None,
                    downloaded: false,
                })
                .collect(),
        }
    }

    #[test]
    fn files_are_said_in_the_text() {
        let text = |m: &LocalMessage| with_files(m, m.body.clone());
        assert_eq!(text(&message("hello", &[])), "hello");
        assert_eq!(text(&message("", &["trip.png"])), "📎 trip.png");
        assert_eq!(text(&message("", &["a.png", "b.png"])), "📎 2 files");
        assert_eq!(text(&message("the view", &["a.png"])), "📎 the view");
    }

    fn chat(request: bool, blocked: bool) -> ConversationSummary {
        ConversationSummary {
            name: "Mallory".into(),
            request,
            blocked,
            ..crate::fixtures::summary(ConversationId::from_u128(2))
        }
    }

    #[test]
    fn a_request_says_who_not_what() {
        let m = message("buy my crypto <b>now</b>", &[]);
        let (title, body) = render(&m, &chat(true, false));
        assert!(title.starts_with("Message request from"), "{title}");
        assert!(!body.contains("crypto"), "{body}");
        let (_, body) = render(&m, &chat(false, false));
        assert!(body.contains("crypto"), "{body}");
    }

    #[test]
    fn nothing_from_a_blocked_chat() {
        let m = message("hello", &[]);
        let away = Attention::default();
        assert!(should_notify(&m, &chat(false, false), away));
        assert!(!should_notify(&m, &chat(false, true), away));
    }
}
