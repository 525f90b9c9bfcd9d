//! Which GEMM path an adapter gets, and why: a pure function of what the adapter reports
//! (features of the device as opened, limits, cooperative-matrix configurations), never of
//! its subgroup size.

use wgpu::{CooperativeMatrixProperties, CooperativeScalarType, Features};

use super::path::{Accumulator, GemmPath, TILE_SHAPES};
use crate::DType;

/// What the choice of GEMM path looks at.
#[derive(Clone, Debug, Default)]
pub struct GemmAdapter {
    /// Features of the device as opened.
    pub features: Features,
    /// The adapter's cooperative-matrix configurations.
    pub cooperative: Vec<CooperativeMatrixProperties>,
    /// `max_compute_workgroup_storage_size`, bytes.
    pub workgroup_bytes: u32,
    /// `max_compute_invocations_per_workgroup`.
    pub invocations: u32,
}

/// The chosen path and the reason for it, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GemmChoice {
    /// The path linear layers take.
    pub path: GemmPath,
    /// The portable path, for the products the cooperative one does not take.
    pub portable: GemmPath,
    /// Why (what ruled the better paths out).
    pub reason: String,
}

impl GemmChoice {
    /// Every path this adapter runs, slowest first: the reference kernel, each tile shape up
    /// to the portable path's, then the cooperative path when chosen.
    pub fn paths(&self) -> Vec<GemmPath> {
        let mut paths = vec![GemmPath::Reference];
        if let GemmPath::Tiled(largest) = self.portable {
            let upto = TILE_SHAPES.iter().position(|&t| t == largest).unwrap_or(0);
            paths.extend(TILE_SHAPES[..=upto].iter().map(|&t| GemmPath::Tiled(t)));
        }
        if let GemmPath::Cooperative(_) = self.path {
            paths.push(self.path);
        }
        paths
    }
}

impl std::fmt::Display for GemmChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.path, self.reason)
    }
}

/// Whether `a` can run `path`: its workgroup memory and invocations, or why not.
fn fits(a: &GemmAdapter, path: GemmPath) -> Result<(), String> {
    if path.workgroup_bytes() > a.workgroup_bytes {
        return Err(format!(
            "{path} needs {} bytes of workgroup memory, the adapter has {}",
            path.workgroup_bytes(),
            a.workgroup_bytes
        ));
    }
    if path.invocations() > a.invocations {
        return Err(format!(
            "{path} needs {} invocations per workgroup, the adapter has {}",
            path.invocations(),
            a.invocations
        ));
    }
    Ok(())
}

/// The largest tiled configuration `a` runs, else the reference kernel, with the reason
/// the next larger one was ruled out (if any).
fn portable(a: &GemmAdapter) -> (GemmPath, Option<String>) {
    let mut best = (GemmPath::Reference, None);
    for shape in TILE_SHAPES {
        match fits(a, GemmPath::Tiled(shape)) {
            Ok(()) => best = (GemmPath::Tiled(shape), None),
            Err(why) => return (best.0, Some(why)),
        }
    }
    best
}

/// `16×16×16 f16→f32`-style description of a configuration.
fn describe(c: &CooperativeMatrixProperties) -> String {
    format!(
        "{}×{}×{} {:?}→{:?}",
        c.m_size, c.n_size, c.k_size, c.ab_type, c.cr_type
    )
}

/// The cooperative path `a` offers, or why it offers none.
fn cooperative(a: &GemmAdapter) -> Result<GemmPath, String> {
    for (feature, name) in [
        (
            Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
            "EXPERIMENTAL_COOPERATIVE_MATRIX",
        ),
        (Features::SHADER_F16, "SHADER_F16"),
        (Features::SUBGROUP, "SUBGROUP"),
    ] {
        if !a.features.contains(feature) {
            return Err(format!("adapter lacks {name}"));
        }
    }
    let offered = |cr: CooperativeScalarType| {
        a.cooperative.iter().any(|c| {
            (c.m_size, c.n_size, c.k_size) == (16, 16, 16)
                && c.ab_type == CooperativeScalarType::F16
                && c.cr_type == cr
        })
    };
    let path = if offered(CooperativeScalarType::F32) {
        GemmPath::Cooperative(Accumulator::F32)
    } else if offered(CooperativeScalarType::F16) {
        GemmPath::Cooperative(Accumulator::F16)
    } else {
        let list: Vec<String> = a.cooperative.iter().map(describe).collect();
        return Err(format!(
            "no 16×16×16 f16 configuration among [{}]",
            list.join(", ")
        ));
    };
    fits(a, path).map(|()| path)
}

/// The GEMM path of adapter `a`: the cooperative-matrix kernel when the device has the
/// feature and the adapter a 16×16×16 f16 configuration (f32 accumulation preferred), else
/// the largest register tile its workgroup memory and invocations allow.
pub fn choose(a: &GemmAdapter) -> GemmChoice {
    let (portable, smaller) = portable(a);
    match cooperative(a) {
        Ok(path) => GemmChoice {
            path,
            portable,
            reason: "the adapter offers 16×16×16 f16 cooperative matrices".into(),
        },
        Err(why) => {
            let mut reason = format!("no cooperative matrix: {why}");
            if let Some(s) = smaller {
                reason.push_str(&format!("; no larger tile: {s}"));
            }
            GemmChoice {
                path: portable,
                portable,
                reason,
            }
        }
    }
}

/// The path of a linear layer with activations in `x` and weights in `w` under `choice`:
/// the cooperative kernel, which rounds both operands to f16, only where the activations
/// already are f16 and the weights 16-bit (bf16 values in f16's normal range are exact in
/// f16); otherwise the portable one, so f32 activations keep f32 products and
/// block-quantized weights their f32 dequantized values.
pub fn linear_path(choice: &GemmChoice, x: DType, w: DType) -> GemmPath {
    let halves = x == DType::F16 && matches!(w, DType::F16 | DType::BF16);
    match choice.path {
        GemmPath::Cooperative(_) if !halves => choice.portable,
        path => path,
    }
}
