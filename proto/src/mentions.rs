//! Mentions (addition to v1): a message names a member by id, written `<@USER_ID>` in its
//! text, as Slack writes them. The id, not the name, is what the text carries, so a
//! rename does not break it: every client shows the member's name as it is now. Clients
//! find mentions in the text itself, so nothing else on the wire carries them, and an
//! end-to-end encrypted body keeps them as private as its words.

use crate::UserId;

/// How a mention of `user` is written in a message's text.
pub fn token(user: UserId) -> String {
    format!("<@{user}>")
}

/// A piece of a message's text: plain text, or a mention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text as written.
    Text(&'a str),
    /// A mention of this user.
    Mention(UserId),
}

/// The text cut into plain text and mentions, in order. Anything that only looks like a
/// mention (`<@not-an-id>`) stays text.
pub fn pieces(body: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<@") {
        let after = &rest[start + 2..];
        let id = after
            .find('>')
            .and_then(|end| Some((end, after[..end].parse::<uuid::Uuid>().ok()?)));
        match id {
            Some((end, id)) => {
                if start > 0 {
                    out.push(Piece::Text(&rest[..start]));
                }
                out.push(Piece::Mention(id.into()));
                rest = &after[end + 1..];
            }
            None => {
                // Not a mention: keep "<@" as text and look on after it.
                out.push(Piece::Text(&rest[..start + 2]));
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// Everyone the text mentions, each once, in the order first mentioned.
pub fn mentioned(body: &str) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::new();
    for piece in pieces(body) {
        if let Piece::Mention(user) = piece
            && !out.contains(&user)
        {
            out.push(user);
        }
    }
    out
}

/// Whether the text mentions `user`.
pub fn mentions(body: &str, user: UserId) -> bool {
    body.contains("<@") && mentioned(body).contains(&user)
}

/// The text with each mention written `@name`, the name given by `name_of` (for a
/// terminal, a notification or a preview, where nothing richer can be shown).
pub fn plain(body: &str, name_of: impl Fn(UserId) -> String) -> String {
    if !body.contains("<@") {
        return body.to_owned();
    }
    pieces(body)
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.to_owned(),
            Piece::Mention(user) => format!("@{}", name_of(user)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        uuid::Uuid::from_u128(n).into()
    }

    #[test]
    fn finds_mentions_by_id_and_leaves_the_rest_as_text() {
        let (a, b) = (user(1), user(2));
        let body = format!("hi {} and {}, <@nope> <@ {}!", token(a), token(b), token(a));
        assert_eq!(mentioned(&body), vec![a, b], "each once, in order");
        assert!(mentions(&body, b));
        assert!(!mentions(&body, user(3)));
        assert!(!mentions("<@nope> <@", a));
        let named = plain(&body, |u| if u == a { "Ann".into() } else { "Bo".into() });
        assert_eq!(named, "hi @Ann and @Bo, <@nope> <@ @Ann!");
    }

    #[test]
    fn text_without_mentions_is_one_piece() {
        assert_eq!(pieces("plain"), vec![Piece::Text("plain")]);
        assert!(pieces("").is_empty());
        assert_eq!(plain("a <b> c", |_| unreachable!()), "a <b> c");
    }
}
