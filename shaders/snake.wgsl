// The Snake activation x + sin²(alpha[c]·x)·inv_beta[c] over [B, C, S], one invocation per
// value. P (binding 0) is SnakeParams (tensor/src/gpu/snake.rs); the launch declares it and
// the storage bindings: X, A (alpha) and IB (inv_beta) read through their loaders; OUT
// written through store_OUT.

fn element(i: u32) {
    let c = (i / P.spatial) % P.channels;
    let x = load_X(P.x_offset + i);
    let s = sin(load_A(P.a_offset + c) * x);
    store_OUT(i, x + s * s * load_IB(P.ib_offset + c));
}
