// Operands of linear read one element at a time (any K, any offsets), through load_X and
// load_W.

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return load_X(index_a(z, m, k));
}

fn load_b(z: u32, n: u32, k: u32) -> f32 {
    return load_W(index_b(z, n, k));
}

fn stage(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) {
    stage_scalar(lid, z, m0, n0, k0);
}
