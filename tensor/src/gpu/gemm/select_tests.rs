//! The GEMM path choice on made-up adapters.

use wgpu::{CooperativeMatrixProperties, CooperativeScalarType as S, Features};

use super::{choose, linear_path, Accumulator, GemmAdapter, GemmPath, TileShape};
use crate::DType;

/// A cooperative-matrix configuration `size`³ with `ab` inputs and `cr` accumulation.
fn config(size: u32, ab: S, cr: S) -> CooperativeMatrixProperties {
    CooperativeMatrixProperties {
        m_size: size,
        n_size: size,
        k_size: size,
        ab_type: ab,
        cr_type: cr,
        saturating_accumulation: false,
    }
}

/// An adapter with every feature the paths use, 48 KiB of workgroup memory, 1024
/// invocations, and the cooperative configurations `configs`.
fn adapter(configs: Vec<CooperativeMatrixProperties>) -> GemmAdapter {
    GemmAdapter {
        features: Features::EXPERIMENTAL_COOPERATIVE_MATRIX
            | Features::SHADER_F16
            | Features::SUBGROUP,
        cooperative: configs,
        workgroup_bytes: 49152,
        invocations: 1024,
    }
}

const LARGEST: GemmPath = GemmPath::Tiled(TileShape {
    rows: 128,
    cols: 128,
});

/// Made-up adapters, each with the path it must get and a part of the reason it must give.
fn adapter_cases() -> Vec<(&'static str, GemmAdapter, GemmPath, &'static str)> {
    let half_to_single = config(16, S::F16, S::F32);
    let half_to_half = config(16, S::F16, S::F16);
    let without = |f: Features| GemmAdapter {
        features: adapter(vec![]).features - f,
        ..adapter(vec![half_to_single])
    };
    let small = |bytes: u32| GemmAdapter {
        workgroup_bytes: bytes,
        ..adapter(vec![half_to_single])
    };
    vec![
        (
            "f16→f32 offered",
            adapter(vec![config(8, S::F32, S::F32), half_to_half, half_to_single]),
            GemmPath::Cooperative(Accumulator::F32),
            "cooperative f16 16×16, f32 accumulation (the adapter offers 16×16×16 f16 cooperative matrices)",
        ),
        (
            "f16→f16 only",
            adapter(vec![half_to_half]),
            GemmPath::Cooperative(Accumulator::F16),
            "cooperative f16 16×16, f16 accumulation",
        ),
        (
            "feature absent",
            without(Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
            LARGEST,
            "portable 128×128 (no cooperative matrix: adapter lacks EXPERIMENTAL_COOPERATIVE_MATRIX)",
        ),
        (
            "no f16 shaders",
            without(Features::SHADER_F16),
            LARGEST,
            "adapter lacks SHADER_F16",
        ),
        (
            "no subgroups",
            without(Features::SUBGROUP),
            LARGEST,
            "adapter lacks SUBGROUP",
        ),
        (
            "8×8 only",
            adapter(vec![config(8, S::F16, S::F32), config(8, S::F32, S::F32)]),
            LARGEST,
            "no 16×16×16 f16 configuration among [8×8×8 F16→F32, 8×8×8 F32→F32]",
        ),
        (
            "f32 inputs only",
            adapter(vec![config(16, S::F32, S::F32)]),
            LARGEST,
            "no 16×16×16 f16 configuration among [16×16×16 F32→F32]",
        ),
        (
            "24 KiB of workgroup memory",
            small(24576),
            GemmPath::Cooperative(Accumulator::F32),
            "cooperative",
        ),
        (
            "20 KiB of workgroup memory",
            small(20480),
            GemmPath::Tiled(TileShape { rows: 64, cols: 64 }),
            "cooperative f16 16×16, f32 accumulation needs 24576 bytes of workgroup memory, the adapter has 20480; no larger tile: portable 128×64 needs 24576 bytes",
        ),
        (
            "the WebGPU minimum of 16 KiB",
            GemmAdapter {
                features: Features::empty(),
                ..small(16384)
            },
            GemmPath::Tiled(TileShape { rows: 64, cols: 64 }),
            "portable 64×64 (no cooperative matrix: adapter lacks EXPERIMENTAL_COOPERATIVE_MATRIX; no larger tile: portable 128×64 needs 24576 bytes of workgroup memory, the adapter has 16384)",
        ),
        (
            "8 KiB of workgroup memory",
            small(8192),
            GemmPath::Reference,
            "no larger tile: portable 64×64 needs 16384 bytes of workgroup memory, the adapter has 8192",
        ),
        (
            "128 invocations",
            GemmAdapter {
                invocations: 128,
                ..adapter(vec![])
            },
            GemmPath::Reference,
            "portable 64×64 needs 256 invocations per workgroup, the adapter has 128",
        ),
    ]
}

#[test]
fn each_adapter_gets_its_path_and_the_reason() {
    for (name, a, path, said) in adapter_cases() {
        let choice = choose(&a);
        let text = choice.to_string();
        assert_eq!(choice.path, path, "{name}: {text}");
        assert!(text.contains(said), "{name}: {text}");
        assert!(
            !matches!(choice.portable, GemmPath::Cooperative(_)),
            "{name}: {text}"
        );
    }
}

#[test]
fn linear_takes_the_cooperative_path_only_for_16_bit_operands() {
    let choice = choose(&adapter(vec![config(16, S::F16, S::F32)]));
    let coop = GemmPath::Cooperative(Accumulator::F32);
    assert_eq!(choice.portable, LARGEST);
    for (x, w, path) in [
        (DType::F16, DType::F16, coop),
        (DType::F16, DType::BF16, coop),
        (DType::F16, DType::F32, LARGEST),
        (DType::F32, DType::BF16, LARGEST),
        (DType::BF16, DType::BF16, LARGEST),
        (DType::F32, DType::F32, LARGEST),
        (DType::F16, DType::Q8_0, LARGEST),
        (DType::F16, DType::Q4K, LARGEST),
    ] {
        assert_eq!(linear_path(&choice, x, w), path, "x {x}, w {w}");
    }
    assert_eq!(
        choice.paths(),
        [
            GemmPath::Reference,
            GemmPath::Tiled(TileShape { rows: 64, cols: 64 }),
            GemmPath::Tiled(TileShape {
                rows: 128,
                cols: 64
            }),
            LARGEST,
            coop,
        ]
    );
    let portable = choose(&GemmAdapter::default());
    assert_eq!(portable.paths(), [GemmPath::Reference]);
    assert_eq!(
        linear_path(&portable, DType::F16, DType::F16),
        portable.path
    );
}
