// Rotary embedding, rotate-half pairs (i, i + R) on the leading 2R dims of each head.
// P (binding 0) is RopeParams (tensor/src/gpu/rope.rs); the launch declares it and the
// storage bindings: X (u32 words of its dtype), COS, SIN (f32) read; OUT written through
// store_OUT.

fn element(i: u32) {
    let dh = P.d;
    let r = P.r;
    let d = i % dh;
    let row = i / dh;
    let tok = row / P.h;
    let t = select(tok % P.l, tok, P.per_batch != 0u);
    let x0 = P.x_offset + row * dh;
    if (d < r) {
        let c = COS[P.cos_offset + t * r + d];
        let s = SIN[P.sin_offset + t * r + d];
        store_OUT(i, load_X(x0 + d) * c - load_X(x0 + d + r) * s);
    } else if (d < 2u * r) {
        let j = d - r;
        let c = COS[P.cos_offset + t * r + j];
        let s = SIN[P.sin_offset + t * r + j];
        store_OUT(i, load_X(x0 + d) * c + load_X(x0 + j) * s);
    } else {
        store_OUT(i, load_X(x0 + d));
    }
}
