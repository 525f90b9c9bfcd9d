// Shared by every kernel: flat workgroup indexing and NaN-aware max and min. The launch
// declares each kernel's parameter block (`P`, binding 0) and storage bindings after it.

// Index of a workgroup in a 2-D grid of workgroups (grids split past 65535 per dim).
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// Whether x is a NaN, from its bits (comparisons of x with itself may be folded away).
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// max and min that return the other operand when one is NaN (Rust's f32::max/min; the
// WGSL builtins leave NaN operands unspecified).
fn max_num(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), a, is_nan(b)), b, is_nan(a));
}

fn min_num(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), a, is_nan(b)), b, is_nan(a));
}
