// The inverse root mean square of one row, by one workgroup of 256 invocations (after
// rowreduce.wgsl). The kernel defines `row_value(i)`, the value at storage index i.

// 1 / √(mean(x²) + eps) of the w values from index base; every invocation gets it.
fn rms_inv(base: u32, w: u32, lid: u32, eps: f32) -> f32 {
    var s = 0.0;
    var blk = 0.0;
    for (var j = lid; j < w; j += 256u) {
        let x = row_value(base + j);
        blk += x * x;
        if (block_end(j)) {
            s += blk;
            blk = 0.0;
        }
    }
    s = wg_reduce(s + blk, lid, 0u);
    return 1.0 / sqrt(s / f32(w) + eps);
}
