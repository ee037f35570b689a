//! [`noise`]: file contents for the attachment tests, the same for a seed, that no
//! compressor shrinks (so a proxy, a disk and a chunk size see them as they are).

/// `len` bytes of a linear congruential sequence seeded with `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}
