//! How [`Tensor::pad`](crate::Tensor::pad) fills the new border, and the shapes of padding
//! and nearest upsampling.

/// How [`Tensor::pad`] fills the new border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PadMode {
    /// Zeros (or another constant: see [`Tensor::pad`]).
    Constant,
    /// Copies of the edge element.
    Replicate,
    /// Mirror without repeating the edge (PyTorch `reflect`).
    Reflect,
}

/// The shape of `shape` padded by `pads` (before, after) per dim.
pub fn padded_shape(shape: &[usize], pads: &[(usize, usize)]) -> Vec<usize> {
    shape
        .iter()
        .zip(pads)
        .map(|(&n, &(before, after))| n + before + after)
        .collect()
}

/// The shape of `shape` with its trailing `factors.len()` dims multiplied by `factors`.
pub fn upsampled_shape(shape: &[usize], factors: &[usize]) -> Vec<usize> {
    let lead = shape.len() - factors.len();
    let mut out = shape.to_vec();
    for (n, f) in out[lead..].iter_mut().zip(factors) {
        *n *= f;
    }
    out
}
