//! Launching WGSL kernels: sources and specialisation, bindings, typed parameter blocks,
//! grids split under the 65535-workgroups-per-dimension limit, operands of tensors.

use std::sync::Arc;

use super::record::Dispatch;
use super::{GpuBuffer, GpuContext, GpuStorage};
use crate::memory::Held;
use crate::storage::Storage;
use crate::{bail, DType, Device, Layout, Result, Tensor};

/// Shared helpers of every kernel (flat indexing, NaN-aware max and min).
pub(crate) const COMMON: &str = include_str!("../../../shaders/common.wgsl");
const DTYPE: &str = include_str!("../../../shaders/dtype.wgsl");
const QUANT_BLOCKS: &str = include_str!("../../../shaders/quant_blocks.wgsl");
/// The storage index of an element of a strided view, for kernels whose parameter block
/// has `rank` and `shape`.
pub(crate) const STRIDED: &str = include_str!("../../../shaders/strided.wgsl");
/// The entry point of a kernel with one invocation per element, calling its `element(i)`.
pub(crate) const PER_ELEMENT: &str = include_str!("../../../shaders/per_element.wgsl");
const DTYPE_VEC4: &str = include_str!("../../../shaders/dtype_vec4.wgsl");
const STORE: &str = include_str!("../../../shaders/store.wgsl");

/// Workgroups per dimension of a dispatch.
const MAX_GROUPS: u32 = 65535;

/// The `//# <name>` section of a sectioned shader file (up to the next section), if it has
/// one.
fn section(src: &'static str, name: &str) -> Option<&'static str> {
    let tag = format!("//# {name}\n");
    let start = src.find(&tag)?;
    let body = &src[start + tag.len()..];
    Some(&body[..body.find("//#").unwrap_or(body.len())])
}

/// The part of a sectioned shader file before its first section: what its kernels share.
pub(crate) fn prelude(src: &'static str) -> &'static str {
    &src[..src.find("//#").unwrap_or(src.len())]
}

/// The kernel `name` of a sectioned shader file: its [`prelude`], then its section.
pub(crate) fn kernel_sources(src: &'static str, name: &str) -> Result<[&'static str; 2]> {
    let Some(body) = section(src, name) else {
        bail!("the shader has no kernel {name}");
    };
    Ok([prelude(src), body])
}

/// `fn load_<name>(i: u32) -> f32` reading element `i` of the `array<u32>` binding
/// `<name>` as `dtype`. For a block-quantized dtype also `fn dequant4_<name>(b, j)` (values
/// `j..j + 4` of block `b`) and `BLOCK_LEN_<name>`; the binding then starts on a block.
pub(crate) fn loader(name: &str, dtype: DType) -> Result<String> {
    let (prelude_text, src) = if dtype.is_quantized() {
        (prelude(QUANT_BLOCKS), QUANT_BLOCKS)
    } else {
        ("", DTYPE)
    };
    let Some(body) = section(src, dtype.safetensors_name()) else {
        bail!("GPU kernels cannot read {dtype} tensors");
    };
    Ok((prelude_text.to_string() + body).replace("NAME", name))
}

/// `alias WORDS_<name>` (the u32 vector holding four `dtype` elements of the binding
/// `<name>`) and `fn widen4_<name>` (them as f32), or `None` for a dtype the vectorised
/// loads do not read.
pub(crate) fn widener4(name: &str, dtype: DType) -> Option<String> {
    section(DTYPE_VEC4, dtype.safetensors_name()).map(|body| body.replace("NAME", name))
}

/// The storage dtypes kernels write: f32, and f16 (half-precision activations).
fn store_type(dtype: DType) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok(F32_ARRAY),
        DType::F16 => Ok(F16_ARRAY),
        other => bail!("GPU kernels store f32 or f16 results, not {other}"),
    }
}

/// The binding `name` a kernel writes its `dtype` result to.
fn store_slot(name: &'static str, dtype: DType) -> Result<Slot> {
    Ok(Slot::write(name, store_type(dtype)?))
}

