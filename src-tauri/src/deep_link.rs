//! `ferry://` links. `ferry://conversation/<id>` opens that conversation;
//! `ferry://user/<username>` opens the direct chat with that person, starting it on the
//! server if this device has none. The OS hands a link to the app that the bundles
//! register for the scheme (the deep-link plugin's configuration): on Linux and Windows
//! the OS starts the app with the link, and a second launch gives it to the running app
//! through the single instance; macOS sends it as an event, through the plugin. A link is
//! only ever an address to open: anything else in it is refused, and a link that names
//! nothing this person can open shows the window and nothing more.

use ferry_proto::ConversationId;
use tauri::Url;
use tauri::{AppHandle, Emitter, Manager};

use crate::notifier::OPEN_EVENT;
use crate::state::Desktop;

/// The scheme the bundles register.
pub const SCHEME: &str = "ferry";

/// What a link asks to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// A conversation, by id.
    Conversation(ConversationId),
    /// The direct chat with a user, by username.
    User(String),
}

/// The link `url` names, if it is one of Ferry's.
pub fn parse(url: &Url) -> Option<Link> {
    if url.scheme() != SCHEME {
        return None;
    }
    // `ferry://conversation/ID`: "conversation" is the host, the id the one path segment.
    let mut segments = url.path_segments()?.filter(|s| !s.is_empty());
    let value = segments.next()?;
    if segments.next().is_some() || url.query().is_some() {
        return None;
    }
    match url.host_str()? {
        "conversation" => value.parse().ok().map(Link::Conversation),
        "user" => ferry_proto::normalize_username(value).ok().map(Link::User),
        _ => None,
    }
}

/// Opens what `url` names (in the background: a user's chat may need the server).
pub fn open(app: &AppHandle, url: &Url) {
    crate::tray::reveal(app);
    let Some(link) = parse(url) else {
        tracing::warn!(%url, "a link that is not Ferry's, ignored");
        return;
    };
    tracing::info!(?link, "opening a link");
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match conversation_for(&app, link).await {
            Ok(Some(id)) => {
                let _ = app.emit(OPEN_EVENT, id);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not open a link"),
        }
    });
}

async fn conversation_for(
    app: &AppHandle,
    link: Link,
) -> Result<Option<ConversationId>, ferry_client::ClientError> {
    // Signed out: the window shows the sign-in form, and the link has nowhere to go.
    let Ok(client) = app.state::<Desktop>().client() else {
        return Ok(None);
    };
    match link {
        Link::Conversation(id) => Ok(client.conversation(id).summary()?.map(|c| c.id)),
        Link::User(username) => {
            let me = client.me().id;
            let known = client.conversations(None, u32::MAX)?.into_iter().find(|c| {
                c.kind == ferry_proto::ConversationKind::Direct
                    && c.members
                        .iter()
                        .any(|m| m.user.id != me && m.user.username == username)
            });
            match known {
                Some(c) => Ok(Some(c.id)),
                None => client.open_direct(&username).await.map(Some),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(text: &str) -> Option<Link> {
        parse(&Url::parse(text).expect("a URL"))
    }

    #[test]
    fn takes_conversations_and_users_and_nothing_else() {
        let id = ConversationId::from_u128(7);
        assert_eq!(
            link(&format!("ferry://conversation/{id}")),
            Some(Link::Conversation(id))
        );
        assert_eq!(
            link(&format!("ferry://conversation/{id}/")),
            Some(Link::Conversation(id))
        );
        assert_eq!(link("ferry://user/Alice"), Some(Link::User("alice".into())));
        for bad in [
            "https://conversation/x",
            "ferry://conversation/not-an-id",
            "ferry://user/a",
            "ferry://user/alice/more",
            "ferry://user/alice?do=delete",
            "ferry://settings/x",
            "ferry://conversation",
        ] {
            assert_eq!(link(bad), None, "{bad}");
        }
    }
}
