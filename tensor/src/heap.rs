//! A global allocator that counts the heap bytes this process holds, so that the CPU
//! backend can report its memory use. A binary opts in with
//! `#[global_allocator] static HEAP: CountingAllocator = CountingAllocator;`; memory-mapped
//! files are not heap and are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::memory::{MemoryUse, Meter};

static HEAP: Meter = Meter::new();
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting the bytes it hands out and takes back.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

impl CountingAllocator {
    fn counted(ptr: *mut u8, bytes: usize) -> *mut u8 {
        if !ptr.is_null() {
            REGISTERED.store(true, Ordering::Relaxed);
            HEAP.grow(bytes as u64);
        }
        ptr
    }
}

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the
// counting only reads sizes and touches atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::counted(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::counted(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HEAP.shrink(layout.size() as u64);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            HEAP.shrink(layout.size() as u64);
            Self::counted(moved, new_size);
        }
        moved
    }
}

/// The heap bytes held now and at most since the last [`reset_peak`]; not `counted` when
/// the binary does not register [`CountingAllocator`].
pub fn memory_use() -> MemoryUse {
    if REGISTERED.load(Ordering::Relaxed) {
        HEAP.usage()
    } else {
        MemoryUse::default()
    }
}

/// Sets the heap peak to the bytes held now.
pub fn reset_peak() {
    HEAP.reset_peak();
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_the_allocator_registered_the_heap_is_not_counted() {
        let v = std::hint::black_box(vec![1u8; 4096]);
        let u = super::memory_use();
        assert!(!u.counted, "{u:?}");
        assert_eq!((u.live_bytes, u.peak_bytes), (0, 0));
        drop(v);
    }
}
