//! Quantized weight rows as a GEMM operand: blocks are dequantized while packing panels,
//! so the weight stays quantized in memory.

use happyhorse_formats::quant::dequantize_into;
use rayon::prelude::*;

use super::Panels;
use crate::{ensure, DType, Result};

/// A weight matrix `[rows, cols]` of a block-quantized dtype, each row `cols / block_len`
/// whole blocks, rows packed one after another.
#[derive(Clone, Copy, Debug)]
pub struct QuantRows<'a> {
    dtype: DType,
    bytes: &'a [u8],
    rows: usize,
    cols: usize,
    row_bytes: usize,
}

impl<'a> QuantRows<'a> {
    /// Rows of `dtype` blocks in `bytes`; errors name the dtype and every size.
    pub fn new(dtype: DType, bytes: &'a [u8], rows: usize, cols: usize) -> Result<Self> {
        let row_bytes = dtype.row_bytes(cols).filter(|_| dtype.is_quantized());
        let Some(row_bytes) = row_bytes else {
            crate::bail!(
                "a {dtype} weight of {cols} columns is not whole blocks of {} values",
                dtype.block_len()
            );
        };
        ensure!(
            row_bytes.checked_mul(rows) == Some(bytes.len()),
            "{} bytes cannot hold {rows} rows of {cols} {dtype} values ({row_bytes} bytes a row)",
            bytes.len()
        );
        Ok(QuantRows {
            dtype,
            bytes,
            rows,
            cols,
            row_bytes,
        })
    }

    /// Dequantizes columns `c0..c0 + out.len()` of row `r` into `out`; `scratch` holds
    /// the whole blocks covering them.
    fn dequantize_span(&self, r: usize, c0: usize, out: &mut [f32], scratch: &mut Vec<f32>) {
        let (len, size) = (self.dtype.block_len(), self.dtype.block_bytes());
        let (b0, b1) = (c0 / len, (c0 + out.len()).div_ceil(len));
        let row = &self.bytes[r * self.row_bytes..(r + 1) * self.row_bytes];
        scratch.resize((b1 - b0) * len, 0.0);
        dequantize_into(self.dtype, &row[b0 * size..b1 * size], scratch)
            .expect("whole blocks of a checked row");
        let skip = c0 - b0 * len;
        out.copy_from_slice(&scratch[skip..skip + out.len()]);
    }
}

impl Panels for QuantRows<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn pack(&self, r0: usize, nrows: usize, c0: usize, ncols: usize, w: usize, dst: &mut [f32]) {
        let panel_len = w * ncols;
        if panel_len == 0 {
            return;
        }
        let work = |(p, panel): (usize, &mut [f32])| {
            let (mut span, mut scratch) = (vec![0.0f32; ncols], Vec::new());
            for r in 0..w {
                let row = p * w + r;
                if row >= nrows {
                    (0..ncols).for_each(|c| panel[c * w + r] = 0.0);
                    continue;
                }
                self.dequantize_span(r0 + row, c0, &mut span, &mut scratch);
                for (c, &v) in span.iter().enumerate() {
                    panel[c * w + r] = v;
                }
            }
        };
        if nrows * ncols < (1 << 15) {
            dst.chunks_mut(panel_len).enumerate().for_each(work);
        } else {
            dst.par_chunks_mut(panel_len).enumerate().for_each(work);
        }
    }
}
