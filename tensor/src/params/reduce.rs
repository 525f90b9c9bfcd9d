//! How a reduction combines a row.

/// How a reduction combines a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Σ
    Sum,
    /// Σ / n
    Mean,
    /// maximum
    Max,
    /// minimum
    Min,
}
