// Clamped sigmoid-GELU, `a·sigmoid(alpha·a)` with `a = min(x, limit)`; when GATED, of the
// even value of each interleaved pair times `clamp(odd, −limit, limit) + 1`.
// P (binding 0) is ClampedGeluParams (tensor/src/gpu/clamped_gelu.rs); the launch
// declares it and the storage bindings: U (u32 words of its dtype) read; OUT written through
// store_OUT.

fn gelu(x: f32) -> f32 {
    var a = x;
    if (x > P.limit) {
        a = P.limit;
    }
    return a * (1.0 / (1.0 + exp(-(a * P.alpha))));
}

fn element(i: u32) {
    if (!GATED) {
        store_OUT(i, gelu(load_U(P.u_offset + i)));
        return;
    }
    let b = load_U(P.u_offset + 2u * i + 1u);
    var lin = b;
    if (b < -P.limit) {
        lin = -P.limit;
    } else if (b > P.limit) {
        lin = P.limit;
    }
    store_OUT(i, gelu(load_U(P.u_offset + 2u * i)) * (lin + 1.0));
}
