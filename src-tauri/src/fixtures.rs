//! Values the unit tests of several modules build alike: a conversation summary with
//! plain defaults, which a test changes with struct update syntax.

use ferry_client::ConversationSummary;
use ferry_proto::{ConversationId, ConversationKind, NotifyLevel, Timestamp};

/// A direct conversation with Bob, one message, unread; nothing left or blocked, every
/// message notifying.
pub fn summary(id: ConversationId) -> ConversationSummary {
    ConversationSummary {
        id,
        kind: ConversationKind::Direct,
        name: "Bob".into(),
        members: Vec::new(),
        last_seq: 1,
        last_message: None,
        unread_count: 1,
        updated_at: Timestamp::from_millis(0),
        left: false,
        request: false,
        blocked: false,
        dismissed: false,
        notify: NotifyLevel::All,
        unread_mentions: 0,
        draft: None,
        typing: Vec::new(),
        encrypted: false,
        devices_changed: Vec::new(),
        joining: false,
        without_keys: Vec::new(),
    }
}
