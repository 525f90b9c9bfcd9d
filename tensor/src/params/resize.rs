//! How [`Tensor::pad`](crate::Tensor::pad) fills the new border.

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
