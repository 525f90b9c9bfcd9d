// Tiled GEMM core: C[z, m, n] = Σ_k A(z, m, k) · B(z, n, k) + bias, accumulated in f32.
// 64×64 output tiles, K in steps of 16 through workgroup memory, 256 invocations holding
// 4×4 outputs each (rows ty + 16i, columns tx + 16j: stores coalesce along n).
// The including kernel defines stage (filling the tiles of one K step: stage_scalar of
// gemm_scalar.wgsl over its load_a, load_b, or vector loads) and store_c, and its
// parameter struct P has the members m, n, k (the sizes), m_tile0 and z0 (the first row
// tile and batch of the dispatch).

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let m_len = P.m;
    let n_len = P.n;
    let k_len = P.k;
    let n0 = wid.x * TN;
    let m0 = (wid.y + P.m_tile0) * TM;
    let z = wid.z + P.z0;
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < k_len; k0 += TK) {
        stage(lid, z, m0, n0, k0);
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = As[kk * TM + ty + 16u * i];
                bv[i] = Bs[kk * TN + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + tx + 16u * j;
            if (m < m_len && n < n_len) {
                store_c(z, m, n, acc[i * 4u + j]);
            }
        }
    }
}
