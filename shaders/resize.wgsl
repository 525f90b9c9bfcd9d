// Ops that change extents, one output (or input) element per invocation. Each kernel is
// a section of this file: reindex (pad, nearest upsampling), cat (copy one input into its
// slice), trilinear resize, embedding rows of one table piece.
// P (binding 0) is the section's struct in tensor/src/gpu/resize.rs (ReindexParams,
// CatParams, TrilinearParams, EmbeddingParams); the launch declares it and the storage
// bindings: X (u32 words of its dtype), IDS (u32) read; OUT written through store_OUT.

//# reindex
// Each output element copies one input element, found dim by dim from its output index:
// mode 0, 1, 2 pad by `before` (outside the input: the constant value, the nearest edge,
// the reflection), mode 3 nearest upsampling (the output index over the factor).
fn element(i: u32) {
    var rem = i;
    var src = 0u;
    var stride = 1u;
    for (var d = i32(P.rank) - 1; d >= 0; d--) {
        let ud = u32(d);
        let no = P.out_shape[ud >> 2u][ud & 3u];
        let n = i32(P.in_shape[ud >> 2u][ud & 3u]);
        let o = rem % no;
        rem = rem / no;
        var k = i32(o) - i32(P.before[ud >> 2u][ud & 3u]);
        if (P.mode == 3u) {
            k = i32(o / (no / u32(n)));
        } else if (k < 0 || k >= n) {
            if (P.mode == 0u) {
                store_OUT(i, P.value);
                return;
            } else if (P.mode == 1u) {
                k = clamp(k, 0, n - 1);
            } else {
                k = select(2 * (n - 1) - k, -k, k < 0);
            }
        }
        src += u32(k) * stride;
        stride *= u32(n);
    }
    store_OUT(i, load_X(P.x_offset + src));
}

//# cat
fn element(i: u32) {
    let w_in = P.row_in;
    store_OUT((i / w_in) * P.row_out + P.row_at + i % w_in, load_X(P.x_offset + i));
}

//# trilinear
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
    return load_X(base + (t * P.h_in + h) * P.w_in + w);
}

fn element(i: u32) {
    let to = P.t_out;
    let ho = P.h_out;
    let wo = P.w_out;
    let ow = i % wo;
    let oh = (i / wo) % ho;
    let ot = (i / (wo * ho)) % to;
    let c = i / (wo * ho * to);
    let tt = taps(ot, P.t_in, to);
    let th = taps(oh, P.h_in, ho);
    let tw = taps(ow, P.w_in, wo);
    let base = P.x_offset + c * P.t_in * P.h_in * P.w_in;
    var planes: array<f32, 2>;
    for (var k = 0u; k < 2u; k++) {
        let ti = select(tt.i0, tt.i1, k == 1u);
        let a = mix(at3(base, ti, th.i0, tw.i0), at3(base, ti, th.i0, tw.i1), tw.f);
        let b = mix(at3(base, ti, th.i1, tw.i0), at3(base, ti, th.i1, tw.i1), tw.f);
        planes[k] = mix(a, b, th.f);
    }
    store_OUT(i, mix(planes[0], planes[1], tt.f));
}

//# embedding
fn element(i: u32) {
    let dd = P.d;
    let id = IDS[i / dd];
    let row0 = P.row0;
    if (id >= row0 && id - row0 < P.rows) {
        store_OUT(i, load_X(P.table_offset + (id - row0) * dd + i % dd));
    }
}
