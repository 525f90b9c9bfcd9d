//! Per-modality ("sandwich") weights: in mm layers every linear and norm holds one expert
//! per modality, and each token uses its modality's expert.
//!
//! The packed sequence is always video rows, then audio rows, then text rows, so the
//! tokens of one modality are one contiguous block of rows: each block is processed with
//! its own expert and the results are concatenated back in order.

use std::ops::Range;

use happyhorse_nn::Linear;
use happyhorse_tensor::params::fused::SegmentGains;
use happyhorse_tensor::{ensure, Result, Tensor};

/// Modality ids, in the order the experts are stacked and the tokens are packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    /// Video patch tokens.
    Video = 0,
    /// Audio latent frames.
    Audio = 1,
    /// Text-encoder rows.
    Text = 2,
}

impl Modality {
    /// Every modality, in packing order.
    pub const ALL: [Modality; 3] = [Modality::Video, Modality::Audio, Modality::Text];
}

/// The rows of each modality in a packed sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segments {
    /// Row ranges of video, audio and text, adjacent and in that order.
    pub ranges: [Range<usize>; 3],
}

impl Segments {
    /// Segments of `video` video tokens, then `audio` audio rows, then `text` text rows.
    pub fn new(video: usize, audio: usize, text: usize) -> Segments {
        Segments {
            ranges: [
                0..video,
                video..video + audio,
                video + audio..video + audio + text,
            ],
        }
    }

    /// Total rows.
    pub fn len(&self) -> usize {
        self.ranges[2].end
    }

    /// Whether the sequence has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the rows of each expert end: all rows for one shared expert, else the end of
    /// each modality's rows.
    pub fn ends(&self, experts: usize) -> Vec<usize> {
        if experts == 1 {
            vec![self.len()]
        } else {
            self.ranges.iter().map(|r| r.end).collect()
        }
    }

    /// The rows of one modality.
    pub fn rows(&self, m: Modality) -> Range<usize> {
        self.ranges[m as usize].clone()
    }

    /// The rows of modality `m` that fall in `window` (rows of the packed sequence),
    /// counted from the modality's first row.
    pub fn rows_within(&self, m: Modality, window: &Range<usize>) -> Range<usize> {
        let r = self.rows(m);
        let start = r.start.max(window.start).min(r.end);
        let end = r.end.min(window.end).max(start);
        start - r.start..end - r.start
    }

    /// The segments of the rows in `window`, counted from its first row.
    pub fn window(&self, window: &Range<usize>) -> Segments {
        let [v, a, t] = Modality::ALL.map(|m| self.rows_within(m, window).len());
        Segments::new(v, a, t)
    }

    /// Applies `f(expert, rows)` to each modality's rows of `x` (dim 0) and concatenates
    /// the results; with a single expert, `f(0, x)` on the whole sequence.
    pub fn apply(
        &self,
        x: &Tensor,
        experts: usize,
        f: impl Fn(usize, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        ensure!(
            x.shape().first() == Some(&self.len()),
            "per-modality input has shape {:?}, expected {} rows",
            x.shape(),
            self.len()
        );
        if experts == 1 {
            return f(0, x);
        }
        ensure!(
            experts == 3,
            "per-modality layer has {experts} experts, expected 1 or 3"
        );
        let mut parts = Vec::with_capacity(3);
        for (m, r) in self.ranges.iter().enumerate() {
            if !r.is_empty() {
                parts.push(f(m, &x.narrow(0, r.start, r.len())?)?);
            }
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        Tensor::cat(&refs, 0)
    }
}

/// A layer that maps each row of its input on its own (a linear or a norm).
pub trait RowLayer {
    /// `rows [n, ..] → [n, ..]`.
    fn forward_rows(&self, rows: &Tensor) -> Result<Tensor>;
}

impl RowLayer for Linear {
    fn forward_rows(&self, rows: &Tensor) -> Result<Tensor> {
        self.forward(rows)
    }
}

/// A layer with one expert (shared) or three (video, audio, text).
#[derive(Clone, Debug)]
pub struct PerModality<L> {
    /// The experts in modality order.
    pub experts: Vec<L>,
}

impl<L: RowLayer> PerModality<L> {
    /// `x [L, ..] → [L, ..]`, each token through its modality's expert.
    pub fn forward(&self, x: &Tensor, seg: &Segments) -> Result<Tensor> {
        seg.apply(x, self.experts.len(), |m, rows| {
            self.experts[m].forward_rows(rows)
        })
    }
}

/// A linear layer per modality.
pub type ModalityLinear = PerModality<Linear>;

/// An RMS norm over the last dimension with one gain per expert (shared, or video, audio
/// and text), each token normalised with its modality's gain in one pass.
#[derive(Clone, Debug)]
pub struct ModalityNorm {
    /// The gains `(1 + w)` in modality order, `[experts, dim]`, f32.
    pub gains: Tensor,
    /// Added to the mean square.
    pub eps: f32,
}

impl ModalityNorm {
    /// A norm storing the expert weights `w` (`[dim]` each) and scaling by `1 + w`
    /// (zero-initialised weights are the identity); the sums are formed once here, in f32.
    pub fn with_unit_offset(weights: &[Tensor], eps: f32) -> Result<ModalityNorm> {
        let rows = weights
            .iter()
            .map(|w| w.add_scalar(1.0)?.unsqueeze(0))
            .collect::<Result<Vec<_>>>()?;
        let gains = Tensor::cat(&rows.iter().collect::<Vec<_>>(), 0)?;
        Ok(ModalityNorm { gains, eps })
    }

    /// Experts of the norm.
    pub fn experts(&self) -> usize {
        self.gains.shape().first().copied().unwrap_or(0)
    }

    /// The gains, each expert's rows ending at its entry of `ends`.
    pub fn segments<'a>(&'a self, ends: &'a [usize]) -> SegmentGains<'a> {
        SegmentGains {
            gains: &self.gains,
            ends,
        }
    }

    /// `x [L, ..] → [L, ..]`, each token normalised with its modality's gain.
    pub fn forward(&self, x: &Tensor, seg: &Segments) -> Result<Tensor> {
        let ends = seg.ends(self.experts());
        x.rms_norm_segments(self.segments(&ends), self.eps)
    }
}
