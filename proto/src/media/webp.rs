//! The sizes a WebP file's bitstreams are coded at, read from its RIFF chunks without
//! decoding anything. An extended WebP (`VP8X`) says its canvas size, which is what the
//! `image` crate reports and what the server measures and budgets a preview by; each
//! `VP8 `/`VP8L` bitstream then says a size of its own, and the decoder decodes the
//! bitstream whole at that size before it compares the two. A canvas of 16 × 16 holding
//! a 12,000 × 12,000 bitstream of 1.6 MB cost 216 MB per file (found by the probes), so a
//! bitstream larger than what holds it is refused before decoding.

/// One coded image in the file: its size, and whether it fits what holds it (the canvas,
/// or its animation frame, which must itself lie within the canvas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bitstream {
    pub width: u32,
    pub height: u32,
    pub fits: bool,
}

/// Every bitstream whose header lies within `bytes` (a file's head is enough for a
/// still image; animation frames further on are found in the whole file).
pub(super) fn bitstreams(bytes: &[u8]) -> Vec<Bitstream> {
    let mut found = Vec::new();
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        let mut canvas = None;
        for (kind, payload) in chunks(&bytes[12..]) {
            match kind {
                b"VP8X" if payload.len() >= 10 => {
                    canvas = Some((u24(&payload[4..]) + 1, u24(&payload[7..]) + 1));
                }
                b"ANMF" if payload.len() >= 16 => {
                    let (x, y) = (u24(payload) * 2, u24(&payload[3..]) * 2);
                    let frame = (u24(&payload[6..]) + 1, u24(&payload[9..]) + 1);
                    let within = canvas.is_some_and(|(w, h)| x + frame.0 <= w && y + frame.1 <= h);
                    for (kind, payload) in chunks(&payload[16..]) {
                        if let Some(size) = coded_size(kind, payload) {
                            found.push(held(size, Some(frame), within));
                        }
                    }
                }
                _ => {
                    if let Some(size) = coded_size(kind, payload) {
                        found.push(held(size, canvas, true));
                    }
                }
            }
        }
    }
    found
}

/// A bitstream of `size` in `holder` (none: it is the whole image).
fn held(size: (u32, u32), holder: Option<(u32, u32)>, holder_fits: bool) -> Bitstream {
    let fits = holder_fits && holder.is_none_or(|(w, h)| size.0 <= w && size.1 <= h);
    Bitstream {
        width: size.0,
        height: size.1,
        fits,
    }
}

/// The size a `VP8 ` (lossy) or `VP8L` (lossless) chunk's header says.
fn coded_size(kind: &[u8], payload: &[u8]) -> Option<(u32, u32)> {
    match kind {
        // A frame tag (3 bytes), the start code, then 14-bit width and height (the top
        // two bits of each are a scale for display, not the coded size).
        b"VP8 " if payload.len() >= 10 && payload[3..6] == [0x9d, 0x01, 0x2a] => Some((
            u32::from(u16::from_le_bytes([payload[6], payload[7]]) & 0x3fff),
            u32::from(u16::from_le_bytes([payload[8], payload[9]]) & 0x3fff),
        )),
        // A signature byte, then width − 1 and height − 1 in 14 bits each.
        b"VP8L" if payload.len() >= 5 && payload[0] == 0x2f => {
            let bits = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        _ => None,
    }
}

/// The chunks in `bytes` as (kind, payload), the last one cut short where `bytes` ends.
fn chunks(mut bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        if bytes.len() < 8 {
            return None;
        }
        let (kind, rest) = bytes.split_at(4);
        let size = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let rest = &rest[4..];
        let payload = &rest[..size.min(rest.len())];
        // Chunks are padded to an even length.
        bytes = rest
            .get(size.saturating_add(size & 1)..)
            .unwrap_or_default();
        Some((kind, payload))
    })
}

fn u24(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn riff(chunks: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"WEBP".to_vec();
        for (kind, data) in chunks {
            body.extend_from_slice(kind);
            body.extend_from_slice(&u32::try_from(data.len()).expect("small").to_le_bytes());
            body.extend_from_slice(data);
            if data.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&u32::try_from(body.len()).expect("small").to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    fn vp8(width: u16, height: u16) -> Vec<u8> {
        let mut data = vec![0x10, 0, 0, 0x9d, 0x01, 0x2a];
        data.extend_from_slice(&width.to_le_bytes());
        data.extend_from_slice(&height.to_le_bytes());
        data.extend_from_slice(&[0; 7]);
        data
    }

    fn canvas(width: u32, height: u32) -> Vec<u8> {
        let mut data = vec![0; 4];
        data.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        data.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
        data
    }

    #[test]
    fn a_plain_image_is_its_own_canvas() {
        let file = riff(&[(b"VP8 ", vp8(640, 480))]);
        assert_eq!(
            bitstreams(&file),
            [Bitstream {
                width: 640,
                height: 480,
                fits: true
            }]
        );
        let mut lossless = vec![0x2f];
        lossless.extend_from_slice(&(99 | (49 << 14) as u32).to_le_bytes());
        let file = riff(&[(b"VP8L", lossless)]);
        assert_eq!(
            bitstreams(&file),
            [Bitstream {
                width: 100,
                height: 50,
                fits: true
            }]
        );
    }

    #[test]
    fn a_bitstream_larger_than_its_canvas_does_not_fit() {
        let file = riff(&[(b"VP8X", canvas(16, 16)), (b"VP8 ", vp8(12_000, 12_000))]);
        assert_eq!(
            bitstreams(&file),
            [Bitstream {
                width: 12_000,
                height: 12_000,
                fits: false
            }]
        );
        let file = riff(&[(b"VP8X", canvas(64, 64)), (b"VP8 ", vp8(64, 64))]);
        assert!(bitstreams(&file).iter().all(|b| b.fits));
    }

    #[test]
    fn animation_frames_fit_their_frame_and_the_canvas() {
        let frame = |x: u32, w: u32, inner: Vec<u8>| {
            let mut data = Vec::new();
            data.extend_from_slice(&(x / 2).to_le_bytes()[..3]);
            data.extend_from_slice(&[0; 3]);
            data.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
            data.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
            data.extend_from_slice(&[0; 4]);
            data.extend_from_slice(b"VP8 ");
            data.extend_from_slice(&u32::try_from(inner.len()).expect("small").to_le_bytes());
            data.extend_from_slice(&inner);
            data
        };
        let file = riff(&[
            (b"VP8X", canvas(100, 100)),
            (b"ANMF", frame(0, 50, vp8(50, 50))),
            (b"ANMF", frame(0, 50, vp8(5_000, 5_000))),
            (b"ANMF", frame(80, 50, vp8(50, 50))),
        ]);
        let fits: Vec<bool> = bitstreams(&file).iter().map(|b| b.fits).collect();
        assert_eq!(fits, [true, false, false]);
    }

    #[test]
    fn cut_and_foreign_bytes_say_nothing() {
        let file = riff(&[(b"VP8X", canvas(16, 16)), (b"VP8 ", vp8(640, 480))]);
        for end in 0..file.len() {
            // Never panics on a cut file; a cut header is not counted.
            assert!(bitstreams(&file[..end]).len() <= 1);
        }
        assert!(bitstreams(b"not a webp at all, just bytes").is_empty());
    }
}
