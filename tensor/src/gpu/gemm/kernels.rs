//! The WGSL of every GEMM kernel variant: path × operand loads (element-wise or vector) ×
//! activation dtype × weight dtype (f32, f16, bf16 or block-quantized) × output dtype. The
//! bias is a parameter, not a variant.

use super::path::GemmPath;
use crate::gpu::kernel::{
    kernel_sources, loader, prelude, slots_storing, storer, widener4, Slot, F32_ARRAY, U32_ARRAY,
};
use crate::{DType, Result};

/// The reference GEMM core (also under the 3-D convolution).
pub(crate) const GEMM: &str = include_str!("../../../../shaders/gemm.wgsl");
/// Element-wise staging of the reference core's tiles (for unaligned operands and
/// convolutions).
pub(crate) const GEMM_SCALAR: &str = include_str!("../../../../shaders/gemm_scalar.wgsl");
/// The register-tiled, double-buffered core.
pub(crate) const GEMM_TILED: &str = include_str!("../../../../shaders/gemm_tiled.wgsl");
/// The cooperative-matrix core.
pub(crate) const GEMM_COOP: &str = include_str!("../../../../shaders/gemm_coop.wgsl");
/// Linear's operand indexing and output.
pub(crate) const LINEAR: &str = include_str!("../../../../shaders/linear.wgsl");
/// The reference core's element-wise operand loads.
pub(crate) const LINEAR_SCALAR: &str = include_str!("../../../../shaders/linear_scalar.wgsl");
/// The reference core's vector operand loads.
pub(crate) const LINEAR_VEC4: &str = include_str!("../../../../shaders/linear_vec4.wgsl");
/// The tiled and cooperative cores' operand fetches (sections SCALAR and VEC4).
const LINEAR_FETCH: &str = include_str!("../../../../shaders/linear_fetch.wgsl");

/// The storage bindings of the reference kernel with element-wise loads and of the tiled
/// and cooperative kernels with element-wise fetches: X and W are read through their
/// loaders, OUT holds `out` values.
pub(crate) fn scalar_slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(
        &[("X", U32_ARRAY), ("W", U32_ARRAY), ("BIAS", F32_ARRAY)],
        out,
    )
}

/// The storage bindings of every kernel with vector loads: of X and W the words
/// (`WORDS_X`, `WORDS_W`) holding four consecutive elements; OUT holds `out` values.
pub(crate) fn vec4_slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(
        &[
            ("X", "array<WORDS_X>"),
            ("W", "array<WORDS_W>"),
            ("BIAS", F32_ARRAY),
        ],
        out,
    )
}

/// The dtypes the GEMM kernels read as operands.
#[cfg(test)]
pub(crate) const OPERAND_DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// The block-quantized dtypes the GEMM kernels read as weights.
#[cfg(test)]
pub(crate) const QUANTIZED_DTYPES: [DType; 4] = [DType::Q8_0, DType::Q4K, DType::Q5K, DType::Q6K];

/// The dtypes the GEMM kernels store results in.
#[cfg(test)]
pub(crate) const STORED_DTYPES: [DType; 2] = [DType::F32, DType::F16];

/// One GEMM kernel variant: its name, specialisation, sources and bindings.
pub(crate) struct Variant {
    pub name: &'static str,
    pub defines: String,
    pub sources: Vec<&'static str>,
    pub slots: Vec<Slot>,
}

/// The directives and specialisation of `path` (before the operand loaders).
fn header(path: GemmPath) -> String {
    match path {
        GemmPath::Reference => String::new(),
        GemmPath::Tiled(t) => format!(
            "const TM: u32 = {}u;\nconst TN: u32 = {}u;\n",
            t.rows, t.cols
        ),
        GemmPath::Cooperative(acc) => format!(
            "enable f16;\nenable wgpu_cooperative_matrix;\ndiagnostic(off, derivative_uniformity);\nalias ACC = {};\n",
            acc.wgsl()
        ),
    }
}

/// How a variant reads its operands: their loader definitions, the sections of
/// `linear_fetch.wgsl` the tiled and cooperative cores fetch through, the reference core's
/// staging sources, and the bindings.
struct Operands {
    loads: String,
    fetch: &'static [&'static str],
    staging: &'static [&'static str],
    slots: Vec<Slot>,
}

/// The operand reads of a variant (see [`variant`]). Block-quantized weights are fetched
/// four values of a block at a time, with X as vectors where aligned; the reference core
/// reads them one element at a time.
fn operands(path: GemmPath, x: DType, w: DType, out: DType, aligned: bool) -> Result<Operands> {
    const SCALAR_STAGING: &[&str] = &[LINEAR_SCALAR, GEMM_SCALAR];
    if w.is_quantized() {
        let x4 = widener4("X", x).filter(|_| aligned && path != GemmPath::Reference);
        let (x_load, fetch, x_slot) = match x4 {
            Some(x4) => (x4, &["X_VEC4", "QUANT"], "array<WORDS_X>"),
            None => (loader("X", x)?, &["X_SCALAR", "QUANT"], U32_ARRAY),
        };
        return Ok(Operands {
            loads: x_load + &loader("W", w)?,
            fetch,
            staging: SCALAR_STAGING,
            slots: slots_storing(&[("X", x_slot), ("W", U32_ARRAY), ("BIAS", F32_ARRAY)], out)?,
        });
    }
    Ok(match (widener4("X", x), widener4("W", w)) {
        (Some(x4), Some(w4)) if aligned => Operands {
            loads: x4 + &w4,
            fetch: &["VEC4"],
            staging: &[LINEAR_VEC4],
            slots: vec4_slots(out)?,
        },
        _ => Operands {
            loads: loader("X", x)? + &loader("W", w)?,
            fetch: &["SCALAR"],
            staging: SCALAR_STAGING,
            slots: scalar_slots(out)?,
        },
    })
}

/// The kernel of `path` for activations in `x` and weights in `w` (f32, f16, bf16 or
/// block-quantized), storing `out`, with vector operand loads when `aligned` (K and every
/// operand offset a multiple of 4 elements).
pub(crate) fn variant(
    path: GemmPath,
    x: DType,
    w: DType,
    out: DType,
    aligned: bool,
) -> Result<Variant> {
    let reads = operands(path, x, w, out, aligned)?;
    let defines = header(path) + &reads.loads + &storer("OUT", out)?;
    let (name, core) = match path {
        GemmPath::Reference => ("gemm", GEMM),
        GemmPath::Cooperative(_) => ("gemm_coop", GEMM_COOP),
        GemmPath::Tiled(_) => ("gemm_tiled", GEMM_TILED),
    };
    let mut sources = vec![LINEAR];
    if path == GemmPath::Reference {
        sources.extend(reads.staging);
    } else {
        sources.push(prelude(LINEAR_FETCH));
        for &fetch in reads.fetch {
            sources.push(kernel_sources(LINEAR_FETCH, fetch)?[1]);
        }
    }
    sources.push(core);
    Ok(Variant {
        name,
        defines,
        sources,
        slots: reads.slots,
    })
}
