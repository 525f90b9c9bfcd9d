//! Spatial tiling of a decode: overlapping tiles, each decoded with a halo of extra context
//! that is discarded, then joined with a linear cross-fade over the overlaps.
//!
//! With a halo at least the decoder's spatial receptive radius, every kept pixel is the
//! untiled pixel (the default). Tile sizes come from a memory budget or are given.

use happyhorse_tensor::{bail, ensure, Device, Result, Tensor};

/// How to split a decode into spatial tiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Bytes the decoder's working memory may use (not counting the decoded video itself):
    /// the largest tile whose estimate fits is used. `None`: no limit.
    pub memory_budget: Option<usize>,
    /// A fixed tile size `[h, w]` in latent pixels (overlap included); overrides the budget.
    pub tile: Option<[usize; 2]>,
    /// Latent pixels that consecutive tiles share and cross-fade over.
    pub overlap: usize,
    /// Latent pixels of context decoded around each tile and discarded. `None`: the
    /// decoder's receptive radius, which makes the tiled output equal the untiled one.
    pub halo: Option<usize>,
    /// Bytes one GPU binding holds: no single activation of a tile may exceed it. `None`:
    /// the decoder's device's cap (none on the CPU).
    pub binding_cap: Option<u64>,
}

/// What decoding one tile needs, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileSizes {
    /// The peak working memory.
    pub peak: usize,
    /// The largest single activation.
    pub largest: usize,
}

impl Default for Tiling {
    fn default() -> Self {
        Tiling {
            memory_budget: None,
            tile: None,
            overlap: 2,
            halo: None,
            binding_cap: None,
        }
    }
}

/// One tile: the latent region it keeps and the larger region it decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Kept rows `[y0, y0 + h)` and columns `[x0, x0 + w)` in latent pixels.
    pub keep: [usize; 4],
    /// Decoded rows and columns (`keep` plus the halo, clipped to the latent).
    pub decode: [usize; 4],
}

impl Tile {
    /// The region this tile decodes of `x` `[B, C, T, h, w]`, packed.
    pub fn decoded_region(&self, x: &Tensor) -> Result<Tensor> {
        let [y0, x0, h, w] = self.decode;
        x.narrow(3, y0, h)?.narrow(4, x0, w)?.contiguous()
    }

    /// The kept region of `decoded`, the decode of [`Tile::decoded_region`] with `px`
    /// pixels per latent pixel, packed.
    pub fn kept_region(&self, decoded: &Tensor, px: usize) -> Result<Tensor> {
        let [y0, x0, h, w] = self.keep;
        decoded
            .narrow(3, (y0 - self.decode[0]) * px, h * px)?
            .narrow(4, (x0 - self.decode[1]) * px, w * px)?
            .contiguous()
    }
}

/// Tiles of a `h × w` latent, in row-major order, and the number of tile columns.
#[derive(Clone, Debug)]
pub struct TilePlan {
    /// The tiles.
    pub tiles: Vec<Tile>,
    /// Tiles per row.
    pub cols: usize,
}

/// Starts and lengths of tiles of length `tile` over `n` sharing `overlap`.
fn axis(n: usize, tile: usize, overlap: usize) -> Vec<(usize, usize)> {
    if tile >= n {
        return vec![(0, n)];
    }
    let step = tile.saturating_sub(overlap).max(1);
    let mut out = Vec::new();
    let mut s = 0;
    loop {
        if s + tile >= n {
            out.push((n - tile, tile));
            break;
        }
        out.push((s, tile));
        s += step;
    }
    out.dedup();
    out
}

impl TilePlan {
    /// The plan for a `h × w` latent with tiles of `tile` latent pixels.
    pub fn new(h: usize, w: usize, tile: [usize; 2], overlap: usize, halo: usize) -> TilePlan {
        let rows = axis(h, tile[0].max(1), overlap);
        let cols = axis(w, tile[1].max(1), overlap);
        let mut tiles = Vec::new();
        for &(y0, th) in &rows {
            for &(x0, tw) in &cols {
                let dy0 = y0.saturating_sub(halo);
                let dx0 = x0.saturating_sub(halo);
                let dy1 = (y0 + th + halo).min(h);
                let dx1 = (x0 + tw + halo).min(w);
                tiles.push(Tile {
                    keep: [y0, x0, th, tw],
                    decode: [dy0, dx0, dy1 - dy0, dx1 - dx0],
                });
            }
        }
        TilePlan {
            tiles,
            cols: cols.len(),
        }
    }

    /// The largest `f(h, w)` over the decoded regions `h × w` of the tiles.
    pub fn max_over_tiles(&self, f: impl Fn(usize, usize) -> usize) -> usize {
        self.tiles
            .iter()
            .map(|t| f(t.decode[2], t.decode[3]))
            .max()
            .unwrap_or(0)
    }

