//! The unread mark on the app's icon. macOS and some Linux docks show a count badge
//! (`set_badge_count`); Windows has no badge for a window, only an overlay icon on its
//! taskbar button, so there the mark is [`unread_dot`]: a 16×16 red dot, the size
//! Windows draws overlays at, made here rather than shipped as a file.

use tauri::WebviewWindow;

/// Side of the overlay icon, in pixels.
const SIDE: u32 = 16;
/// The dot's colour (RGB), the red of notification badges.
const RED: [u8; 3] = [0xE5, 0x48, 0x4D];

/// Shows `total` unread messages on the app's icon, or clears the mark at zero. Not
/// every desktop has a place for it (most Linux ones do not); that is fine.
pub fn show(window: &WebviewWindow, total: i64) {
    #[cfg(target_os = "windows")]
    {
        let dot = (total > 0).then(|| tauri::image::Image::new_owned(unread_dot(), SIDE, SIDE));
        let _ = window.set_overlay_icon(dot);
    }
    #[cfg(not(target_os = "windows"))]
    {
        let _ = window.set_badge_count((total > 0).then_some(total));
    }
}

/// A filled red circle on a transparent square, RGBA rows from the top, its edge
/// anti-aliased by how much of each pixel the circle covers (4×4 samples).
#[cfg_attr(not(target_os = "windows"), allow(dead_code))]
pub(crate) fn unread_dot() -> Vec<u8> {
    let centre = SIDE as f32 / 2.0;
    let radius = centre - 0.5;
    let mut rgba = Vec::with_capacity((SIDE * SIDE * 4) as usize);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let mut inside = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let dx = x as f32 + (sx as f32 + 0.5) / 4.0 - centre;
                    let dy = y as f32 + (sy as f32 + 0.5) / 4.0 - centre;
                    if dx * dx + dy * dy <= radius * radius {
                        inside += 1;
                    }
                }
            }
            rgba.extend_from_slice(&RED);
            rgba.push((inside * 255 / 16) as u8);
        }
    }
    rgba
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha(rgba: &[u8], x: u32, y: u32) -> u8 {
        rgba[((y * SIDE + x) * 4 + 3) as usize]
    }

    #[test]
    fn the_dot_is_a_red_circle_on_transparent_corners() {
        let rgba = unread_dot();
        assert_eq!(rgba.len(), (SIDE * SIDE * 4) as usize);
        assert_eq!(alpha(&rgba, 8, 8), 255, "opaque at the centre");
        assert_eq!(alpha(&rgba, 0, 0), 0, "clear in the corners");
        assert_eq!(alpha(&rgba, SIDE - 1, SIDE - 1), 0);
        let edge = alpha(&rgba, 8, 0);
        assert!(
            edge > 0 && edge < 255,
            "a soft edge, not a jagged one: {edge}"
        );
        assert!(rgba.chunks(4).all(|p| p[..3] == RED));
    }
}
