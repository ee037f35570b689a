//! Pictures pasted from the system clipboard. WebKitGTK's `paste` event carries no file
//! for a picture on the clipboard as screenshot tools leave it (`image/png` alone, as
//! `xclip -selection clipboard -t image/png` puts it), so a paste of a picture did
//! nothing. A paste that brings the page neither files nor text therefore asks here:
//! [`image`] reads the clipboard's picture through GTK (any format GdkPixbuf reads, on
//! X11 and Wayland alike) and [`png`] encodes it, to be sent under [`pasted_name`]
//! ("Pasted image 2026-11-25 14.03.png"). macOS's and Windows's webviews hand such a
//! picture to the page themselves; there this finds nothing.

use tauri::AppHandle;

/// How long the clipboard's owner may take to hand its picture over (GTK's own limit is
/// 30 s per request, and there are two).
#[cfg(all(unix, not(target_os = "macos")))]
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the clipboard's picture could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClipboardError {
    /// It offered a picture, then did not hand over one GdkPixbuf can read.
    #[error("the clipboard holds a picture that could not be read")]
    Unreadable,
    /// The picture could not be encoded as PNG.
    #[error("the pasted picture could not be converted to PNG: {0}")]
    Encoding(String),
    /// The program holding the clipboard did not answer.
    #[error("the program holding the clipboard did not hand over its picture")]
    NoAnswer,
    /// The window's thread could not be reached (the app is closing).
    #[error("the clipboard could not be read: {0}")]
    Unreachable(String),
}

/// The clipboard's picture as PNG, with the name to send it under; `None` when the
/// clipboard holds no picture (text, files, or nothing).
#[cfg(all(unix, not(target_os = "macos")))]
pub async fn image(app: &AppHandle) -> Result<Option<(String, Vec<u8>)>, ClipboardError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    // GTK's clipboard belongs to the thread that runs its main loop.
    app.run_on_main_thread(move || request_image(answer))
        .map_err(|e| ClipboardError::Unreachable(e.to_string()))?;
    match tokio::time::timeout(ANSWER_WITHIN, answered).await {
        Ok(Ok(picture)) => picture,
        Ok(Err(_)) => Err(ClipboardError::Unreachable("the window closed".into())),
        Err(_) => Err(ClipboardError::NoAnswer),
    }
}

/// Nothing to read here: the webview gives the page the pasted picture itself.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub async fn image(_app: &AppHandle) -> Result<Option<(String, Vec<u8>)>, ClipboardError> {
    Ok(None)
}

#[cfg(all(unix, not(target_os = "macos")))]
type Answer = tokio::sync::oneshot::Sender<Result<Option<(String, Vec<u8>)>, ClipboardError>>;

/// Asks which kinds the clipboard offers, then, if a picture is among them, for the
/// picture; answers on `answer`. Both requests are GTK's asynchronous ones, so the
/// window goes on meanwhile.
#[cfg(all(unix, not(target_os = "macos")))]
fn request_image(answer: Answer) {
    use gtk::gdk;

    let clipboard = gtk::Clipboard::get(&gdk::SELECTION_CLIPBOARD);
    // Asking for the offered kinds first tells "no picture" (say nothing) from a
    // picture that cannot be read (say so): `request_image` answers both with none.
    clipboard.request_contents(&gdk::Atom::intern("TARGETS"), move |clipboard, offered| {
        if !offered.targets_include_image(false) {
            let _ = answer.send(Ok(None));
            return;
        }
        clipboard.request_image(move |_, picture| {
            let converted = match picture {
                Some(picture) => png(picture).map(|bytes| Some((pasted_name_now(), bytes))),
                None => Err(ClipboardError::Unreadable),
            };
            let _ = answer.send(converted);
        });
    });
}

/// A picture as PNG bytes, its transparency kept.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn png(picture: &gtk::gdk_pixbuf::Pixbuf) -> Result<Vec<u8>, ClipboardError> {
    picture
        .save_to_bufferv("png", &[])
        .map_err(|e| ClipboardError::Encoding(e.to_string()))
}

/// The name a pasted picture is sent under, from the local time it was pasted.
#[cfg(all(unix, not(target_os = "macos")))]
fn pasted_name_now() -> String {
    gtk::glib::DateTime::now_local()
        .map_or_else(|_| "Pasted image.png".into(), |now| pasted_name(&now))
}

/// "Pasted image 2026-11-25 14.03.png": when, to the minute, as a screenshot is named
/// (dots rather than colons, which some file systems refuse).
#[cfg(all(unix, not(target_os = "macos")))]
pub fn pasted_name(at: &gtk::glib::DateTime) -> String {
    format!(
        "Pasted image {:04}-{:02}-{:02} {:02}.{:02}.png",
        at.year(),
        at.month(),
        at.day_of_month(),
        at.hour(),
        at.minute()
    )
}

#[cfg(all(test, unix, not(target_os = "macos")))]
mod tests {
    use gtk::gdk_pixbuf::{Colorspace, Pixbuf};
    use gtk::glib;

    use super::*;

    /// A picture as GTK hands it over: RGBA rows padded beyond their pixels.
    #[test]
    fn a_picture_becomes_the_same_pixels_in_png() {
        let (width, height, stride) = (5usize, 3usize, 24usize);
        let pixel =
            |x: usize, y: usize| [(x * 50) as u8, (y * 100) as u8, 200, (255 - x * 40) as u8];
        let mut rows = vec![0xEE_u8; stride * height];
        for y in 0..height {
            for x in 0..width {
                rows[y * stride + x * 4..][..4].copy_from_slice(&pixel(x, y));
            }
        }
        let picture = Pixbuf::from_bytes(
            &glib::Bytes::from_owned(rows),
            Colorspace::Rgb,
            true,
            8,
            width as i32,
            height as i32,
            stride as i32,
        );

        let encoded = png(&picture).expect("encode");

        let decoder = ::png::Decoder::new(std::io::Cursor::new(&encoded));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut decoded = vec![0; reader.output_buffer_size().expect("a sane size")];
        let frame = reader.next_frame(&mut decoded).expect("decode");
        assert_eq!((frame.width, frame.height), (width as u32, height as u32));
        assert_eq!(frame.color_type, ::png::ColorType::Rgba);
        let expected: Vec<u8> = (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| pixel(x, y)))
            .collect();
        assert_eq!(&decoded[..frame.buffer_size()], expected.as_slice());
    }

    #[test]
    fn a_pasted_picture_is_named_for_when_it_was_pasted() {
        let at = glib::DateTime::from_local(2026, 11, 25, 14, 3, 59.0).expect("a time");
        assert_eq!(pasted_name(&at), "Pasted image 2026-11-25 14.03.png");
        let at = glib::DateTime::from_local(2027, 1, 2, 9, 0, 0.0).expect("a time");
        assert_eq!(pasted_name(&at), "Pasted image 2027-01-02 09.00.png");
    }
}
