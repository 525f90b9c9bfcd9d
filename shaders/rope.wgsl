// Rotary embedding, rotate-half pairs (i, i + R) on the leading 2R dims of each head.
// Parameters: 0 n, 1 L, 2 H, 3 D, 4 R, 5 table per batch, 6 x offset, 7 cos offset,
// 8 sin offset.

@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> COS: array<f32>;
@group(0) @binding(3) var<storage, read> SIN: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_group(wid, nwg) * 256u + lid;
    if (i >= pu(0u)) {
        return;
    }
    let dh = pu(3u);
    let r = pu(4u);
    let d = i % dh;
    let row = i / dh;
    let tok = row / pu(2u);
    let t = select(tok % pu(1u), tok, pu(5u) != 0u);
    let x0 = pu(6u) + row * dh;
    if (d < r) {
        let c = COS[pu(7u) + t * r + d];
        let s = SIN[pu(8u) + t * r + d];
        OUT[i] = X[x0 + d] * c - X[x0 + d + r] * s;
    } else if (d < 2u * r) {
        let j = d - r;
        let c = COS[pu(7u) + t * r + j];
        let s = SIN[pu(8u) + t * r + j];
        OUT[i] = X[x0 + d] * c + X[x0 + j] * s;
    } else {
        OUT[i] = X[x0 + d];
    }
}
