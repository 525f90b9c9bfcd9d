// Heads-first attention output `X [H, L, D]` back to rows `[L, H·D]`, each head of a row
// scaled by the sigmoid of its gate when HAS_GATE.
// P (binding 0) is GatedHeadsParams (tensor/src/gpu/gated_heads.rs); the launch declares
// it and the storage bindings: X (the heads), G (u32 words of their dtype) read; OUT
// written through store_OUT.

fn element(i: u32) {
    let d = P.dim;
    let row = i / d;
    let t = row / P.heads;
    let h = row % P.heads;
    var y = load_X(P.o_offset + (h * P.len + t) * d + i % d);
    if (HAS_GATE) {
        let g = load_G(P.g_offset + t * P.g_row_stride + h * P.g_head_stride);
        y = y * (1.0 / (1.0 + exp(-g)));
    }
    store_OUT(i, y);
}
