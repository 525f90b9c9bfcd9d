//! The WGSL of every GEMM kernel variant: path × operand loads (element-wise or vector) ×
//! activation dtype × weight dtype. The bias is a parameter, not a variant.

use super::path::GemmPath;
use crate::gpu::kernel::{kernel_sources, loader, widener4, Slot, F32_ARRAY, U32_ARRAY};
use crate::{bail, DType, Result};

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

/// The storage bindings of the reference kernel with element-wise loads: W is read
/// through its loader.
pub(crate) const SCALAR_SLOTS: [Slot; 4] = [
    Slot::read("X", F32_ARRAY),
    Slot::read("W", U32_ARRAY),
    Slot::read("BIAS", F32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

/// The storage bindings of the reference kernel with vector loads: four consecutive
/// elements of X, and of W the words (`WORDS`) holding four of its elements.
pub(crate) const VEC4_SLOTS: [Slot; 4] = [
    Slot::read("X", "array<vec4<f32>>"),
    Slot::read("W", "array<WORDS>"),
    Slot::read("BIAS", F32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

/// The storage bindings of the tiled and cooperative kernels with element-wise fetches:
/// X and W through their loaders.
const FETCH_SLOTS: [Slot; 4] = [
    Slot::read("X", U32_ARRAY),
    Slot::read("W", U32_ARRAY),
    Slot::read("BIAS", F32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

/// The storage bindings of the tiled and cooperative kernels with vector fetches: the
/// words holding four elements of X (`X_WORDS`) and of W (`W_WORDS`).
const FETCH_VEC4_SLOTS: [Slot; 4] = [
    Slot::read("X", "array<X_WORDS>"),
    Slot::read("W", "array<W_WORDS>"),
    Slot::read("BIAS", F32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

/// The dtypes the GEMM kernels read as operands.
#[cfg(test)]
pub(crate) const OPERAND_DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// One GEMM kernel variant: its name, specialisation, sources and bindings.
pub(crate) struct Variant {
    pub name: &'static str,
    pub defines: String,
    pub sources: Vec<&'static str>,
    pub slots: &'static [Slot; 4],
}

/// `alias NAME_WORDS` and `fn widen4_NAME` for four `dtype` elements of binding `name`.
fn named_widener4(name: &str, dtype: DType) -> Result<String> {
    let Some(body) = widener4(dtype) else {
        bail!("the GEMM's vector loads cannot read {dtype} operands");
    };
    Ok(body
        .replace("WORDS", &format!("{name}_WORDS"))
        .replace("widen4", &format!("widen4_{name}")))
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

/// The kernel of `path` for activations in `x` and weights in `w`, with vector operand
/// loads when `aligned` (K and every operand offset a multiple of 4 elements). The
/// reference kernel reads f32 activations only.
pub(crate) fn variant(path: GemmPath, x: DType, w: DType, aligned: bool) -> Result<Variant> {
    let vector = aligned && widener4(x).is_some() && widener4(w).is_some();
    if path == GemmPath::Reference {
        if x != DType::F32 {
            bail!("the reference GEMM reads f32 activations, got {x}");
        }
        return Ok(match widener4(w) {
            Some(w4) if vector => Variant {
                name: "gemm",
                defines: w4.to_string(),
                sources: vec![LINEAR, LINEAR_VEC4, GEMM],
                slots: &VEC4_SLOTS,
            },
            _ => Variant {
                name: "gemm",
                defines: loader("W", w)?,
                sources: vec![LINEAR, LINEAR_SCALAR, GEMM_SCALAR, GEMM],
                slots: &SCALAR_SLOTS,
            },
        });
    }
    let (loads, fetch, slots) = if vector {
        let loads = named_widener4("X", x)? + &named_widener4("W", w)?;
        (loads, "VEC4", &FETCH_VEC4_SLOTS)
    } else {
        (loader("X", x)? + &loader("W", w)?, "SCALAR", &FETCH_SLOTS)
    };
    let (name, core) = match path {
        GemmPath::Cooperative(_) => ("gemm_coop", GEMM_COOP),
        _ => ("gemm_tiled", GEMM_TILED),
    };
    let [shared, fetch] = kernel_sources(LINEAR_FETCH, fetch)?;
    Ok(Variant {
        name,
        defines: header(path) + &loads,
        sources: vec![LINEAR, shared, fetch, core],
        slots,
    })
}
