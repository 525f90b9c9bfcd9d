//! Quantized weight rows as a GEMM operand: blocks are dequantized while packing panels,
//! so the weight stays quantized in memory.

use super::{for_each_panel, Panels};
use crate::{ensure, DType, Result};
use happyhorse_formats::quant::dequantize_into;

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

    /// Columns `c0..c0 + n` of row `r`, dequantized in `scratch` (which holds the whole
    /// blocks covering them).
    fn dequantize_span<'s>(
        &self,
        r: usize,
        c0: usize,
        n: usize,
        scratch: &'s mut Vec<f32>,
    ) -> &'s [f32] {
        let (len, size) = (self.dtype.block_len(), self.dtype.block_bytes());
        let (b0, b1) = (c0 / len, (c0 + n).div_ceil(len));
        let row = &self.bytes[r * self.row_bytes..(r + 1) * self.row_bytes];
        scratch.resize((b1 - b0) * len, 0.0);
        dequantize_into(self.dtype, &row[b0 * size..b1 * size], scratch)
            .expect("whole blocks of a checked row");
        let skip = c0 - b0 * len;
        &scratch[skip..skip + n]
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
        for_each_panel(dst, w, nrows, ncols, |(p, panel)| {
            let mut scratch = Vec::new();
            for r in 0..w {
                let row = p * w + r;
                if row >= nrows {
                    (0..ncols).for_each(|c| panel[c * w + r] = 0.0);
                    continue;
                }
                let span = self.dequantize_span(r0 + row, c0, ncols, &mut scratch);
                for (c, &v) in span.iter().enumerate() {
                    panel[c * w + r] = v;
                }
            }
        });
    }
}
