//! The feature cache carried across temporal chunks: one slot per cached convolution.

use happyhorse_tensor::Tensor;

/// What a cached convolution remembers between chunks.
#[derive(Clone, Default)]
pub(crate) enum Slot {
    /// Nothing seen yet.
    #[default]
    Empty,
    /// The first chunk went past an `upsample3d` time conv without using it.
    Rep,
    /// The trailing input frames of the previous chunks.
    Frames(Tensor),
}

/// One slot per cached convolution, indexed by the slot number each one got at load time.
#[derive(Clone)]
pub(crate) struct FeatCache {
    slots: Vec<Slot>,
}

impl FeatCache {
    /// `n` empty slots.
    pub(crate) fn new(n: usize) -> FeatCache {
        FeatCache {
            slots: vec![Slot::Empty; n],
        }
    }

    /// Takes slot `i`, leaving it empty.
    pub(crate) fn take(&mut self, i: usize) -> Slot {
        std::mem::take(&mut self.slots[i])
    }

    /// Sets slot `i`.
    pub(crate) fn put(&mut self, i: usize, s: Slot) {
        self.slots[i] = s;
    }
}
