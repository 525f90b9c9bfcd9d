//! 2×2 patchify / unpatchify of RGB video, channel index `c·4 + r·2 + q` with `r` the
//! width offset and `q` the height offset.

use happyhorse_tensor::{ensure, Result, Tensor};

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
    ensure!(
        x.rank() == 5 && x.shape()[1].is_multiple_of(4),
        "unpatchify needs [B, 4C, T, h, w], got {:?}",
        x.shape()
    );
    let s = x.shape().to_vec();
    let (b, c4, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let c = c4 / 4;
    x.reshape(&[b, c, 2, 2, t, h, w])?
        .permute(&[0, 1, 4, 5, 3, 6, 2])?
        .reshape(&[b, c, t, 2 * h, 2 * w])
}
