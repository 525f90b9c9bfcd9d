// A norm over the channels of [B, C, S] with a per-channel gain and an activation: one
// invocation per (batch, position) sums the squares of its C channels, then writes them.
// P (binding 0) is ChannelNormParams (tensor/src/gpu/channel_norm.rs); the launch declares
// it, the constants KIND (0 RMS, 1 L2), ACT (0 none, 1 SiLU, 2 ReLU) and HAS_GAIN, and the
// storage bindings: X and G read through their loaders; OUT written through store_OUT.

fn element(i: u32) {
    let b = i / P.spatial;
    let s = i % P.spatial;
    let first = b * P.channels * P.spatial + s;
    var ss = 0.0;
    for (var c = 0u; c < P.channels; c += 1u) {
        let v = load_X(P.x_offset + first + c * P.spatial);
        ss += v * v;
    }
    var inv: f32;
    if (KIND == 0u) {
        inv = 1.0 / sqrt(ss / f32(P.channels) + P.eps);
    } else {
        inv = 1.0 / max(sqrt(ss), P.eps);
    }
    for (var c = 0u; c < P.channels; c += 1u) {
        var y = load_X(P.x_offset + first + c * P.spatial) * inv;
        if (HAS_GAIN) {
            y *= load_G(P.g_offset + c);
        }
        if (ACT == 1u) {
            y = y / (1.0 + exp(-y));
        } else if (ACT == 2u) {
            y = max(y, 0.0);
        }
        store_OUT(first + c * P.spatial, y);
    }
}
