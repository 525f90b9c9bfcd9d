//! Pure rearrangements of video tensors: the 2×2 patchify of RGB video and its inverse, the
//! pixel shuffle, and the frame doubling of the temporal upsamplers.
//!
//! Patchify puts the 2×2 sub-position `(q, r)` (`q` the height offset, `r` the width
//! offset) at channel `c·4 + r·2 + q`; the pixel shuffle puts row offset `i` and column
//! offset `j` at channel `c·4 + i·2 + j`.

use happyhorse_tensor::{ensure, Result, Tensor};

/// Which sub-position offset the more significant bit of a 2×2 block's channel index holds.
#[derive(Clone, Copy)]
enum BlockOrder {
    /// `c·4 + row·2 + column` (`pixel_shuffle`).
    RowMajor,
    /// `c·4 + column·2 + row` (patchify).
    ColumnMajor,
}

impl BlockOrder {
    /// The permutation of `[B, C, s0, s1, T, h, w]` that puts the row offset after `h` and
    /// the column offset after `w`.
    fn to_frames(self) -> [usize; 7] {
        match self {
            BlockOrder::RowMajor => [0, 1, 4, 5, 2, 6, 3],
            BlockOrder::ColumnMajor => [0, 1, 4, 5, 3, 6, 2],
        }
    }
}

/// `[B, C, T, H, W]` → `[B, 4C, T, H/2, W/2]`.
pub fn patchify(x: &Tensor) -> Result<Tensor> {
    ensure!(
        x.rank() == 5,
        "patchify needs [B, C, T, H, W], got {:?}",
        x.shape()
    );
    let s = x.shape().to_vec();
    let (b, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    ensure!(
        h % 2 == 0 && w % 2 == 0,
        "patchify needs even height and width, got {:?}",
        s
    );
    x.reshape(&[b, c, t, h / 2, 2, w / 2, 2])?
        .permute(&[0, 1, 6, 4, 2, 3, 5])?
        .reshape(&[b, c * 4, t, h / 2, w / 2])
}

/// `[B, 4C, T, h, w]` → `[B, C, T, 2h, 2w]` (the inverse of [`patchify`]).
pub fn unpatchify(x: &Tensor) -> Result<Tensor> {
    blocks_to_frames(x, BlockOrder::ColumnMajor, "unpatchify")
}

/// `pixel_shuffle(2)` of every frame: `[B, 4C, T, h, w]` → `[B, C, T, 2h, 2w]`.
pub(crate) fn pixel_shuffle2(x: &Tensor) -> Result<Tensor> {
    blocks_to_frames(x, BlockOrder::RowMajor, "pixel_shuffle(2)")
}

/// Spreads each group of four channels over a 2×2 block of pixels laid out by `order`.
fn blocks_to_frames(x: &Tensor, order: BlockOrder, what: &str) -> Result<Tensor> {
    ensure!(
        x.rank() == 5 && x.shape()[1].is_multiple_of(4),
        "{what} needs [B, 4C, T, h, w], got {:?}",
        x.shape()
    );
    let s = x.shape().to_vec();
    let (b, c4, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let c = c4 / 4;
    x.reshape(&[b, c, 2, 2, t, h, w])?
        .permute(&order.to_frames())?
        .reshape(&[b, c, t, 2 * h, 2 * w])
}

/// `[B, 2C, T, H, W]` → `[B, C, 2T, H, W]`: channel half `s` becomes frame `2t + s`.
pub(crate) fn interleave_halves(y: &Tensor) -> Result<Tensor> {
    let s = y.shape().to_vec();
    let (b, c2, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let c = c2 / 2;
    y.reshape(&[b, 2, c, t, h, w])?
        .permute(&[0, 2, 3, 1, 4, 5])?
        .reshape(&[b, c, 2 * t, h, w])
}
