//! Every kernel's parameter block against the WGSL struct declared from it: the shader,
//! assembled as a launch assembles it, is parsed and validated with naga, and the struct
//! that `P` reads must have the Rust struct's name, field names, offsets, sizes and total
//! size (this guards the declaration and WGSL's alignment rules).

use wgpu::naga;

use super::kernel::{declaration, loader, source, storer, ParamBlock, Slot};
use super::kernel::{PER_ELEMENT, STRIDED, WEIGHTED_SLOTS};
use crate::{DType, Result};

/// The dtypes kernels store results in.
const STORED: [DType; 2] = [DType::F32, DType::F16];

/// Checks `P` of the kernel built from `defines`, `slots` and `sources` against `B`.
fn check<B: ParamBlock>(defines: &str, slots: &[Slot], sources: &[&str]) {
    let wgsl = source(defines, &declaration::<B>(), slots, sources);
    let module = naga::front::wgsl::parse_str(&wgsl)
        .unwrap_or_else(|e| panic!("{}: {}", B::NAME, e.emit_to_string(&wgsl)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::SHADER_FLOAT16
            | naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32,
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{}: {}", B::NAME, e.emit_to_string(&wgsl)));
    let (_, p) = module
        .global_variables
        .iter()
        .find(|(_, g)| g.name.as_deref() == Some("P"))
        .unwrap_or_else(|| panic!("{}: the shader declares no P", B::NAME));
    assert_eq!(p.space, naga::AddressSpace::Uniform, "{}: P", B::NAME);
    let binding = p.binding.as_ref().expect("P has a binding");
    assert_eq!((binding.group, binding.binding), (0, 0), "{}: P", B::NAME);
    let ty = &module.types[p.ty];
    assert_eq!(ty.name.as_deref(), Some(B::NAME), "P's struct");
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{}: P is not a struct", B::NAME);
    };
    let wgsl_fields: Vec<(String, usize, usize)> = members
        .iter()
        .map(|m| {
            let size = module.types[m.ty].inner.size(module.to_ctx());
            (
                m.name.clone().unwrap_or_default(),
                m.offset as usize,
                size as usize,
            )
        })
        .collect();
    let rust_fields: Vec<(String, usize, usize)> = B::FIELDS
        .iter()
        .map(|f| (f.name.to_string(), f.offset, f.size))
        .collect();
    assert_eq!(
        rust_fields,
        wgsl_fields,
        "{}: fields (name, offset, size), Rust then WGSL",
        B::NAME
    );
    assert_eq!(
        std::mem::size_of::<B>(),
        *span as usize,
        "{}: size, Rust then WGSL",
        B::NAME
    );
}

fn loaders(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| loader(n, DType::BF16).unwrap())
        .collect()
}

/// The storer of OUT and the slots of a kernel storing each of [`STORED`].
fn stored(slots: fn(DType) -> Result<Vec<Slot>>) -> Vec<(String, Vec<Slot>)> {
    STORED
        .iter()
        .map(|&d| (storer("OUT", d).unwrap(), slots(d).unwrap()))
        .collect()
}

/// Checks `B` for every dtype of [`STORED`] and every value below `count` of the
/// constant `name`, after `defines` and the loaders of `inputs`.
fn check_each<B: ParamBlock>(
    (name, count): (&str, u32),
    defines: &str,
    inputs: &[&str],
    slots: fn(DType) -> Result<Vec<Slot>>,
    sources: &[&str],
) {
    for (store, slots) in stored(slots) {
        for v in 0..count {
            let all = format!(
                "const {name}: u32 = {v}u;\n{defines}{}{store}",
                loaders(inputs)
            );
            check::<B>(&all, &slots, sources);
        }
    }
}

#[test]
fn elementwise() {
    check_each::<super::elementwise::ElementwiseParams>(
        ("KIND", 4),
        "const OP: u32 = 1u;\n",
        &["A", "B"],
        super::elementwise::slots,
        &[STRIDED, super::elementwise::SRC, PER_ELEMENT],
    );
}

#[test]
fn cast() {
    check::<super::cast::CastParams>(
        &format!(
            "const MODE: u32 = 1u;\nconst EB: u32 = 2u;\n{}",
            loaders(&["SRC"])
        ),
        &super::cast::SLOTS,
        &[STRIDED, super::cast::SRC, PER_ELEMENT],
    );
}

#[test]
fn linear() {
    use super::gemm::kernels::variant;
    use super::gemm::{GemmPath, LinearParams, TILE_SHAPES};
    for path in [GemmPath::Reference, GemmPath::Tiled(TILE_SHAPES[0])] {
        for aligned in [false, true] {
            for x in STORED {
                for out in STORED {
                    let v = variant(path, x, DType::BF16, out, aligned).unwrap();
                    check::<LinearParams>(&v.defines, &v.slots, &v.sources);
                }
            }
        }
    }
}

