//! How the window's web content is drawn: on the CPU, because that takes the web
//! process's memory down by about 100 MiB and a chat's pages need nothing more.
//!
//! WebKitGTK composites a page with OpenGL by default. Where no GPU driver serves it
//! (a virtual display, many VMs) Mesa's software rasterizer does, and the web process
//! then holds LLVM and the rasterizer's buffers: B12 (docs/benchmarks.md) measured the
//! web process at 248 MiB PSS that way and 136 MiB drawing on the CPU, whose idle CPU
//! with a conversation open was lower too. A chat's pages (text, a few images, no
//! 3D transforms, video or canvas animations) lose nothing drawn on the CPU, which is
//! how WebKitGTK long drew pages without 3D content itself (its former on-demand
//! policy). On a machine with a GPU the trade is the same in kind: the driver's memory
//! and buffers for the CPU's work on a window that changes a few lines at a time.
//! (WebKit's cache model for one document, tried beside it, gained nothing measurable.)
//!
//! Linux and the BSDs only; macOS's and Windows's webviews are left as they are (not
//! measured here).
//!
//! Not under WebDriver: drawing on the CPU, WebKitGTK 2.50's automation stops answering
//! screenshots once a form has been typed into (the desktop e2e's first screenshot, after
//! the sign-up form is filled in, hung for good; by hand, with `curl` against
//! WebKitWebDriver, a screenshot after typing into the server field comes back, one
//! after typing into all four fields never does), while the window goes on painting what
//! is typed. A window driven by WebDriver keeps WebKit's default drawing, so the e2e
//! covers the app's behaviour but not this drawing mode, which the e2e's `drawing` test
//! covers (the app started as people start it, its window's pixels read from X) and
//! B12's runs measure (they paint the list and open a conversation).

/// Tells the window's WebKit to draw on the CPU (call once, in `setup`, before the page
/// has drawn).
#[cfg(all(unix, not(target_os = "macos")))]
pub fn lighten(window: &tauri::WebviewWindow) {
    let told = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        let view = webview.inner();
        if view.is_controlled_by_automation() {
            tracing::debug!("driven by WebDriver: WebKit's default drawing kept");
            return;
        }
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            // What the desktop e2e's drawing test looks for.
            tracing::debug!("the window's web content is drawn on the CPU");
        }
    });
    if let Err(e) = told {
        tracing::warn!(error = %e, "the window's WebKit keeps its default rendering");
    }
}

/// Nothing to do where the webview is not WebKitGTK.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub fn lighten(_window: &tauri::WebviewWindow) {}
