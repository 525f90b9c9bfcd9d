// Transposed 1-D convolution, direct: one output sample per invocation gathers the input
// samples whose taps land on it.
// P (binding 0) is ConvTranspose1dParams (tensor/src/gpu/conv.rs); the launch declares it
// and the storage bindings: X (f32), W, BIAS (u32 words of their dtype) read; OUT (f32)
// written.

fn element(i: u32) {
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
