// Transposed 1-D convolution, direct: one output sample per invocation gathers the input
// samples whose taps land on it.

// Mirrors ConvTranspose1dParams in tensor/src/gpu/conv.rs.
struct ConvTranspose1dParams {
    // Output elements.
    n: u32,
    cin: u32,
    l: u32,
    cout: u32,
    cout_per_group: u32,
    cin_per_group: u32,
    k: u32,
    stride: u32,
    padding: u32,
    l_out: u32,
    x_offset: u32,
    w_offset: u32,
    has_bias: u32,
    bias_offset: u32,
}

@group(0) @binding(0) var<uniform> P: ConvTranspose1dParams;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> BIAS: array<u32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_group(wid, nwg) * 256u + lid;
    if (i >= P.n) {
        return;
    }
    let lo = P.l_out;
    let o = i % lo;
    let oc = (i / lo) % P.cout;
    let b = i / (lo * P.cout);
    let cog = P.cout_per_group;
    let cig = P.cin_per_group;
    let k = P.k;
    let stride = P.stride;
    let l = P.l;
    let g = oc / cog;
    let ocg = oc % cog;
    let pos = o + P.padding;
    var acc = 0.0;
    if (P.has_bias != 0u) {
        acc = load_BIAS(P.bias_offset + oc);
    }
    for (var c = 0u; c < cig; c++) {
        let ic = g * cig + c;
        let xrow = P.x_offset + (b * P.cin + ic) * l;
        let wrow = P.w_offset + (ic * cog + ocg) * k;
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
