//! Every kernel's parameter block against its WGSL struct: the shader, assembled as a
//! launch assembles it, is parsed and validated with naga, and the struct that `P` reads
//! must have the Rust struct's name, field names, offsets, sizes and total size.

use wgpu::naga;

use super::kernel::{loader, source, ParamBlock};
use crate::DType;

/// Checks `P` of the kernel built from `defines` and `sources` against `B`.
fn check<B: ParamBlock>(defines: &str, sources: &[&str]) {
    let wgsl = source(defines, sources);
    let module = naga::front::wgsl::parse_str(&wgsl)
        .unwrap_or_else(|e| panic!("{}: {}", B::NAME, e.emit_to_string(&wgsl)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
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

#[test]
fn elementwise() {
    for kind in 0..4 {
        check::<super::elementwise::ElementwiseParams>(
            &format!(
                "const KIND: u32 = {kind}u;\nconst OP: u32 = 1u;\n{}",
                loaders(&["A", "B"])
            ),
            &[super::elementwise::SRC],
        );
    }
}

#[test]
fn cast() {
    check::<super::cast::CastParams>(
        &format!(
            "const MODE: u32 = 1u;\nconst EB: u32 = 2u;\n{}",
            loaders(&["SRC"])
        ),
        &[super::cast::SRC],
    );
}
