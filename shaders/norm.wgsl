// Normalisations, one workgroup per row (RMSNorm, LayerNorm) or per group (GroupNorm).
// Constant MODE: 0 rms, 1 layer, 2 group.
// P (binding 0) is NormParams (tensor/src/gpu/norm.rs); the launch declares it and the
// storage bindings: X, W, BIAS (u32 words of their dtype) read; OUT written through
// store_OUT. Sources: rowreduce.wgsl, rms_row.wgsl, then this file.

fn row_value(i: u32) -> f32 {
    return load_X(i);
}

fn row_kernel(row: u32, lid: u32) {
    let w = P.width;
    let base = P.x_offset + row * w;
    let fw = f32(w);
    var mean = 0.0;
    var lo = 0.0;
    var inv = 0.0;
    if (MODE == 0u) {
        inv = rms_inv(base, w, lid, P.eps);
    } else {
        var s = 0.0;
        var blk = 0.0;
        for (var j = lid; j < w; j += 256u) {
            blk += load_X(base + j);
            if (block_end(j)) {
                s += blk;
                blk = 0.0;
            }
        }
        mean = wg_reduce(s + blk, lid, 0u) / fw;
        // Second pass over d = x − mean: Σd is the rounding error of the f32 mean (the
        // correction `lo`), Σd² − (Σd)²/w the variance about the exact mean.
        var sd = 0.0;
        var v = 0.0;
        blk = 0.0;
        var blk2 = 0.0;
        for (var j = lid; j < w; j += 256u) {
            let d = load_X(base + j) - mean;
            blk += d;
            blk2 += d * d;
            if (block_end(j)) {
                sd += blk;
                v += blk2;
                blk = 0.0;
                blk2 = 0.0;
            }
        }
        lo = wg_reduce(sd + blk, lid, 0u) / fw;
        v = wg_reduce(v + blk2, lid, 0u) / fw - lo * lo;
        inv = 1.0 / sqrt(max(v, 0.0) + P.eps);
    }
    let g = row % max(P.groups, 1u);
    for (var j = lid; j < w; j += 256u) {
        var ch = j;
        if (MODE == 2u) {
            ch = g * P.channels_per_group + j / max(P.spatial, 1u);
        }
        var y = (load_X(base + j) - mean - lo) * inv;
        if (P.has_weight != 0u) {
            y *= load_W(P.weight_offset + ch);
        }
        if (P.has_bias != 0u) {
            y += load_BIAS(P.bias_offset + ch);
        }
        store_OUT(row * w + j, y);
    }
}
