// Operand access of the GEMM core for the 3-D convolution as an implicit GEMM:
// C[z = (batch, group), co, pos] = Σ_k W[co, k] · X_col[pos, k] + bias[co], with the
// im2col column gathered on the fly (zero padding, stride, dilation).
// Parameters: 8 x offset, 9 w offset, 10 Cin, 11 Ti, 12 Hi, 13 Wi, 14 To, 15 Ho, 16 Wo,
// 17 kt, 18 kh, 19 kw, 20..23 stride, 23..26 pad before, 26..29 dilation, 29 groups,
// 30 Cin per group, 31 Cout per group, 32 has bias, 33 bias offset.

@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> BIAS: array<u32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    let g = z % pu(29u);
    return load_W(pu(9u) + (g * pu(31u) + m) * pu(2u) + k);
}

fn load_b(z: u32, n: u32, k: u32) -> f32 {
    let b = z / pu(29u);
    let g = z % pu(29u);
    let wo = pu(16u);
    let ho = pu(15u);
    let ow = n % wo;
    let oh = (n / wo) % ho;
    let ot = n / (wo * ho);
    let kw = pu(19u);
    let kh = pu(18u);
    let kt = pu(17u);
    let cw = k % kw;
    let ch = (k / kw) % kh;
    let ct = (k / (kw * kh)) % kt;
    let c = k / (kw * kh * kt);
    let it = i32(ot * pu(20u) + ct * pu(26u)) - i32(pu(23u));
    let ih = i32(oh * pu(21u) + ch * pu(27u)) - i32(pu(24u));
    let iw = i32(ow * pu(22u) + cw * pu(28u)) - i32(pu(25u));
    let ti = pu(11u);
    let hi = pu(12u);
    let wi = pu(13u);
    if (it < 0 || u32(it) >= ti || ih < 0 || u32(ih) >= hi || iw < 0 || u32(iw) >= wi) {
        return 0.0;
    }
    let plane = b * pu(10u) + g * pu(30u) + c;
    return X[pu(8u) + ((plane * ti + u32(it)) * hi + u32(ih)) * wi + u32(iw)];
}

fn store_c(z: u32, m: u32, n: u32, v: f32) {
    let b = z / pu(29u);
    let g = z % pu(29u);
    let co = g * pu(31u) + m;
    var y = v;
    if (pu(32u) != 0u) {
        y += load_BIAS(pu(33u) + co);
    }
    OUT[(b * pu(31u) * pu(29u) + co) * pu(1u) + n] = y;
}

// The im2col columns are gathered element by element.
fn stage(lid: u32, z: u32, m0: u32, n0: u32, k0: u32) {
    stage_scalar(lid, z, m0, n0, k0);
}
