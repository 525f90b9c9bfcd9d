//! Conditioning audio for audio-to-video: a WAV file → mono at 51 200 Hz → two identical
//! channels, the layout the audio VAE encoder takes.
//!
//! The reference loads the file with whisper's loader, which runs
//! `ffmpeg -i FILE -f s16le -ac 1 -ar 51200 -` and divides the 16-bit output by 32768, then
//! duplicates the mono signal to `[2, N]`. Here the WAV is read directly, stereo is averaged
//! to mono (ffmpeg's stereo→mono downmix), the rate is converted with the FFT resampler of
//! [`crate::resample`] to `⌈N·51200/rate⌉` samples, and the result is quantised to 16 bits
//! exactly as ffmpeg's float→s16 conversion and whisper's `/32768` do. Differences from the
//! reference: ffmpeg's polyphase resampler (Kaiser-windowed sinc) is not reproduced, so
//! resampled audio differs at the level of that filter's passband ripple and transition band
//! and may differ by one sample in length; a file already at 51.2 kHz is not resampled and
//! matches exactly. Only WAV input is read; files with more than two channels are rejected.

use std::path::Path;

use happyhorse_tensor::{ensure, Result, ResultExt};

use super::wav::{read_wav, WavAudio};
use crate::resample::{resample, VAE_AUDIO_RATE};

/// Number of output samples when `frames` samples at `rate` Hz are converted to 51.2 kHz:
/// `⌈frames·51200/rate⌉`.
pub fn vae_rate_len(frames: usize, rate: u32) -> usize {
    let num = frames as u128 * VAE_AUDIO_RATE as u128;
    num.div_ceil(rate as u128) as usize
}

/// Quantises like ffmpeg's float→s16 conversion followed by whisper's `/32768`:
/// `clip(lrintf(x·32768)) / 32768`.
pub fn quantize_s16(x: f32) -> f32 {
    let q = (x * 32768.0).round_ties_even().clamp(-32768.0, 32767.0);
    if q.is_nan() {
        0.0
    } else {
        q / 32768.0
    }
}

/// Converts decoded WAV audio to the mono 51.2 kHz signal whisper's loader returns.
pub fn to_vae_rate_mono(audio: &WavAudio) -> Result<Vec<f32>> {
    let channels = audio.channels as usize;
    ensure!(
        channels == 1 || channels == 2,
        "audio has {channels} channels; only mono and stereo are supported"
    );
    let frames = audio.frames();
    ensure!(frames > 0, "audio has no samples");
    let mono: Vec<f32> = if channels == 1 {
        audio.samples.clone()
    } else {
        audio
            .samples
            .chunks_exact(2)
            .map(|lr| (lr[0] + lr[1]) * 0.5)
            .collect()
    };
    let resampled = if audio.sample_rate == VAE_AUDIO_RATE {
        mono
    } else {
        resample(&mono, vae_rate_len(frames, audio.sample_rate))?
    };
    Ok(resampled.into_iter().map(quantize_s16).collect())
}

/// Reads a WAV file as whisper's loader would at 51.2 kHz: mono, 16-bit quantised.
pub fn load_audio_mono(path: &Path) -> Result<Vec<f32>> {
    let audio = read_wav(path)?;
    to_vae_rate_mono(&audio).context(path.display())
}

/// Reads a WAV file into the encoder's planar `[2, N]` layout (the mono signal of
/// [`load_audio_mono`] on both channels). Returns the samples and `N`.
pub fn load_conditioning_audio(path: &Path) -> Result<(Vec<f32>, usize)> {
    let mono = load_audio_mono(path)?;
    let n = mono.len();
    let mut planar = Vec::with_capacity(2 * n);
    planar.extend_from_slice(&mono);
    planar.extend_from_slice(&mono);
    Ok((planar, n))
}
