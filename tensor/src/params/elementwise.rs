//! The elementwise functions and their CPU reference values.

/// A unary elementwise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// x · sigmoid(x)
    Silu,
    /// GELU, tanh approximation (PyTorch `approximate="tanh"`).
    GeluTanh,
    /// GELU, exact erf form.
    GeluErf,
    /// 1 / (1 + e^−x)
    Sigmoid,
    /// e^x
    Exp,
    /// natural log
    Log,
    /// tanh(x)
    Tanh,
    /// −x
    Neg,
    /// |x|
    Abs,
    /// √x
    Sqrt,
    /// 1 / √x
    Rsqrt,
    /// x²
    Square,
    /// sin(x)
    Sin,
    /// cos(x)
    Cos,
    /// max(x, 0)
    Relu,
    /// ln(1 + e^x), PyTorch's thresholded form
    Softplus,
    /// 1 / x
    Recip,
}

impl UnaryOp {
    /// The function on one value (the CPU reference).
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            UnaryOp::Silu => x / (1.0 + (-x).exp()),
            UnaryOp::GeluTanh => {
                let c = 0.797_884_6_f32; // sqrt(2/pi)
                0.5 * x * (1.0 + (c * (x + 0.044_715 * x * x * x)).tanh())
            }
            UnaryOp::GeluErf => 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)),
            UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Neg => -x,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Rsqrt => 1.0 / x.sqrt(),
            UnaryOp::Square => x * x,
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::Softplus => {
                if x > 20.0 {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
            UnaryOp::Recip => 1.0 / x,
        }
    }
}

/// erf(x), computed in f64 (Abramowitz–Stegun 7.1.26 is too coarse for parity; this
/// uses the series / continued fraction split with ~1e-15 relative error).
pub fn erf(x: f32) -> f32 {
    erf_f64(x as f64) as f32
}

/// erf in f64.
pub fn erf_f64(x: f64) -> f64 {
    let ax = x.abs();
    if ax == 0.0 || ax.is_nan() {
        return x;
    }
    if ax.is_infinite() {
        return x.signum();
    }
    let r = if ax < 2.5 {
        // Maclaurin series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let mut term = ax;
        let mut sum = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() <= 1e-17 * sum.abs() {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc continued fraction (Lentz), converges fast for x >= 2.5
        let x2 = ax * ax;
        let mut f = ax;
        let mut c = ax;
        let mut d = 0.0;
        for k in 1..200 {
            let a = k as f64 / 2.0;
            d = ax + a * d;
            d = if d == 0.0 { 1e-300 } else { 1.0 / d };
            c = ax + a / c;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-x2).exp() / (f * std::f64::consts::PI.sqrt())
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// A binary elementwise op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
    /// max(a, b)
    Max,
    /// min(a, b)
    Min,
}

impl BinaryOp {
    /// The op on two values (the CPU reference).
    #[inline]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => a.max(b),
            BinaryOp::Min => a.min(b),
        }
    }
}
