// Operand access of the GEMM core for the 3-D convolution as an implicit GEMM:
// C[z = (batch, group), co, pos] = Σ_k W[co, k] · X_col[pos, k] + bias[co], with the
// im2col column gathered on the fly (zero padding, stride, dilation).
// P (binding 0) is Conv3dParams (tensor/src/gpu/conv.rs); the launch declares it and the
// storage bindings: X (f32), W, BIAS (u32 words of their dtype) read; OUT (f32) written.

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    let g = z % P.groups;
    return load_W(P.w_offset + (g * P.cout_per_group + m) * P.k + k);
}

fn load_b(z: u32, n: u32, k: u32) -> f32 {
    let b = z / P.groups;
    let g = z % P.groups;
    let wo = P.w_out;
    let ho = P.h_out;
    let ow = n % wo;
    let oh = (n / wo) % ho;
    let ot = n / (wo * ho);
    let kw = P.k_w;
    let kh = P.k_h;
    let kt = P.k_t;
    let cw = k % kw;
    let ch = (k / kw) % kh;
    let ct = (k / (kw * kh)) % kt;
    let c = k / (kw * kh * kt);
    let it = i32(ot * P.stride_t + ct * P.dil_t) - i32(P.pad_t);
    let ih = i32(oh * P.stride_h + ch * P.dil_h) - i32(P.pad_h);
    let iw = i32(ow * P.stride_w + cw * P.dil_w) - i32(P.pad_w);
    let ti = P.t_in;
    let hi = P.h_in;
    let wi = P.w_in;
    if (it < 0 || u32(it) >= ti || ih < 0 || u32(ih) >= hi || iw < 0 || u32(iw) >= wi) {
        return 0.0;
    }
    let plane = b * P.cin + g * P.cin_per_group + c;
    return X[P.x_offset + ((plane * ti + u32(it)) * hi + u32(ih)) * wi + u32(iw)];
}

fn store_c(z: u32, m: u32, n: u32, v: f32) {
    let b = z / P.groups;
    let g = z % P.groups;
    let co = g * P.cout_per_group + m;
    var y = v;
    if (P.has_bias != 0u) {
        y += load_BIAS(P.bias_offset + co);
    }
    OUT[(b * P.cout_per_group * P.groups + co) * P.n + n] = y;
}

// The im2col columns are gathered element by element.
fn stage(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) {
    stage_scalar(lid, z, m0, n0, k0);
}
