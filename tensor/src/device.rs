//! Where a tensor lives: the CPU or a wgpu device.

use std::fmt;
#[cfg(feature = "gpu")]
use std::sync::Arc;

/// A compute device. Every op runs on the device of its inputs; inputs on different
/// devices are an error.
#[derive(Clone)]
pub enum Device {
    /// The CPU backend (rayon + SIMD). It is the reference for every GPU kernel.
    Cpu,
    /// A wgpu adapter and device.
    #[cfg(feature = "gpu")]
    Gpu(Arc<crate::gpu::GpuContext>),
}

impl Device {
    /// Whether this is the CPU.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// Whether two devices are the same device.
    pub fn same(&self, other: &Device) -> bool {
        match (self, other) {
            (Device::Cpu, Device::Cpu) => true,
            #[cfg(feature = "gpu")]
            (Device::Gpu(a), Device::Gpu(b)) => Arc::ptr_eq(a, b),
            #[cfg(feature = "gpu")]
            _ => false,
        }
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => write!(f, "gpu ({})", ctx.adapter_name()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
