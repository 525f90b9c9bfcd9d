// Softmax over rows of the last dimension.

// Mirrors SoftmaxParams in tensor/src/gpu/softmax.rs.
struct SoftmaxParams {
    rows: u32,
    width: u32,
    x_offset: u32,
}

@group(0) @binding(0) var<uniform> P: SoftmaxParams;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row >= P.rows) {
        return;
    }
    let w = P.width;
    let base = P.x_offset + row * w;
    var m = bitcast<f32>(0xff800000u);
    for (var j = lid; j < w; j += 256u) {
        m = max_num(m, X[base + j]);
    }
    m = wg_reduce(m, lid, 1u);
    var s = 0.0;
    var blk = 0.0;
    for (var j = lid; j < w; j += 256u) {
        blk += exp(X[base + j] - m);
        if (block_end(j)) {
            s += blk;
            blk = 0.0;
        }
    }
    s = wg_reduce(s + blk, lid, 0u);
    let inv = 1.0 / s;
    for (var j = lid; j < w; j += 256u) {
        OUT[row * w + j] = exp(X[base + j] - m) * inv;
    }
}
