//! What checking an image costs in memory, counted by an instrumented global allocator:
//! a small file that lies about its size must cost what its honest size would, not what
//! the lie describes (each case was found by the issue-26 probes against a release
//! server, where it cost 200 MB or more per file). One test runs the cases in turn, so no
//! other test's thread allocates while a peak is counted.

use std::{borrow::Cow, io::Write};

use ferry_proto::media::{MediaError, measure, preview};
use image::ImageFormat;
use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};

#[global_allocator]
static GLOBAL: &PeakMemAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// What measuring and previewing a 16 × 16 image may take: the header allowance
/// (16 MiB) and the small image, with room for the decoders' own tables.
const BOUND: usize = 40 << 20;

/// The most memory `work` had allocated at once, on top of what was allocated before.
fn peak_of<T>(work: impl FnOnce() -> T) -> (T, usize) {
    GLOBAL.reset_peak_memory();
    let out = work();
    (out, GLOBAL.get_peak_memory())
}

/// Measures and previews `file` as the server does, returning the preview's size (if
/// one was made) and the peak of the two steps.
fn check(format: ImageFormat, file: &[u8]) -> (Result<Option<(u32, u32)>, MediaError>, usize) {
    peak_of(|| {
        measure(format, file)?;
        Ok(preview(format, file)?.map(|p| (p.width, p.height)))
    })
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// `zeros` zero bytes, compressed with zlib a mebibyte at a time.
fn zlib(zeros: usize) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0; zeros.min(1 << 20)];
    let mut left = zeros;
    while left > 0 {
        let take = left.min(block.len());
        encoder.write_all(&block[..take]).expect("in memory");
        left -= take;
    }
    encoder.finish().expect("in memory")
}

/// A black 16 × 16 PNG, with a colour profile (`iCCP`) of `profile` zero bytes.
fn png_with_profile(profile: Option<usize>) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(
        &mut out,
        b"IHDR",
        &[0, 0, 0, 16, 0, 0, 0, 16, 8, 2, 0, 0, 0],
    );
    if let Some(zeros) = profile {
        let mut data = b"icc\0\0".to_vec();
        data.extend_from_slice(&zlib(zeros));
        png_chunk(&mut out, b"iCCP", &data);
    }
    png_chunk(&mut out, b"IDAT", &zlib(16 * (16 * 3 + 1)));
    png_chunk(&mut out, b"IEND", b"");
    out
}

/// A GIF whose logical screen is `screen` × `screen`, holding one blank frame of
/// `frame` × `frame` at its top left.
fn gif(screen: u16, frame: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder =
        gif::Encoder::new(&mut out, screen, screen, &[0, 0, 0, 255, 255, 255]).expect("in memory");
    let pixels = vec![0u8; usize::from(frame) * usize::from(frame)];
    encoder
        .write_frame(&gif::Frame {
            width: frame,
            height: frame,
            buffer: Cow::Borrowed(&pixels),
            ..gif::Frame::default()
        })
        .expect("in memory");
    drop(encoder);
    out
}

/// A VP8 key frame of `width` × `height` whose two partitions are zeros: a boolean
/// decoder reading zeros reads every flag as 0, so the frame decodes whole from about
/// 1.5 bytes a macroblock (the probes' `vp8_blank`).
fn vp8_blank(width: u16, height: u16) -> Vec<u8> {
    let blocks = usize::from(width.div_ceil(16)) * usize::from(height.div_ceil(16));
    let first = (blocks * 9 / 10 + 256).min(524_287);
    let second = blocks * 2 + 256;
    let tag = (1 << 4) | (u32::try_from(first).expect("19 bits") << 5);
    let mut out = tag.to_le_bytes()[..3].to_vec();
    out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.resize(out.len() + first + second, 0);
    out
}

fn riff_webp(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = b"WEBP".to_vec();
    for (kind, data) in chunks {
        body.extend_from_slice(*kind);
        body.extend_from_slice(&u32::try_from(data.len()).expect("small").to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// An extended WebP whose canvas says `canvas` × `canvas`, holding `bitstream`.
fn webp_in_canvas(canvas: u32, bitstream: &[u8]) -> Vec<u8> {
    let mut vp8x = vec![0; 4];
    vp8x.extend_from_slice(&(canvas - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(canvas - 1).to_le_bytes()[..3]);
    riff_webp(&[(b"VP8X", &vp8x), (b"VP8 ", bitstream)])
}

#[test]
fn lying_images_cost_what_their_honest_size_would() {
    // Controls: each writer's honest small image is measured and previewed, so a bomb
    // below is refused for its lie, not for being malformed.
    let (plain, _) = check(ImageFormat::Png, &png_with_profile(None));
    assert_eq!(plain, Ok(Some((16, 16))));
    let (small_gif, _) = check(ImageFormat::Gif, &gif(64, 64));
    assert_eq!(small_gif, Ok(Some((64, 64))));
    let small_webp = riff_webp(&[(b"VP8 ", &vp8_blank(64, 64))]);
    let (small_webp, _) = check(ImageFormat::WebP, &small_webp);
    assert_eq!(small_webp, Ok(Some((64, 64))));
    let (canvas_webp, _) = check(ImageFormat::WebP, &webp_in_canvas(64, &vp8_blank(64, 64)));
    assert_eq!(canvas_webp, Ok(Some((64, 64))));

    // A colour profile inflating to 128 MiB, read with the header.
    let bomb = png_with_profile(Some(128 << 20));
    let (_, peak) = check(ImageFormat::Png, &bomb);
    assert!(peak < BOUND, "PNG profile bomb: {} MiB", peak >> 20);

    // A 16 × 16 screen whose frame is 7,800 × 7,800 (61 megapixels, 243 MB decoded).
    let bomb = gif(16, 7_800);
    let (_, peak) = check(ImageFormat::Gif, &bomb);
    assert!(peak < BOUND, "GIF frame bomb: {} MiB", peak >> 20);

    // A 16 × 16 canvas holding a 6,000 × 6,000 bitstream (36 megapixels, under the
    // limit, so only the comparison with the canvas refuses it): no preview.
    let bomb = webp_in_canvas(16, &vp8_blank(6_000, 6_000));
    let (made, peak) = check(ImageFormat::WebP, &bomb);
    assert_eq!(made, Ok(None));
    assert!(peak < BOUND, "WebP canvas bomb: {} MiB", peak >> 20);

    // Over the limit, the bitstream's own size refuses it when it is measured.
    let bomb = webp_in_canvas(16, &vp8_blank(12_000, 12_000));
    let (refused, peak) = check(ImageFormat::WebP, &bomb);
    assert_eq!(
        refused,
        Err(MediaError::TooManyPixels {
            width: 12_000,
            height: 12_000
        })
    );
    assert!(peak < BOUND, "WebP over the limit: {} MiB", peak >> 20);
}
