//! What a user asks for, and the sizes it implies: pixels, latent grid, frame counts.

use std::path::PathBuf;

use happyhorse_nn::config_check::in_range;
use happyhorse_tensor::{bail, Result};

/// Output resolution: the base model's size, or one of the super-resolution stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Resolution {
    /// The base model's resolution (448×256 at 16:9).
    #[value(name = "256p")]
    #[serde(rename = "256p")]
    P256,
    /// Super-resolution to 896×512 (16:9).
    #[value(name = "540p")]
    #[serde(rename = "540p")]
    P540,
    /// Super-resolution to 1920×1088 (16:9), with local attention.
    #[value(name = "1080p")]
    #[serde(rename = "1080p")]
    P1080,
}

/// Frame aspect ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Aspect {
    /// Landscape 16:9.
    #[value(name = "16:9")]
    #[serde(rename = "16:9")]
    Wide,
    /// Portrait 9:16.
    #[value(name = "9:16")]
    #[serde(rename = "9:16")]
    Tall,
    /// Square.
    #[value(name = "1:1")]
    #[serde(rename = "1:1")]
    Square,
    /// Landscape 4:3.
    #[value(name = "4:3")]
    #[serde(rename = "4:3")]
    Classic,
    /// Portrait 3:4.
    #[value(name = "3:4")]
    #[serde(rename = "3:4")]
    ClassicTall,
}

/// Pixel size `(height, width)` of the base stage and of a resolution, per aspect.
pub fn pixel_size(res: Resolution, aspect: Aspect) -> (usize, usize) {
    // (short side, long side) per resolution for the landscape ratios; square uses short².
    let (short, wide, classic) = match res {
        Resolution::P256 => (256, 448, 352),
        Resolution::P540 => (512, 896, 704),
        Resolution::P1080 => (1088, 1920, 1440),
    };
    match aspect {
        Aspect::Wide => (short, wide),
        Aspect::Tall => (wide, short),
        Aspect::Square => (short, short),
        Aspect::Classic => (short, classic),
        Aspect::ClassicTall => (classic, short),
    }
}

/// Latent side for a pixel side: `px / 16`, rounded down to even (the DiT's 2×2 patches).
pub fn latent_side(px: usize) -> usize {
    px / 16 / 2 * 2
}

/// Audio latent frames for a duration: `seconds·fps + 1` (one per video frame at 25 fps).
pub fn audio_frames(seconds: f64, fps: usize) -> usize {
    (seconds * fps as f64).round() as usize + 1
}

/// Video latent frames for a number of audio latent frames: `(A − 1) / 4 + 1`.
pub fn latent_frames(audio_frames: usize) -> usize {
    (audio_frames - 1) / 4 + 1
}

/// Decoded video frames for a number of latent frames: `4·(T − 1) + 1`.
pub fn video_frames(latent_frames: usize) -> usize {
    4 * (latent_frames - 1) + 1
}

/// Everything `happyhorse generate` was asked for.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GenerateRequest {
    /// The prompt.
    pub prompt: String,
    /// The negative prompt (guided base model only).
    pub negative_prompt: String,
    /// A first-frame image (image-to-video).
    pub image: Option<PathBuf>,
    /// A WAV to condition on (audio-conditioned video).
    pub audio: Option<PathBuf>,
    /// Output resolution.
    pub resolution: Resolution,
    /// Aspect ratio.
    pub aspect: Aspect,
    /// Duration in seconds.
    pub seconds: f64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Stage-1 steps (the stack's default when absent).
    pub steps: Option<usize>,
    /// Decode with the full Wan2.2 VAE instead of the Turbo decoder.
    pub full_vae: bool,
}

impl GenerateRequest {
    /// Checks the request's own values (the stack checks the rest).
    pub fn validate(&self) -> Result<()> {
        if self.prompt.trim().is_empty() {
            bail!("--prompt is empty");
        }
        in_range("--seconds", self.seconds, 3.0, 15.0)?;
        for (flag, p) in [("--image", &self.image), ("--audio", &self.audio)] {
            if let Some(p) = p {
                match std::fs::metadata(p) {
                    Err(e) => bail!("{flag} {}: {e}", p.display()),
                    Ok(m) if m.is_dir() => bail!("{flag} {}: is a directory", p.display()),
                    Ok(m) if !m.is_file() => bail!(
                        "{flag} {}: not a regular file (a device, a pipe or a socket)",
                        p.display()
                    ),
                    Ok(_) => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_seconds_at_25_fps_is_the_reference_grid() {
        let a = audio_frames(5.0, 25);
        assert_eq!(
            (a, latent_frames(a), video_frames(latent_frames(a))),
            (126, 32, 125)
        );
        let (h, w) = pixel_size(Resolution::P256, Aspect::Wide);
        assert_eq!((latent_side(h), latent_side(w)), (16, 28));
        let (h, w) = pixel_size(Resolution::P1080, Aspect::Wide);
        assert_eq!((latent_side(h), latent_side(w)), (68, 120));
    }
}
