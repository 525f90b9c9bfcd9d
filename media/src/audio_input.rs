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
//!
//! Audio longer than [`SEGMENT_SECONDS`] + [`MARGIN_SECONDS`] is resampled in segments of
//! [`SEGMENT_SECONDS`], each transformed with [`MARGIN_SECONDS`] of its neighbours on either
//! side and only its own part kept, so an output sample depends on the input around it and
//! never on the end of the file. That is what lets [`load_conditioning_audio`] read only the
//! start of a long file (`max_seconds`) and still give, sample for sample, the start of what
//! reading the whole file gives. Shorter audio is transformed in one piece.

use std::path::Path;

use happyhorse_tensor::{ensure, Result, ResultExt};

use crate::resample::{resample, VAE_AUDIO_RATE};
use crate::wav::{open_wav, read_frames, WavAudio};

/// Seconds of input each resampling segment keeps.
pub const SEGMENT_SECONDS: usize = 2;

/// Seconds of input on either side of a segment that its transform also sees.
pub const MARGIN_SECONDS: f64 = 0.5;

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

/// The segment grid of a conversion from `rate` Hz: input samples per segment, input
/// samples of margin, output samples per segment, and the input step `q` (every offset on
/// the grid is a multiple of it, so it maps to a whole output sample).
struct Grid {
    seg_in: usize,
    margin: usize,
    seg_out: usize,
    q: usize,
    p: usize,
}

impl Grid {
    fn new(rate: u32) -> Grid {
        let (mut a, mut b) = (rate as usize, VAE_AUDIO_RATE as usize);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        let (q, p) = (rate as usize / a, VAE_AUDIO_RATE as usize / a);
        // `rate` is a multiple of q, so the segment is too.
        let seg_in = SEGMENT_SECONDS * rate as usize;
        let margin = ((rate as f64 * MARGIN_SECONDS).ceil() as usize).div_ceil(q) * q;
        Grid {
            seg_in,
            margin,
            seg_out: seg_in / q * p,
            q,
            p,
        }
    }

    /// Input samples whose conversion gives the first `keep` output samples exactly as the
    /// conversion of any longer input does.
    fn input_needed(&self, keep: usize) -> usize {
        let segments = keep.div_ceil(self.seg_out).max(1);
        segments
            .saturating_mul(self.seg_in)
            .saturating_add(self.margin)
    }
}

/// Resamples mono audio at `rate` Hz to 51.2 kHz (see the module notes on segments) and
/// quantises it; returns the first `keep` samples of the `⌈N·51200/rate⌉`.
fn mono_to_vae_rate(mono: &[f32], rate: u32, keep: usize) -> Result<Vec<f32>> {
    let n = mono.len();
    ensure!(n > 0, "audio has no samples");
    let total = vae_rate_len(n, rate);
    let out_len = total.min(keep);
    let resampled = if rate == VAE_AUDIO_RATE {
        mono[..out_len].to_vec()
    } else {
        let g = Grid::new(rate);
        if n <= g.seg_in + g.margin {
            let mut y = resample(mono, total)?;
            y.truncate(out_len);
            y
        } else {
            let mut out = Vec::with_capacity(out_len);
            for k in 0.. {
                let start = k * g.seg_out;
                if start >= out_len {
                    break;
                }
                let end = ((k + 1) * g.seg_out).min(out_len);
                let a = (k * g.seg_in).saturating_sub(g.margin);
                let b = ((k + 1) * g.seg_in + g.margin).min(n);
                let window = resample(&mono[a..b], vae_rate_len(b - a, rate))?;
                let off = start - a / g.q * g.p;
                out.extend_from_slice(&window[off..off + (end - start)]);
            }
            out
        }
    };
    Ok(resampled.into_iter().map(quantize_s16).collect())
}

/// The mono signal of interleaved audio: mono as is, stereo averaged.
fn downmix(audio: &WavAudio) -> Result<Vec<f32>> {
    let channels = audio.channels as usize;
    ensure!(
        channels == 1 || channels == 2,
        "audio has {channels} channels; only mono and stereo are supported"
    );
    ensure!(audio.frames() > 0, "audio has no samples");
    Ok(if channels == 1 {
        audio.samples.clone()
    } else {
        audio
            .samples
            .chunks_exact(2)
            .map(|lr| (lr[0] + lr[1]) * 0.5)
            .collect()
    })
}

/// Converts decoded WAV audio to the mono 51.2 kHz signal whisper's loader returns.
pub fn to_vae_rate_mono(audio: &WavAudio) -> Result<Vec<f32>> {
    mono_to_vae_rate(&downmix(audio)?, audio.sample_rate, usize::MAX)
}

/// Reads a WAV file as whisper's loader would at 51.2 kHz: mono, 16-bit quantised.
pub fn load_audio_mono(path: &Path) -> Result<Vec<f32>> {
    load_audio_mono_bounded(path, f64::INFINITY)
}

/// [`load_audio_mono`] of at most the first `max_seconds` of the file (infinity: all of
/// it): only the input samples those need (plus the resampling margin) are read, and the
/// result is exactly the start of what reading the whole file gives.
pub fn load_audio_mono_bounded(path: &Path, max_seconds: f64) -> Result<Vec<f32>> {
    ensure!(
        max_seconds > 0.0,
        "{}: the audio length to read must be positive, got {max_seconds} s",
        path.display()
    );
    let keep = if max_seconds.is_finite() {
        // Saturating: a bound longer than any file reads the whole file.
        (max_seconds * VAE_AUDIO_RATE as f64).ceil() as usize
    } else {
        usize::MAX
    };
    let reader = open_wav(path)?;
    let rate = reader.spec().sample_rate;
    let max_frames = if rate == VAE_AUDIO_RATE {
        keep
    } else {
        Grid::new(rate).input_needed(keep)
    };
    let audio = read_frames(reader, max_frames, path)?;
    let mono = downmix(&audio).context(path.display())?;
    mono_to_vae_rate(&mono, rate, keep).context(path.display())
}

/// Reads the first `max_seconds` of a WAV file (infinity: all of it) into the encoder's
/// planar `[2, N]` layout (the mono signal of [`load_audio_mono_bounded`] on both channels).
/// Returns the samples and `N`.
pub fn load_conditioning_audio(path: &Path, max_seconds: f64) -> Result<(Vec<f32>, usize)> {
    let mono = load_audio_mono_bounded(path, max_seconds)?;
    let n = mono.len();
    let mut planar = Vec::with_capacity(2 * n);
    planar.extend_from_slice(&mono);
    planar.extend_from_slice(&mono);
    Ok((planar, n))
}
