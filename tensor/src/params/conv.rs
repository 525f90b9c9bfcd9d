//! The geometry of a convolution.

/// Geometry of an N-d convolution (N = 3; 1-D and 2-D use unit leading dims).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvParams {
    /// Stride per spatial dim (t, h, w).
    pub stride: [usize; 3],
    /// Zero padding before and after, per spatial dim.
    pub padding: [(usize, usize); 3],
    /// Dilation per spatial dim.
    pub dilation: [usize; 3],
    /// Channel groups.
    pub groups: usize,
}

impl ConvParams {
    /// Stride 1, no padding, no dilation, one group.
    pub fn unit() -> ConvParams {
        ConvParams {
            stride: [1; 3],
            padding: [(0, 0); 3],
            dilation: [1; 3],
            groups: 1,
        }
    }
}
