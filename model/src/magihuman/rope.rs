//! The partial 3D rotary table (the adapter's element-wise Fourier embedding).
//!
//! Per token and axis `u = (pos − center)·scale` with `scale = (ref − 1)/(size − 1)`
//! (1 when ref and size are both 1) and `center = (size − 1)/2` for h and w, 0 for t.
//! The table row is `[sin θ_t, sin θ_h, sin θ_w, cos θ_t, cos θ_h, cos θ_w]` with
//! `θ_axis[k] = u_axis·bands[k]`, all in f32 like the reference.

use happyhorse_tensor::{bail, Result};

/// The rope table `[L, 6B]` of `coords` (rows `(t, h, w, T, H, W, rT, rH, rW)`).
pub fn rope_table(coords: &[[f32; 9]], bands: &[f32]) -> Result<Vec<f32>> {
    let nb = bands.len();
    let mut out = vec![0.0f32; coords.len() * 6 * nb];
    for (row, c) in out.chunks_exact_mut(6 * nb).zip(coords) {
        for axis in 0..3 {
            let (pos, size, r) = (c[axis], c[3 + axis], c[6 + axis]);
            let scale = if r == 1.0 && size == 1.0 {
                1.0
            } else {
                (r - 1.0) / (size - 1.0)
            };
            if !scale.is_finite() {
                bail!(
                    "rope: axis {axis} of a token has size {size} and reference {r}, which gives no finite scale \
                     (v1 coordinates need at least two text tokens)"
                );
            }
            let center = if axis == 0 { 0.0 } else { (size - 1.0) / 2.0 };
            let u = (pos - center) * scale;
            for (k, &b) in bands.iter().enumerate() {
                let theta = u * b;
                // f64 evaluation of the f32 angle, rounded once.
                row[axis * nb + k] = (theta as f64).sin() as f32;
                row[(3 + axis) * nb + k] = (theta as f64).cos() as f32;
            }
        }
    }
    Ok(out)
}
