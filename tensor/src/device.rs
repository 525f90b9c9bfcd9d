//! Where a tensor lives: the CPU or a wgpu device.

use std::fmt;
#[cfg(feature = "gpu")]
use std::sync::Arc;

/// How a device stores activations between kernels. Accumulation, normalisation
/// statistics and softmax stay f32 in both; f16 is the GPU's half-precision mode, where
/// the half-precision-weight linears store their results in f16 and the ops fed only by f16
/// activations keep them in f16, while a result with an f32 operand (the residual stream)
/// stays f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Every activation in f32.
    #[default]
    F32,
    /// Activations in f16 between kernels (GPU with `SHADER_F16` only).
    F16,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        })
    }
}

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

    /// This device with activations stored in `precision` (for a GPU, a view of the same
    /// wgpu device), or an error when the device cannot (the CPU computes in f32 only; f16
    /// needs an adapter with `SHADER_F16`).
    pub fn with_precision(&self, precision: Precision) -> crate::Result<Device> {
        if precision == self.precision() {
            return Ok(self.clone());
        }
        match self {
            Device::Cpu => {
                crate::bail!("the CPU backend computes activations in f32 only, not {precision}")
            }
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => Ok(Device::Gpu(ctx.with_precision(precision)?)),
        }
    }

    /// How this device stores activations between kernels (always f32 on the CPU).
    pub fn precision(&self) -> Precision {
        match self {
            Device::Cpu => Precision::F32,
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.precision(),
        }
    }

    /// Whether this device can store activations in f16 (a GPU with `SHADER_F16`).
    pub fn supports_f16(&self) -> bool {
        match self {
            Device::Cpu => false,
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.has_shader_f16(),
        }
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

    /// A new context on the GPU (a software adapter accepted) whose bindings hold at most
    /// `max_binding_bytes` (`None`: the device's limit), to reach the split and chunked
    /// paths at small sizes.
    #[cfg(feature = "gpu")]
    pub fn gpu_with_binding_cap(max_binding_bytes: Option<u64>) -> crate::Result<Device> {
        let ctx = crate::gpu::GpuContext::new(&crate::gpu::GpuOptions {
            allow_software: true,
            max_binding_bytes,
            ..Default::default()
        })?;
        Ok(Device::Gpu(ctx))
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

    /// The largest storage binding a buffer may be, in bytes; `None` on the CPU, where no
    /// buffer has such a cap.
    pub fn max_binding_bytes(&self) -> Option<u64> {
        match self {
            Device::Cpu => None,
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => Some(ctx.max_binding_bytes()),
        }
    }

    /// The device memory the GPU's adapter reports having (see
    /// `GpuContext::memory_capacity`); `None` on the CPU or when the adapter says nothing.
    pub fn memory_capacity(&self) -> Option<u64> {
        match self {
            Device::Cpu => None,
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.memory_capacity(),
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

    /// The bytes this device holds now and at most since the last [`Device::reset_peak`]:
    /// every buffer of a GPU (idle pooled ones included); on the CPU, this process's heap
    /// (memory-mapped files excluded), counted only when the binary registers
    /// [`crate::heap::CountingAllocator`] (else `counted` is false).
    pub fn memory_use(&self) -> crate::MemoryUse {
        match self {
            Device::Cpu => crate::heap::memory_use(),
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.memory_use(),
        }
    }

    /// Marks a phase start: the peak of [`Device::memory_use`] becomes the bytes held now.
    pub fn reset_peak(&self) {
        match self {
            Device::Cpu => crate::heap::reset_peak(),
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.reset_peak(),
        }
    }

    /// Sends the recorded kernels to a GPU without waiting for them; nothing on the CPU.
    pub fn flush(&self) -> crate::Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.flush(),
        }
    }

    /// The device bytes a tensor of `bytes` bytes takes: on a GPU its buffer, rounded up
    /// to the buffer pool's size class; on the CPU `bytes`.
    pub fn buffer_bytes(&self, bytes: u64) -> u64 {
        match self {
            Device::Cpu => bytes,
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => ctx.buffer_bytes(bytes),
        }
    }

    /// Whether two devices are the same device (GPU views of one wgpu device with
    /// different precisions are).
    pub fn same(&self, other: &Device) -> bool {
        match (self, other) {
            (Device::Cpu, Device::Cpu) => true,
            #[cfg(feature = "gpu")]
            (Device::Gpu(a), Device::Gpu(b)) => a.same_device(b),
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
            Device::Gpu(ctx) => write!(f, "gpu ({}, {})", ctx.adapter_name(), ctx.precision()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
