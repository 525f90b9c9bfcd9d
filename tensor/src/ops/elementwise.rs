//! Elementwise ops: unary maps, binary ops with broadcasting, scalar affine, clamp.

use super::dispatch;
use crate::layout::broadcast_shapes;
pub use crate::params::elementwise::{erf, erf_f64, BinaryOp, UnaryOp};
use crate::{Result, Tensor};

impl Tensor {
    /// Applies a unary function to every element.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        dispatch!(
            self,
            crate::cpu::elementwise::unary(self, op),
            crate::gpu::elementwise::unary(self, op)
        )
    }

    /// A binary op with NumPy broadcasting.
    pub fn binary(&self, other: &Tensor, op: BinaryOp) -> Result<Tensor> {
        self.same_device(other, "binary op")?;
        let shape = broadcast_shapes(self.shape(), other.shape())?;
        dispatch!(
            self,
            crate::cpu::elementwise::binary(self, other, op, &shape),
            crate::gpu::elementwise::binary(self, other, op, &shape)
        )
    }

    /// `self · mul + add`, elementwise.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor> {
        dispatch!(
            self,
            crate::cpu::elementwise::affine(self, mul, add),
            crate::gpu::elementwise::affine(self, mul, add)
        )
    }

    /// Clamps every element into `[lo, hi]`.
    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor> {
        dispatch!(
            self,
            crate::cpu::elementwise::clamp(self, lo, hi),
            crate::gpu::elementwise::clamp(self, lo, hi)
        )
    }

    /// `self + other` (broadcasting).
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Add)
    }
    /// `self − other` (broadcasting).
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Sub)
    }
    /// `self · other` (broadcasting).
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Mul)
    }
    /// `self / other` (broadcasting).
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Div)
    }
    /// Elementwise maximum (broadcasting).
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Max)
    }
    /// Elementwise minimum (broadcasting).
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Min)
    }
    /// `self · s`.
    pub fn scale(&self, s: f32) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    /// `self + s`.
    pub fn add_scalar(&self, s: f32) -> Result<Tensor> {
        self.affine(1.0, s)
    }
    /// x · sigmoid(x).
    pub fn silu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Silu)
    }
    /// GELU, tanh approximation.
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::GeluTanh)
    }
    /// GELU, erf form.
    pub fn gelu_erf(&self) -> Result<Tensor> {
        self.unary(UnaryOp::GeluErf)
    }
    /// 1 / (1 + e^−x).
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// e^x.
    pub fn exp(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Exp)
    }
    /// tanh(x).
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Tanh)
    }
    /// √x.
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sqrt)
    }
    /// x².
    pub fn square(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Square)
    }
    /// −x.
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }
}
