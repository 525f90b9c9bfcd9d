//! Noise schedules and samplers of the MagiHuman pipeline, and the seeded noise generator.
//!
//! - [`schedule`]: the shifted flow sigmas and their integer timesteps.
//! - [`distilled`]: the 8-step distilled update (x̂0 = x − σ·v, then re-noise).
//! - [`unipc`]: the flow UniPC multistep solver (order 2, bh2) the base and SR models use.
//! - [`guidance`]: classifier-free guidance, per-frame scales.
//! - [`super_resolution`]: latent upsampling and the zero-SNR re-noising of the SR stage.
//! - [`loops`]: the distilled, base and super-resolution loops over any [`loops::Denoiser`].
//! - [`tap`]: the typed names of the loops' intermediates.
//! - [`rng`]: a counter-based generator giving the same normals on every platform.

pub mod distilled;
pub mod guidance;
pub mod loops;
pub mod rng;
pub mod schedule;
pub mod super_resolution;
pub mod tap;
pub mod unipc;

pub use rng::NoiseRng;
pub use schedule::FlowSchedule;
pub use unipc::FlowUniPc;
