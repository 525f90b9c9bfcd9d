// Workgroup-wide reduction of one value per invocation (256 invocations), no subgroups.

var<workgroup> red: array<f32, 256>;

// Combines v over the workgroup (kind 0 sum, 1 max, 2 min); every invocation gets it.
fn wg_reduce(v: f32, lid: u32, kind: u32) -> f32 {
    workgroupBarrier();
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let a = red[lid];
            let b = red[lid + s];
            var c = a + b;
            if (kind == 1u) {
                c = max_num(a, b);
            } else if (kind == 2u) {
                c = min_num(a, b);
            }
            red[lid] = c;
        }
        workgroupBarrier();
    }
    return red[0];
}

const NEG_INF: f32 = -3.4028235e38;

// Whether element j (= lid + 256·i) closes a block of 16 of an invocation's strided
// elements. Summing each block apart before adding it to the running total keeps the
// rounding of an f32 sum over a long row near that of 16 + w / 4096 terms, not w / 256.
fn block_end(j: u32) -> bool {
    return ((j >> 8u) & 15u) == 15u;
}

// Entry point of a row kernel: one workgroup per row, calling the kernel's
// `row_kernel(row, lid)` for every row < P.rows.
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row < P.rows) {
        row_kernel(row, lid);
    }
}
