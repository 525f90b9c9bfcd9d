// One value per row of the last dimension. Constant OP: 0 sum, 1 mean, 2 max, 3 min.
// P (binding 0) is RowsParams (tensor/src/gpu/reduce.rs); the launch declares it and the
// storage bindings: X (f32) read; OUT (f32) written.

fn row_kernel(row: u32, lid: u32) {
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
