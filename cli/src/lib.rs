//! happyhorse: text (and image) to video with synchronized audio, in pure Rust.
//!
//! This crate is the pipeline as a library, for programs that embed generation, and the
//! `happyhorse` binary. Follow one prompt: [`generate`] builds the request, the
//! [`pipeline`] tokenizes and encodes the prompt (happyhorse-model), samples latents with
//! the DiT (happyhorse-sampler's loops over happyhorse-model's DiT), decodes frames and
//! audio (happyhorse-codecs), and [`output`] writes PNG frames, a WAV and
//! `generation.json`. Every op runs through happyhorse-tensor on the CPU or a wgpu device.

pub mod allocator;
pub mod builtin;
pub mod device;
pub mod failure;
pub mod generate;
pub mod memory;
pub mod memory_plan;
pub mod output;
pub mod parity;
pub mod phase_memory;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod quantize;
pub mod request;
pub mod stack;
pub mod step_counters;
pub mod synth;
pub mod verify;
