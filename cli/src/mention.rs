//! Mentions in the terminal. `@username` typed in a message becomes a mention of that
//! member, written `<@id>` as the protocol carries it (`ferry_proto::mentions`), so a
//! rename does not break it; a mention prints back as `@username`. Only members of the
//! chat can be mentioned: any other `@word` stays as typed.

use ferry_client::{Client, MemberView};
use ferry_proto::{ConversationId, UserId, mentions};

/// The members of a chat as this device knows them (none if it does not know the chat).
fn members(client: &Client, conversation: ConversationId) -> Vec<MemberView> {
    client
        .conversation(conversation)
        .summary()
        .ok()
        .flatten()
        .map(|c| c.members)
        .unwrap_or_default()
}

/// `text` with each `@username` of a member of the chat made a mention.
pub fn write(client: &Client, conversation: ConversationId, text: &str) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    let members = members(client, conversation);
    let id_of = |name: &str| {
        members
            .iter()
            .find(|m| m.user.username.eq_ignore_ascii_case(name))
            .map(|m| m.user.id)
    };
    write_with(text, id_of)
}

/// [`write`] with the members given as a lookup.
fn write_with(text: &str, id_of: impl Fn(&str) -> Option<UserId>) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let after = &after[1..];
        // An address (bob@example.org) is not a mention: '@' must start a word.
        let starts_word = out.chars().next_back().is_none_or(|c| !is_name(c));
        let end = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
        // "@ann." at the end of a sentence: the dot is not part of the name.
        let name = after[..end].trim_end_matches(['.', '-']);
        match id_of(name).filter(|_| starts_word && !name.is_empty()) {
            Some(user) => {
                out.push_str(&mentions::token(user));
                rest = &after[name.len()..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `body` with each mention shown as `@username` (the id itself when this device does not
/// know the user).
pub fn show(client: &Client, conversation: ConversationId, body: &str) -> String {
    if !body.contains("<@") {
        return body.to_owned();
    }
    let members = members(client, conversation);
    mentions::plain(body, |user| {
        members
            .iter()
            .find(|m| m.user.id == user)
            .map_or_else(|| user.to_string(), |m| m.user.username.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_by_username_become_mentions_and_the_rest_stays() {
        let ann = UserId::from_u128(1);
        let id_of = |name: &str| name.eq_ignore_ascii_case("ann").then_some(ann);
        let token = mentions::token(ann);
        assert_eq!(
            write_with(
                "@Ann, lunch? ask @bob or mail ann@example.org. Thanks @ann.",
                id_of
            ),
            format!("{token}, lunch? ask @bob or mail ann@example.org. Thanks {token}.")
        );
        assert_eq!(write_with("@ email@ann", id_of), "@ email@ann");
    }
}
