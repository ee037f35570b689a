//! What a file's bytes are: the media type it declared, checked against its magic numbers;
//! the type it is served with; and, for an image, its size in pixels and a preview.
//!
//! The server checks every file with these rules and makes the previews others see from
//! the bytes it checked, so no client has to trust another's; a sender's client uses the
//! same rules to show its file at once. (Pure functions of bytes, behind the `media`
//! feature.) An image is measured from its header before anything is decoded, and one
//! over [`MAX_IMAGE_PIXELS`] is refused, so a small file that inflates to gigabytes
//! (a decompression bomb) never is; decoding then runs with the `image` crate's limits as
//! well. A preview is encoded anew, so it carries none of the original's metadata (EXIF,
//! GPS position included); the original's orientation is applied first.

mod webp;

use std::io::Cursor;

use crate::{MAX_IMAGE_PIXELS, PREVIEW_MAX_SIDE};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Why the bytes of a file were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The bytes are not of the declared type.
    #[error("the file's bytes are {found}, not the declared {declared}")]
    Mismatch {
        /// As the sender said.
        declared: String,
        /// As the magic numbers say (`unknown` when they say nothing).
        found: String,
    },
    /// An image with more pixels than may be decoded.
    #[error("the image is {width}×{height} pixels; at most {MAX_IMAGE_PIXELS} are accepted")]
    TooManyPixels {
        /// Pixels across.
        width: u32,
        /// Pixels down.
        height: u32,
    },
}

/// A declared media type in the form it is compared and stored in: lowercase, without
/// parameters, with the common aliases folded (`image/jpg` is `image/jpeg`).
pub fn normalize(declared: &str) -> String {
    let base = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "image/x-png" => "image/png".into(),
        _ => base,
    }
}

/// The media type a file is stored with, from what it declared (normalized) and the
/// first bytes of it. The bytes decide: when their magic numbers name a type, the
/// declaration must be that type, or `application/octet-stream` (a sender that does not
/// know); when they name none, the declaration must not be a type that has magic
/// numbers (a "PDF" with no PDF header is not one).
pub fn checked_type(declared: &str, head: &[u8]) -> Result<String, MediaError> {
    let mismatch = |found: &str| MediaError::Mismatch {
        declared: declared.to_owned(),
        found: found.to_owned(),
    };
    match infer::get(head) {
        Some(found) if found.mime_type() == declared => Ok(declared.to_owned()),
        Some(found) if declared == "application/octet-stream" => Ok(found.mime_type().into()),
        Some(found) => Err(mismatch(found.mime_type())),
        None if declared == "application/octet-stream" => Ok(declared.to_owned()),
        None if infer::is_mime_supported(declared) => Err(mismatch("unknown")),
        None => Ok(declared.to_owned()),
    }
}

/// The `Content-Type` a stored file is served with: never one a browser or the app's
/// webview would run or render as a page (HTML, SVG, XML, scripts), whatever the file
/// is; those go out as `application/octet-stream`.
pub fn served_type(stored: &str) -> &str {
    // An allow-list: a list of what runs missed `text/jscript`, `text/livescript`,
    // `text/vbscript` and `text/xsl` (found by the probes), and browsers keep adding.
    let passive = matches!(
        stored,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/bmp"
            | "image/heic"
            | "image/heif"
            | "image/tiff"
            | "text/plain"
            | "text/csv"
            | "application/zip"
            | "application/gzip"
    ) || stored.starts_with("audio/")
        || stored.starts_with("video/");
    if passive {
        stored
    } else {
        "application/octet-stream"
    }
}

/// The image format whose preview this server makes, for a stored type.
pub fn previewable(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// An image's size in pixels, read from its header alone (`None` when the header cannot
/// be read from `head`), refused past [`MAX_IMAGE_PIXELS`].
pub fn measure(format: ImageFormat, head: &[u8]) -> Result<Option<(u32, u32)>, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(head), format);
    // Reading a header needs little memory: a PNG's colour profile that inflates to
    // 240 MiB made the decoder take it all, twice per file (found by the probes).
    let mut limits = Limits::default();
    limits.max_alloc = Some(HEADER_BYTES);
    reader.limits(limits);
    let Ok((width, height)) = reader.into_dimensions() else {
        return Ok(None);
    };
    refuse_over_limit(width, height)?;
    if format == ImageFormat::WebP {
        // The canvas is what the reader reports; a bitstream inside says a size of its
        // own, and that is what gets decoded.
        for coded in webp::bitstreams(head) {
            refuse_over_limit(coded.width, coded.height)?;
        }
    }
    Ok(Some((width, height)))
}

/// Refuses an image of more than [`MAX_IMAGE_PIXELS`].
fn refuse_over_limit(width: u32, height: u32) -> Result<(), MediaError> {
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(MediaError::TooManyPixels { width, height });
    }
    Ok(())
}

