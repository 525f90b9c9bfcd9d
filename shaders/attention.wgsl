// Flash attention: one workgroup per (block of BQ query rows, query head, batch), keys in
// tiles of BK through workgroup memory with an online softmax; never an Lq×Lk matrix.
// TPR = 64 / BQ invocations share a query row, each holding DVT output columns.
// Constants: D, DV, BQ, BK, TPR, DVT.
// Parameters: 0 Lq, 1 Lk, 2 Hq, 3 query heads per kv head, 4 first query block,
// 5 q offset, 6..9 q strides (batch, head, row), 9 k offset, 10..13 k strides,
// 13 v offset, 14..17 v strides, 17 scale, 18 softcap (0 none), 19 window (0 none),
// 20 has key_valid, 21 has key_ranges, 22 META offset of row starts, 23 META offset of
// ranges. META starts with [lo, hi) key bounds per query block.

@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> VALID: array<f32>;
@group(0) @binding(5) var<storage, read> META: array<u32>;
@group(0) @binding(6) var<storage, read_write> OUT: array<f32>;

const NEG: f32 = -3.0e38;

var<workgroup> qs: array<f32, BQ * D>;
var<workgroup> ks: array<f32, BK * D>;
var<workgroup> vs: array<f32, BK * DV>;
var<workgroup> ss: array<f32, BQ * BK>;
var<workgroup> bounds: vec2<u32>;

fn visible(b: u32, i: u32, j: u32) -> bool {
    let w = pu(19u);
    if (w != 0u && (j + w <= i || j >= i + w)) {
        return false;
    }
    if (pu(20u) != 0u && VALID[b * pu(1u) + j] == 0.0) {
        return false;
    }
    if (pu(21u) != 0u) {
        let rs = pu(22u);
        let rg = pu(23u);
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
    let lq = pu(0u);
    let lk = pu(1u);
    let qb = wid.x + pu(4u);
    let h = wid.y;
    let b = wid.z;
    let hk = h / pu(3u);
    let q0 = qb * BQ;
    let r = t / TPR;
    let c = t % TPR;
    let qbase = pu(5u) + b * pu(6u) + h * pu(7u);
    let kbase = pu(9u) + b * pu(10u) + hk * pu(11u);
    let vbase = pu(13u) + b * pu(14u) + hk * pu(15u);
    for (var e = t; e < BQ * D; e += 64u) {
        let qi = q0 + e / D;
        var x = 0.0;
        if (qi < lq) {
            x = Q[qbase + qi * pu(8u) + e % D];
        }
        qs[e] = x;
    }
    if (t == 0u) {
        bounds = vec2<u32>(META[2u * qb], META[2u * qb + 1u]);
    }
    let bnd = workgroupUniformLoad(&bounds);
    let scale = pf(17u);
    let cap = pf(18u);
    var m = NEG;
    var l = 0.0;
    var acc: array<f32, DVT>;
    for (var j0 = bnd.x; j0 < bnd.y; j0 += BK) {
        workgroupBarrier();
        for (var e = t; e < BK * D; e += 64u) {
            let j = j0 + e / D;
            var x = 0.0;
            if (j < lk) {
                x = K[kbase + j * pu(12u) + e % D];
            }
            ks[e] = x;
        }
        for (var e = t; e < BK * DV; e += 64u) {
            let j = j0 + e / DV;
            var x = 0.0;
            if (j < lk) {
                x = V[vbase + j * pu(16u) + e % DV];
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
        let obase = ((b * pu(2u) + h) * lq + i) * DV;
        for (var x = 0u; x < DVT; x++) {
            let dv = c + x * TPR;
            if (dv < DV) {
                OUT[obase + dv] = acc[x] * inv;
            }
        }
    }
}
