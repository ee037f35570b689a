//! The words the Rust side shows itself, outside the window: the tray's menu and tooltip
//! and the notifications. The window's text is the UI's (`ui/messages`); these few are
//! here in each language the UI has, as one [`Texts`] per language, so a language
//! missing a text does not compile. The language is the one chosen in Settings, or the
//! system's, or English.

use ferry_proto::ConversationKind;

/// Every text, in one language.
pub struct Texts {
    /// The tray menu's item that shows the window.
    pub open: &'static str,
    /// The tray menu's item that ends the app.
    pub quit: &'static str,
    /// The tray's tooltip with this many unread (0: nothing unread).
    pub tooltip: fn(i64) -> String,
    /// A notification's sender when the conversation does not list them.
    pub someone: &'static str,
    /// A message request's notification title, from this sender.
    pub request_title: fn(&str) -> String,
    /// A message request's notification text.
    pub request_body: &'static str,
    /// A group message's notification title: sender, group.
    pub in_group: fn(&str, &str) -> String,
    /// A message of this many files without a caption.
    pub files: fn(usize) -> String,
}

const ENGLISH: Texts = Texts {
    open: "Open Ferry",
    quit: "Quit Ferry",
    tooltip: |n| match n {
        0 => "Ferry".to_owned(),
        1 => "Ferry: 1 unread message".to_owned(),
        n => format!("Ferry: {n} unread messages"),
    },
    someone: "Someone",
    request_title: |sender| format!("Message request from {sender}"),
    request_body: "Open Ferry to read it, then accept or block",
    in_group: |sender, group| format!("{sender} in {group}"),
    files: |n| format!("{n} files"),
};

const GERMAN: Texts = Texts {
    open: "Ferry öffnen",
    quit: "Ferry beenden",
    tooltip: |n| match n {
        0 => "Ferry".to_owned(),
        1 => "Ferry: 1 ungelesene Nachricht".to_owned(),
        n => format!("Ferry: {n} ungelesene Nachrichten"),
    },
    someone: "Jemand",
    request_title: |sender| format!("Nachrichtenanfrage von {sender}"),
    request_body: "Öffne Ferry, um sie zu lesen, und nimm sie an oder blockiere",
    in_group: |sender, group| format!("{sender} in {group}"),
    files: |n| format!("{n} Dateien"),
};

/// The texts for a language tag (`de-AT` is German); English for any other.
pub fn for_language(tag: &str) -> &'static Texts {
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    if primary.eq_ignore_ascii_case("de") {
        &GERMAN
    } else {
        &ENGLISH
    }
}

/// The texts for the chosen language, or the system's when none is chosen.
pub fn current(chosen: Option<&str>) -> &'static Texts {
    match chosen {
        Some(tag) => for_language(tag),
        None => for_language(&sys_locale::get_locale().unwrap_or_default()),
    }
}

impl Texts {
    /// A notification's title: the sender in a direct chat, sender and group otherwise.
    pub fn title(&self, kind: ConversationKind, sender: &str, group: &str) -> String {
        match kind {
            ConversationKind::Direct => sender.to_owned(),
            ConversationKind::Group => (self.in_group)(sender, group),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_for_german_tags_and_english_otherwise() {
        assert_eq!(for_language("de").quit, "Ferry beenden");
        assert_eq!(for_language("de-AT").quit, "Ferry beenden");
        assert_eq!(for_language("de_DE.UTF-8").quit, "Ferry beenden");
        assert_eq!(for_language("fr").quit, "Quit Ferry");
        assert_eq!(
            (for_language("de").tooltip)(3),
            "Ferry: 3 ungelesene Nachrichten"
        );
        assert_eq!((for_language("en").tooltip)(1), "Ferry: 1 unread message");
    }
}
