//! Live heap of the whole process as glibc's malloc sees it. This counts
//! mbedTLS's own calloc/free as well as Rust's allocations (the default
//! global allocator is malloc), unlike any Rust-level counting allocator.

/// Bytes currently allocated through malloc, summed over all arenas,
/// including chunks served by mmap.
pub fn live_heap_bytes() -> usize {
    // SAFETY: mallinfo2 only reads allocator statistics.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

/// Returns freed memory at the top of the heap to the system so that
/// `live_heap_bytes` compares like with like between measurements.
pub fn trim() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
