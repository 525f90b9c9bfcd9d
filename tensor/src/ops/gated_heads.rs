//! Attention output heads back to rows, each head scaled by the sigmoid of its gate, in
//! one pass.

use super::dispatch;
use crate::{bail, ensure, Result, Tensor};

impl Tensor {
    /// `self [H, L, D]` (or `[1, H, L, D]`, heads first as attention returns them) as
    /// rows `[L, H·D]`; with `gate [L, H]`, head `h` of row `t` is scaled by
    /// `sigmoid(gate[t, h])`.
    pub fn gated_heads_to_rows(&self, gate: Option<&Tensor>) -> Result<Tensor> {
        let (h, l, d) = match *self.shape() {
            [h, l, d] | [1, h, l, d] => (h, l, d),
            _ => bail!(
                "gated_heads_to_rows needs heads [H, L, D] or [1, H, L, D], got {:?}",
                self.shape()
            ),
        };
        if let Some(g) = gate {
            self.same_device(g, "gated_heads_to_rows")?;
            ensure!(
                g.shape() == [l, h],
                "gated_heads_to_rows: gate has shape {:?}, expected [{l}, {h}]",
                g.shape()
            );
        }
        let heads = self.reshape(&[h, l, d])?;
        dispatch!(self, gated_heads::gated_heads_to_rows(&heads, gate))
    }
}