/// A kernel's storage slots: the bindings it reads, as (name, WGSL type), then `OUT`
/// holding `out` values.
pub(crate) fn slots_storing(
    reads: &[(&'static str, &'static str)],
    out: DType,
) -> Result<Vec<Slot>> {
    let mut slots: Vec<Slot> = reads.iter().map(|&(n, t)| Slot::read(n, t)).collect();
    slots.push(store_slot("OUT", out)?);
    Ok(slots)
}

/// `fn store_<name>(i: u32, v: f32)` writing element `i` of the binding `<name>` (see
/// [`store_slot`]) as `dtype`.
pub(crate) fn storer(name: &str, dtype: DType) -> Result<String> {
    store_type(dtype)?;
    let Some(body) = section(STORE, dtype.safetensors_name()) else {
        bail!("GPU kernels cannot store {dtype} results");
    };
    Ok(body.replace("NAME", name))
}

/// A kernel's parameter block: a `#[repr(C)]` struct of 32-bit fields, uploaded as the
/// uniform at binding 0. The launch declares it to the shader as a WGSL struct of the same
/// name and fields ([`declaration`]) read as `P`; the layout test in `param_layout.rs`
/// checks that WGSL places every field where Rust does. Declared with [`param_block!`].
pub(crate) trait ParamBlock: bytemuck::Pod {
    /// The struct's name, in Rust and in WGSL.
    const NAME: &'static str;
    /// The fields in order.
    const FIELDS: &'static [Field];
}

/// One field of a [`ParamBlock`]: name, WGSL type, and (for the layout test) byte offset
/// and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: &'static str,
    pub wgsl_type: &'static str,
    #[cfg(test)]
    pub offset: usize,
    #[cfg(test)]
    pub size: usize,
}

/// A Rust type a parameter block may hold, and its WGSL spelling.
pub(crate) trait WgslField {
    /// The WGSL type of the field.
    const WGSL: &'static str;
}

impl WgslField for u32 {
    const WGSL: &'static str = "u32";
}

impl WgslField for f32 {
    const WGSL: &'static str = "f32";
}

/// `array<vec4<u32>, k>` for each `k` a block uses; a uniform array's elements are 16-byte
/// aligned, so `[u32; 4·k]` is read as `k` vectors.
macro_rules! vec4_arrays {
    ($($k:literal),+) => {$(
        impl WgslField for [u32; 4 * $k] {
            const WGSL: &'static str = concat!("array<vec4<u32>, ", $k, ">");
        }
    )+};
}
vec4_arrays!(1, 2, 3, 4);

