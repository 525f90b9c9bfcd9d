//! The DiT as the sampling loops call it: the sampler's [`Denoiser`], batched latents in,
//! batched velocities out, the text condition chosen per call (prompt or negative prompt).

use happyhorse_sampler::loops::{Condition, Denoiser};
use happyhorse_tensor::{ensure, Result, Tensor};

use super::dit::{DitInputs, MagiHumanDit};

/// A DiT with the text features of one generation.
#[derive(Clone, Debug)]
pub struct ConditionedDit<'a> {
    /// The model.
    pub dit: &'a MagiHumanDit,
    /// Prompt features `[Lt, Dt]`, trimmed to the prompt's length.
    pub prompt: Tensor,
    /// Negative-prompt features `[Lu, Dt]` (guided loops only), trimmed to their length.
    pub negative: Option<Tensor>,
}

impl<'a> ConditionedDit<'a> {
    /// Wraps `dit` with text features `[Lt, Dt]` or `[1, Lt, Dt]`.
    pub fn new(
        dit: &'a MagiHumanDit,
        prompt: &Tensor,
        negative: Option<&Tensor>,
    ) -> Result<ConditionedDit<'a>> {
        Ok(ConditionedDit {
            dit,
            prompt: unbatch(prompt, 2, "prompt features")?,
            negative: negative
                .map(|t| unbatch(t, 2, "negative-prompt features"))
                .transpose()?,
        })
    }
}

impl Denoiser for ConditionedDit<'_> {
    /// Velocities `([1, C, T, H, W], [1, A, Ca])` of video `[1, C, T, H, W]` and audio
    /// `[1, A, Ca]`, conditioned on the prompt or the negative prompt.
    fn velocity(
        &mut self,
        video: &Tensor,
        audio: &Tensor,
        cond: Condition,
    ) -> Result<(Tensor, Tensor)> {
        let text = if cond == Condition::Negative {
            self.negative.as_ref().ok_or_else(|| {
                happyhorse_tensor::Error::msg(
                    "a negative-prompt forward needs negative-prompt features",
                )
            })?
        } else {
            &self.prompt
        };
        let out = self.dit.forward(&DitInputs {
            video: unbatch(video, 4, "video latent")?,
            audio: unbatch(audio, 2, "audio latent")?,
            text: text.clone(),
            clean_first_frame: None,
        })?;
        Ok((out.video.unsqueeze(0)?, out.audio.unsqueeze(0)?))
    }
}

/// Drops a leading batch dimension of 1 from a rank `rank + 1` tensor; a rank `rank`
/// tensor passes unchanged.
fn unbatch(t: &Tensor, rank: usize, what: &str) -> Result<Tensor> {
    if t.rank() == rank {
        return Ok(t.clone());
    }
    ensure!(
        t.rank() == rank + 1 && t.shape()[0] == 1,
        "{what} must have shape [1, ...] with {} dims after the batch, got {:?}",
        rank,
        t.shape()
    );
    t.squeeze(0)
}
