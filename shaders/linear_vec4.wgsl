// Operands of linear read four consecutive k at a time, when K % 4 == 0 and the offsets
// of X and W are multiples of 4 elements (so every A(z, m, 4j..) and B(z, n, 4j..) is one
// aligned vector). The host defines WORDS_X and WORDS_W (the vectors holding 4 elements
// of X's and W's dtypes) and widen4_X and widen4_W (those words to f32).

// Each invocation stages 4 consecutive k of one row of the A tile and of the B tile.
fn stage(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) {
    let rr = lid / 4u;
    let kq = (lid % 4u) * 4u;
    let k = k0 + kq;
    let inside = k < P.k;
    var a = vec4<f32>();
    if (m0 + rr < P.m && inside) {
        a = widen4_X(X[index_a(z, m0 + rr, k) >> 2u]);
    }
    var b = vec4<f32>();
    if (n0 + rr < P.n && inside) {
        b = widen4_W(W[index_b(z, n0 + rr, k) >> 2u]);
    }
    for (var q = 0u; q < 4u; q++) {
        As[(kq + q) * TM + rr] = a[q];
        Bs[(kq + q) * TN + rr] = b[q];
    }
}
