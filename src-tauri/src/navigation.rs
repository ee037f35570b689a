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
        ] {
            assert!(!stays_in_app(&url(away)), "{away}");
        }
    }
}
