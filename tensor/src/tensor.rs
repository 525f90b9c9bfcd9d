//! The tensor: shape + dtype + device storage, with cheap views.

use half::{bf16, f16};
use std::borrow::Cow;
use std::sync::Arc;

use crate::layout::{broadcast_shapes, checked_numel, resolve_dim, Layout};
use crate::storage::{ByteSource, CpuStorage, Storage};
use crate::{ensure, DType, Device, Error, Result};

/// An n-dimensional array on a device. Cloning is cheap: clones share storage.
///
/// Views (`reshape`, `transpose`, `permute`, `narrow`, `unsqueeze`, `broadcast_as`, …)
/// share storage and only change the [`Layout`]; ops that need packed rows call
/// [`Tensor::contiguous`], which copies only when it must.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    layout: Layout,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {}, {})",
            self.shape(),
            self.dtype,
            self.device
        )
    }
}

impl Tensor {
    /// Wraps a storage and layout. The caller guarantees the layout fits the storage.
    pub fn from_parts(storage: Storage, layout: Layout, dtype: DType, device: Device) -> Tensor {
        Tensor {
            storage: Arc::new(storage),
            layout,
            dtype,
            device,
        }
    }

    /// A CPU f32 tensor owning `data`, which must hold exactly `shape`'s elements.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        Self::owning(data, shape, CpuStorage::F32, DType::F32)
    }

    /// A CPU f16 tensor owning `data`.
    pub fn from_f16_vec(data: Vec<f16>, shape: &[usize]) -> Result<Tensor> {
        Self::owning(data, shape, CpuStorage::F16, DType::F16)
    }

    /// A CPU bf16 tensor owning `data`.
    pub fn from_bf16_vec(data: Vec<bf16>, shape: &[usize]) -> Result<Tensor> {
        Self::owning(data, shape, CpuStorage::BF16, DType::BF16)
    }

    /// A CPU tensor of `dtype` owning `data` (stored as `storage`), which must hold exactly
    /// `shape`'s elements.
    fn owning<T>(
        data: Vec<T>,
        shape: &[usize],
        storage: fn(Vec<T>) -> CpuStorage,
        dtype: DType,
    ) -> Result<Tensor> {
        let n = checked_numel(shape)?;
        ensure!(
            data.len() == n,
            "{} values cannot fill a {dtype} tensor of shape {shape:?} ({n} elements)",
            data.len()
        );
        Ok(Self::from_cpu(storage(data), shape, dtype))
    }

    /// A CPU tensor over little-endian bytes of `dtype` (for example a range of a memory
    /// map), used in place when aligned for the dtype and copied otherwise.
    pub fn from_bytes(bytes: Arc<dyn ByteSource>, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel(shape)?;
        let raw = bytes.as_bytes();
        let inner = shape.last().copied().unwrap_or(1);
        ensure!(
            inner.is_multiple_of(dtype.block_len()),
            "a {dtype} tensor's last dimension must be a whole number of {}-value blocks, \
             not shape {shape:?}",
            dtype.block_len()
        );
        let want = dtype
            .storage_bytes(n, inner)
            .ok_or_else(|| Error::msg(format!("shape {shape:?} is too large")))?;
        ensure!(
            raw.len() == want,
            "{} bytes cannot hold a {dtype} tensor of shape {shape:?} ({want} bytes)",
            raw.len()
        );
        let aligned = (raw.as_ptr() as usize).is_multiple_of(dtype.size().min(8));
        let storage = match dtype {
            DType::F32 if !aligned => CpuStorage::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            DType::F16 if !aligned => CpuStorage::F16(
                raw.chunks_exact(2)
                    .map(|c| f16::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            DType::BF16 if !aligned => CpuStorage::BF16(
                raw.chunks_exact(2)
                    .map(|c| bf16::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            // Other dtypes are read element by element with from_le_bytes: any alignment.
            _ => CpuStorage::Bytes(bytes),
        };
        Ok(Self::from_cpu(storage, shape, dtype))
    }

    fn from_cpu(storage: CpuStorage, shape: &[usize], dtype: DType) -> Tensor {
        Tensor::from_parts(
            Storage::Cpu(storage),
            Layout::contiguous(shape),
            dtype,
            Device::Cpu,
        )
    }

    /// A CPU f32 tensor filled with `value`.
    pub fn full(value: f32, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(vec![value; checked_numel(shape)?], shape)
    }

    /// A CPU f32 tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Result<Tensor> {
        Tensor::full(0.0, shape)
    }

    /// A CPU f32 tensor holding one value, shape `[]`.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_vec(vec![value], &[]).expect("one value fills a scalar")
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    /// Size of one dimension (negative counts from the end).
    pub fn dim(&self, dim: isize) -> Result<usize> {
        Ok(self.shape()[resolve_dim(dim, self.rank())?])
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device holding the storage.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The view's layout over its storage.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The storage (shared with every view of it).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Whether the view is packed row-major.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// The host storage, or an error naming the device.
    pub fn cpu_storage(&self) -> Result<&CpuStorage> {
        match &*self.storage {
            Storage::Cpu(s) => Ok(s),
            #[cfg(feature = "gpu")]
            Storage::Gpu(_) => crate::bail!(
                "tensor {:?} is on the GPU; this needs it on the CPU",
                self.shape()
            ),
        }
    }

    fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor {
            storage: self.storage.clone(),
            layout,
            dtype: self.dtype,
            device: self.device.clone(),
        }
    }

    /// The elements as f32 in row-major order, borrowed when the tensor is a packed f32
    /// CPU tensor, converted otherwise. Errors for GPU tensors (use [`Tensor::to_vec`]).
    pub fn cpu_f32(&self) -> Result<Cow<'_, [f32]>> {
        let s = self.cpu_storage()?;
        if self.dtype == DType::F32 && self.is_contiguous() {
            let o = self.layout.offset();
            return Ok(Cow::Borrowed(&s.as_f32()[o..o + self.numel()]));
        }
        let mut out = Vec::with_capacity(self.numel());
        match self.dtype {
            DType::F32 => {
                let d = s.as_f32();
                self.layout.for_each_index(|i| out.push(d[i]));
            }
            DType::BF16 => {
                let d = s.as_bf16();
                self.layout.for_each_index(|i| out.push(d[i].to_f32()));
            }
            DType::F16 => {
                let d = s.as_f16();
                self.layout.for_each_index(|i| out.push(d[i].to_f32()));
            }
            dt if dt.is_quantized() => {
                let all = happyhorse_formats::quant::dequantize(dt, s.as_bytes())?;
                if self.is_contiguous() {
                    let o = self.layout.offset();
                    return Ok(Cow::Owned(all[o..o + self.numel()].to_vec()));
                }
                self.layout.for_each_index(|i| out.push(all[i]));
            }
            dt => self
                .layout
                .for_each_index(|i| out.push(s.get_f64(dt, i) as f32)),
        }
        Ok(Cow::Owned(out))
    }

    /// Copies the elements to the host as f32, from any device and dtype.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        Ok(self.to_device(&Device::Cpu)?.cpu_f32()?.into_owned())
    }

    /// Copies the elements to the host as f64 (exact for every dtype but I64 beyond 2^53).
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        if self.dtype.is_quantized() {
            // Dequantized once as a whole, not a block per element; f32 widens exactly.
            return Ok(self.to_vec()?.into_iter().map(f64::from).collect());
        }
        let t = self.to_device(&Device::Cpu)?;
        let s = t.cpu_storage()?;
        let mut out = Vec::with_capacity(t.numel());
        t.layout.for_each_index(|i| out.push(s.get_f64(t.dtype, i)));
        Ok(out)
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f32> {
        ensure!(
            self.numel() == 1,
            "tensor of shape {:?} is not a scalar",
            self.shape()
        );
        Ok(self.to_vec()?[0])
    }

    /// Moves (copies) the tensor to `device`; no copy when it is already there (on another
    /// precision's view of its GPU it is the same storage, seen with that precision).
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if self.device.same(device) {
            let mut t = self.clone();
            t.device = device.clone();
            return Ok(t);
        }
        match device {
            Device::Cpu => {
                #[cfg(feature = "gpu")]
                if let Storage::Gpu(g) = &*self.storage {
                    return crate::gpu::download(self, g);
                }
                unreachable!("a non-CPU tensor has GPU storage")
            }
            #[cfg(feature = "gpu")]
            Device::Gpu(ctx) => {
                let host = self.to_device(&Device::Cpu)?;
                crate::gpu::upload(ctx, &host)
            }
        }
    }

    /// Converts to `dtype` (a packed copy), or returns `self` when it already is.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype == dtype {
            return Ok(self.clone());
        }
        match &self.device {
            Device::Cpu => crate::cpu::cast::to_dtype(self, dtype),
            #[cfg(feature = "gpu")]
            Device::Gpu(_) => crate::gpu::cast::to_dtype(self, dtype),
        }
    }

    /// A packed row-major copy, or `self` when already packed.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        match &self.device {
            Device::Cpu => crate::cpu::cast::contiguous(self),
            #[cfg(feature = "gpu")]
            Device::Gpu(_) => crate::gpu::cast::contiguous(self),
        }
    }

    /// The same elements under a new shape (one dimension may be `usize::MAX` to infer
    /// it). A view when the layout allows, a copy otherwise.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n = self.numel();
        let mut shape = shape.to_vec();
        if let Some(pos) = shape.iter().position(|&d| d == usize::MAX) {
            let known: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
            ensure!(
                known != 0 && n.is_multiple_of(known),
                "cannot reshape {:?} into {:?}",
                self.shape(),
                shape
            );
            shape[pos] = n / known;
        }
        ensure!(
            checked_numel(&shape)? == n,
            "cannot reshape {:?} ({n} elements) into {shape:?}",
            self.shape()
        );
        let t = self.contiguous()?;
        Ok(t.with_layout(Layout::new(
            shape.clone(),
            crate::layout::contiguous_strides(&shape),
            t.layout.offset(),
        )))
    }

    /// Swaps two dimensions (a view).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let (a, b) = (resolve_dim(a, self.rank())?, resolve_dim(b, self.rank())?);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Reorders the dimensions: output dim `i` is input dim `perm[i]` (a view).
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        ensure!(
            perm.len() == self.rank() && {
                let mut seen = vec![false; perm.len()];
                perm.iter()
                    .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true))
            },
            "{perm:?} is not a permutation of the {} dims of {:?}",
            self.rank(),
            self.shape()
        );
        let shape = perm.iter().map(|&p| self.shape()[p]).collect();
        let strides = perm.iter().map(|&p| self.layout.strides()[p]).collect();
        Ok(self.with_layout(Layout::new(shape, strides, self.layout.offset())))
    }

    /// Elements `start..start + len` of one dimension (a view).
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank())?;
        ensure!(
            start.checked_add(len).is_some_and(|e| e <= self.shape()[d]),
            "narrow {start}..{} out of range for dim {d} of {:?}",
            start.saturating_add(len),
            self.shape()
        );
        let mut shape = self.shape().to_vec();
        shape[d] = len;
        let offset = self.layout.offset() + start * self.layout.strides()[d];
        Ok(self.with_layout(Layout::new(shape, self.layout.strides().to_vec(), offset)))
    }

    /// Splits one dimension into pieces of the given sizes (views).
    pub fn split(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = resolve_dim(dim, self.rank())?;
        ensure!(
            sizes.iter().sum::<usize>() == self.shape()[d],
            "split sizes {sizes:?} do not add up to dim {d} of {:?}",
            self.shape()
        );
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for &s in sizes {
            out.push(self.narrow(d as isize, start, s)?);
            start += s;
        }
        Ok(out)
    }

    /// Splits one dimension into `n` equal pieces (views).
    pub fn chunk(&self, n: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = resolve_dim(dim, self.rank())?;
        ensure!(
            n > 0 && self.shape()[d].is_multiple_of(n),
            "cannot chunk dim {d} of {:?} into {n} equal pieces",
            self.shape()
        );
        self.split(&vec![self.shape()[d] / n; n], dim)
    }

    /// Inserts a dimension of size 1 at `dim` (a view).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank() + 1)?;
        let mut shape = self.shape().to_vec();
        let mut strides = self.layout.strides().to_vec();
        let stride = if d < self.rank() {
            strides[d] * shape[d]
        } else {
            1
        };
        shape.insert(d, 1);
        strides.insert(d, stride);
        Ok(self.with_layout(Layout::new(shape, strides, self.layout.offset())))
    }

    /// Removes a dimension of size 1 (a view).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank())?;
        ensure!(
            self.shape()[d] == 1,
            "dim {d} of {:?} is not 1",
            self.shape()
        );
        let mut shape = self.shape().to_vec();
        let mut strides = self.layout.strides().to_vec();
        shape.remove(d);
        strides.remove(d);
        Ok(self.with_layout(Layout::new(shape, strides, self.layout.offset())))
    }

    /// Repeats size-1 dimensions (and adds leading ones) to reach `shape` (a view with
    /// zero strides).
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Tensor> {
        let target = broadcast_shapes(self.shape(), shape)?;
        ensure!(
            target == shape,
            "cannot broadcast {:?} to {shape:?}",
            self.shape()
        );
        let extra = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for i in 0..self.rank() {
            strides[extra + i] = if self.shape()[i] == 1 && shape[extra + i] != 1 {
                0
            } else {
                self.layout.strides()[i]
            };
        }
        Ok(self.with_layout(Layout::new(shape.to_vec(), strides, self.layout.offset())))
    }

    /// Flattens everything into one dimension.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])
    }

    /// Checks that `other` is on the same device, naming the op.
    pub fn same_device(&self, other: &Tensor, op: &str) -> Result<()> {
        ensure!(
            self.device.same(&other.device),
            "{op}: tensors are on different devices ({} and {})",
            self.device,
            other.device
        );
        Ok(())
    }
}
