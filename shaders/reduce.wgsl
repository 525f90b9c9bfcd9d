// One value per row of the last dimension. Constant OP: 0 sum, 1 mean, 2 max, 3 min.

// Mirrors ReduceParams in tensor/src/gpu/reduce.rs.
struct ReduceParams {
    rows: u32,
    width: u32,
    x_offset: u32,
}

@group(0) @binding(0) var<uniform> P: ReduceParams;
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
    var kind = 0u;
    var acc = 0.0;
    if (OP == 2u) {
        kind = 1u;
        acc = bitcast<f32>(0xff800000u);
    } else if (OP == 3u) {
        kind = 2u;
        acc = bitcast<f32>(0x7f800000u);
    }
    var blk = 0.0;
    for (var j = lid; j < w; j += 256u) {
        let x = X[base + j];
        if (OP == 2u) {
            acc = max_num(acc, x);
        } else if (OP == 3u) {
            acc = min_num(acc, x);
        } else {
            blk += x;
            if (block_end(j)) {
                acc += blk;
                blk = 0.0;
            }
        }
    }
    let r = wg_reduce(acc + blk, lid, kind);
    if (lid == 0u) {
        OUT[row] = select(r, r / f32(w), OP == 1u);
    }
}