/// Declares a kernel's parameter block: a `#[repr(C)]`, `Pod` struct whose fields are
/// `u32`, `f32`, or `[u32; 4·k]` (a WGSL `array<vec4<u32>, k>`), and its [`ParamBlock`]
/// field table, from which the launch writes the WGSL struct. Padding that WGSL's alignment
/// rules put before a vector array is spelled out as `_pad` fields.
macro_rules! param_block {
    ($(#[$m:meta])* $vis:vis struct $name:ident {
        $($(#[$fm:meta])* $f:ident: $t:ty,)+
    }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($(#[$fm])* pub $f: $t,)+
        }

        impl $crate::gpu::kernel::ParamBlock for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [$crate::gpu::kernel::Field] = &[$(
                $crate::gpu::kernel::Field {
                    name: stringify!($f),
                    wgsl_type: <$t as $crate::gpu::kernel::WgslField>::WGSL,
                    #[cfg(test)]
                    offset: ::std::mem::offset_of!($name, $f),
                    #[cfg(test)]
                    size: ::std::mem::size_of::<$t>(),
                },
            )+];
        }
    };
}
pub(crate) use param_block;

/// The WGSL of parameter block `B`: its struct and `P`, the uniform at binding 0.
pub(crate) fn declaration<B: ParamBlock>() -> String {
    let mut s = format!("struct {} {{\n", B::NAME);
    for f in B::FIELDS {
        s.push_str(&format!("    {}: {},\n", f.name, f.wgsl_type));
    }
    s.push_str(&format!(
        "}}\n@group(0) @binding(0) var<uniform> P: {};\n",
        B::NAME
    ));
    s
}

/// The bytes of a parameter block, the name of its struct and its WGSL declaration.
pub(crate) struct Block {
    name: &'static str,
    declaration: fn() -> String,
    bytes: Vec<u8>,
}

impl Block {
    /// The block `p`.
    pub(crate) fn of<P: ParamBlock>(p: &P) -> Block {
        Block {
            name: P::NAME,
            declaration: declaration::<P>,
            bytes: bytemuck::bytes_of(p).to_vec(),
        }
    }
}

/// `v` as a 32-bit parameter, or an error naming a tensor too large for one dispatch.
pub(crate) fn word(v: usize) -> Result<u32> {
    match u32::try_from(v) {
        Ok(v) => Ok(v),
        Err(_) => bail!(
            "GPU kernel parameter {v} does not fit in 32 bits (tensor too large for one dispatch)"
        ),
    }
}

/// `v` as 32-bit parameters, zero after its end (a shape or strides of at most `N` dims).
pub(crate) fn words<const N: usize>(v: &[usize]) -> Result<[u32; N]> {
    if v.len() > N {
        bail!("GPU kernel parameter list {v:?} is longer than {N}");
    }
    let mut out = [0u32; N];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = word(x)?;
    }
    Ok(out)
}

/// A storage binding as a kernel reads it: its WGSL name and type, and whether the kernel
/// only reads it. A kernel's slots are bound at 1, 2, … after the parameter block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub name: &'static str,
    pub wgsl_type: &'static str,
    pub read_only: bool,
}

impl Slot {
    /// A binding the kernel only reads.
    pub(crate) const fn read(name: &'static str, wgsl_type: &'static str) -> Slot {
        Slot {
            name,
            wgsl_type,
            read_only: true,
        }
    }

    /// A binding the kernel writes.
    pub(crate) const fn write(name: &'static str, wgsl_type: &'static str) -> Slot {
        Slot {
            name,
            wgsl_type,
            read_only: false,
        }
    }
}

/// The WGSL type of a slot of f32 values.
pub(crate) const F32_ARRAY: &str = "array<f32>";
/// The WGSL type of a slot of f16 values (needs `enable f16`, which [`source`] adds).
const F16_ARRAY: &str = "array<f16>";
/// The WGSL type of a slot read or written as 32-bit words (a tensor of any dtype through
/// its loader, indices, packed halves).
pub(crate) const U32_ARRAY: &str = "array<u32>";

/// The storage slots of the kernels that read an f32 input X and a weight W and bias BIAS
/// of their own dtypes (through their loaders), writing f32 OUT: the convolutions and the
/// normalisations.
pub(crate) const WEIGHTED_SLOTS: [Slot; 4] = [
    Slot::read("X", F32_ARRAY),
    Slot::read("W", U32_ARRAY),
    Slot::read("BIAS", U32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

/// The WGSL declarations of `slots`, at bindings 1, 2, ….
fn declare_slots(slots: &[Slot]) -> String {
    let mut s = String::new();
    for (i, slot) in slots.iter().enumerate() {
        let access = if slot.read_only { "read" } else { "read_write" };
        s.push_str(&format!(
            "@group(0) @binding({}) var<storage, {access}> {}: {};\n",
            i + 1,
            slot.name,
            slot.wgsl_type
        ));
    }
    s
}

/// One dispatch: kernel identity, the parameter block, the storage slots and their
/// buffers, and the workgroup grid.
pub(crate) struct Launch<'a> {
    /// Kernel family name (for the cache key and the profiler).
    pub name: &'static str,
    /// Specialisation text prepended to the sources (constants, loaders).
    pub defines: String,
    /// WGSL sources after [`COMMON`] and the declarations.
    pub sources: &'a [&'static str],
    pub slots: &'a [Slot],
    /// One buffer per slot, in order.
    pub buffers: Vec<&'a GpuBuffer>,
    pub params: Block,
    pub groups: [u32; 3],
}

