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

impl ConvParams {
    /// Output extents (t, h, w) over input extents `input` with a kernel of `kernel`
    /// extents; the caller has checked that the padded input covers the dilated kernel.
    pub fn output_extents(&self, input: [usize; 3], kernel: [usize; 3]) -> [usize; 3] {
        std::array::from_fn(|i| {
            let (before, after) = self.padding[i];
            let span = self.dilation[i] * (kernel[i] - 1) + 1;
            (input[i] + before + after - span) / self.stride[i] + 1
        })
    }
}

/// Geometry of a transposed 1-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose1d {
    /// Input step between output positions.
    pub stride: usize,
    /// Positions dropped from each end of the full output.
    pub padding: usize,
    /// Positions added at the end of the output (smaller than the stride).
    pub output_padding: usize,
    /// Channel groups.
    pub groups: usize,
}

impl ConvTranspose1d {
    /// Length of the full output of `l` input positions and a kernel of `k` taps, before
    /// `padding` is dropped from each end: `(l − 1)·stride + k + output_padding`.
    pub fn full_len(&self, l: usize, k: usize) -> usize {
        (l.max(1) - 1) * self.stride + k + self.output_padding
    }

    /// Output length of `l` input positions and a kernel of `k` taps; the caller has checked
    /// that the padding leaves an output.
    pub fn output_len(&self, l: usize, k: usize) -> usize {
        self.full_len(l, k) - 2 * self.padding
    }
}
