//! Keeping large request bodies out of the allocator's long-lived memory.
//!
//! A newPayload body (up to several MB) is allocated when the CL sends it and freed when the
//! last user (the lanes, `--keep-warm`) lets go. glibc's malloc serves such a block by `mmap`
//! at first, but after the first one is freed it raises its mmap threshold above that size and
//! from then on serves the next ones from its per-thread heaps, where a freed block stays
//! resident and the heaps of several worker threads each keep one: 4 MB payloads then cost
//! tens of MB of RSS that nothing uses. A fixed threshold keeps every block of at least
//! [`MMAP_THRESHOLD`] on `mmap`, so it goes back to the kernel when freed; the front end's
//! body pool (`server::body_pool`) keeps one such buffer for reuse, so a stream of large
//! payloads does not fault its pages in again for every call. An operator's own
//! `MALLOC_MMAP_THRESHOLD_` (glibc's tunable) is left as it is.

/// Blocks at least this large are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD: usize = 512 * 1024;

/// glibc's environment variable for the same setting.
const GLIBC_ENV: &str = "MALLOC_MMAP_THRESHOLD_";

/// Sets the threshold unless the operator set glibc's own (glibc on Linux; elsewhere
/// nothing). Call before other threads start.
pub fn bound_large_blocks() {
    if std::env::var_os(GLIBC_ENV).is_none() {
        set_threshold();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_threshold() -> bool {
    let Ok(bytes) = libc::c_int::try_from(MMAP_THRESHOLD) else {
        return false;
    };
    // SAFETY: mallopt only changes malloc's tunables; it takes no pointers.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_threshold() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_threshold() {
        assert!(set_threshold());
    }
}
