// Elementwise kernels over strided views of any dtype, writing packed f32 or f16.
// Constants: KIND (0 unary, 1 affine, 2 clamp, 3 binary), OP (the unary or binary op).
// A unary map reads A only; a binary op reads A and B over the same shape.
// P (binding 0) is ElementwiseParams (tensor/src/gpu/elementwise.rs); the launch declares
// it and the storage bindings: A, B (u32 words of their dtype) read; OUT written through
// store_OUT.

// erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit).
fn erf_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))));
    return select(1.0 - r, r - 1.0, x < 0.0);
}

fn tanh_f32(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}


fn unary(x: f32) -> f32 {
    switch OP {
        case 0u: { return x / (1.0 + exp(-x)); }
        case 1u: { return 0.5 * x * (1.0 + tanh_f32(0.7978846 * (x + 0.044715 * x * x * x))); }
        case 2u: { return 0.5 * x * (1.0 + erf_f32(x * 0.70710678)); }
        case 3u: { return 1.0 / (1.0 + exp(-x)); }
        case 4u: { return exp(x); }
        case 5u: { return log(x); }
        case 6u: { return tanh_f32(x); }
        case 7u: { return -x; }
        case 8u: { return abs(x); }
        case 9u: { return sqrt(x); }
        case 10u: { return 1.0 / sqrt(x); }
        case 11u: { return x * x; }
        case 12u: { return sin(x); }
        case 13u: { return cos(x); }
        case 14u: { return max(x, 0.0); }
        case 15u: {
            if (x > 20.0) {
                return x;
            }
            let e = exp(x);
            // log1p(e) without cancellation for small e.
            let u = 1.0 + e;
            return select(log(u) * e / (u - 1.0), e, u == 1.0);
        }
        default: { return 1.0 / x; }
    }
}

fn binary(a: f32, b: f32) -> f32 {
    switch OP {
        case 0u: { return a + b; }
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return a / b; }
        case 4u: { return max_num(a, b); }
        default: { return min_num(a, b); }
    }
}

fn element(i: u32) {
    if (KIND == 3u) {
        let a = load_A(strided_index(i, P.a_offset, P.a_strides));
        let b = load_B(strided_index(i, P.b_offset, P.b_strides));
        store_OUT(i, binary(a, b));
        return;
    }
    let x = load_A(strided_index(i, P.a_offset, P.a_strides));
    if (KIND == 0u) {
        store_OUT(i, unary(x));
    } else if (KIND == 1u) {
        store_OUT(i, x * P.mul + P.add);
    } else {
        var y = x;
        if (x < P.lo) {
            y = P.lo;
        } else if (x > P.hi) {
            y = P.hi;
        }
        store_OUT(i, y);
    }
}
