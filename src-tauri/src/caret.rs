//! The text cursor stops blinking while nobody types. A blinking cursor repaints the web
//! view twice a second for as long as a text field has focus: with a conversation open
//! (its composer focused) and the app left alone, that was nearly all of the app's idle
//! CPU (3.4 CPU-seconds a minute under Xvfb). GTK's own text fields stop blinking after
//! `gtk-cursor-blink-timeout` seconds without input (10 by default); WebKitGTK follows
//! `gtk-cursor-blink` but not that timeout, so the shell keeps it: blinking goes off that
//! many seconds after the last key press and comes back at the next one, or when the
//! window gets focus. Where the user turned blinking off, nothing changes.
//!
//! Linux and the BSDs only; macOS's and Windows's webviews are left as they are (not
//! measured here).

/// Starts watching the window's key presses and focus (call once, on the main thread).
#[cfg(all(unix, not(target_os = "macos")))]
pub fn stop_blinking_when_idle(window: &tauri::WebviewWindow) {
    use std::cell::RefCell;
    use std::rc::Rc;

    use gtk::glib;
    use gtk::prelude::*;

    let Ok(toplevel) = window.gtk_window() else {
        return;
    };
    let Some(settings) = gtk::Settings::default() else {
        return;
    };
    if !settings.is_gtk_cursor_blink() {
        return;
    }
    let seconds = u32::try_from(settings.gtk_cursor_blink_timeout())
        .unwrap_or(10)
        .max(1);
    // The pending "stop blinking" timer, if it has not fired yet.
    let pending: Rc<RefCell<Option<glib::SourceId>>> = Rc::default();
    let wake = Rc::new(move || {
        if let Some(timer) = pending.borrow_mut().take() {
            timer.remove();
        }
        if !settings.is_gtk_cursor_blink() {
            settings.set_gtk_cursor_blink(true);
        }
        let (settings, fired) = (settings.clone(), pending.clone());
        let timer = glib::timeout_add_seconds_local_once(seconds, move || {
            // Fired: its id is spent and must not be removed again.
            fired.borrow_mut().take();
            settings.set_gtk_cursor_blink(false);
            tracing::debug!(
                after_secs = seconds,
                "text cursor stops blinking (no input)"
            );
        });
        *pending.borrow_mut() = Some(timer);
    });
    wake();
    let on_key = wake.clone();
    toplevel.connect_key_press_event(move |_, _| {
        on_key();
        glib::Propagation::Proceed
    });
    toplevel.connect_focus_in_event(move |_, _| {
        wake();
        glib::Propagation::Proceed
    });
}

/// Nothing to do where the webview does not follow GTK's settings.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub fn stop_blinking_when_idle(_window: &tauri::WebviewWindow) {}
