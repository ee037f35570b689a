//! When a new message becomes an OS notification: only messages from others, as the
//! conversation's notification level says (all, only those that mention the user, or
//! none), never in a blocked conversation, and only when the user is not already looking
//! at that conversation in a focused window. A message request shows who, not what: a
//! stranger's words reach the screen only once the user opens the request. Mentions
//! (`<@id>` in the text) are shown as `@name`, with the name the member has now.

use ferry_client::{ConversationSummary, LocalMessage, MessageStatus};
use ferry_proto::{ConversationId, NotifyLevel, UserId, mentions};

use crate::texts::Texts;

/// What the window shows now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attention {
    /// The window has keyboard focus.
    pub focused: bool,
    /// The conversation open in the window.
    pub open: Option<ConversationId>,
}

/// Whether `message` deserves a notification for `me`.
pub fn should_notify(
    me: UserId,
    message: &LocalMessage,
    conversation: &ConversationSummary,
    attention: Attention,
) -> bool {
    let looking = attention.focused && attention.open == Some(message.conversation_id);
    let wanted = match conversation.notify {
        NotifyLevel::All => true,
        NotifyLevel::Mentions => mentions::mentions(&message.body, me),
        NotifyLevel::Nothing => false,
    };
    !message.mine
        && message.status != MessageStatus::Pending
        && wanted
        && !conversation.blocked
        && !conversation.dismissed
        && !looking
}

/// Title and body of a notification, in `texts`' language: who and where, then the first
/// line of the text.
pub fn render(
    message: &LocalMessage,
    conversation: &ConversationSummary,
    texts: &Texts,
) -> (String, String) {
    let name_of = |user: UserId| {
        conversation
            .members
            .iter()
            .find(|m| m.user.id == user)
            .map(|m| m.user.display_name.clone())
    };
    let sender = name_of(message.sender_id).unwrap_or_else(|| texts.someone.to_owned());
    if conversation.request {
        return (
            (texts.request_title)(&sender),
            texts.request_body.to_owned(),
        );
    }
    let title = texts.title(conversation.kind, &sender, &conversation.name);
    let body = mentions::plain(&message.body, |user| {
        name_of(user).unwrap_or_else(|| texts.someone.to_owned())
    });
    let first_line = body.lines().next().unwrap_or_default();
    let text = if first_line.chars().count() > 120 {
        format!("{}…", first_line.chars().take(120).collect::<String>())
    } else {
        first_line.to_owned()
    };
    (title, with_files(message, text, texts))
}

/// A notification's text for a message with files: a clip, then the caption, or the
/// file's name (or how many files) when there is none.
fn with_files(message: &LocalMessage, text: String, texts: &Texts) -> String {
    match (message.attachments.as_slice(), text.is_empty()) {
        ([], _) => text,
        (_, false) => format!("📎 {text}"),
        ([one], true) => format!("📎 {}", one.name),
        (many, true) => format!("📎 {}", (texts.files)(many.len())),
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
            unreadable: false,
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
        let english = crate::texts::for_language("en");
        let text = |m: &LocalMessage| with_files(m, m.body.clone(), english);
        assert_eq!(text(&message("hello", &[])), "hello");
        assert_eq!(text(&message("", &["trip.png"])), "📎 trip.png");
        assert_eq!(text(&message("", &["a.png", "b.png"])), "📎 2 files");
        assert_eq!(text(&message("the view", &["a.png"])), "📎 the view");
    }

    fn level(notify: NotifyLevel) -> ConversationSummary {
        ConversationSummary {
            notify,
            kind: ferry_proto::ConversationKind::Group,
            ..crate::fixtures::summary(ConversationId::from_u128(2))
        }
    }

    #[test]
    fn the_level_decides_and_a_mention_gets_through_mentions_only() {
        let me = UserId::from_u128(9);
        let plain = message("lunch?", &[]);
        let to_me = message(&format!("{} lunch?", mentions::token(me)), &[]);
        let to_other = message(
            &format!("{} lunch?", mentions::token(UserId::from_u128(8))),
            &[],
        );
        let away = Attention::default();
        let notified = |m: &LocalMessage, l| should_notify(me, m, &level(l), away);
        assert!(notified(&plain, NotifyLevel::All));
        assert!(!notified(&plain, NotifyLevel::Mentions));
        assert!(notified(&to_me, NotifyLevel::Mentions));
        assert!(!notified(&to_other, NotifyLevel::Mentions));
        assert!(!notified(&to_me, NotifyLevel::Nothing));
    }

    #[test]
    fn a_mention_shows_the_name_the_member_has_now() {
        let bob = UserId::from_u128(3);
        let mut conversation = level(NotifyLevel::All);
        conversation.members = vec![ferry_client::MemberView {
            user: ferry_proto::User {
                id: bob,
                username: "bob".into(),
                display_name: "Bob Renamed".into(),
                created_at: Timestamp::from_millis(0),
                status: None,
                picture: None,
            },
            role: ferry_proto::Role::Member,
            read_seq: 0,
            delivered_seq: 0,
            online: false,
            state: ferry_proto::MemberState::Accepted,
        }];
        let m = message(&format!("ask {} about it", mentions::token(bob)), &[]);
        let (_, body) = render(&m, &conversation, crate::texts::for_language("en"));
        assert_eq!(body, "ask @Bob Renamed about it");
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
        let english = crate::texts::for_language("en");
        let (title, body) = render(&m, &chat(true, false), english);
        assert!(title.starts_with("Message request from"), "{title}");
        assert!(!body.contains("crypto"), "{body}");
        let (_, body) = render(&m, &chat(false, false), english);
        assert!(body.contains("crypto"), "{body}");
        let (title, _) = render(&m, &chat(true, false), crate::texts::for_language("de"));
        assert!(title.starts_with("Nachrichtenanfrage von"), "{title}");
    }

    #[test]
    fn nothing_from_a_blocked_chat() {
        let m = message("hello", &[]);
        let away = Attention::default();
        let me = UserId::from_u128(9);
        assert!(should_notify(me, &m, &chat(false, false), away));
        assert!(!should_notify(me, &m, &chat(false, true), away));
    }
}
