//! Made-up parameters: seeded random values for an untrained model, and zero-stride
//! placeholders for memory planning.

use happyhorse_tensor::{DType, Result, Tensor};

/// Made-up weights, for benchmarks and memory planning without a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synthetic {
    /// Seeded random weights ([`random_tensor`]).
    Random(u64),
    /// One shared zero per tensor (zero-stride views): the structure without the memory.
    Placeholder,
}

/// One shared zero of `dtype` viewed as `shape` (every stride zero).
pub(super) fn placeholder(shape: &[usize], dtype: DType) -> Result<Tensor> {
    let one = Tensor::zeros(&[1])?;
    let one = if dtype == DType::F32 {
        one
    } else {
        one.to_dtype(dtype)?
    };
    one.reshape(&vec![1; shape.len()])?.broadcast_as(shape)
}

/// FNV-1a of a key, mixed with the seed.
fn key_seed(seed: u64, key: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Deterministic parameters for an untrained model, from the seed and the key alone:
/// matrices and kernels uniform in ±1/√fan_in (PyTorch's default init bound); vectors
/// (norm gains, biases, per-channel scales, also when stored as `[C, 1, 1, 1]`) small values
/// around zero, or around one for gains (keys ending in `weight`, `gamma` or `scale`), so
/// `(1 + w)` gains and plain gains both stay sane.
pub fn random_tensor(seed: u64, key: &str, shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut state = key_seed(seed, key);
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let per_channel = shape.len() < 2 || shape[1..].iter().all(|&d| d == 1);
    let data: Vec<f32> = if !per_channel {
        let fan_in: usize = shape[1..].iter().product();
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        (0..n).map(|_| next() * bound).collect()
    } else {
        let gain = key.ends_with("weight") || key.ends_with("gamma") || key.ends_with("scale");
        (0..n)
            .map(|_| {
                if gain {
                    1.0 + 0.1 * next()
                } else {
                    0.02 * next()
                }
            })
            .collect()
    };
    Tensor::from_vec(data, shape)
}
