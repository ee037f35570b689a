//! The window never leaves the app: a navigation to anything but the app's own pages (a
//! link clicked without the UI's handler, a script that sets `location`) is refused, so
//! no page from elsewhere ever runs with the app's IPC. Links open in the browser through
//! the opener plugin instead (`ui/src/lib/links.ts`).

use tauri::Url;

/// Whether the window may show `url`: the app's own pages (`tauri://localhost` on Linux
/// and macOS, `http(s)://tauri.localhost` on Windows), or the UI's dev server in a debug
/// build.
pub fn stays_in_app(url: &Url) -> bool {
    match (url.scheme(), url.host_str()) {
        ("tauri", Some("localhost")) => true,
        ("http" | "https", Some("tauri.localhost")) => true,
        ("http", Some("localhost")) => cfg!(debug_assertions) && url.port() == Some(5173),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    #[test]
    fn only_the_apps_own_pages() {
        assert!(stays_in_app(&url("tauri://localhost/index.html")));
        assert!(stays_in_app(&url("http://tauri.localhost/")));
        for away in [
            "https://example.com/",
            "http://127.0.0.1:8080/api/v1/openapi.json",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "http://localhost:8080/",
            "tauri://evil/",
            "tauri://localhost.evil.example/",
            "http://tauri.localhost.evil.example/",
            "http://tauri.localhost@evil.example/",
            "ipc://localhost/plugin:opener|open_url",
            "data:text/html,<script>alert(1)</script>",
        ] {
            assert!(!stays_in_app(&url(away)), "{away}");
        }
    }

    /// The window's one door to the opener is web and mail links: a page script, had one
    /// ever run, could not open a path, reveal a file or start another scheme's handler.
    #[test]
    fn the_window_may_open_web_and_mail_links_only() {
        let capability: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/default.json"))
                .expect("the capability is JSON");
        let opener: Vec<&serde_json::Value> = capability["permissions"]
            .as_array()
            .expect("a list of permissions")
            .iter()
            .filter(|p| {
                p.as_str()
                    .or_else(|| p["identifier"].as_str())
                    .is_some_and(|id| id.starts_with("opener:"))
            })
            .collect();
        assert_eq!(opener.len(), 1, "{opener:?}");
        assert_eq!(opener[0]["identifier"], "opener:allow-open-url");
        let urls: Vec<&str> = opener[0]["allow"]
            .as_array()
            .expect("a scope")
            .iter()
            .filter_map(|scope| scope["url"].as_str())
            .collect();
        assert_eq!(urls, ["https://*", "http://*", "mailto:*"]);
    }
}
