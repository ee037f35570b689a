//! A stand-in for the desktop's tray host (the StatusNotifierWatcher that KDE, GNOME's
//! AppIndicator extension and most Linux panels run) on the test's own session bus. The
//! app's tray icon registers with it as desktops see it; the test then reads the icon's
//! label (the unread count) and clicks its menu's items through the same D-Bus menu a
//! panel uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use zbus::{OwnedObjectPath, OwnedVariant as OwnedValue, Variant as Value};

const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
const ITEM: &str = "org.kde.StatusNotifierItem";
const MENU: &str = "com.canonical.dbusmenu";

/// A D-Bus menu's item: its id, its properties, its children.
type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// Where a registered icon lives: its connection and object path.
#[derive(Clone, Debug)]
pub struct Item {
    pub service: String,
    pub path: String,
}

#[derive(Default)]
struct Registry {
    items: Mutex<Vec<Item>>,
    registered: Notify,
}

struct Watcher {
    registry: Arc<Registry>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// An icon registers with its object path (Ayatana's way) or its bus name; the sender
    /// is its connection.
    fn register_status_notifier_item(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        service: String,
    ) {
        let sender = header
            .sender()
            .map(|s| s.to_string())
            .expect("a message on the bus names its sender");
        let item = if service.starts_with('/') {
            Item {
                service: sender,
                path: service,
            }
        } else {
            Item {
                service,
                path: "/StatusNotifierItem".into(),
            }
        };
        self.registry
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(item);
        self.registry.registered.notify_waiters();
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.registry
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|i| format!("{}{}", i.service, i.path))
            .collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// The tray host, serving until dropped.
pub struct Tray {
    connection: zbus::Connection,
    registry: Arc<Registry>,
}

impl Tray {
    /// Takes the watcher's name on the session bus (the test's own session).
    pub async fn start() -> Self {
        let registry = Arc::new(Registry::default());
        let connection = zbus::connection::Builder::session()
            .name(WATCHER)
            .serve_at(
                WATCHER_PATH,
                Watcher {
                    registry: registry.clone(),
                },
            )
            .build()
            .await
            .expect("the tray host's name on the session bus");
        Self {
            connection,
            registry,
        }
    }

    /// The app's icon, once it registered.
    pub async fn item(&self) -> Item {
        loop {
            let registered = self.registry.registered.notified();
            if let Some(item) = self
                .registry
                .items
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last()
                .cloned()
            {
                return item;
            }
            registered.await;
        }
    }

    async fn property(&self, item: &Item, interface: &str, name: &str) -> OwnedValue {
        let proxy = zbus::Proxy::new(
            &self.connection,
            item.service.as_str(),
            item.path.as_str(),
            interface,
        )
        .await
        .expect("proxy");
        proxy
            .get_property::<OwnedValue>(name)
            .await
            .unwrap_or_else(|e| panic!("{interface}.{name}: {e}"))
    }

    /// The label beside the icon (Ayatana's `XAyatanaLabel`: where the unread count goes).
    pub async fn label(&self, item: &Item) -> String {
        let value = self.property(item, ITEM, "XAyatanaLabel").await;
        String::try_from(value).unwrap_or_default()
    }

    /// Waits until the label reads `wanted`, looking again at a gentle pace (a changed
    /// label is also signalled, but the property is the truth).
    pub async fn wait_label(&self, item: &Item, wanted: &str) {
        let mut look = tokio::time::interval(Duration::from_millis(50));
        loop {
            look.tick().await;
            if self.label(item).await == wanted {
                return;
            }
        }
    }

    /// The labels of the icon's menu items, with their ids.
    pub async fn menu(&self, item: &Item) -> Vec<(i32, String)> {
        let path = OwnedObjectPath::try_from(self.property(item, ITEM, "Menu").await)
            .expect("the icon has a menu");
        let proxy = zbus::Proxy::new(&self.connection, item.service.as_str(), path, MENU)
            .await
            .expect("menu proxy");
        let (_revision, layout): (u32, Layout) = proxy
            .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .await
            .expect("GetLayout");
        let mut out = Vec::new();
        for child in layout.2 {
            let (id, properties, _children): Layout = child.try_into().expect("a menu item");
            let label = properties
                .get("label")
                .and_then(|v| String::try_from(v.clone()).ok())
                .unwrap_or_default();
            out.push((id, label.replace('_', "")));
        }
        out
    }

    /// Clicks the menu item labelled `label`, as a panel does.
    pub async fn click(&self, item: &Item, label: &str) {
        let items = self.menu(item).await;
        let (id, _) = items
            .iter()
            .find(|(_, l)| l == label)
            .unwrap_or_else(|| panic!("no menu item {label:?} in {items:?}"));
        let path = OwnedObjectPath::try_from(self.property(item, ITEM, "Menu").await)
            .expect("the icon has a menu");
        let proxy = zbus::Proxy::new(&self.connection, item.service.as_str(), path, MENU)
            .await
            .expect("menu proxy");
        let _: () = proxy
            .call("Event", &(*id, "clicked", Value::from(0i32), 0u32))
            .await
            .expect("Event clicked");
    }
}
