//! Shows native notifications and, when one is clicked, brings the window up on that
//! notification's conversation (the UI is told through [`OPEN_EVENT`]).
//!
//! On Linux and the BSDs a click is the notification daemon's `ActionInvoked` D-Bus
//! signal. One connection posts every notification and listens for the signals (some
//! daemons, dunst among them, send them only to the connection that posted), subscribed
//! before the first notification is shown; it maps notification ids back to
//! conversations: nothing waits per notification, and a click that comes at once cannot
//! slip in before anyone listens. On macOS and Windows
//! notify-rust delivers the click to the notification's handle, which a short-lived
//! thread waits on.

use ferry_proto::ConversationId;
use tauri::{AppHandle, Emitter};

/// The event that asks the UI to open a conversation; the payload is its id.
pub const OPEN_EVENT: &str = "ferry://open";

/// The app's notifications.
pub struct Notifier {
    #[cfg(all(unix, not(target_os = "macos")))]
    shown: xdg::Shown,
}

impl Notifier {
    /// Starts listening for clicks (where the desktop reports them on a bus).
    #[cfg_attr(target_os = "windows", allow(unused_variables))]
    pub fn start(app: &AppHandle) -> Self {
        #[cfg(target_os = "macos")]
        {
            // Notifications are attributed to (and clicks routed to) this bundle.
            let _ = notify_rust::set_application(&app.config().identifier);
        }
        Self {
            #[cfg(all(unix, not(target_os = "macos")))]
            shown: xdg::listen(app.clone()),
        }
    }

    /// Shows a notification for `conversation` (without blocking the caller).
    #[cfg_attr(all(unix, not(target_os = "macos")), allow(unused_variables))]
    pub fn show(&self, app: &AppHandle, conversation: ConversationId, title: String, body: String) {
        #[cfg(all(unix, not(target_os = "macos")))]
        xdg::show(&self.shown, title, body, conversation);
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            let mut notification = notify_rust::Notification::new();
            notification.appname("Ferry").summary(&title).body(&body);
            #[cfg(target_os = "windows")]
            notification.app_id(&app.config().identifier);
            wait_on_thread(app.clone(), notification, conversation);
        }
    }
}

