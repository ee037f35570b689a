//! What the image viewer may show. It shows the original image, as a `data:` URL, and
//! WebKit decodes an image whole, at four bytes a pixel, however small its file: a
//! 30,000 × 30,000 PNG of a few hundred kilobytes would take 3.6 GB. The server refuses
//! images over `MAX_IMAGE_PIXELS` when it can measure them, but it measures only the
//! types it makes previews of, and this device need not trust any server. So the viewer
//! measures the image itself, from its header, by the rules the server uses
//! (`ferry_proto::media`), and shows only an image of at most `MAX_IMAGE_PIXELS` (50
//! megapixels, 200 MB decoded: a 48-megapixel phone photo still shows). Any other image
//! ([`NotShown`]) stays the preview, and the viewer says to Open or Save it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ferry_client::ErrorKind;
use ferry_proto::ErrorCode;
use ferry_proto::media::{MediaError, measure, previewable};

use crate::error::CommandError;

/// The largest file the viewer reads whole (its `data:` URL is a third larger).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Image bytes as a `data:` URL (previews are JPEG or PNG; the viewer's the original).
pub(crate) fn data_url(bytes: &[u8]) -> String {
    let kind = infer::get(bytes).map_or("application/octet-stream", |t| t.mime_type());
    format!("data:{kind};base64,{}", BASE64.encode(bytes))
}

/// Why the viewer does not show an image.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotShown {
    /// More pixels than WebKit may decode here.
    #[error("This image is {width} × {height} pixels, too large to show here; Open or Save it")]
    TooLarge {
        /// Pixels across.
        width: u32,
        /// Pixels down.
        height: u32,
    },
    /// A file over [`MAX_BYTES`].
    #[error("This image is too large to show here; Open or Save it")]
    TooManyBytes,
    /// Not a type the viewer can measure (JPEG, PNG, GIF, WebP), or a header that does not
    /// say its size.
    #[error("Ferry cannot tell this image's size, so it does not show it here; Open or Save it")]
    Unmeasured,
}

impl From<NotShown> for CommandError {
    fn from(e: NotShown) -> Self {
        let code = match e {
            NotShown::TooLarge { .. } | NotShown::TooManyBytes => ErrorCode::ImageTooLarge,
            NotShown::Unmeasured => ErrorCode::MediaMismatch,
        };
        Self {
            kind: ErrorKind::Code(code),
            message: e.to_string(),
        }
    }
}

/// A `data:` URL of the image in `bytes`, when it is small enough to show: measured from
/// its header first, never decoded here.
pub fn shown(bytes: &[u8]) -> Result<String, NotShown> {
    let format = infer::get(bytes)
        .and_then(|kind| previewable(kind.mime_type()))
        .ok_or(NotShown::Unmeasured)?;
    match measure(format, bytes) {
        Ok(Some(_)) => Ok(data_url(bytes)),
        Ok(None) => Err(NotShown::Unmeasured),
        Err(MediaError::TooManyPixels { width, height }) => {
            Err(NotShown::TooLarge { width, height })
        }
        Err(MediaError::Mismatch { .. }) => Err(NotShown::Unmeasured),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG that says it is `width` × `height`: its signature, a header chunk and an
    /// empty data chunk (with their checksums, which decoders check), and none of the
    /// pixels, which measuring never reads.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut header = Vec::new();
        header.extend_from_slice(&width.to_be_bytes());
        header.extend_from_slice(&height.to_be_bytes());
        // 8-bit RGBA, deflate, no filter method, not interlaced.
        header.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (name, data) in [(b"IHDR", header.as_slice()), (b"IDAT", &[][..])] {
            let mut chunk = name.to_vec();
            chunk.extend_from_slice(data);
            png.extend_from_slice(&u32::try_from(data.len()).expect("short").to_be_bytes());
            png.extend_from_slice(&chunk);
            png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn an_image_of_gigapixels_is_not_handed_to_webkit() {
        assert_eq!(
            shown(&png_header(30_000, 30_000)),
            Err(NotShown::TooLarge {
                width: 30_000,
                height: 30_000
            })
        );
        let refused = CommandError::from(NotShown::TooLarge {
            width: 30_000,
            height: 30_000,
        });
        assert_eq!(refused.kind, ErrorKind::Code(ErrorCode::ImageTooLarge));
        assert!(
            refused.message.contains("Open or Save"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn a_photo_is_shown_whole() {
        // 48 megapixels, as a phone takes them.
        let photo = png_header(8_000, 6_000);
        let url = shown(&photo).expect("shown");
        assert_eq!(url, data_url(&photo));
        assert!(url.starts_with("data:image/png;base64,"), "{url}");
    }

    #[test]
    fn an_image_whose_size_cannot_be_read_is_not_shown() {
        // A BMP (no decoder here measures it), bytes that are no image, a cut header.
        let mut bmp = b"BM".to_vec();
        bmp.resize(64, 0);
        assert_eq!(shown(&bmp), Err(NotShown::Unmeasured));
        assert_eq!(shown(b"<svg onload=alert(1)>"), Err(NotShown::Unmeasured));
        assert_eq!(
            shown(&png_header(100, 100)[..20]),
            Err(NotShown::Unmeasured)
        );
    }
}