/// The WGSL of a kernel: `enable f16` when a slot holds f16 values, its specialisation,
/// [`COMMON`], the declarations of its parameter block and storage slots, then its sources.
pub(crate) fn source(defines: &str, params: &str, slots: &[Slot], sources: &[&str]) -> String {
    let mut s = String::new();
    if slots.iter().any(|slot| slot.wgsl_type == F16_ARRAY) {
        s.push_str("enable f16;\n");
    }
    s.push_str(defines);
    s.push_str(COMMON);
    s.push_str(params);
    s.push_str(&declare_slots(slots));
    for src in sources {
        s.push_str(src);
    }
    s
}

/// A grid of `count` workgroups over x and y (kernels rebuild the flat index with
/// `flat_group`).
pub(crate) fn grid(count: usize) -> Result<[u32; 3]> {
    let count = count.max(1);
    let x = count.min(MAX_GROUPS as usize);
    let y = count.div_ceil(x);
    if y > MAX_GROUPS as usize {
        bail!("a GPU dispatch of {count} workgroups exceeds the 65535² grid");
    }
    Ok([x as u32, y as u32, 1])
}

impl GpuContext {
    /// The cached pipeline of `l`'s kernel, compiled on first use.
    fn pipeline_of(&self, l: &Launch<'_>) -> Result<Arc<super::context::Pipeline>> {
        if l.slots.len() != l.buffers.len() {
            bail!(
                "GPU kernel {} declares {} storage bindings but was given {} buffers",
                l.name,
                l.slots.len(),
                l.buffers.len()
            );
        }
        let access: Vec<bool> = l.slots.iter().map(|s| s.read_only).collect();
        let slots = declare_slots(l.slots);
        let key = format!("{}|{}|{slots}|{}", l.name, l.params.name, l.defines);
        self.pipeline(
            &key,
            || {
                let params = (l.params.declaration)();
                source(&l.defines, &params, l.slots, l.sources)
            },
            &access,
        )
    }

    /// Records one dispatch into the pending work. While the profiler runs, the dispatch is
    /// timed in its own pass and submitted and waited for at once.
    pub(crate) fn launch(&self, l: Launch<'_>) -> Result<()> {
        if l.groups.contains(&0) {
            return Ok(());
        }
        let pipe = self.pipeline_of(&l)?;
        // Uniform blocks are bound in 16-byte steps.
        let mut bytes = l.params.bytes;
        bytes.resize(bytes.len().max(16).next_multiple_of(16), 0);
        let timing = self.profiler.active().then(|| self.timing_buffers());
        let mut rec = self.recorder.lock().unwrap();
        self.record(
            &mut rec,
            Dispatch {
                name: l.name,
                pipeline: &pipe,
                params: &bytes,
                buffers: &l.buffers,
                groups: l.groups,
                timestamps: timing.as_ref().map(|(qs, _, _, _)| qs),
            },
        )?;
        let Some((qs, resolve, read, _held)) = timing else {
            drop(rec);
            return self.check(l.name);
        };
        let enc = self.encoder(&mut rec);
        enc.resolve_query_set(&qs, 0..2, &resolve, 0);
        enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, 16);
        self.submit(&mut rec)?;
        drop(rec);
        read.map_async(wgpu::MapMode::Read, .., |_| {});
        self.wait(l.name)?;
        let ticks = {
            let v = read
                .get_mapped_range(..)
                .map_err(|e| crate::Error::msg(e.to_string()))?;
            let t0 = u64::from_le_bytes(v[0..8].try_into().unwrap());
            let t1 = u64::from_le_bytes(v[8..16].try_into().unwrap());
            t1.saturating_sub(t0)
        };
        read.unmap();
        self.profiler.record(l.name, ticks);
        self.check(l.name)
    }

    /// A timestamp query set of two, the buffer it resolves into, a mapped copy, and the
    /// count of their bytes while they live.
    fn timing_buffers(&self) -> (wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer, Held<'_>) {
        let qs = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timing"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let buffer = |usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timing"),
                size: 16,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolve = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let read = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let held = self.hold(resolve.size() + read.size());
        (qs, resolve, read, held)
    }
}

