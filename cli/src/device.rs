//! Choosing the compute device from `--backend` and `--precision`.

use happyhorse_tensor::{bail, Device, Precision, Result, ResultExt};

/// `--backend` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A hardware GPU when one exists, else the CPU.
    Auto,
    /// A GPU through wgpu (Vulkan, Metal, DX12); an error when there is none.
    Gpu,
    /// The CPU backend.
    Cpu,
}

/// The device for a `--backend` choice.
pub fn select(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::Cpu),
        Backend::Gpu => Device::gpu(),
        Backend::Auto => Ok(Device::auto()),
    }
}

/// `--precision` values: how activations are stored between GPU kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionFlag {
    /// Half-precision activations (the default on a GPU with SHADER_F16); accumulation,
    /// norms' statistics, softmax and the residual stream stay f32.
    F16,
    /// Every activation in f32 (the only choice on the CPU).
    F32,
}

/// The device for `--backend` and `--precision`: without `--precision`, f16 on a GPU that
/// offers SHADER_F16 and f32 elsewhere. `--precision f16` on the CPU, or on a GPU without
/// SHADER_F16, is refused with an error naming the flag.
pub fn select_with(backend: Backend, precision: Option<PrecisionFlag>) -> Result<Device> {
    let device = select(backend)?;
    let wanted = match precision {
        Some(PrecisionFlag::F16) => Precision::F16,
        Some(PrecisionFlag::F32) => Precision::F32,
        None if device.supports_f16() => Precision::F16,
        None => Precision::F32,
    };
    if wanted == Precision::F16 && device.is_cpu() {
        bail!("--precision f16 needs a GPU (--backend gpu); the CPU backend computes in f32 only");
    }
    device
        .with_precision(wanted)
        .with_context(|| format!("--precision {wanted} on {device}"))
}
