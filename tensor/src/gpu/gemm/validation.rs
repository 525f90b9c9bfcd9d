//! Every GEMM kernel variant the engine can instantiate (block-quantized weights included), compiled the way a device would
//! compile it: WGSL parsed and validated by naga with the capabilities its path needs, then
//! written as SPIR-V and as MSL. Lavapipe has no cooperative matrices, so this is where the
//! cooperative kernel is compiled at all.

use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};

use super::kernels::{variant, OPERAND_DTYPES, QUANTIZED_DTYPES, STORED_DTYPES};
use super::{Accumulator, GemmPath, LinearParams, TILE_SHAPES};
use crate::gpu::kernel::{declaration, source};
use crate::DType;

/// Every path: the reference kernel, each tile shape, each accumulator.
fn paths() -> Vec<GemmPath> {
    let mut paths = vec![GemmPath::Reference];
    paths.extend(TILE_SHAPES.map(GemmPath::Tiled));
    paths.extend([Accumulator::F32, Accumulator::F16].map(GemmPath::Cooperative));
    paths
}

/// The naga capabilities the device grants for the features `path` and results stored as
/// `out` need (every device wgpu opens unpacks f16 pairs to f32; f16 results need
/// SHADER_F16).
fn capabilities(path: GemmPath, out: DType) -> Capabilities {
    let mut unpack = Capabilities::default() | Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    if out == DType::F16 {
        unpack |= Capabilities::SHADER_FLOAT16;
    }
    match path {
        GemmPath::Cooperative(_) => {
            unpack
                | Capabilities::COOPERATIVE_MATRIX
                | Capabilities::SHADER_FLOAT16
                | Capabilities::SUBGROUP
        }
        _ => unpack,
    }
}

/// Parses, validates and writes as SPIR-V and MSL the kernel of `path` for activations in
/// `x`, weights in `w`, output stored as `out` and `aligned` operands; the error names the
/// step and the variant.
fn compile(path: GemmPath, x: DType, w: DType, out: DType, aligned: bool) -> Result<(), String> {
    let what = format!("{path}, x {x}, w {w}, out {out}, aligned {aligned}");
    let v = variant(path, x, w, out, aligned).map_err(|e| format!("{what}: {e}"))?;
    let wgsl = source(
        &v.defines,
        &declaration::<LinearParams>(),
        &v.slots,
        &v.sources,
    );
    let module = naga::front::wgsl::parse_str(&wgsl)
        .map_err(|e| format!("{what}: parse: {}", e.emit_to_string(&wgsl)))?;
    let info = Validator::new(ValidationFlags::all(), capabilities(path, out))
        .subgroup_stages(ShaderStages::COMPUTE)
        .subgroup_operations(SubgroupOperationSet::all())
        .validate(&module)
        .map_err(|e| format!("{what}: validate: {}", e.emit_to_string(&wgsl)))?;
    let spv = naga::back::spv::Options {
        lang_version: (1, 6),
        ..Default::default()
    };
    naga::back::spv::write_vec(&module, &info, &spv, None)
        .map_err(|e| format!("{what}: SPIR-V: {e}"))?;
    let msl = naga::back::msl::Options {
        lang_version: (2, 3),
        ..Default::default()
    };
    naga::back::msl::write_string(&module, &info, &msl, &Default::default())
        .map_err(|e| format!("{what}: MSL: {e}"))?;
    Ok(())
}

#[test]
fn every_gemm_variant_validates_and_writes_spirv_and_msl() {
    let mut failures = Vec::new();
    let mut cooperative = 0;
    for path in paths() {
        for aligned in [false, true] {
            let weights = || OPERAND_DTYPES.into_iter().chain(QUANTIZED_DTYPES);
            for (x, w) in OPERAND_DTYPES
                .iter()
                .flat_map(|&x| weights().map(move |w| (x, w)))
            {
                for out in STORED_DTYPES {
                    cooperative += usize::from(matches!(path, GemmPath::Cooperative(_)));
                    if let Err(e) = compile(path, x, w, out, aligned) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Accumulators × operand loads × activation dtypes × weight dtypes (3 dense, 4
    // block-quantized) × output dtypes.
    assert_eq!(cooperative, 2 * 2 * 3 * 7 * 2);
}