/// Un-minimises and focuses the window and asks the UI to open the conversation.
fn open(app: &AppHandle, conversation: ConversationId) {
    crate::tray::reveal(app);
    let _ = app.emit(OPEN_EVENT, conversation);
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn wait_on_thread(
    app: AppHandle,
    notification: notify_rust::Notification,
    conversation: ConversationId,
) {
    // The handle blocks until the notification is clicked or dismissed.
    let spawned = std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || match notification.show() {
            Ok(handle) => {
                let _ = handle.wait_for_response(|response: &notify_rust::NotificationResponse| {
                    if response.is_default_action() {
                        open(&app, conversation);
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "notification failed"),
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "notification thread failed to start");
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
mod xdg {
    //! The freedesktop.org notification protocol, spoken over one D-Bus connection of the
    //! app's own: the `default` action makes the body clickable, and `ActionInvoked` and
    //! `NotificationClosed` come back as signals. Daemons differ in whom they tell: GNOME
    //! Shell broadcasts them, dunst sends them only to the connection that posted the
    //! notification. So notifications are posted on the very connection that listens,
    //! never on one of their own (notify-rust opens a new connection per notification,
    //! whose clicks dunst sends nowhere anyone listens).

    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    use ferry_proto::ConversationId;
    use futures_util::TryStreamExt;
    use tauri::AppHandle;
    use tokio::sync::{Mutex, OnceCell};

    const INTERFACE: &str = "org.freedesktop.Notifications";
    const PATH: &str = "/org/freedesktop/Notifications";
    /// Notifications whose click is still answered; older ones are forgotten first
    /// (daemons that never report a close would otherwise grow the map forever).
    const REMEMBERED: usize = 256;

    /// The app's side of the protocol: its connection, and what it showed.
    pub(super) struct Bus {
        /// Set once the listener is subscribed; empty for good when there is no session bus.
        connection: OnceCell<Option<zbus::Connection>>,
        /// The conversation of each notification shown and not yet closed, by daemon id.
        /// Locked across showing and recording, so the listener never sees an id before
        /// it is recorded.
        shown: Arc<Mutex<BTreeMap<u32, ConversationId>>>,
        /// Whether the daemon renders markup in bodies, asked once.
        markup: OnceCell<bool>,
    }

    pub(super) type Shown = Arc<Bus>;

    pub(super) fn listen(app: AppHandle) -> Shown {
        let bus = Arc::new(Bus {
            connection: OnceCell::new(),
            shown: Arc::default(),
            markup: OnceCell::new(),
        });
        // Held until the subscription is in place: showing waits for the lock, so no
        // notification can be posted (and clicked) before anyone listens.
        let held = bus
            .shown
            .clone()
            .try_lock_owned()
            .expect("a new lock is free");
        let listening = bus.clone();
        tauri::async_runtime::spawn(async move {
            let subscribed = subscribe().await;
            match subscribed {
                Ok((connection, stream)) => {
                    let _ = listening.connection.set(Some(connection));
                    drop(held);
                    if let Err(e) = answer_clicks(stream, &app, &listening.shown).await {
                        tracing::warn!(error = %e, "notification clicks are no longer answered");
                    }
                }
                Err(e) => {
                    let _ = listening.connection.set(None);
                    drop(held);
                    tracing::warn!(error = %e, "no session bus: notifications are not shown")
                }
            }
        });
        bus
    }

    async fn subscribe() -> zbus::Result<(zbus::Connection, zbus::MessageStream)> {
        let connection = zbus::Connection::session().await?;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(INTERFACE)
            .build()?;
        let stream = zbus::MessageStream::for_match_rule(rule, &connection, None).await?;
        Ok((connection, stream))
    }

    async fn answer_clicks(
        mut stream: zbus::MessageStream,
        app: &AppHandle,
        shown: &Mutex<BTreeMap<u32, ConversationId>>,
    ) -> zbus::Result<()> {
        while let Some(message) = stream.try_next().await? {
            let header = message.header();
            match header.member().map(|m| m.as_str()) {
                Some("ActionInvoked") => {
                    let (id, action): (u32, String) = message.body().deserialize()?;
                    let conversation = shown.lock().await.get(&id).copied();
                    if let (Some(conversation), "default") = (conversation, action.as_str()) {
                        super::open(app, conversation);
                    }
                }
                Some("NotificationClosed") => {
                    let (id, _reason): (u32, u32) = message.body().deserialize()?;
                    shown.lock().await.remove(&id);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The body as a daemon that supports `body-markup` shows it: `&`, `<` and `>` as
    /// entities (the specification's whole list), so it reads as the text it is.
    pub(super) fn escape_markup(text: &str) -> String {
        let mut escaped = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '&' => escaped.push_str("&amp;"),
                '<' => escaped.push_str("&lt;"),
                '>' => escaped.push_str("&gt;"),
                c => escaped.push(c),
            }
        }
        escaped
    }

    #[cfg(test)]
    #[test]
    fn message_text_is_never_markup() {
        assert_eq!(
            escape_markup(r#"<b>hi</b> & <img src="http://x/y.png"> <a href="x">"#),
            "&lt;b&gt;hi&lt;/b&gt; &amp; &lt;img src=\"http://x/y.png\"&gt; &lt;a href=\"x\"&gt;"
        );
        assert_eq!(escape_markup("plain 🚢 text"), "plain 🚢 text");
    }

    impl Bus {
        /// Whether the daemon renders markup in bodies (its `body-markup` capability),
        /// asked once: then a body must be escaped to show as the text it is, and
        /// otherwise it must not be (the entities would show).
        async fn body_markup(&self, connection: &zbus::Connection) -> bool {
            *self
                .markup
                .get_or_init(|| async {
                    let reply = connection
                        .call_method(
                            Some(INTERFACE),
                            PATH,
                            Some(INTERFACE),
                            "GetCapabilities",
                            &(),
                        )
                        .await;
                    reply
                        .ok()
                        .and_then(|m| m.body().deserialize::<Vec<String>>().ok())
                        .is_some_and(|caps| caps.iter().any(|c| c == "body-markup"))
                })
                .await
        }

        /// Posts a notification on the listening connection and records its id.
        async fn post(
            &self,
            title: &str,
            body: &str,
            conversation: ConversationId,
        ) -> zbus::Result<()> {
            // Locked first: until the listener is subscribed, the connection is not set.
            let mut shown = self.shown.lock().await;
            let Some(Some(connection)) = self.connection.get() else {
                return Err(zbus::Error::Failure("no session bus".into()));
            };
            // A daemon that renders markup would show `<b>`, or load an `<img>`, from a
            // message: there the body goes as escaped text.
            let body = if self.body_markup(connection).await {
                escape_markup(body)
            } else {
                body.to_owned()
            };
            // Without a `default` action the daemon does not report a click on the body.
            let actions = ["default", "Open"];
            let hints: HashMap<&str, zbus::Variant<'_>> = HashMap::new();
            let reply = connection
                .call_method(
                    Some(INTERFACE),
                    PATH,
                    Some(INTERFACE),
                    "Notify",
                    // app name, replaces id, icon, summary, body, actions, hints, timeout
                    // (-1: the daemon's default).
                    &(
                        "Ferry",
                        0u32,
                        "",
                        title,
                        body.as_str(),
                        &actions[..],
                        hints,
                        -1i32,
                    ),
                )
                .await?;
            let id: u32 = reply.body().deserialize()?;
            shown.insert(id, conversation);
            while shown.len() > REMEMBERED {
                shown.pop_first();
            }
            Ok(())
        }
    }

    pub(super) fn show(bus: &Shown, title: String, body: String, conversation: ConversationId) {
        let bus = bus.clone();
        tauri::async_runtime::spawn(async move {
            if let Err(e) = bus.post(&title, &body, conversation).await {
                tracing::warn!(error = %e, "notification failed");
            }
        });
    }
}
