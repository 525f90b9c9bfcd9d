// Flash attention: one workgroup per (block of BQ query rows, query head, batch), keys in
// tiles of BK through workgroup memory with an online softmax; never an Lq×Lk matrix.
// TPR = 64 / BQ invocations share a query row, each holding DVT output columns.
// Constants: D, DV, BQ, BK, TPR, DVT.
// META starts with [lo, hi) key bounds per query block; with key ranges, the row starts
// follow at row_start_at and the ranges at ranges_at.
// P (binding 0) is AttentionParams (tensor/src/gpu/attention.rs); the launch declares it
// and the storage bindings: Q, K, V (u32 words of their dtype, read through load_Q, load_K,
// load_V), VALID (f32), META (u32) read; OUT written through store_OUT.

const NEG: f32 = -3.0e38;

var<workgroup> qs: array<f32, BQ * D>;
var<workgroup> ks: array<f32, BK * D>;
var<workgroup> vs: array<f32, BK * DV>;
var<workgroup> ss: array<f32, BQ * BK>;
var<workgroup> bounds: vec2<u32>;

fn visible(b: u32, i: u32, j: u32) -> bool {
    let w = P.window;
    if (w != 0u && (j + w <= i || j >= i + w)) {
        return false;
    }
    if (P.has_key_valid != 0u && VALID[b * P.lk + j] == 0.0) {
        return false;
    }
    if (P.has_key_ranges != 0u) {
        let rs = P.row_start_at;
        let rg = P.ranges_at;
        for (var x = META[rs + i]; x < META[rs + i + 1u]; x++) {
            if (j >= META[rg + 2u * x] && j < META[rg + 2u * x + 1u]) {
                return true;
            }
        }
        return false;
    }
    return true;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let lq = P.lq;
    let lk = P.lk;
    let qb = wid.x + P.block0;
    let h = wid.y;
    let b = wid.z;
    let hk = h / P.q_per_kv;
    let q0 = qb * BQ;
    let r = t / TPR;
    let c = t % TPR;
    let qbase = P.q_offset + b * P.q_batch_stride + h * P.q_head_stride;
    let kbase = P.k_offset + b * P.k_batch_stride + hk * P.k_head_stride;
    let vbase = P.v_offset + b * P.v_batch_stride + hk * P.v_head_stride;
    for (var e = t; e < BQ * D; e += 64u) {
        let qi = q0 + e / D;
        var x = 0.0;
        if (qi < lq) {
            x = load_Q(qbase + qi * P.q_row_stride + e % D);
        }
        qs[e] = x;
    }
    if (t == 0u) {
        bounds = vec2<u32>(META[2u * qb], META[2u * qb + 1u]);
    }
    let bnd = workgroupUniformLoad(&bounds);
    let scale = P.scale;
    let cap = P.softcap;
    var m = NEG;
    var l = 0.0;
    var acc: array<f32, DVT>;
    for (var j0 = bnd.x; j0 < bnd.y; j0 += BK) {
        workgroupBarrier();
        for (var e = t; e < BK * D; e += 64u) {
            let j = j0 + e / D;
            var x = 0.0;
            if (j < lk) {
                x = load_K(kbase + j * P.k_row_stride + e % D);
            }
            ks[e] = x;
        }
        for (var e = t; e < BK * DV; e += 64u) {
            let j = j0 + e / DV;
            var x = 0.0;
            if (j < lk) {
                x = load_V(vbase + j * P.v_row_stride + e % DV);
            }
            vs[e] = x;
        }
        workgroupBarrier();
        for (var e = t; e < BQ * BK; e += 64u) {
            let rr = e / BK;
            let cc = e % BK;
            let i = q0 + rr;
            let j = j0 + cc;
            var s = NEG;
            if (i < lq && j < bnd.y && visible(b, i, j)) {
                var sdot = 0.0;
                for (var d = 0u; d < D; d++) {
                    sdot = fma(qs[rr * D + d], ks[cc * D + d], sdot);
                }
                s = sdot * scale;
                if (cap > 0.0) {
                    s = cap * tanh(clamp(s / cap, -15.0, 15.0));
                }
            }
            ss[e] = s;
        }
        workgroupBarrier();
        var mt = m;
        for (var cc = 0u; cc < BK; cc++) {
            mt = max(mt, ss[r * BK + cc]);
        }
        if (mt > NEG) {
            let corr = exp(m - mt);
            l *= corr;
            for (var x = 0u; x < DVT; x++) {
                acc[x] *= corr;
            }
            for (var cc = 0u; cc < BK; cc++) {
                let s = ss[r * BK + cc];
                if (s > NEG) {
                    let p = exp(s - mt);
                    l += p;
                    for (var x = 0u; x < DVT; x++) {
                        let dv = c + x * TPR;
                        if (dv < DV) {
                            acc[x] = fma(p, vs[cc * DV + dv], acc[x]);
                        }
                    }
                }
            }
            m = mt;
        }
    }
    let i = q0 + r;
    if (i < lq) {
        let inv = select(0.0, 1.0 / l, l > 0.0);
        let obase = ((b * P.hq + h) * lq + i) * DV;
        for (var x = 0u; x < DVT; x++) {
            let dv = c + x * TPR;
            if (dv < DV) {
                store_OUT(obase + dv, acc[x] * inv);
            }
        }
    }
}
