//! The pipeline's audio post-process: the decoded 51.2 kHz waveform becomes interleaved
//! `[N', 2]` samples at 44.1 kHz (`scipy.signal.resample` along time).

use happyhorse_tensor::{bail, Result, Tensor};

use happyhorse_media::resample::{output_len_44k, resample_51k2_to_44k1};

/// Resamples a decoded waveform `[1, C, N]` (or `[C, N]`) at 51.2 kHz to `[⌊N·441/512⌋, C]`
/// at 44.1 kHz, the layout `post_process` writes out. The result is a CPU tensor.
pub fn post_process(decoded: &Tensor) -> Result<Tensor> {
    let (channels, n) = match decoded.shape() {
        [1, c, n] | [c, n] => (*c, *n),
        other => bail!(
            "audio post-process: expected a decoded waveform [1, C, N] or [C, N], got {other:?}"
        ),
    };
    if n == 0 {
        bail!("audio post-process: the decoded waveform is empty");
    }
    let planar = decoded.to_vec()?;
    let interleaved = resample_51k2_to_44k1(&planar, channels)?;
    Tensor::from_vec(interleaved, &[output_len_44k(n), channels])
}