/// A preview of an image, and the image's size as shown (after its orientation).
pub struct Preview {
    /// Pixels across, upright.
    pub width: u32,
    /// Pixels down, upright.
    pub height: u32,
    /// A JPEG (or a PNG, for images with transparency) of at most
    /// [`PREVIEW_MAX_SIDE`] pixels a side, with no metadata.
    pub bytes: Vec<u8>,
}

/// Memory reading an image's header may take.
const HEADER_BYTES: u64 = 16 << 20;

/// Bytes a decoded image of this size may take (the widest pixel this server decodes,
/// 16-bit RGBA), for budgeting memory before decoding it.
pub fn decoded_bytes(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 8
}

/// Decodes a whole image, with its EXIF orientation; `Ok(None)` when the bytes do not
/// decode. The size the decoder finds is checked again before anything is allocated for
/// it: `DynamicImage::from_decoder` allocates the whole output without asking the limits,
/// and a decoder can find a size its header scan did not (a JPEG whose frame header came
/// after 320 KB of comments was decoded at 20,000 × 20,000 pixels, 1.15 GB).
fn decode(
    format: ImageFormat,
    bytes: &[u8],
) -> Result<Option<(DynamicImage, image::metadata::Orientation)>, MediaError> {
    if format == ImageFormat::WebP {
        // A bitstream is decoded whole at the size it says before the decoder compares
        // it with the canvas: one larger than its canvas or frame is never decoded.
        for coded in webp::bitstreams(bytes) {
            refuse_over_limit(coded.width, coded.height)?;
            if !coded.fits {
                return Ok(None);
            }
        }
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Side limits on top of the pixel count: a decoder that reports one size and
    // allocates for another still stops here.
    limits.max_image_width = Some(30_000);
    limits.max_image_height = Some(30_000);
    // Until the size is known, what reading the header needs (a PNG's colour profile
    // that inflates to 240 MiB is read with the header).
    limits.max_alloc = Some(HEADER_BYTES);
    reader.limits(limits.clone());
    let Ok(mut decoder) = reader.into_decoder() else {
        return Ok(None);
    };
    let (width, height) = decoder.dimensions();
    refuse_over_limit(width, height)?;
    // The decoder may take what an image of the size it found needs, no more: a GIF of a
    // 16 × 16 screen with a 7,800 × 7,800 frame allocated 243 MB for the frame.
    limits.max_alloc = Some(decoded_bytes(width, height) + HEADER_BYTES);
    if decoder.set_limits(limits).is_err() {
        return Ok(None);
    }
    // An EXIF block that cannot be read leaves the image as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let Ok(image) = DynamicImage::from_decoder(decoder) else {
        return Ok(None);
    };
    Ok(Some((image, orientation)))
}

/// A small image as stored and served: a PNG when it has transparency, else a JPEG; no
/// metadata either way. `None` if it does not encode.
fn encode(image: DynamicImage) -> Option<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    let encoded = if image.color().has_alpha() {
        image.write_to(&mut out, ImageFormat::Png)
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
        rgb.write_with_encoder(encoder)
    };
    encoded.ok().map(|()| out.into_inner())
}

/// Decodes a whole image and makes its preview; `Ok(None)` when the bytes do not decode
/// (the file is still stored, without a preview). CPU-bound: run it on a blocking thread.
pub fn preview(format: ImageFormat, bytes: &[u8]) -> Result<Option<Preview>, MediaError> {
    let Some((image, orientation)) = decode(format, bytes)? else {
        return Ok(None);
    };
    let (width, height) = (image.width(), image.height());
    // Turned upright after it was made small: turning the whole image first would copy
    // all of it once more.
    let mut small = image.thumbnail(PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE);
    drop(image);
    small.apply_orientation(orientation);
    let (width, height) = match orientation {
        image::metadata::Orientation::Rotate90
        | image::metadata::Orientation::Rotate270
        | image::metadata::Orientation::Rotate90FlipH
        | image::metadata::Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    };
    Ok(encode(small).map(|bytes| Preview {
        width,
        height,
        bytes,
    }))
}

/// The most pixels a side of the preview an encrypted file's sealed message carries
/// (as WhatsApp's messages carry a small thumbnail): small enough to travel inside the
/// message, which the server cannot make one from.
pub const INLINE_PREVIEW_SIDE: u32 = 96;

/// A preview made smaller still, to travel inside an encrypted message: at most
/// [`INLINE_PREVIEW_SIDE`] pixels a side, no metadata; `None` if it does not decode.
/// Made from a [`preview`], which is upright already.
pub fn inline_preview(preview: &[u8]) -> Option<Vec<u8>> {
    let format = image::guess_format(preview).ok()?;
    let (image, _) = decode(format, preview).ok()??;
    encode(image.thumbnail(INLINE_PREVIEW_SIDE, INLINE_PREVIEW_SIDE))
}