    /// Picks the tile size for `opts`: the fixed size, else the largest square-ish tile whose
    /// decoded region `h × w` (with halo) fits: its `sizes(h, w)` peak within the memory
    /// budget and its largest activation within the binding cap (`opts`' own, else
    /// `device_cap`); one tile when neither limits it.
    pub fn choose(
        h: usize,
        w: usize,
        opts: &Tiling,
        halo: usize,
        device_cap: Option<u64>,
        sizes: impl Fn(usize, usize) -> TileSizes,
    ) -> Result<TilePlan> {
        let halo = opts.halo.unwrap_or(halo);
        if let Some(t) = opts.tile {
            ensure!(
                t[0] > opts.overlap && t[1] > opts.overlap,
                "tile {t:?} must be larger than the overlap {}",
                opts.overlap
            );
            return Ok(TilePlan::new(h, w, t, opts.overlap, halo));
        }
        let (budget, cap) = (opts.memory_budget, opts.binding_cap.or(device_cap));
        let binds = |s: TileSizes| cap.is_none_or(|c| s.largest as u64 <= c);
        if budget.is_none() && binds(sizes(h, w)) {
            return Ok(TilePlan::new(h, w, [h, w], opts.overlap, halo));
        }
        let region = |t: usize, n: usize| (t + 2 * halo).min(n);
        let tile_sizes = |t: usize| sizes(region(t.min(h), h), region(t.min(w), w));
        let fits = |s: TileSizes| budget.is_none_or(|b| s.peak <= b) && binds(s);
        for t in (opts.overlap + 1..=h.max(w)).rev() {
            if fits(tile_sizes(t)) {
                return Ok(TilePlan::new(
                    h,
                    w,
                    [t.min(h), t.min(w)],
                    opts.overlap,
                    halo,
                ));
            }
        }
        let t = opts.overlap + 1;
        let smallest = tile_sizes(t);
        match budget {
            Some(budget) if smallest.peak > budget => bail!(
                "memory budget of {budget} bytes is too small: the smallest tile ({t}×{t} latent pixels plus a halo of {halo}) needs about {} bytes",
                smallest.peak
            ),
            _ => bail!(
                "the smallest tile ({t}×{t} latent pixels plus a halo of {halo}) holds a tensor of {} bytes, over the GPU binding cap of {} bytes",
                smallest.largest,
                cap.unwrap_or(0)
            ),
        }
    }
}

/// Joins pieces laid along `dim` (each `(start, tensor)`, start in the same units as the
/// tensor's extent along `dim`), cross-fading linearly where consecutive pieces overlap.
pub(crate) fn blend_along(
    parts: Vec<(usize, Tensor)>,
    dim: usize,
    device: &Device,
) -> Result<Tensor> {
    let mut it = parts.into_iter();
    let (start, mut acc) = it
        .next()
        .ok_or_else(|| happyhorse_tensor::Error::msg("no tiles to join"))?;
    for (s, t) in it {
        let acc_len = acc.shape()[dim];
        let end = start + acc_len;
        ensure!(
            s >= start && s <= end,
            "tiles are not in order along dim {dim}"
        );
        let ov = end - s;
        let len = t.shape()[dim];
        ensure!(
            ov <= len,
            "a tile lies inside its neighbour along dim {dim}"
        );
        let d = dim as isize;
        acc = if ov == 0 {
            Tensor::cat(&[&acc, &t], d)?
        } else {
            let ramp: Vec<f32> = (0..ov).map(|i| (i + 1) as f32 / (ov + 1) as f32).collect();
            let mut shape = vec![1; acc.rank()];
            shape[dim] = ov;
            let ramp = Tensor::from_vec(ramp, &shape)?.to_device(device)?;
            let a = acc.narrow(d, acc_len - ov, ov)?;
            let b = t.narrow(d, 0, ov)?;
            let mixed = a.add(&b.sub(&a)?.mul(&ramp)?)?;
            let left = acc.narrow(d, 0, acc_len - ov)?;
            let right = t.narrow(d, ov, len - ov)?;
            Tensor::cat(&[&left, &mixed, &right], d)?
        };
    }
    Ok(acc)
}

/// Joins decoded tiles (`[B, C, T, H, W]` of each tile's kept region, `px` pixels per
/// latent pixel) into the full frame.
pub(crate) fn join_tiles(
    plan: &TilePlan,
    tiles: Vec<Tensor>,
    px: usize,
    device: &Device,
) -> Result<Tensor> {
    ensure!(
        tiles.len() == plan.tiles.len(),
        "expected {} tiles, got {}",
        plan.tiles.len(),
        tiles.len()
    );
    let device = &join_device(&tiles, device);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    for (i, (tile, t)) in plan.tiles.iter().zip(tiles).enumerate() {
        row.push((tile.keep[1] * px, t.to_device(device)?));
        if (i + 1) % plan.cols == 0 {
            rows.push((
                tile.keep[0] * px,
                blend_along(std::mem::take(&mut row), 4, device)?,
            ));
        }
    }
    blend_along(rows, 3, device)
}

/// Where a join of `parts` runs: on `device`, or on the host when the joined tensor would
/// exceed one of the device's bindings (a long 1080p clip does); the values are the same.
fn join_device(parts: &[Tensor], device: &Device) -> Device {
    let bytes: u64 = parts
        .iter()
        .map(|t| (t.numel() * t.dtype().size()) as u64)
        .sum();
    match device.max_binding_bytes() {
        Some(cap) if bytes > cap => Device::Cpu,
        _ => device.clone(),
    }
}

/// `parts` concatenated along `dim`, on `device` or, when the result would exceed one of
/// its bindings, on the host.
pub(crate) fn cat_within_binding(parts: &[Tensor], dim: usize, device: &Device) -> Result<Tensor> {
    let device = join_device(parts, device);
    let moved = parts
        .iter()
        .map(|t| t.to_device(&device))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&Tensor> = moved.iter().collect();
    Tensor::cat(&refs, dim as isize)
}
