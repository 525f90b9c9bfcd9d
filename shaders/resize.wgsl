// Ops that change extents, one output (or input) element per invocation.
// Constant KIND: 0 pad, 1 cat (copy one input into its slice), 2 nearest upsampling,
// 3 trilinear resize, 4 embedding rows of one table piece.
// pad: 0 n, 1 rank, 2 x offset, 3 mode (0 constant, 1 replicate, 2 reflect), 4 value,
//      8.. out shape, 16.. in shape, 24.. pad before.
// cat: 0 n (input elements), 1 input row, 2 output row, 3 row offset, 4 x offset.
// upsample: 0 n, 1 rank, 2 x offset, 8.. out shape, 16.. in shape.
// trilinear: 0 n, 1 T, 2 H, 3 W, 4 To, 5 Ho, 6 Wo, 7 x offset.
// embedding: 0 n, 1 D, 2 first row of the piece, 3 rows in the piece, 4 table offset.

@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read> IDS: array<u32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;

struct Taps {
    i0: u32,
    i1: u32,
    f: f32,
}

// Source taps of a linear resize with align_corners = false.
fn taps(o: u32, n_in: u32, n_out: u32) -> Taps {
    let scale = f32(n_in) / f32(n_out);
    let src = max((f32(o) + 0.5) * scale - 0.5, 0.0);
    let i0 = min(u32(floor(src)), n_in - 1u);
    let i1 = min(i0 + 1u, n_in - 1u);
    return Taps(i0, i1, src - f32(i0));
}

fn at3(base: u32, t: u32, h: u32, w: u32) -> f32 {
    return load_X(base + (t * pu(2u) + h) * pu(3u) + w);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_group(wid, nwg) * 256u + lid;
    if (i >= pu(0u)) {
        return;
    }
    if (KIND == 0u) {
        var rem = i;
        var src = 0u;
        var stride = 1u;
        for (var d = i32(pu(1u)) - 1; d >= 0; d--) {
            let ud = u32(d);
            let no = pu(8u + ud);
            let n = i32(pu(16u + ud));
            let o = rem % no;
            rem = rem / no;
            var k = i32(o) - i32(pu(24u + ud));
            if (k < 0 || k >= n) {
                if (pu(3u) == 0u) {
                    OUT[i] = pf(4u);
                    return;
                } else if (pu(3u) == 1u) {
                    k = clamp(k, 0, n - 1);
                } else {
                    k = select(2 * (n - 1) - k, -k, k < 0);
                }
            }
            src += u32(k) * stride;
            stride *= u32(n);
        }
        OUT[i] = load_X(pu(2u) + src);
    } else if (KIND == 1u) {
        let w_in = pu(1u);
        OUT[(i / w_in) * pu(2u) + pu(3u) + i % w_in] = load_X(pu(4u) + i);
    } else if (KIND == 2u) {
        var rem = i;
        var src = 0u;
        var stride = 1u;
        for (var d = i32(pu(1u)) - 1; d >= 0; d--) {
            let ud = u32(d);
            let no = pu(8u + ud);
            let n = pu(16u + ud);
            let o = rem % no;
            rem = rem / no;
            src += (o / (no / n)) * stride;
            stride *= n;
        }
        OUT[i] = load_X(pu(2u) + src);
    } else if (KIND == 3u) {
        let to = pu(4u);
        let ho = pu(5u);
        let wo = pu(6u);
        let ow = i % wo;
        let oh = (i / wo) % ho;
        let ot = (i / (wo * ho)) % to;
        let c = i / (wo * ho * to);
        let tt = taps(ot, pu(1u), to);
        let th = taps(oh, pu(2u), ho);
        let tw = taps(ow, pu(3u), wo);
        let base = pu(7u) + c * pu(1u) * pu(2u) * pu(3u);
        var planes: array<f32, 2>;
        for (var k = 0u; k < 2u; k++) {
            let ti = select(tt.i0, tt.i1, k == 1u);
            let a = mix(at3(base, ti, th.i0, tw.i0), at3(base, ti, th.i0, tw.i1), tw.f);
            let b = mix(at3(base, ti, th.i1, tw.i0), at3(base, ti, th.i1, tw.i1), tw.f);
            planes[k] = mix(a, b, th.f);
        }
        OUT[i] = mix(planes[0], planes[1], tt.f);
    } else {
        let dd = pu(1u);
        let id = IDS[i / dd];
        let row0 = pu(2u);
        if (id >= row0 && id - row0 < pu(3u)) {
            OUT[i] = load_X(pu(4u) + (id - row0) * dd + i % dd);
        }
    }
}
