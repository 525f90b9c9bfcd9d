//! Token packing of one sample: video patchify / unpatchify in the official element
//! orders, the per-token coordinates (v1 and v2 styles) and the local-attention key ranges.

use happyhorse_tensor::{bail, ensure, KeyRanges, Result, Tensor};

use super::config::CoordsStyle;

/// The patch grid of a video latent `[C, T, H, W]` with patch `(pt, p, p)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchGrid {
    /// Latent channels.
    pub channels: usize,
    /// Latent frames.
    pub frames: usize,
    /// Latent height.
    pub height: usize,
    /// Latent width.
    pub width: usize,
    /// Temporal patch size.
    pub pt: usize,
    /// Spatial patch size.
    pub p: usize,
}

impl PatchGrid {
    /// The grid of a latent of `shape` `[C, T, H, W]`, checking the patch divides it.
    pub fn new(shape: &[usize], pt: usize, p: usize) -> Result<PatchGrid> {
        ensure!(
            shape.len() == 4,
            "video latent must be [C, T, H, W], got {shape:?}"
        );
        let (c, t, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        ensure!(
            pt > 0 && p > 0 && t % pt == 0 && h % p == 0 && w % p == 0 && t > 0 && h > 0 && w > 0,
            "video latent {shape:?} does not split into ({pt}, {p}, {p}) patches"
        );
        Ok(PatchGrid {
            channels: c,
            frames: t,
            height: h,
            width: w,
            pt,
            p,
        })
    }

    /// Patches along (t, h, w).
    pub fn dims(&self) -> [usize; 3] {
        [
            self.frames / self.pt,
            self.height / self.p,
            self.width / self.p,
        ]
    }

    /// Number of video tokens.
    pub fn tokens(&self) -> usize {
        self.dims().iter().product()
    }

    /// Features of one token: C·pt·p·p.
    pub fn token_features(&self) -> usize {
        self.channels * self.pt * self.p * self.p
    }

    /// Video tokens `[Nv, C·pt·p·p]` in raster order (w fastest), features channel-major:
    /// `f = c·(pt·p·p) + dt·(p·p) + dh·p + dw`.
    pub fn patchify(&self, video: &Tensor) -> Result<Tensor> {
        let [tt, hh, ww] = self.dims();
        let (c, pt, p) = (self.channels, self.pt, self.p);
        video
            .reshape(&[c, tt, pt, hh, p, ww, p])?
            .permute(&[1, 3, 5, 0, 2, 4, 6])?
            .contiguous()?
            .reshape(&[self.tokens(), self.token_features()])
    }

    /// The inverse for the model output, whose features are channel-minor:
    /// `out[c, t'·pt+dt, h'·p+dh, w'·p+dw] = row(t', h', w')[((dt·p + dh)·p + dw)·C + c]`.
    pub fn unpatchify(&self, rows: &Tensor) -> Result<Tensor> {
        let [tt, hh, ww] = self.dims();
        let (c, pt, p) = (self.channels, self.pt, self.p);
        ensure!(
            rows.shape() == [self.tokens(), self.token_features()],
            "video output rows {:?} do not match the patch grid ({} tokens × {})",
            rows.shape(),
            self.tokens(),
            self.token_features()
        );
        rows.reshape(&[tt, hh, ww, pt, p, p, c])?
            .permute(&[6, 0, 3, 1, 4, 2, 5])?
            .contiguous()?
            .reshape(&[c, self.frames, self.height, self.width])
    }
}

/// Per-token coordinates `(t, h, w, T, H, W, rT, rH, rW)` of the packed sequence
/// `[video | audio | text]`, as the data proxy builds them.
pub fn coords(
    grid: &PatchGrid,
    audio_len: usize,
    text_len: usize,
    style: CoordsStyle,
    text_offset: i64,
) -> Vec<[f32; 9]> {
    let [tt, hh, ww] = grid.dims();
    let mut out = Vec::with_capacity(grid.tokens() + audio_len + text_len);
    let v = [tt as f32, hh as f32, ww as f32];
    for t in 0..tt {
        for h in 0..hh {
            for w in 0..ww {
                out.push([
                    t as f32, h as f32, w as f32, v[0], v[1], v[2], v[0], v[1], v[2],
                ]);
            }
        }
    }
    let (audio_ref, text_ref, text_start) = match style {
        CoordsStyle::V1 => ((grid.frames / grid.pt) as f32, 2.0, text_offset as f32),
        CoordsStyle::V2 => {
            let magic = (audio_len.saturating_sub(1) / 4 + 1) / grid.pt;
            (magic as f32, 1.0, -(text_len as f32))
        }
    };
    for a in 0..audio_len {
        out.push([
            a as f32,
            0.0,
            0.0,
            audio_len as f32,
            1.0,
            1.0,
            audio_ref,
            1.0,
            1.0,
        ]);
    }
    for j in 0..text_len {
        let pos = text_start + j as f32;
        out.push([pos, 0.0, 0.0, text_len as f32, 1.0, 1.0, text_ref, 1.0, 1.0]);
    }
    out
}

/// The data proxy's local-attention range pairs `(q [start, end), k [start, end))`:
/// per latent frame its tokens with the video keys of frames within
/// `frame_receptive_field`, all video queries with the audio+text keys, and the
/// audio+text queries with every key.
pub fn local_range_pairs(
    video_tokens: usize,
    other_tokens: usize,
    num_frames: usize,
    frame_receptive_field: usize,
) -> Vec<([usize; 2], [usize; 2])> {
    let tpf = video_tokens / num_frames.max(1);
    let total = video_tokens + other_tokens;
    let mut pairs = Vec::with_capacity(num_frames + 2);
    for i in 0..num_frames {
        let lo = i.saturating_sub(frame_receptive_field) * tpf;
        let hi = ((i + frame_receptive_field + 1) * tpf).min(video_tokens);
        pairs.push(([i * tpf, (i + 1) * tpf], [lo.min(video_tokens), hi]));
    }
    pairs.push(([0, video_tokens], [video_tokens, total]));
    pairs.push(([video_tokens, total], [0, total]));
    pairs
}

/// The keys each of `len` query rows sees, as the union of the pairs covering it
/// (sorted, overlapping or touching intervals merged).
pub fn key_ranges_from_pairs(len: usize, pairs: &[([usize; 2], [usize; 2])]) -> Result<KeyRanges> {
    let mut rows: Vec<Vec<[u32; 2]>> = vec![Vec::new(); len];
    for &([qs, qe], [ks, ke]) in pairs {
        ensure!(
            qs <= qe && qe <= len && ks <= ke && ke <= len,
            "local attention range pair q {qs}..{qe}, k {ks}..{ke} does not fit {len} tokens"
        );
        if ks == ke {
            continue;
        }
        for row in &mut rows[qs..qe] {
            row.push([ks as u32, ke as u32]);
        }
    }
    for row in &mut rows {
        row.sort_unstable();
        let mut merged: Vec<[u32; 2]> = Vec::with_capacity(row.len());
        for &[s, e] in row.iter() {
            match merged.last_mut() {
                Some(last) if s <= last[1] => last[1] = last[1].max(e),
                _ => merged.push([s, e]),
            }
        }
        *row = merged;
    }
    Ok(KeyRanges::from_rows(&rows))
}

/// The local-attention key ranges of a packed sequence, or an error when the window is
/// disabled (`frame_receptive_field` −1) although a layer needs it.
pub fn local_key_ranges(
    video_tokens: usize,
    other_tokens: usize,
    num_frames: usize,
    frame_receptive_field: i64,
) -> Result<KeyRanges> {
    if frame_receptive_field < 0 {
        bail!("local attention layers need data_proxy_config.frame_receptive_field >= 0, got {frame_receptive_field}");
    }
    let pairs = local_range_pairs(
        video_tokens,
        other_tokens,
        num_frames,
        frame_receptive_field as usize,
    );
    key_ranges_from_pairs(video_tokens + other_tokens, &pairs)
}
