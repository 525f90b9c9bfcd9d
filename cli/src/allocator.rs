//! The system allocator's settings for a run.
//!
//! A decoder or a DiT step allocates and frees the same few activation sizes over and
//! over. glibc serves every block above its mmap threshold (which adapts only up to 32 MiB)
//! with a fresh `mmap` and returns it with `munmap` when freed, and gives the heap's free top
//! back to the system past 128 KiB: each new activation then costs a page fault per 4 KiB
//! page and the kernel's zeroing of it. On the built-in clip that was a quarter of the CPU
//! time of the video decode.

/// Keeps freed activations for reuse: blocks under 32 MiB come from the heap, and up to
/// 1 GiB of free heap top is kept instead of trimmed (bounding what a run holds beyond its
/// live tensors). A no-op off glibc.
pub fn keep_freed_activations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tunables; it is called before any thread
    // is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
