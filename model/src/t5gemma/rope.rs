//! The default rotary embedding of the encoder (transformers' `T5GemmaRotaryEmbedding`):
//! inverse frequencies, angles and their cos/sin are float32 values, as the reference
//! computes them even when the model runs in another dtype.

use happyhorse_tensor::{Device, Result, Tensor};

/// Half tables `[seq, head_dim / 2]` of cos and sin for positions `0..seq`, as the rope op
/// takes them (rotate-half pairs `(i, i + head_dim / 2)`).
pub fn rotary_tables(
    head_dim: usize,
    theta: f64,
    seq: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let base = theta as f32;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(seq * half);
    let mut sin = Vec::with_capacity(seq * half);
    for pos in 0..seq {
        for &f in &inv_freq {
            let angle = (pos as f32 * f) as f64;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let cos = Tensor::from_vec(cos, &[seq, half])?.to_device(device)?;
    let sin = Tensor::from_vec(sin, &[seq, half])?.to_device(device)?;
    Ok((cos, sin))
}

/// The full `[1, seq, head_dim]` table transformers exposes (`cat(t, t)` of a half table).
pub fn full_table(half: &Tensor) -> Result<Tensor> {
    Tensor::cat(&[half, half], 1)?.unsqueeze(0)
}
