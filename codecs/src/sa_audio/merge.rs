//! Long audio: windowed encoding merged with `merge_overlapping_vae_features`.
//!
//! Audio longer than one window (29 s at 51.2 kHz) is encoded in zero-padded windows with
//! a 50 % hop; the per-window latents are crossfaded linearly over each overlap and the
//! result is cut to `⌈N_total · L_window / window⌉` frames.

use happyhorse_tensor::{ensure, Result, Tensor};

/// Seconds of audio per encoding window.
pub const AUDIO_CHUNK_SECONDS: usize = 29;

/// Samples per encoding window at 51.2 kHz (1 484 800).
pub const AUDIO_CHUNK_SAMPLES: usize =
    AUDIO_CHUNK_SECONDS * happyhorse_media::resample::VAE_AUDIO_RATE as usize;

/// Fraction of a window shared with the next one.
pub const OVERLAP_RATIO: f64 = 0.5;

/// Merges latents `[B, F, D]` of consecutive windows, each starting `F − ⌊F·ratio⌋` frames
/// after the previous one, into `[B, (n−1)·step + F, D]`. Over the first `ov = ⌊F·ratio⌋`
/// frames of each later window, frame `k` becomes `(ov−k)/ov · merged + k/ov · window[k]`;
/// its other frames are copied. One window is returned unchanged.
pub fn merge_overlapping_vae_features(feats: &[Tensor], overlap_ratio: f64) -> Result<Tensor> {
    ensure!(
        !feats.is_empty(),
        "merge_overlapping_vae_features: no chunks to merge"
    );
    if feats.len() == 1 {
        return Ok(feats[0].clone());
    }
    let shape = feats[0].shape().to_vec();
    ensure!(
        shape.len() == 3,
        "merge_overlapping_vae_features: chunks must be [B, frames, D], got {shape:?}"
    );
    ensure!(
        (0.0..1.0).contains(&overlap_ratio),
        "merge_overlapping_vae_features: overlap_ratio {overlap_ratio} must lie in [0, 1)"
    );
    for (i, f) in feats.iter().enumerate() {
        ensure!(
            f.shape() == shape.as_slice(),
            "merge_overlapping_vae_features: chunk {i} has shape {:?}, chunk 0 has {shape:?}",
            f.shape()
        );
    }
    let (b, frames, d) = (shape[0], shape[1], shape[2]);
    let overlap = (frames as f64 * overlap_ratio) as usize;
    let step = frames - overlap;
    let total = (feats.len() - 1) * step + frames;
    let mut out = vec![0.0f32; b * total * d];
    for (idx, feat) in feats.iter().enumerate() {
        let cur = feat.to_vec()?;
        let start = idx * step;
        for bi in 0..b {
            let src = &cur[bi * frames * d..(bi + 1) * frames * d];
            let dst = &mut out[bi * total * d..(bi + 1) * total * d];
            let copy_from = if idx == 0 { 0 } else { overlap };
            dst[(start + copy_from) * d..(start + frames) * d]
                .copy_from_slice(&src[copy_from * d..]);
            if idx == 0 {
                continue;
            }
            for k in 0..overlap {
                let prev_w = ((overlap - k) as f64 / overlap as f64) as f32;
                let curr_w = (k as f64 / overlap as f64) as f32;
                let row = &mut dst[(start + k) * d..(start + k + 1) * d];
                for (o, &c) in row.iter_mut().zip(&src[k * d..(k + 1) * d]) {
                    *o = prev_w * *o + curr_w * c;
                }
            }
        }
    }
    Tensor::from_vec(out, &[b, total, d])?.to_device(feats[0].device())
}

/// Start offsets of the encoding windows over `total` samples: every `⌊window·(1−ratio)⌋`
/// samples, up to and including the first window that reaches the end.
pub fn window_starts(total: usize, window: usize, overlap_ratio: f64) -> Vec<usize> {
    let step = ((window as f64 * (1.0 - overlap_ratio)) as usize).max(1);
    let mut starts = Vec::new();
    let mut start = 0;
    while start < total {
        starts.push(start);
        if start + window >= total {
            break;
        }
        start += step;
    }
    starts
}
