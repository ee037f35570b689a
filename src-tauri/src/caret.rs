//! A steady text cursor, so that a focused text field costs no CPU while nobody types.
//!
//! WebKitGTK draws its caret from GTK's settings, and both of GTK's ways of showing it
//! keep an idle window busy:
//! - **Blinking** (the default): every half period (600 ms) is a full rendering update
//!   and composited frame, for as long as a field has focus. WebKitGTK ignores
//!   `gtk-cursor-blink-timeout`, after which GTK's own fields stop blinking, so it
//!   blinks forever: with a conversation open (its composer focused) that was 2.2
//!   CPU-seconds per idle minute under Xvfb, nearly all of the app's idle CPU.
//! - **Not blinking** (`gtk-cursor-blink` off) is worse: WebKit's caret animator then
//!   re-arms a 0 ms timer on every rendering update (`SimpleCaretAnimator` with no
//!   blink interval), so the page renders at the display's rate.
//!
//! So the shell leaves blinking on with a period WebKit never reaches: the caret shows,
//! never blinks, and a focused field renders nothing until something changes. WebKitGTK
//! takes a live change of these settings into its web process, and this runs before the
//! page has loaded, so no caret exists yet to be caught mid-blink (a change that lands
//! while a caret is hidden would leave it hidden until the next key). GTK's settings
//! object is the process's own: the user's desktop settings are not changed. B12
//! (docs/benchmarks.md) measured the app idle with a conversation open at 0.05 CPU-s per
//! minute with this, from 2.15: the same as with no focused field.
//!
//! Linux and the BSDs only; macOS's and Windows's webviews are left as they are (not
//! measured here).

/// Half of this is how long the caret stays on: about eleven days, far longer than a
/// caret sits still (a key press, a click or a focus change starts a new period).
#[cfg(all(unix, not(target_os = "macos")))]
const BLINK_TIME_MS: i32 = 2_000_000_000;

/// Makes the text cursor steady (call once, on the main thread, after GTK started).
#[cfg(all(unix, not(target_os = "macos")))]
pub fn keep_steady() {
    use gtk::prelude::*;

    let Some(settings) = gtk::Settings::default() else {
        tracing::warn!("no GTK settings: the text cursor keeps GTK's blinking");
        return;
    };
    settings.set_gtk_cursor_blink(true);
    settings.set_gtk_cursor_blink_time(BLINK_TIME_MS);
    tracing::debug!("text cursor kept steady (it never blinks)");
}

/// Nothing to do where the webview does not follow GTK's settings.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub fn keep_steady() {}
