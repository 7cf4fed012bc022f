//! Bytes of heap in use, as glibc's allocator counts them (`mallinfo2`, over
//! every arena). Resident memory (see [`rss`](crate::rss)) also counts what
//! the allocator keeps after a free for later use, so it cannot tell a leak
//! from memory kept for reuse; this count can.

/// Heap bytes in use: small blocks handed out plus large mapped ones.
/// 0 where glibc is not the allocator.
pub fn in_use() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and returns a plain struct; it
        // only reads the allocator's statistics under the allocator's locks.
        #[allow(unsafe_code)]
        let info = unsafe { libc::mallinfo2() };
        info.uordblks + info.hblkhd
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}
