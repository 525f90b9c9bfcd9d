// Register-tiled GEMM core: C[z, m, n] = Σ_k A(z, m, k) · B(z, n, k) + bias, accumulated
// in f32. TM×TN output tiles (host constants), 256 invocations holding RM×RN outputs each
// (rows ty·RM + i, columns tx·RN + j, read from workgroup memory as vectors of 4). K goes
// in steps of TK through
// two workgroup buffers: each invocation fetches its part of the next step into registers,
// multiplies the current step, then stores the fetched part into the other buffer, so the
// global loads overlap the arithmetic and one barrier per step suffices. The including kernel
// defines fetch4 (linear_fetch.wgsl) and store_c, and P has m, n, k, m_tile0 (the first row
// tile) and z0 (the first batch).

const TK: u32 = 16u;
const RM: u32 = TM / 16u;
const RN: u32 = TN / 16u;
// Four-element fetches per invocation per step: the (TM + TN) rows of TK.
const FETCHES: u32 = (TM + TN) * TK / 4u / 256u;

// K-major: element (k, row) of buffer buf at vector ((buf·TK + k)·T + row) / 4.
var<workgroup> As: array<vec4<f32>, 2u * TK * TM / 4u>;
var<workgroup> Bs: array<vec4<f32>, 2u * TK * TN / 4u>;

// Fetch f of invocation lid: its row of the A tile (row < TM) or of the B tile (row - TM),
// and its first k within the step.
fn fetch_slot(lid: u32, f: u32) -> vec2<u32> {
    let e = lid + 256u * f;
    return vec2<u32>(e / (TK / 4u), (e % (TK / 4u)) * 4u);
}

// This invocation's part of the K step at k0 of the A (rows m0..) and B (rows n0..) tiles.
fn fetch_step(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) -> array<vec4<f32>, FETCHES> {
    var part: array<vec4<f32>, FETCHES>;
    for (var f = 0u; f < FETCHES; f++) {
        let slot = fetch_slot(lid, f);
        if (slot.x < TM) {
            part[f] = fetch4(0u, z, m0 + slot.x, k0 + slot.y);
        } else {
            part[f] = fetch4(1u, z, n0 + slot.x - TM, k0 + slot.y);
        }
    }
    return part;
}

// Stores a part fetched by fetch_step into buffer buf, k-major.
fn store_step(lid: u32, buf: u32, part: array<vec4<f32>, FETCHES>) {
    for (var f = 0u; f < FETCHES; f++) {
        let slot = fetch_slot(lid, f);
        for (var q = 0u; q < 4u; q++) {
            let kk = buf * TK + slot.y + q;
            if (slot.x < TM) {
                let at = kk * TM + slot.x;
                As[at / 4u][at % 4u] = part[f][q];
            } else {
                let at = kk * TN + slot.x - TM;
                Bs[at / 4u][at % 4u] = part[f][q];
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
    // Output (i, j) of this invocation: component j % 4 of acc[(i·RN + j) / 4].
    var acc: array<vec4<f32>, RM * RN / 4u>;
    store_step(lid, 0u, fetch_step(lid, z, m0, n0, 0u));
    workgroupBarrier();
    for (var s = 0u; s < steps; s++) {
        let buf = s % 2u;
        let next = s + 1u < steps;
        var part: array<vec4<f32>, FETCHES>;
        if (next) {
            part = fetch_step(lid, z, m0, n0, (s + 1u) * TK);
        }
        for (var kk = 0u; kk < TK; kk++) {
            var av: array<vec4<f32>, RM / 4u>;
            var bv: array<vec4<f32>, RN / 4u>;
            for (var i = 0u; i < RM / 4u; i++) {
                av[i] = As[((buf * TK + kk) * TM + ty * RM) / 4u + i];
            }
            for (var j = 0u; j < RN / 4u; j++) {
                bv[j] = Bs[((buf * TK + kk) * TN + tx * RN) / 4u + j];
            }
            for (var i = 0u; i < RM; i++) {
                let a = av[i / 4u][i % 4u];
                for (var j = 0u; j < RN / 4u; j++) {
                    let at = i * RN / 4u + j;
                    acc[at] = fma(vec4<f32>(a), bv[j], acc[at]);
                }
            }
        }
        if (next) {
            store_step(lid, 1u - buf, part);
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < RM; i++) {
        let m = m0 + ty * RM + i;
        for (var j = 0u; j < RN; j++) {
            let n = n0 + tx * RN + j;
            if (m < P.m && n < P.n) {
                store_c(z, m, n, acc[(i * RN + j) / 4u][j % 4u]);
            }
        }
    }
}
