//! Elementwise ops: unary maps, binary ops with broadcasting, scalar affine, clamp.

use super::dispatch;
use crate::layout::broadcast_shapes;
pub use crate::params::elementwise::{erf, erf_f64, BinaryOp, UnaryOp};
use crate::{Result, Tensor};

impl Tensor {
    /// Applies a unary function to every element.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        dispatch!(self, elementwise::unary(self, op))
    }

    /// A binary op with NumPy broadcasting.
    pub fn binary(&self, other: &Tensor, op: BinaryOp) -> Result<Tensor> {
        self.same_device(other, "binary op")?;
        let shape = broadcast_shapes(self.shape(), other.shape())?;
        dispatch!(self, elementwise::binary(self, other, op, &shape))
    }

    /// `self · mul + add`, elementwise.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor> {
        dispatch!(self, elementwise::affine(self, mul, add))
    }

    /// Clamps every element into `[lo, hi]`.
    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor> {
        dispatch!(self, elementwise::clamp(self, lo, hi))
    }

    /// `self · s`.
    pub fn scale(&self, s: f32) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    /// `self + s`.
    pub fn add_scalar(&self, s: f32) -> Result<Tensor> {
        self.affine(1.0, s)
    }
}

/// Methods that apply one fixed unary op (`name => UnaryOp`) or binary op
/// (`name(other) => BinaryOp`), each with its doc comment.
macro_rules! op_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)+) => {
        impl Tensor {$(
            $(#[$doc])*
            pub fn $name(&self) -> Result<Tensor> {
                self.unary(UnaryOp::$op)
            }
        )+}
    };
    ($($(#[$doc:meta])* $name:ident($other:ident) => $op:ident;)+) => {
        impl Tensor {$(
            $(#[$doc])*
            pub fn $name(&self, $other: &Tensor) -> Result<Tensor> {
                self.binary($other, BinaryOp::$op)
            }
        )+}
    };
}

op_methods! {
    /// `self + other` (broadcasting).
    add(other) => Add;
    /// `self − other` (broadcasting).
    sub(other) => Sub;
    /// `self · other` (broadcasting).
    mul(other) => Mul;
    /// `self / other` (broadcasting).
    div(other) => Div;
    /// Elementwise maximum (broadcasting).
    maximum(other) => Max;
    /// Elementwise minimum (broadcasting).
    minimum(other) => Min;
}

op_methods! {
    /// x · sigmoid(x).
    silu => Silu;
    /// GELU, tanh approximation.
    gelu_tanh => GeluTanh;
    /// GELU, erf form.
    gelu_erf => GeluErf;
    /// 1 / (1 + e^−x).
    sigmoid => Sigmoid;
    /// e^x.
    exp => Exp;
    /// tanh(x).
    tanh => Tanh;
    /// √x.
    sqrt => Sqrt;
    /// x².
    square => Square;
    /// −x.
    neg => Neg;
}
