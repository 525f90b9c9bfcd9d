//! The seeded noise generator.
//!
//! Philox4x32-10 (a counter-based generator: Salmon et al., SC'11) keyed by the 64-bit
//! seed gives uniform 32-bit words; pairs of 53-bit uniforms in (−1, 1) become standard
//! normals by Marsaglia's polar method. The logarithm is computed here from IEEE basic
//! operations only, so the same seed gives the same bits on every platform and backend
//! (noise is drawn on the host and uploaded).

use happyhorse_tensor::{Result, Tensor};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox4x32 with ten rounds.
fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// ln(x) for finite x > 0 from basic IEEE operations: x = m·2^e with m in [√½, √2),
/// ln x = e·ln 2 + 2·atanh((m − 1)/(m + 1)).
pub fn portable_ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    while term.abs() > 1e-18 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    e as f64 * std::f64::consts::LN_2 + 2.0 * sum
}

/// A stream of standard-normal f32 values from a seed.
pub struct NoiseRng {
    key: [u32; 2],
    counter: u64,
    buffer: Vec<u32>,
}

impl NoiseRng {
    /// A generator keyed by `seed`, at the start of its stream.
    pub fn new(seed: u64) -> NoiseRng {
        NoiseRng {
            key: [seed as u32, (seed >> 32) as u32],
            counter: 0,
            buffer: Vec::new(),
        }
    }

    fn next_u32(&mut self) -> u32 {
        if self.buffer.is_empty() {
            let c = self.counter;
            self.counter += 1;
            let out = philox([c as u32, (c >> 32) as u32, 0, 0], self.key);
            self.buffer.extend(out.iter().rev());
        }
        self.buffer.pop().expect("refilled above")
    }

    /// A uniform value in (−1, 1) with 53 random bits.
    fn uniform_pm1(&mut self) -> f64 {
        let hi = (self.next_u32() >> 5) as u64; // 27 bits
        let lo = (self.next_u32() >> 6) as u64; // 26 bits
        let u = ((hi << 26) | lo) as f64 / (1u64 << 53) as f64; // [0, 1)
        2.0 * u - 1.0
    }

    /// One standard-normal value (the second of each polar pair is discarded, so each
    /// value depends only on its position in the stream).
    pub fn normal(&mut self) -> f32 {
        loop {
            let (u, v) = (self.uniform_pm1(), self.uniform_pm1());
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return (u * (-2.0 * portable_ln(s) / s).sqrt()) as f32;
            }
        }
    }

    /// A CPU tensor of standard normals, filled in row-major order.
    pub fn normal_tensor(&mut self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| self.normal()).collect();
        Tensor::from_vec(data, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_the_published_known_answer() {
        // Random123 kat_vectors: philox4x32_10, counter and key all ones-bits.
        let out = philox([0xffff_ffff; 4], [0xffff_ffff; 2]);
        assert_eq!(out, [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
        let out = philox([0; 4], [0; 2]);
        assert_eq!(out, [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    }

    #[test]
    fn portable_ln_agrees_with_the_platform_log() {
        for &x in &[1e-300, 1e-9, 0.1, 0.5, 0.7, 1.0, 1.5, 2.0, 1e10] {
            let (a, b) = (portable_ln(x), x.ln());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0),
                "{x}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn normals_have_unit_moments_and_repeat_per_seed() {
        let mut r = NoiseRng::new(42);
        let v: Vec<f64> = (0..200_000).map(|_| r.normal() as f64).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.015, "var {var}");
        let mut r2 = NoiseRng::new(42);
        assert_eq!(r2.normal() as f64, v[0]);
        assert_ne!(NoiseRng::new(43).normal() as f64, v[0]);
    }
}
