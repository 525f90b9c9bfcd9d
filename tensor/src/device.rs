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
    /// A hardware GPU when one is present (honouring `WGPU_BACKEND`), else the CPU.
    pub fn auto() -> Device {
        #[cfg(feature = "gpu")]
        if let Ok(ctx) = crate::gpu::GpuContext::shared(false) {
            return Device::Gpu(ctx);
        }
        Device::Cpu
    }

    /// The GPU (a software adapter such as lavapipe is accepted when no hardware one is
    /// present), or an error naming why there is none.
    pub fn gpu() -> crate::Result<Device> {
        #[cfg(feature = "gpu")]
        {
            let ctx = crate::gpu::GpuContext::shared(false)
                .or_else(|_| crate::gpu::GpuContext::shared(true))?;
            Ok(Device::Gpu(ctx))
        }
        #[cfg(not(feature = "gpu"))]
        crate::bail!("this build has no GPU backend (enable the `gpu` feature)")
    }

    /// Parses `auto`, `gpu` or `cpu`.
    pub fn parse(name: &str) -> crate::Result<Device> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::auto()),
            "gpu" => Device::gpu(),
            "cpu" => Ok(Device::Cpu),
            other => crate::bail!("unknown device {other:?} (expected auto, gpu or cpu)"),
        }
    }

    /// Whether this is the CPU.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// The GPU adapter's name and its context's counters so far, or `None` on the CPU.
    pub fn gpu_counters(&self) -> Option<(String, crate::GpuCounters)> {
        match self {
            Device::Cpu => None,
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => Some((ctx.adapter_name().to_string(), ctx.counters())),
        }
    }

    /// Drops the GPU's idle pooled buffers (at the end of a phase), returning the bytes
    /// freed; nothing on the CPU.
    pub fn trim_pool(&self) -> crate::Result<u64> {
        match self {
            Device::Cpu => Ok(0),
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.trim_pool(),
        }
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
