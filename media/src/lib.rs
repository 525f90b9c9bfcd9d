//! happyhorse-media: the media files around the models. Decoded frames go out as PNG,
//! generated audio as WAV (resampled from the audio VAE's 51.2 kHz to 44.1 kHz), and the
//! conditioning image and conditioning audio come in.
//!
//! Everything here works on plain buffers with explicit shapes; nothing depends on the
//! networks or the VAEs.

pub mod audio_input;
mod file;
pub mod image_input;
pub mod png_frames;
pub mod resample;
pub mod wav;

pub use audio_input::{load_audio_mono, load_conditioning_audio, to_vae_rate_mono};
pub use image_input::{
    load_image_input, prepare_image, read_image, resize, resizecrop, Filter, ImageInput, RgbImage,
};
pub use png_frames::{to_uint8, to_uint8_frames, write_frames_png, write_png_rgb};
pub use wav::{duration_seconds, encode_wav_pcm16, read_wav, write_wav_pcm16, WavAudio};
