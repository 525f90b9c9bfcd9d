//! GPU tensor storage: one buffer, or several when a weight exceeds one binding.

use super::GpuBuffer;
use crate::{bail, DType, Result};

/// Bytes of `elements` consecutive values of `dtype` that start on a block boundary: for a
/// block-quantized dtype whole blocks (an error naming the dtype and the counts otherwise).
pub(crate) fn element_bytes(dtype: DType, elements: usize) -> Result<usize> {
    let Some(bytes) = dtype.row_bytes(elements) else {
        bail!(
            "{elements} {dtype} values are not whole blocks of {}",
            dtype.block_len()
        );
    };
    Ok(bytes)
}

/// A run of whole rows of a tensor in one buffer.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The buffer (at most one binding long).
    pub buffer: GpuBuffer,
    /// Index of the piece's first element in the whole tensor.
    pub start: usize,
    /// Elements in the piece.
    pub len: usize,
}

/// The storage of a GPU tensor: its elements (a block-quantized tensor's blocks), packed
/// little endian as in host memory, in one buffer or split by rows of the leading dimension
/// over several. Piece ranges count elements; a piece of a block-quantized tensor holds
/// whole blocks.
#[derive(Clone, Debug)]
pub struct GpuStorage {
    pieces: Vec<Piece>,
    dtype: DType,
}

impl GpuStorage {
    /// A storage of one buffer.
    pub fn single(buffer: GpuBuffer, len: usize, dtype: DType) -> GpuStorage {
        GpuStorage {
            pieces: vec![Piece {
                buffer,
                start: 0,
                len,
            }],
            dtype,
        }
    }

    /// A storage of row-aligned pieces, in order.
    pub fn from_pieces(pieces: Vec<Piece>, dtype: DType) -> GpuStorage {
        GpuStorage { pieces, dtype }
    }

    /// The pieces, in element order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The element type of the bytes.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Total elements.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(|p| p.len).sum()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
