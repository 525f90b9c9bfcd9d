//! CPU kernel of [`crate::Tensor::snake`]: one channel row at a time, its two parameters
//! read once per row.

use crate::{Result, Tensor};

/// See [`Tensor::snake`].
pub fn snake(x: &Tensor, alpha: &Tensor, inv_beta: &Tensor) -> Result<Tensor> {
    let c = x.shape()[1];
    let spatial: usize = x.shape()[2..].iter().product();
    let v = x.cpu_f32()?;
    let (a, ib) = (alpha.cpu_f32()?, inv_beta.cpu_f32()?);
    let mut out = vec![0.0f32; v.len()];
    super::for_rows(&mut out, spatial, |r, row| {
        let (a, ib) = (a[r % c], ib[r % c]);
        for (o, &x) in row.iter_mut().zip(&v[r * spatial..][..spatial]) {
            let s = (a * x).sin();
            *o = x + s * s * ib;
        }
    });
    Tensor::from_vec(out, x.shape())
}
