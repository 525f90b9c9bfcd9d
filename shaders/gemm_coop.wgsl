// Cooperative-matrix GEMM core (tensor cores): C[z, m, n] = Σ_k A(z, m, k) · B(z, n, k) +
// bias, with A and B rounded to f16 and the products accumulated in ACC (f32 or f16, a host
// alias). 64×64 output tiles, made of four 32×32 blocks of 2×2 16×16 matrices; each
// subgroup of the 128 invocations computes block subgroup_id, then subgroup_id +
// num_subgroups, … (so any subgroup size works). K goes in steps of CK through workgroup
// memory in f16; the finished blocks go through Cs to store_c, which every invocation calls.
// The including kernel defines fetch4 (linear_fetch.wgsl) and store_c, and P has m, n, k,
// m_tile0 and z0. The cooperative operations sit in control flow that is uniform within
// each subgroup (the scope of the matrices) but not across the workgroup, so the host turns
// naga's workgroup-wide uniformity diagnostic off for this kernel.

const CT: u32 = 64u;
const CK: u32 = 32u;
const BLOCKS: u32 = 4u;

var<workgroup> As: array<f16, CT * CK>;
var<workgroup> Bs: array<f16, CT * CK>;
var<workgroup> Cs: array<ACC, CT * CT>;

// Stages the K step at k0 of the A (rows m0..) and B (rows n0..) tiles, row-major with a
// row stride of CK, rounded to f16.
fn stage_halves(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) {
    for (var e = lid; e < 2u * CT * CK / 4u; e += 128u) {
        let row = e / (CK / 4u);
        let kq = (e % (CK / 4u)) * 4u;
        let at = (row % CT) * CK + kq;
        if (row < CT) {
            let v = vec4<f16>(fetch4(0u, z, m0 + row, k0 + kq));
            for (var q = 0u; q < 4u; q++) {
                As[at + q] = v[q];
            }
        } else {
            let v = vec4<f16>(fetch4(1u, z, n0 + row - CT, k0 + kq));
            for (var q = 0u; q < 4u; q++) {
                Bs[at + q] = v[q];
            }
        }
    }
}

@compute @workgroup_size(128)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sid: u32,
    @builtin(num_subgroups) subgroups: u32,
) {
    let n0 = wid.x * CT;
    let m0 = (wid.y + P.m_tile0) * CT;
    let z = wid.z + P.z0;
    let sweeps = (BLOCKS + subgroups - 1u) / subgroups;
    for (var sweep = 0u; sweep < sweeps; sweep++) {
        let block = sweep * subgroups + sid;
        let bm = (block / 2u) * 32u;
        let bn = (block % 2u) * 32u;
        var c00 = coop_mat16x16<ACC, C>();
        var c01 = coop_mat16x16<ACC, C>();
        var c10 = coop_mat16x16<ACC, C>();
        var c11 = coop_mat16x16<ACC, C>();
        for (var k0 = 0u; k0 < P.k; k0 += CK) {
            stage_halves(lid, z, m0, n0, k0);
            workgroupBarrier();
            if (block < BLOCKS) {
                for (var kk = 0u; kk < CK; kk += 16u) {
                    // A is M×K row-major; B (K×N) is W's rows, so column-major.
                    let a0 = coopLoadT<coop_mat16x16<f16, A>>(&As[bm * CK + kk], CK);
                    let a1 = coopLoadT<coop_mat16x16<f16, A>>(&As[(bm + 16u) * CK + kk], CK);
                    let b0 = coopLoad<coop_mat16x16<f16, B>>(&Bs[bn * CK + kk], CK);
                    let b1 = coopLoad<coop_mat16x16<f16, B>>(&Bs[(bn + 16u) * CK + kk], CK);
                    c00 = coopMultiplyAdd(a0, b0, c00);
                    c01 = coopMultiplyAdd(a0, b1, c01);
                    c10 = coopMultiplyAdd(a1, b0, c10);
                    c11 = coopMultiplyAdd(a1, b1, c11);
                }
            }
            workgroupBarrier();
        }
        if (block < BLOCKS) {
            coopStoreT(c00, &Cs[bm * CT + bn], CT);
            coopStoreT(c01, &Cs[bm * CT + bn + 16u], CT);
            coopStoreT(c10, &Cs[(bm + 16u) * CT + bn], CT);
            coopStoreT(c11, &Cs[(bm + 16u) * CT + bn + 16u], CT);
        }
    }
    workgroupBarrier();
    for (var e = lid; e < CT * CT; e += 128u) {
        let m = m0 + e / CT;
        let n = n0 + e % CT;
        if (m < P.m && n < P.n) {
            store_c(z, m, n, f32(Cs[e]));
        }
    }
}
