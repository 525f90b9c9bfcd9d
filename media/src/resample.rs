//! FFT resampling with the semantics of `scipy.signal.resample`, and the 51.2 → 44.1 kHz
//! post-process of the generated audio.
//!
//! The audio VAE is fed and read at 51 200 Hz (one latent frame = 2048 samples = one video
//! frame at 25 fps) although it was trained at 44 100 Hz. The reference turns the decoded
//! waveform back into 44.1 kHz with `scipy.signal.resample(x, int(N·441/512))` along the time
//! axis, which is what this module reproduces:
//!
//! 1. `X = rfft(x)` over the `N` input samples;
//! 2. keep the first `⌊min(M, N)/2⌋ + 1` bins for the `M` output samples;
//! 3. when `min(M, N)` is even, scale the bin at `min(M, N)/2` by 2 when downsampling
//!    (`M < N`) and by ½ when upsampling (`M > N`);
//! 4. `y = irfft(Y, M) · M/N`, where the inverse reads only the real part of the DC bin and
//!    of the Nyquist bin of an even `M`.
//!
//! The transforms run in `f64` on any length (rustfft picks mixed-radix or Bluestein plans),
//! so the result sits within rounding of scipy's double-precision output.

use happyhorse_tensor::{ensure, Result};
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Sample rate at which the pipeline feeds and reads the audio VAE.
pub const VAE_AUDIO_RATE: u32 = 51_200;

/// Sample rate of the audio the pipeline writes out (`model_config.json → sample_rate`).
pub const OUTPUT_AUDIO_RATE: u32 = 44_100;

/// Output length of the 51.2 → 44.1 kHz post-process for `n` input samples:
/// `int(n · 441/512)`, i.e. `⌊n·441/512⌋`.
pub fn output_len_44k(n: usize) -> usize {
    // 441/512 is exact in binary, so the reference's float product floors like this.
    ((n as u128 * 441) / 512) as usize
}

/// Resamples one channel to `num` samples exactly as `scipy.signal.resample(x, num)` does for
/// real input. Errors when `x` is empty or `num` is zero.
pub fn resample(x: &[f32], num: usize) -> Result<Vec<f32>> {
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    Ok(resample_f64(&x64, num)?
        .into_iter()
        .map(|v| v as f32)
        .collect())
}

/// [`resample`] in double precision.
pub fn resample_f64(x: &[f64], num: usize) -> Result<Vec<f64>> {
    let n = x.len();
    ensure!(n > 0, "resample: the input signal is empty");
    ensure!(num > 0, "resample: the output length must be positive");
    let mut planner = FftPlanner::<f64>::new();

    let mut spectrum: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v, 0.0)).collect();
    planner.plan_fft_forward(n).process(&mut spectrum);

    // Half spectrum of the output (scipy's `Y`, length num/2 + 1).
    let mut half = vec![Complex::new(0.0, 0.0); num / 2 + 1];
    let kept = n.min(num);
    let nyq = kept / 2 + 1;
    half[..nyq].copy_from_slice(&spectrum[..nyq]);
    if kept.is_multiple_of(2) {
        if num < n {
            half[kept / 2] *= 2.0;
        } else if num > n {
            half[kept / 2] *= 0.5;
        }
    }

    // Hermitian extension, as irfft(Y, num) interprets it.
    let mut full = vec![Complex::new(0.0, 0.0); num];
    full[0] = Complex::new(half[0].re, 0.0);
    for k in 1..half.len() {
        if 2 * k == num {
            full[k] = Complex::new(half[k].re, 0.0);
        } else {
            full[k] = half[k];
            full[num - k] = half[k].conj();
        }
    }
    planner.plan_fft_inverse(num).process(&mut full);

    // irfft divides by num; the resampler then scales by num/n.
    let scale = 1.0 / n as f64;
    Ok(full.iter().map(|c| c.re * scale).collect())
}

/// Resamples every channel of a planar `[channels, n]` buffer to `num` samples, giving a
/// planar `[channels, num]` buffer.
pub fn resample_planar(data: &[f32], channels: usize, num: usize) -> Result<Vec<f32>> {
    ensure!(channels > 0, "resample: zero channels");
    ensure!(
        data.len().is_multiple_of(channels),
        "resample: {} samples do not split into {channels} channels",
        data.len()
    );
    let n = data.len() / channels;
    ensure!(n > 0, "resample: the input signal is empty");
    let mut out = Vec::with_capacity(channels * num);
    for ch in data.chunks_exact(n.max(1)) {
        out.extend(resample(ch, num)?);
    }
    Ok(out)
}

/// The reference's audio post-process: a planar `[channels, n]` waveform at 51.2 kHz (the
/// decoder output with its batch dimension dropped) becomes an interleaved `[m, channels]`
/// waveform at 44.1 kHz with `m = ⌊n·441/512⌋` (see [`output_len_44k`]).
pub fn resample_51k2_to_44k1(planar: &[f32], channels: usize) -> Result<Vec<f32>> {
    ensure!(channels > 0, "resample: zero channels");
    let n = planar.len() / channels;
    let m = output_len_44k(n);
    let resampled = resample_planar(planar, channels, m)?;
    let mut interleaved = vec![0.0f32; m * channels];
    for (c, ch) in resampled.chunks_exact(m.max(1)).enumerate() {
        for (i, &v) in ch.iter().enumerate() {
            interleaved[i * channels + c] = v;
        }
    }
    Ok(interleaved)
}
