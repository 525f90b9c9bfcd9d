// Softmax over rows of the last dimension.
// P (binding 0) is RowsParams (tensor/src/gpu/reduce.rs); the launch declares it and the
// storage bindings: X (f32) read; OUT (f32) written.

fn row_kernel(row: u32, lid: u32) {
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
