//! Choosing the compute device from `--backend`.

use happyhorse_tensor::{Device, Result};

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
