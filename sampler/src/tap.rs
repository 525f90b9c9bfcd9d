//! What a sampling loop reports to its observer after each computation: a typed name for
//! every intermediate, so progress and the parity harness match on values, not strings.

/// Which latent a value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    /// The video latent `[1, C, T, H, W]`.
    Video,
    /// The audio latent `[1, A, Ca]`.
    Audio,
}

impl Modality {
    /// `"video"` or `"audio"`.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Video => "video",
            Modality::Audio => "audio",
        }
    }
}

/// Which forward a velocity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    /// The only forward of an unguided step.
    Plain,
    /// The prompt's forward of a guided step.
    Cond,
    /// The negative prompt's forward of a guided step.
    Uncond,
    /// The guided combination of the two.
    Cfg,
}

/// One intermediate of a sampling loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    /// A velocity of the DiT.
    Velocity(Branch, Modality),
    /// The UniPC corrector's output for this step.
    Corrected(Modality),
    /// The latent after this step.
    Next(Modality),
    /// The base loop's video guidance scale at this step (a scalar).
    VideoGuidanceScale,
    /// The SR stage's upsampled stage-1 video.
    UpsampledVideo,
    /// The SR stage's re-noising coefficient (a scalar).
    RenoiseScale,
    /// The SR stage's video latent before its first step.
    StartVideo,
    /// The audio every SR forward sees.
    AudioContext,
}

impl Tap {
    /// The reference's name of the value (`v_cond_video`, `next_audio`, …), as the golden
    /// fixtures key it after their loop prefix.
    pub fn name(self) -> String {
        match self {
            Tap::Velocity(b, m) => {
                let branch = match b {
                    Branch::Plain => "",
                    Branch::Cond => "cond_",
                    Branch::Uncond => "uncond_",
                    Branch::Cfg => "cfg_",
                };
                format!("v_{branch}{}", m.name())
            }
            Tap::Corrected(m) => format!("corrected_{}", m.name()),
            Tap::Next(m) => format!("next_{}", m.name()),
            Tap::VideoGuidanceScale => "video_guidance_scale".into(),
            Tap::UpsampledVideo => "upsampled_video".into(),
            Tap::RenoiseScale => "renoise_scale".into(),
            Tap::StartVideo => "start_video".into(),
            Tap::AudioContext => "audio_context".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_references() {
        use Modality::*;
        assert_eq!(Tap::Velocity(Branch::Plain, Video).name(), "v_video");
        assert_eq!(
            Tap::Velocity(Branch::Uncond, Audio).name(),
            "v_uncond_audio"
        );
        assert_eq!(Tap::Velocity(Branch::Cfg, Video).name(), "v_cfg_video");
        assert_eq!(Tap::Corrected(Audio).name(), "corrected_audio");
        assert_eq!(Tap::Next(Video).name(), "next_video");
        assert_eq!(Tap::RenoiseScale.name(), "renoise_scale");
    }
}
