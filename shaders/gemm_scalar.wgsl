// Scalar staging of the GEMM core's tiles; the including kernel defines load_a and
// load_b (called only in bounds).

// Stages the K step at k0 of the A (rows m0..) and B (rows n0..) tiles into workgroup
// memory, one element per load: each invocation loads 4 of each, zero outside the matrix.
fn stage_scalar(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) {
    let m_len = P.m;
    let n_len = P.n;
    let k_len = P.k;
    for (var r = 0u; r < 4u; r++) {
        let e = lid + 256u * r;
        let kk = e % TK;
        let rr = e / TK;
        let k = k0 + kk;
        var a = 0.0;
        if (m0 + rr < m_len && k < k_len) {
            a = load_a(z, m0 + rr, k);
        }
        As[kk * TM + rr] = a;
        var b = 0.0;
        if (n0 + rr < n_len && k < k_len) {
            b = load_b(z, n0 + rr, k);
        }
        Bs[kk * TN + rr] = b;
    }
}
