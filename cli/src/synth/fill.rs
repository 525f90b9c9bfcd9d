//! Seeded random tensor values, computed for any range of elements on its own.
//!
//! Element `i` of a tensor is a hash of the seed, the tensor's key and `i` (splitmix64 in
//! counter form), so a tensor can be filled chunk by chunk, in any order and by any number
//! of threads, and the values are exactly those [`happyhorse_nn::weights::random_tensor`]
//! draws for the same seed and key: matrices and kernels uniform in ±1/√fan_in, vectors
//! around one (gains: keys ending in `weight`, `gamma` or `scale`) or around zero.

use happyhorse_tensor::DType;

/// The splitmix64 increment.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// How the values of one tensor are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRule {
    /// The generator state before element 0.
    start: u64,
    /// Values are `offset + scale · u` with `u` uniform in [-1, 1).
    offset: f32,
    scale: f32,
}

impl ValueRule {
    /// The rule of the tensor `key` of `shape` under `seed`.
    pub fn new(seed: u64, key: &str, shape: &[usize]) -> ValueRule {
        let start = key_seed(seed, key);
        let per_channel = shape.len() < 2 || shape[1..].iter().all(|&d| d == 1);
        let (offset, scale) = if !per_channel {
            let fan_in: usize = shape[1..].iter().product();
            (0.0, 1.0 / (fan_in.max(1) as f32).sqrt())
        } else if ["weight", "gamma", "scale"]
            .iter()
            .any(|s| key.ends_with(s))
        {
            (1.0, 0.1)
        } else {
            (0.0, 0.02)
        };
        ValueRule {
            start,
            offset,
            scale,
        }
    }

    /// Element `index` of the tensor.
    #[inline]
    pub fn value(&self, index: u64) -> f32 {
        let mut z = self
            .start
            .wrapping_add(GAMMA.wrapping_mul(index.wrapping_add(1)));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // The top 24 bits over 2^23, less one: exact, and through a 32-bit conversion.
        let u = (z >> 40) as u32 as f32 * (1.0 / (1u32 << 23) as f32) - 1.0;
        if self.offset == 0.0 {
            u * self.scale
        } else {
            self.offset + self.scale * u
        }
    }

    /// Writes elements `first..` into `out` as little-endian `dtype` (f32 or bf16), as
    /// many as `out` holds.
    pub fn fill(&self, dtype: DType, first: u64, out: &mut [u8]) {
        match dtype {
            DType::BF16 => {
                for (i, b) in out.chunks_exact_mut(2).enumerate() {
                    b.copy_from_slice(&round_to_bf16(self.value(first + i as u64)).to_le_bytes());
                }
            }
            _ => {
                for (i, b) in out.chunks_exact_mut(4).enumerate() {
                    b.copy_from_slice(&self.value(first + i as u64).to_le_bytes());
                }
            }
        }
    }
}

/// The bf16 bits nearest to the finite `v` (ties to even), as `half` rounds.
#[inline]
fn round_to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// FNV-1a of a key, mixed with the seed.
fn key_seed(seed: u64, key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64 ^ seed, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;
    use happyhorse_nn::weights::random_tensor;

    #[test]
    fn values_are_those_of_random_tensor_in_any_chunking() {
        for (key, shape) in [
            ("block.layers.0.attention.linear_qkv.weight", vec![24, 16]),
            ("decoder.conv_in.conv.weight", vec![4, 3, 3, 3, 3]),
            ("encoder.norm.weight", vec![32]),
            ("decoder.layers.0.bias", vec![32]),
            (
                "pretransform.model.decoder.layers.1.weight_g",
                vec![8, 1, 1],
            ),
        ] {
            let want = random_tensor(7, key, &shape).unwrap().to_vec().unwrap();
            let rule = ValueRule::new(7, key, &shape);
            let mut bytes = vec![0u8; want.len() * 4];
            let (a, b) = bytes.split_at_mut(20);
            rule.fill(DType::F32, 5, b);
            rule.fill(DType::F32, 0, a);
            let got: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(got, want, "{key}");
            let mut half = vec![0u8; want.len() * 2];
            rule.fill(DType::BF16, 0, &mut half);
            let want_bf16: Vec<u8> = want
                .iter()
                .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                .collect();
            assert_eq!(half, want_bf16, "{key} as bf16");
        }
    }
}
