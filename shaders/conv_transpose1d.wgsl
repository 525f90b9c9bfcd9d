// Transposed 1-D convolution, direct: one output sample per invocation gathers the input
// samples whose taps land on it.
// Parameters: 0 n, 1 Cin, 2 L, 3 Cout, 4 Cout per group, 5 Cin per group, 6 k, 7 stride,
// 8 padding, 9 output length, 10 x offset, 11 w offset, 12 has bias, 13 bias offset.

@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> BIAS: array<u32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_group(wid, nwg) * 256u + lid;
    if (i >= pu(0u)) {
        return;
    }
    let lo = pu(9u);
    let o = i % lo;
    let oc = (i / lo) % pu(3u);
    let b = i / (lo * pu(3u));
    let cog = pu(4u);
    let cig = pu(5u);
    let k = pu(6u);
    let stride = pu(7u);
    let l = pu(2u);
    let g = oc / cog;
    let ocg = oc % cog;
    let pos = o + pu(8u);
    var acc = 0.0;
    if (pu(12u) != 0u) {
        acc = load_BIAS(pu(13u) + oc);
    }
    for (var c = 0u; c < cig; c++) {
        let ic = g * cig + c;
        let xrow = pu(10u) + (b * pu(1u) + ic) * l;
        let wrow = pu(11u) + (ic * cog + ocg) * k;
        // Taps t with pos - t = j * stride for an input sample j in [0, L).
        for (var t = pos % stride; t < k && t <= pos; t += stride) {
            let j = (pos - t) / stride;
            if (j < l) {
                acc = fma(X[xrow + j], load_W(wrow + t), acc);
            }
        }
    }
    OUT[i] = acc;
}