/// A profile picture made of an image: its middle square, `side` pixels a side,
/// upright, without metadata (a PNG with transparency, else a JPEG); `Ok(None)` when the
/// bytes do not decode. CPU-bound: run it on a blocking thread.
pub fn square(format: ImageFormat, bytes: &[u8], side: u32) -> Result<Option<Vec<u8>>, MediaError> {
    let Some((image, orientation)) = decode(format, bytes)? else {
        return Ok(None);
    };
    let edge = image.width().min(image.height());
    // The middle square turned is the turned image's middle square: turn it once small.
    let middle = image.crop_imm(
        (image.width() - edge) / 2,
        (image.height() - edge) / 2,
        edge,
        edge,
    );
    drop(image);
    let mut small = middle.resize_exact(side, side, image::imageops::FilterType::Triangle);
    drop(middle);
    small.apply_orientation(orientation);
    Ok(encode(small))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        DynamicImage::new_rgb8(width, height)
            .write_to(&mut out, ImageFormat::Png)
            .expect("a PNG encodes");
        out.into_inner()
    }

    #[test]
    fn the_bytes_decide_the_type() {
        let png = png(4, 4);
        assert_eq!(
            checked_type("image/png", &png).expect("accepted"),
            "image/png"
        );
        assert_eq!(
            checked_type("application/octet-stream", &png).expect("accepted"),
            "image/png"
        );
        assert!(matches!(
            checked_type("image/jpeg", &png),
            Err(MediaError::Mismatch { .. })
        ));
        assert!(matches!(
            checked_type("application/pdf", b"just some text"),
            Err(MediaError::Mismatch { .. })
        ));
        assert_eq!(
            checked_type("text/plain", b"just some text").expect("accepted"),
            "text/plain"
        );
        assert_eq!(normalize("Image/JPG; q=1"), "image/jpeg");
    }

    #[test]
    fn pages_and_scripts_are_served_as_bytes() {
        for active in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "text/xml",
            "text/jscript",
            "text/livescript",
            "text/vbscript",
            "text/xsl",
            "application/pdf",
        ] {
            assert_eq!(served_type(active), "application/octet-stream", "{active}");
        }
        assert_eq!(served_type("image/png"), "image/png");
        assert_eq!(served_type("text/plain"), "text/plain");
    }

    #[test]
    fn previews_are_small_and_measured() {
        let png = png(1000, 500);
        assert_eq!(
            measure(ImageFormat::Png, &png[..64]).expect("small enough"),
            Some((1000, 500))
        );
        let preview = preview(ImageFormat::Png, &png)
            .expect("small enough")
            .expect("a preview");
        assert_eq!((preview.width, preview.height), (1000, 500));
        let small = image::load_from_memory(&preview.bytes).expect("the preview decodes");
        assert_eq!((small.width(), small.height()), (320, 160));
        let inline = inline_preview(&preview.bytes).expect("an inline preview");
        let tiny = image::load_from_memory(&inline).expect("the inline preview decodes");
        assert_eq!((tiny.width(), tiny.height()), (96, 48));
        assert!(inline.len() < preview.bytes.len());
        assert_eq!(inline_preview(b"not an image"), None);
    }

    /// A JPEG whose frame header says `width` × `height` (a small image with its header
    /// rewritten: nothing this size is ever encoded) and comes after `padding` bytes of
    /// comment segments, so a scan of the file's start cannot measure it.
    fn jpeg_measured_late(width: u16, height: u16, padding: usize) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        DynamicImage::new_rgb8(16, 16)
            .write_to(&mut out, ImageFormat::Jpeg)
            .expect("a JPEG encodes");
        let mut jpeg = out.into_inner();
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline frame header");
        // Marker (2), length (2), precision (1), then height and width.
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        let mut padded = jpeg[..2].to_vec();
        let comment = vec![b'x'; 65_000];
        let mut left = padding;
        while left > 0 {
            let take = left.min(comment.len());
            padded.extend_from_slice(&[0xFF, 0xFE]);
            padded.extend_from_slice(&u16::try_from(take + 2).expect("short").to_be_bytes());
            padded.extend_from_slice(&comment[..take]);
            left -= take;
        }
        padded.extend_from_slice(&jpeg[2..]);
        padded
    }

    #[test]
    fn a_late_frame_header_is_still_measured_before_decoding() {
        // 8,000 × 7,000 is 56 megapixels, over the limit; its frame header is past the
        // first 256 KiB, where a scan of the head does not see it.
        let bomb = jpeg_measured_late(8_000, 7_000, 320_000);
        assert_eq!(
            measure(ImageFormat::Jpeg, &bomb[..256 * 1024]).expect("no size seen"),
            None
        );
        assert!(matches!(
            preview(ImageFormat::Jpeg, &bomb),
            Err(MediaError::TooManyPixels {
                width: 8_000,
                height: 7_000
            })
        ));
        // Measured from the whole file, the size is found and refused.
        assert!(matches!(
            measure(ImageFormat::Jpeg, &bomb),
            Err(MediaError::TooManyPixels { .. })
        ));
    }
}
