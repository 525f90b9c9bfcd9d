//! WAV files: the 16-bit PCM writer for the generated audio, and a reader for conditioning
//! audio (PCM 8/16/24/32-bit or float32, any channel count and rate).
//!
//! The reference saves its float32 `[samples, channels]` array with `soundfile.write(path,
//! audio, 44100)`. For a `.wav` name soundfile's default subtype is PCM_16, and libsndfile
//! converts each float with `lrintf(x · 32767)` (round half to even). The header is the
//! canonical 44-byte RIFF/WAVE header with a 16-byte `fmt ` chunk (WAVE_FORMAT_PCM) followed
//! by the `data` chunk. One deliberate difference: libsndfile without `SFC_SET_CLIPPING`
//! lets a value outside [-1, 1] wrap around in the 16-bit cast; here it saturates.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

use happyhorse_tensor::{bail, ensure, Error, Result, ResultExt};

use crate::file::regular_file_len;

/// Converts one float sample to 16-bit PCM like libsndfile: `lrintf(x · 32767)`, saturated
/// to the `i16` range (NaN becomes 0).
pub fn f32_to_pcm16(x: f32) -> i16 {
    let scaled = (x * 32767.0).round_ties_even();
    // `as` saturates and maps NaN to 0.
    scaled as i16
}

/// Encodes interleaved float samples (`[frames, channels]`) as a 16-bit PCM WAV file image.
pub fn encode_wav_pcm16(interleaved: &[f32], channels: u16, sample_rate: u32) -> Result<Vec<u8>> {
    ensure!(channels > 0, "wav: zero channels");
    ensure!(sample_rate > 0, "wav: zero sample rate");
    ensure!(
        interleaved.len().is_multiple_of(channels as usize),
        "wav: {} samples do not split into {channels} channels",
        interleaved.len()
    );
    let data_len = interleaved.len() * 2;
    let riff_len = u32::try_from(36 + data_len)
        .map_err(|_| Error::msg(format!("wav: {data_len} bytes of audio exceed 4 GiB")))?;
    let block_align = channels * 2;
    let mut out = Vec::with_capacity(44 + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * block_align as u32).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for &x in interleaved {
        out.extend_from_slice(&f32_to_pcm16(x).to_le_bytes());
    }
    Ok(out)
}

/// Writes interleaved float samples as a 16-bit PCM WAV file (see [`encode_wav_pcm16`]).
pub fn write_wav_pcm16(
    path: &Path,
    interleaved: &[f32],
    channels: u16,
    sample_rate: u32,
) -> Result<()> {
    let bytes = encode_wav_pcm16(interleaved, channels, sample_rate).context(path.display())?;
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Duration in seconds of `frames` samples per channel at `sample_rate`.
pub fn duration_seconds(frames: usize, sample_rate: u32) -> f64 {
    frames as f64 / sample_rate as f64
}

/// Audio read from a WAV file: interleaved `[frames, channels]` floats in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct WavAudio {
    /// Interleaved samples.
    pub samples: Vec<f32>,
    /// Number of channels.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl WavAudio {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1) as usize
    }

    /// Duration in seconds.
    pub fn duration_seconds(&self) -> f64 {
        duration_seconds(self.frames(), self.sample_rate)
    }
}

/// Reads a WAV file. Integer PCM of 8, 16, 24 or 32 bits is scaled by `1/2^(bits−1)` (as
/// ffmpeg does); float32 is taken as is. Any other encoding, a file that is not a regular
/// file, or a header claiming more data than the file holds is an error naming the file.
pub fn read_wav(path: &Path) -> Result<WavAudio> {
    read_frames(open_wav(path)?, usize::MAX, path)
}

/// Opens a WAV file for reading, refusing what is not a regular file and a header that
/// claims more sample data than the file holds.
pub(crate) fn open_wav(path: &Path) -> Result<hound::WavReader<BufReader<File>>> {
    let name = path.display();
    let len = regular_file_len(path, "WAV")?;
    let file =
        File::open(path).map_err(|e| Error::msg(format!("{name}: cannot read audio: {e}")))?;
    let reader = hound::WavReader::new(BufReader::new(file))
        .map_err(|e| Error::msg(format!("{name}: not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    ensure!(spec.channels > 0, "{name}: WAV header has zero channels");
    ensure!(
        spec.sample_rate > 0,
        "{name}: WAV header has zero sample rate"
    );
    let claimed = u64::from(reader.len()) * u64::from(spec.bits_per_sample).div_ceil(8);
    ensure!(
        claimed <= len,
        "{name}: the WAV header claims {} samples ({claimed} bytes of data) but the file has \
         only {} bytes (truncated, or a header never completed)",
        reader.len(),
        len
    );
    Ok(reader)
}

/// Reads at most `max_frames` frames (samples per channel) of an open WAV file. Integer
/// PCM of 8, 16, 24 or 32 bits is scaled by `1/2^(bits−1)` (as ffmpeg does); float32 is
/// taken as is.
pub(crate) fn read_frames(
    reader: hound::WavReader<BufReader<File>>,
    max_frames: usize,
    path: &Path,
) -> Result<WavAudio> {
    let name = path.display();
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let frames = (reader.duration() as usize).min(max_frames);
    let count = frames * channels;
    let bad = |e: hound::Error| Error::msg(format!("{name}: corrupt WAV data: {e}"));
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .take(count)
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .into_samples::<i32>()
                .take(count)
                .map(|s| s.map(|v| (v as f64 * scale) as f32))
                .collect::<std::result::Result<_, _>>()
                .map_err(bad)?
        }
        (format, bits) => bail!(
            "{name}: unsupported WAV encoding ({bits}-bit {}); expected PCM 8/16/24/32-bit or float32",
            match format {
                hound::SampleFormat::Float => "float",
                hound::SampleFormat::Int => "integer PCM",
            }
        ),
    };
    Ok(WavAudio {
        samples,
        channels: spec.channels,
        sample_rate: spec.sample_rate,
    })
}
