//! Dtype conversion and packing a view into row-major order.

use half::{bf16, f16};

use crate::storage::{CpuStorage, Storage};
use crate::{bail, DType, Device, Layout, Result, Tensor};

/// Converts to a float dtype, packed.
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    let v = x.cpu_f32()?;
    let storage = match dtype {
        DType::F32 => CpuStorage::F32(v.into_owned()),
        DType::F16 => CpuStorage::F16(v.iter().map(|&a| f16::from_f32(a)).collect()),
        DType::BF16 => CpuStorage::BF16(v.iter().map(|&a| bf16::from_f32(a)).collect()),
        other => bail!("conversion to {other} is not supported"),
    };
    Ok(Tensor::from_parts(
        Storage::Cpu(storage),
        Layout::contiguous(x.shape()),
        dtype,
        Device::Cpu,
    ))
}

/// A packed copy in the same dtype.
pub fn contiguous(x: &Tensor) -> Result<Tensor> {
    let s = x.cpu_storage()?;
    let storage = match x.dtype() {
        DType::F32 => CpuStorage::F32(x.cpu_f32()?.into_owned()),
        DType::F16 => {
            let d = s.as_f16();
            let mut out = Vec::with_capacity(x.numel());
            x.layout().for_each_index(|i| out.push(d[i]));
            CpuStorage::F16(out)
        }
        DType::BF16 => {
            let d = s.as_bf16();
            let mut out = Vec::with_capacity(x.numel());
            x.layout().for_each_index(|i| out.push(d[i]));
            CpuStorage::BF16(out)
        }
        dt if dt.is_quantized() => bail!(
            "a view of shape {:?} of a {dt} tensor cannot be packed; convert it with to_dtype first",
            x.shape()
        ),
        dt => {
            let size = dt.size();
            let bytes = s.as_bytes();
            let mut out = Vec::with_capacity(x.numel() * size);
            x.layout()
                .for_each_index(|i| out.extend_from_slice(&bytes[i * size..(i + 1) * size]));
            CpuStorage::Bytes(std::sync::Arc::new(out))
        }
    };
    Ok(Tensor::from_parts(
        Storage::Cpu(storage),
        Layout::contiguous(x.shape()),
        x.dtype(),
        Device::Cpu,
    ))
}
