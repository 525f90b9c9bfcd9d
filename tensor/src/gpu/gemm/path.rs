//! The GEMM kernels an adapter may run and what each needs from it.

use std::fmt;

/// Invocations per workgroup of the reference and tiled kernels.
const PORTABLE_INVOCATIONS: u32 = 256;
/// Invocations per workgroup of the cooperative-matrix kernel.
const COOPERATIVE_INVOCATIONS: u32 = 128;
/// Output tile edge of the reference and cooperative kernels.
const SQUARE_TILE: u32 = 64;
/// K step of the tiled kernel (`TK` of `gemm_tiled.wgsl`).
const TILED_K: u32 = 16;
/// K step of the cooperative kernel (`CK` of `gemm_coop.wgsl`).
const COOPERATIVE_K: u32 = 32;

/// Output tile of the tiled kernel: `rows` (M) × `cols` (N), each a multiple of 16 (every
/// invocation of the 16×16 grid holds `rows/16 × cols/16` outputs) and together a multiple
/// of 64 (the 256 invocations fetch the `rows + cols` rows of a K step in equal parts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileShape {
    /// Output rows per workgroup.
    pub rows: u32,
    /// Output columns per workgroup.
    pub cols: u32,
}

/// The tiled kernel's tile shapes, smallest first.
pub const TILE_SHAPES: [TileShape; 3] = [
    TileShape { rows: 64, cols: 64 },
    TileShape {
        rows: 128,
        cols: 64,
    },
    TileShape {
        rows: 128,
        cols: 128,
    },
];

/// Where the cooperative kernel accumulates its f16 products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accumulator {
    /// f32 accumulation (the adapter offers 16×16×16 f16 → f32).
    F32,
    /// f16 accumulation (the adapter offers only 16×16×16 f16 → f16).
    F16,
}

impl Accumulator {
    /// The WGSL scalar type.
    pub(crate) fn wgsl(self) -> &'static str {
        match self {
            Accumulator::F32 => "f32",
            Accumulator::F16 => "f16",
        }
    }

    /// Bytes of one accumulator element.
    fn bytes(self) -> u32 {
        match self {
            Accumulator::F32 => 4,
            Accumulator::F16 => 2,
        }
    }
}

/// One GEMM kernel family and its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmPath {
    /// The plain kernel (`gemm.wgsl`): 64×64 tiles, 4×4 outputs per invocation, one
    /// workgroup buffer, operands widened to f32. The reference every other path is tested
    /// against, and the core of the 3-D convolution.
    Reference,
    /// The register-tiled, double-buffered kernel (`gemm_tiled.wgsl`).
    Tiled(TileShape),
    /// The cooperative-matrix kernel (`gemm_coop.wgsl`): f16 16×16 matrices on the
    /// adapter's matrix units.
    Cooperative(Accumulator),
}

impl GemmPath {
    /// Output rows and columns of one workgroup.
    pub fn tile(self) -> (usize, usize) {
        let (rows, cols) = match self {
            GemmPath::Reference | GemmPath::Cooperative(_) => (SQUARE_TILE, SQUARE_TILE),
            GemmPath::Tiled(t) => (t.rows, t.cols),
        };
        (rows as usize, cols as usize)
    }

    /// Invocations per workgroup.
    pub fn invocations(self) -> u32 {
        match self {
            GemmPath::Cooperative(_) => COOPERATIVE_INVOCATIONS,
            _ => PORTABLE_INVOCATIONS,
        }
    }

    /// Bytes of workgroup memory the kernel declares.
    pub fn workgroup_bytes(self) -> u32 {
        match self {
            GemmPath::Reference => 2 * SQUARE_TILE * 16 * 4,
            GemmPath::Tiled(t) => 2 * (t.rows + t.cols) * TILED_K * 4,
            GemmPath::Cooperative(acc) => {
                2 * SQUARE_TILE * COOPERATIVE_K * 2 + SQUARE_TILE * SQUARE_TILE * acc.bytes()
            }
        }
    }
}

impl fmt::Display for GemmPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GemmPath::Reference => write!(f, "reference 64×64"),
            GemmPath::Tiled(t) => write!(f, "portable {}×{}", t.rows, t.cols),
            GemmPath::Cooperative(acc) => {
                write!(f, "cooperative f16 16×16, {} accumulation", acc.wgsl())
            }
        }
    }
}