/// The context of a GPU tensor.
pub(crate) fn ctx_of(t: &Tensor) -> Result<Arc<GpuContext>> {
    match t.device() {
        Device::Gpu(c) => Ok(c.clone()),
        Device::Cpu => bail!("tensor {:?} is on the CPU, expected the GPU", t.shape()),
    }
}

/// The GPU storage of a tensor.
pub(crate) fn storage_of(t: &Tensor) -> Result<&GpuStorage> {
    match t.storage() {
        Storage::Gpu(g) => Ok(g),
        Storage::Cpu(_) => bail!("tensor {:?} is on the CPU, expected the GPU", t.shape()),
    }
}

/// The single buffer of a tensor, or a clear error when it spans several bindings.
pub(crate) fn buffer_of<'a>(t: &'a Tensor, op: &str) -> Result<&'a GpuBuffer> {
    let g = storage_of(t)?;
    match g.pieces() {
        [p] => Ok(&p.buffer),
        ps => bail!(
            "{op}: tensor {:?} is split over {} GPU bindings; only linear and embedding read split weights",
            t.shape(),
            ps.len()
        ),
    }
}

/// A packed f32 tensor of `shape` on `ctx`, and its buffer.
pub(crate) fn output(
    ctx: &Arc<GpuContext>,
    shape: &[usize],
    what: &str,
) -> Result<(Tensor, GpuBuffer)> {
    output_as(ctx, shape, DType::F32, what)
}

/// A packed `dtype` tensor of `shape` on `ctx`, and its buffer.
pub(crate) fn output_as(
    ctx: &Arc<GpuContext>,
    shape: &[usize],
    dtype: DType,
    what: &str,
) -> Result<(Tensor, GpuBuffer)> {
    let n = crate::layout::checked_numel(shape)?;
    let buf = ctx.alloc(n as u64 * dtype.size() as u64, what)?;
    let t = Tensor::from_parts(
        Storage::Gpu(GpuStorage::single(buf.clone(), n, dtype)),
        Layout::contiguous(shape),
        dtype,
        Device::Gpu(ctx.clone()),
    );
    Ok((t, buf))
}

/// A tensor read in place by a strided kernel: buffer, dtype, offset and strides.
pub(crate) struct Operand {
    pub buffer: GpuBuffer,
    pub dtype: DType,
    pub offset: usize,
    pub strides: Vec<usize>,
}

/// `t` as an [`Operand`] (any dtype, any strides; one binding).
pub(crate) fn operand(t: &Tensor, op: &str) -> Result<Operand> {
    Ok(Operand {
        buffer: buffer_of(t, op)?.clone(),
        dtype: t.dtype(),
        offset: t.layout().offset(),
        strides: t.layout().strides().to_vec(),
    })
}

/// Merges adjacent dims that every operand walks contiguously, so that most kernels see
/// rank 1. Returns the merged shape and each operand's merged strides.
pub(crate) fn collapse(shape: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut s: Vec<usize> = Vec::new();
    let mut st: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let mergeable = !s.is_empty()
            && strides
                .iter()
                .zip(&st)
                .all(|(orig, cur)| *cur.last().unwrap() == orig[d] * shape[d]);
        if mergeable {
            *s.last_mut().unwrap() *= shape[d];
            for (cur, orig) in st.iter_mut().zip(strides) {
                *cur.last_mut().unwrap() = orig[d];
            }
        } else {
            s.push(shape[d]);
            for (cur, orig) in st.iter_mut().zip(strides) {
                cur.push(orig[d]);
            }
        }
    }
    if s.is_empty() {
        s.push(1);
        for cur in st.iter_mut() {
            cur.push(1);
        }
    }
    (s, st)
}

/// Most dims a strided kernel walks.
pub(crate) const MAX_RANK: usize = 8;
