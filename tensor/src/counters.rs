//! What a GPU context asked of its device (dispatches, submissions, allocations, bytes
//! uploaded): snapshots of its cumulative counters, and their differences.

/// A snapshot of a context's counters (cumulative since it opened), or the difference of
/// two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuCounters {
    /// Kernel dispatches recorded.
    pub dispatches: u64,
    /// Queue submissions.
    pub submissions: u64,
    /// Device buffers created (pool misses, arena and read-back buffer growth, small
    /// index and mask buffers); none while the pools serve every request.
    pub allocations: u64,
    /// Bytes written from the host: tensor uploads and kernel parameter blocks.
    pub bytes_uploaded: u64,
}

impl GpuCounters {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &GpuCounters) -> GpuCounters {
        GpuCounters {
            dispatches: self.dispatches.saturating_sub(earlier.dispatches),
            submissions: self.submissions.saturating_sub(earlier.submissions),
            allocations: self.allocations.saturating_sub(earlier.allocations),
            bytes_uploaded: self.bytes_uploaded.saturating_sub(earlier.bytes_uploaded),
        }
    }

    /// The larger of each count.
    pub fn max(&self, other: &GpuCounters) -> GpuCounters {
        GpuCounters {
            dispatches: self.dispatches.max(other.dispatches),
            submissions: self.submissions.max(other.submissions),
            allocations: self.allocations.max(other.allocations),
            bytes_uploaded: self.bytes_uploaded.max(other.bytes_uploaded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_and_maxima_are_per_counter() {
        let a = GpuCounters {
            dispatches: 10,
            submissions: 2,
            allocations: 5,
            bytes_uploaded: 100,
        };
        let b = GpuCounters {
            dispatches: 25,
            submissions: 3,
            allocations: 5,
            bytes_uploaded: 612,
        };
        let d = b.since(&a);
        assert_eq!(
            d,
            GpuCounters {
                dispatches: 15,
                submissions: 1,
                allocations: 0,
                bytes_uploaded: 512
            }
        );
        assert_eq!(a.since(&b), GpuCounters::default());
        assert_eq!(
            d.max(&a),
            GpuCounters {
                dispatches: 15,
                submissions: 2,
                allocations: 5,
                bytes_uploaded: 512
            }
        );
    }
}
