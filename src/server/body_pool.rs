//! Reusing the buffer of large request bodies.
//!
//! A large newPayload (from [`POOLED_FROM`] up) is gathered into one buffer that the lanes and
//! `--keep-warm` then share. Allocating that buffer fresh for every call makes the kernel
//! fault in and zero every page of it again, and handing it back to malloc's heaps leaves
//! freed megabytes resident. Instead, a buffer whose last user lets go comes back here as the
//! spare, and the next large body is gathered into it: in a steady stream of large payloads no
//! page is faulted twice, and the memory held for bodies is the bodies in use plus one spare of
//! at most [`MAX_SPARE_BYTES`].

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Bodies at least this large (by Content-Length) are gathered into pooled buffers; smaller
/// ones are cheap to allocate and stay with malloc.
pub const POOLED_FROM: usize = 256 * 1024;
/// A buffer larger than this is freed rather than kept: one rare giant body must not hold its
/// memory for good. The largest execution payloads seen are a few MB.
pub const MAX_SPARE_BYTES: usize = 8 * 1024 * 1024;

/// The spare buffer for large bodies, shared by every connection of the front end.
#[derive(Clone, Default)]
pub struct BodyPool {
    spare: Arc<Mutex<Option<Vec<u8>>>>,
}

impl BodyPool {
    /// An empty buffer with room for `len` bytes: the spare if it fits (and is not more than
    /// twice as large, so a small body never pins a huge buffer), else a new one.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        match spare.take_if(|b| b.capacity() >= len && b.capacity() / 2 <= len) {
            Some(buf) => buf,
            None => {
                drop(spare);
                Vec::with_capacity(len)
            }
        }
    }

    /// Shares `buf` as [`Bytes`]; when the last clone is dropped, the buffer comes back.
    pub fn share(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    /// Takes `buf` back as the spare if it is larger than the one waiting (and at most
    /// [`MAX_SPARE_BYTES`]).
    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > MAX_SPARE_BYTES {
            return;
        }
        buf.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare
            .as_ref()
            .is_none_or(|kept| kept.capacity() < buf.capacity())
        {
            *spare = Some(buf);
        }
    }

    /// The spare's capacity, if one waits.
    #[cfg(test)]
    pub fn spare(&self) -> Option<usize> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        spare.as_ref().map(Vec::capacity)
    }
}

/// A body's buffer while it is shared.
struct Pooled {
    buf: Vec<u8>,
    pool: BodyPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(pool: &BodyPool, len: usize, byte: u8) -> Bytes {
        let mut buf = pool.take(len);
        buf.resize(len, byte);
        pool.share(buf)
    }

    #[test]
    fn a_dropped_body_gives_its_buffer_to_the_next() {
        let pool = BodyPool::default();
        let first = filled(&pool, 1 << 20, b'a');
        let address = first.as_ptr();
        let clone = first.slice(10..20);
        drop(first);
        // A slice still holds it.
        assert_eq!(pool.spare(), None);
        assert_eq!(&clone[..], &[b'a'; 10]);
        drop(clone);
        assert!(pool.spare().is_some());
        let second = filled(&pool, (1 << 20) - 5, b'b');
        assert_eq!(second.as_ptr(), address, "the spare is reused");
        assert!(
            second.iter().all(|&b| b == b'b'),
            "no byte of the old body is left"
        );
        assert_eq!(second.len(), (1 << 20) - 5);
        assert_eq!(pool.spare(), None);
    }

    #[test]
    fn a_spare_far_larger_than_the_body_is_not_used() {
        let pool = BodyPool::default();
        drop(filled(&pool, 4 << 20, b'a'));
        let small = pool.take(1 << 20);
        assert!(small.capacity() < 4 << 20);
        assert!(
            pool.spare().is_some(),
            "the large spare waits for a large body"
        );
        let too_small = pool.take(5 << 20);
        assert!(too_small.capacity() >= 5 << 20);
        assert!(pool.spare().is_some());
    }

    #[test]
    fn a_giant_body_is_not_kept() {
        let pool = BodyPool::default();
        drop(filled(&pool, MAX_SPARE_BYTES + 1, b'g'));
        assert_eq!(pool.spare(), None);
        drop(filled(&pool, MAX_SPARE_BYTES, b'g'));
        assert!(pool.spare().is_some());
    }

    #[test]
    fn one_spare_is_kept_the_largest() {
        let pool = BodyPool::default();
        let bodies: Vec<Bytes> = [1usize << 20, 3 << 20, 2 << 20]
            .iter()
            .map(|&len| filled(&pool, len, b'x'))
            .collect();
        drop(bodies);
        let kept = pool.spare().expect("a spare");
        assert!((3 << 20..4 << 20).contains(&kept), "kept {kept}");
    }
}
