//! CPU kernel of the rotary embedding.

use crate::{Result, Tensor};

/// See [`Tensor::rope`].
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (l, h, d) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let r = *cos.shape().last().unwrap();
    let per_batch = cos.rank() == 3;
    let (c, s) = (cos.cpu_f32()?, sin.cpu_f32()?);
    let mut out = x.cpu_f32()?.into_owned();
    super::for_rows(&mut out, d, |row, v| {
        let tok = row / h; // b * L + t
        let t = if per_batch { tok } else { tok % l };
        rotate_half(v, &c[t * r..(t + 1) * r], &s[t * r..(t + 1) * r]);
    });
    Tensor::from_vec(out, x.shape())
}

/// Rotates the pairs `(i, i + R)` of one head in place by the angles' cosines `c` and
/// sines `s` (`R` each).
pub(crate) fn rotate_half(v: &mut [f32], c: &[f32], s: &[f32]) {
    let r = c.len();
    for i in 0..r {
        let (a, b) = (v[i], v[i + r]);
        v[i] = a * c[i] - b * s[i];
        v[i + r] = b * c[i] + a * s[i];
    }
}
