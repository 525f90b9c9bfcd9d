//! The parameter types of the ops (convolution and normalisation geometry, attention
//! options, the elementwise, reduction and padding modes), shared by the op front ends in
//! `ops/` and both backends. This module imports nothing from `ops`, `cpu` or `gpu`.

pub mod attention;
pub mod conv;
pub mod elementwise;
pub mod fused;
pub mod norm;
pub mod reduce;
pub mod resize;
