//! Classifier-free guidance.

use happyhorse_tensor::{Result, Tensor};

/// `v_u + s·(v_c − v_u)` with one scale.
pub fn cfg(v_cond: &Tensor, v_uncond: &Tensor, scale: f32) -> Result<Tensor> {
    v_uncond.add(&v_cond.sub(v_uncond)?.scale(scale)?)
}

/// `v_u + s[f]·(v_c − v_u)` with one scale per latent frame of `[1, C, T, H, W]`.
pub fn cfg_per_frame(v_cond: &Tensor, v_uncond: &Tensor, scales: &[f32]) -> Result<Tensor> {
    let s = Tensor::from_vec(scales.to_vec(), &[1, 1, scales.len(), 1, 1])?
        .to_device(v_cond.device())?;
    v_uncond.add(&v_cond.sub(v_uncond)?.mul(&s)?)
}

/// The base loop's video scale: `scale` while the timestep is above 500, then the
/// reference's constant 2.0.
pub fn base_video_scale(timestep: i64, scale: f32) -> f32 {
    if timestep > 500 {
        scale
    } else {
        2.0
    }
}

/// The SR loop's per-frame video scales ("cfg trick"): `scale` for every frame, lowered to
/// `min(trick_value, scale)` for frames before `trick_start_frame` when the trick is on.
pub fn sr_frame_scales(
    frames: usize,
    scale: f32,
    use_trick: bool,
    trick_start_frame: usize,
    trick_value: f32,
) -> Vec<f32> {
    (0..frames)
        .map(|f| {
            if use_trick && f < trick_start_frame {
                trick_value.min(scale)
            } else {
                scale
            }
        })
        .collect()
}