#[test]
fn conv() {
    use super::conv::{Conv3dParams, ConvTranspose1dParams, CONV3D, CONVT1D};
    use super::gemm::kernels::{GEMM, GEMM_SCALAR};
    let defines = loaders(&["W", "BIAS"]);
    check::<Conv3dParams>(&defines, &WEIGHTED_SLOTS, &[CONV3D, GEMM_SCALAR, GEMM]);
    check::<ConvTranspose1dParams>(&defines, &WEIGHTED_SLOTS, &[CONVT1D, PER_ELEMENT]);
}

#[test]
fn attention() {
    for (store, slots) in stored(super::attention::slots) {
        check::<super::attention::AttentionParams>(
            &format!(
                "const D: u32 = 8u;\nconst DV: u32 = 6u;\nconst BQ: u32 = 16u;\nconst BK: u32 = 16u;\nconst TPR: u32 = 4u;\nconst DVT: u32 = 2u;\n{}{store}",
                loaders(&["Q", "K", "V"])
            ),
            &slots,
            &[super::attention::SRC],
        );
    }
}

#[test]
fn rows() {
    use super::reduce::{RowsParams, ROWREDUCE, SLOTS};
    check_each::<super::norm::NormParams>(
        ("MODE", 3),
        "",
        &["X", "W", "BIAS"],
        super::norm::slots,
        &[ROWREDUCE, super::reduce::RMS_ROW, super::norm::SRC],
    );
    check::<RowsParams>(
        "const OP: u32 = 1u;\n",
        &SLOTS,
        &[ROWREDUCE, super::reduce::SRC],
    );
    check::<RowsParams>("", &SLOTS, &[ROWREDUCE, super::softmax::SRC]);
}

#[test]
fn rope() {
    for (store, slots) in stored(super::rope::slots) {
        check::<super::rope::RopeParams>(
            &format!("{}{store}", loaders(&["X"])),
            &slots,
            &[super::rope::SRC, PER_ELEMENT],
        );
    }
}

#[test]
fn resize() {
    use super::resize::{
        slots, sources, CatParams, EmbeddingParams, ReindexParams, TrilinearParams,
    };
    for (store, slots) in stored(slots) {
        let x = format!("{}{store}", loaders(&["X"]));
        check::<ReindexParams>(&x, &slots, &sources("reindex").unwrap());
        check::<CatParams>(&x, &slots, &sources("cat").unwrap());
        check::<TrilinearParams>(&x, &slots, &sources("trilinear").unwrap());
        check::<EmbeddingParams>(&x, &slots, &sources("embedding").unwrap());
    }
}

#[test]
fn fused() {
    use super::reduce::{RMS_ROW, ROWREDUCE};
    use super::{channel_norm, clamped_gelu, gated_heads, qk_norm_rope, snake};
    use crate::params::fused::{ChannelAct, ChannelNorm, ChannelNormKind};
    for (store, slots) in stored(snake::slots) {
        check::<snake::SnakeParams>(
            &format!("{}{store}", loaders(&["X", "A", "IB"])),
            &slots,
            &[snake::SRC, PER_ELEMENT],
        );
    }
    for (store, slots) in stored(qk_norm_rope::slots) {
        check::<qk_norm_rope::QkNormRopeParams>(
            &format!("{}{store}", loaders(&["X", "G", "ROT"])),
            &slots,
            &[ROWREDUCE, RMS_ROW, qk_norm_rope::SRC],
        );
    }
    for flag in [false, true] {
        for (store, slots) in stored(gated_heads::slots) {
            check::<gated_heads::GatedHeadsParams>(
                &format!(
                    "const HAS_GATE: bool = {flag};\n{}{store}",
                    loaders(&["X", "G"])
                ),
                &slots,
                &[gated_heads::SRC, PER_ELEMENT],
            );
        }
        for (store, slots) in stored(channel_norm::slots) {
            let p = ChannelNorm {
                kind: ChannelNormKind::Rms { eps: 1e-6 },
                act: ChannelAct::Silu,
            };
            check::<channel_norm::ChannelNormParams>(
                &format!(
                    "{}{}{store}",
                    channel_norm::constants(p, flag),
                    loaders(&["X", "G"])
                ),
                &slots,
                &[channel_norm::SRC, PER_ELEMENT],
            );
        }
        for (store, slots) in stored(clamped_gelu::slots) {
            check::<clamped_gelu::ClampedGeluParams>(
                &format!("const GATED: bool = {flag};\n{}{store}", loaders(&["U"])),
                &slots,
                &[clamped_gelu::SRC, PER_ELEMENT],
            );
        }
    }
}

/// No shader reads parameters by position any more.
#[test]
fn no_positional_parameters() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for word in ["pu(", "pf("] {
            assert!(!text.contains(word), "{} uses {word}", path.display());
        }
    }
}
