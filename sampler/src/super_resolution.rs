//! The super-resolution stage's latent preparation: align-corners trilinear upsampling,
//! the zero-SNR re-noising table and the audio context mix.

use happyhorse_tensor::{ensure, Result, Tensor};

/// The 1000-entry signal-scale table of the zero-SNR DDPM discretization (the reference
/// calls it "sigmas"): entry i scales the clean latent, entry 0 ≈ 0.99957, entry 999 = 0.
pub fn zero_snr_table() -> Vec<f32> {
    let (a, b) = (0.00085f64.sqrt(), 0.012f64.sqrt());
    let mut prod = 1.0f64;
    let q: Vec<f32> = (0..1000)
        .map(|i| {
            let beta = (a + i as f64 * (b - a) / 999.0).powi(2);
            prod *= 1.0 - beta;
            (prod as f32).sqrt()
        })
        .collect();
    let (q0, qn) = (q[0], q[999]);
    let k = q0 / (q0 - qn);
    q.iter().map(|&qi| (qi - qn) * k).collect()
}

/// The `[m, n]` matrix of 1-D linear interpolation with `align_corners = True`: output j
/// reads source position j·(n − 1)/(m − 1).
fn align_corners_matrix(n: usize, m: usize) -> Vec<f32> {
    let mut w = vec![0.0f32; m * n];
    for j in 0..m {
        let s = if m > 1 {
            j as f32 * (n as f32 - 1.0) / (m as f32 - 1.0)
        } else {
            0.0
        };
        let i0 = (s.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        let f = s - i0 as f32;
        w[j * n + i0] += 1.0 - f;
        w[j * n + i1] += f;
    }
    w
}

/// Trilinear resize of `[B, C, T, H, W]` to `(T, Hs, Ws)` with `align_corners = True`;
/// the frame count must stay. Runs as two small matmuls on the latent's device.
pub fn upsample_latent(x: &Tensor, hs: usize, ws: usize) -> Result<Tensor> {
    ensure!(
        x.rank() == 5,
        "SR upsampling needs [B, C, T, H, W], got {:?}",
        x.shape()
    );
    let s = x.shape().to_vec();
    let (h, w) = (s[3], s[4]);
    ensure!(
        h > 0 && w > 0 && hs > 0 && ws > 0,
        "SR upsampling of an empty latent {s:?}"
    );
    let dev = x.device();
    let mh = Tensor::from_vec(align_corners_matrix(h, hs), &[hs, h])?.to_device(dev)?;
    let mw = Tensor::from_vec(align_corners_matrix(w, ws), &[ws, w])?.to_device(dev)?;
    // Along W: [.., H, W] @ mwᵀ [W, Ws].
    let y = x.matmul(&mw.transpose(0, 1)?)?;
    // Along H: mh [Hs, H] @ [.., H, Ws].
    mh.broadcast_as(&[s[0], s[1], s[2], hs, h])?.matmul(&y)
}

/// `c·x_up + √(1 − c²)·noise` with `c = table[noise_value]`; returns (start latent, c).
pub fn renoise(x_up: &Tensor, noise: &Tensor, noise_value: usize) -> Result<(Tensor, f32)> {
    let table = zero_snr_table();
    ensure!(
        noise_value < table.len(),
        "noise_value {noise_value} is outside 0..999"
    );
    let c = table[noise_value];
    let n = (1.0 - c * c).sqrt();
    Ok((x_up.scale(c)?.add(&noise.scale(n)?)?, c))
}

/// The audio the SR forwards see: `scale·noise + (1 − scale)·audio`.
pub fn audio_context(audio: &Tensor, noise: &Tensor, scale: f32) -> Result<Tensor> {
    noise.scale(scale)?.add(&audio.scale(1.0 - scale)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_snr_table_ends_and_reference_entry() {
        let t = zero_snr_table();
        assert!((t[0] - 0.999_575).abs() < 1e-6, "{}", t[0]);
        assert_eq!(t[999], 0.0);
        assert!((t[220] - 0.838_910_4).abs() < 1e-6, "{}", t[220]);
    }

    #[test]
    fn align_corners_keeps_the_corner_values() {
        let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[1, 1, 1, 2, 3]).unwrap();
        let y = upsample_latent(&x, 3, 5).unwrap().to_vec().unwrap();
        assert_eq!(y.len(), 15);
        assert_eq!((y[0], y[4], y[10], y[14]), (0.0, 2.0, 3.0, 5.0));
        assert!((y[7] - 2.5).abs() < 1e-6); // centre: mean of the four middle-row taps
    }
}
