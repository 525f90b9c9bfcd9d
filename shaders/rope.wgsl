// Rotary embedding, rotate-half pairs (i, i + R) on the leading 2R dims of each head.

// Mirrors RopeParams in tensor/src/gpu/rope.rs: n elements of x [B, L, H, D], R rotated
// pairs per head, whether the tables are [B, L, R] rather than [L, R].
struct RopeParams {
    n: u32,
    l: u32,
    h: u32,
    d: u32,
    r: u32,
    per_batch: u32,
    x_offset: u32,
    cos_offset: u32,
    sin_offset: u32,
}

@group(0) @binding(0) var<uniform> P: RopeParams;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> COS: array<f32>;
@group(0) @binding(3) var<storage, read> SIN: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_group(wid, nwg) * 256u + lid;
    if (i >= P.n) {
        return;
    }
    let dh = P.d;
    let r = P.r;
    let d = i % dh;
    let row = i / dh;
    let tok = row / P.h;
    let t = select(tok % P.l, tok, P.per_batch != 0u);
    let x0 = P.x_offset + row * dh;
    if (d < r) {
        let c = COS[P.cos_offset + t * r + d];
        let s = SIN[P.sin_offset + t * r + d];
        OUT[i] = X[x0 + d] * c - X[x0 + d + r] * s;
    } else if (d < 2u * r) {
        let j = d - r;
        let c = COS[P.cos_offset + t * r + j];
        let s = SIN[P.sin_offset + t * r + j];
        OUT[i] = X[x0 + d] * c + X[x0 + j] * s;
    } else {
        OUT[i] = X[x0 + d];
    }
}
