//! Deterministic pseudo-random benchmark inputs.

/// A seeded xorshift generator of 64-bit words.
pub fn words(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// `n` xorshift values in [-1, 1) from `seed`.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut next = words(seed);
    (0..n)
        .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}
