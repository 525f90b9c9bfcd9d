// Register-tiled GEMM core: C[z, m, n] = Σ_k A(z, m, k) · B(z, n, k) + bias, accumulated
// in f32. TM×TN output tiles (host constants), 256 invocations holding RM×RN outputs each
// (rows ty + 16i, columns tx + 16j: stores coalesce along n). K goes in steps of TK through
// two workgroup buffers: while one step is multiplied the next is staged into the other, so
// one barrier per step suffices. The including kernel defines fetch4 (linear_fetch.wgsl) and
// store_c, and P has m, n, k, m_tile0 (the first row tile) and z0 (the first batch).

const TK: u32 = 16u;
const RM: u32 = TM / 16u;
const RN: u32 = TN / 16u;

var<workgroup> As: array<f32, 2u * TK * TM>;
var<workgroup> Bs: array<f32, 2u * TK * TN>;

// Stages the K step at k0 of the A (rows m0..) and B (rows n0..) tiles into buffer buf,
// k-major: four consecutive k of one row per fetch.
fn stage_tiles(lid: u32, z: u32, m0: u32, n0: u32, k0: u32, buf: u32) {
    for (var e = lid; e < (TM + TN) * TK / 4u; e += 256u) {
        let row = e / (TK / 4u);
        let kq = (e % (TK / 4u)) * 4u;
        if (row < TM) {
            let v = fetch4(0u, z, m0 + row, k0 + kq);
            for (var q = 0u; q < 4u; q++) {
                As[(buf * TK + kq + q) * TM + row] = v[q];
            }
        } else {
            let v = fetch4(1u, z, n0 + row - TM, k0 + kq);
            for (var q = 0u; q < 4u; q++) {
                Bs[(buf * TK + kq + q) * TN + row - TM] = v[q];
            }
        }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n0 = wid.x * TN;
    let m0 = (wid.y + P.m_tile0) * TM;
    let z = wid.z + P.z0;
    let tx = lid % 16u;
    let ty = lid / 16u;
    let steps = (P.k + TK - 1u) / TK;
    var acc: array<f32, RM * RN>;
    stage_tiles(lid, z, m0, n0, 0u, 0u);
    workgroupBarrier();
    for (var s = 0u; s < steps; s++) {
        let buf = s % 2u;
        if (s + 1u < steps) {
            stage_tiles(lid, z, m0, n0, (s + 1u) * TK, 1u - buf);
        }
        for (var kk = 0u; kk < TK; kk++) {
            var av: array<f32, RM>;
            var bv: array<f32, RN>;
            for (var i = 0u; i < RM; i++) {
                av[i] = As[(buf * TK + kk) * TM + ty + 16u * i];
            }
            for (var j = 0u; j < RN; j++) {
                bv[j] = Bs[(buf * TK + kk) * TN + tx + 16u * j];
            }
            for (var i = 0u; i < RM; i++) {
                for (var j = 0u; j < RN; j++) {
                    acc[i * RN + j] = fma(av[i], bv[j], acc[i * RN + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < RM; i++) {
        let m = m0 + ty + 16u * i;
        for (var j = 0u; j < RN; j++) {
            let n = n0 + tx + 16u * j;
            if (m < P.m && n < P.n) {
                store_c(z, m, n, acc[i * RN + j]);
            }
        }
    }
}
