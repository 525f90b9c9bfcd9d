//! Per-modality ("sandwich") weights: in mm layers every linear and norm holds one expert
//! per modality, and each token uses its modality's expert.
//!
//! The packed sequence is always video rows, then audio rows, then text rows, so the
//! tokens of one modality are one contiguous block of rows: each block is processed with
//! its own expert and the results are concatenated back in order.

use std::ops::Range;

use happyhorse_nn::{Linear, RmsNorm};
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

    /// The rows of one modality.
    pub fn rows(&self, m: Modality) -> Range<usize> {
        self.ranges[m as usize].clone()
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

impl RowLayer for RmsNorm {
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

/// An RMS norm with `(1 + w)` gain per modality.
pub type ModalityNorm = PerModality<RmsNorm>;
