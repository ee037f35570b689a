//! A stand-in for the desktop's notification daemon on the test's own session bus. It
//! records every notification the app shows and clicks one the way dunst reports a click
//! on a notification's body: the `ActionInvoked` signal with `default`, sent only to the
//! connection that posted the notification (GNOME Shell broadcasts it; an app that hears
//! dunst's clicks hears GNOME's too, not the other way round).

use std::collections::HashMap;

use tokio::sync::mpsc;
use zbus::OwnedVariant;

const NAME: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// A notification as the app showed it.
#[derive(Debug)]
pub struct Shown {
    pub id: u32,
    /// The unique bus name of the connection that posted it: where dunst sends its click.
    pub sender: String,
    pub summary: String,
    pub body: String,
    /// Action keys and labels, alternating.
    pub actions: Vec<String>,
}

struct Daemon {
    shown: mpsc::UnboundedSender<Shown>,
    last_id: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Daemon {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        _app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        _hints: HashMap<String, OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            self.last_id += 1;
            self.last_id
        };
        let sender = header
            .sender()
            .map(|s| s.to_string())
            .expect("a message on the bus names its sender");
        let _ = self.shown.send(Shown {
            id,
            sender,
            summary,
            body,
            actions,
        });
        id
    }

    fn close_notification(&self, _id: u32) {}

    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("ferry-e2e".into(), "ferry".into(), "1".into(), "1.2".into())
    }
}

/// The daemon, serving on the session bus until dropped.
pub struct Notifications {
    connection: zbus::Connection,
    shown: mpsc::UnboundedReceiver<Shown>,
}

impl Notifications {
    /// Takes the notification daemon's name on the session bus (the test runs in a
    /// session of its own, so no real daemon holds it).
    pub async fn start() -> Self {
        let (tx, shown) = mpsc::unbounded_channel();
        let daemon = Daemon {
            shown: tx,
            last_id: 0,
        };
        let connection = zbus::connection::Builder::session()
            .name(NAME)
            .serve_at(PATH, daemon)
            .build()
            .await
            .expect(
                "the notification daemon's name on the session bus (is another daemon running?)",
            );
        Self { connection, shown }
    }

    /// The next notification the app shows.
    pub async fn next(&mut self) -> Shown {
        self.shown.recv().await.expect("daemon is serving")
    }

    /// Clicks a notification's body, telling only the connection that posted it (dunst's
    /// `signal_action_invoked`).
    pub async fn click(&self, shown: &Shown) {
        self.connection
            .emit_signal(
                Some(shown.sender.as_str()),
                PATH,
                NAME,
                "ActionInvoked",
                &(shown.id, "default"),
            )
            .await
            .expect("emit ActionInvoked");
    }
}
