//! Large arrays (synapse tables, ring buffers) backed by transparent huge pages where the kernel offers them
//! on request (`madvise` mode): construction scatters into gigabytes and delivery writes at random into the
//! ring buffer, and with 4 KiB pages most of those accesses also miss the TLB.

/// Size of a huge page on the platforms we advise.
const HUGE_PAGE: usize = 2 << 20;

/// A vector of `n` copies of `value` whose pages were advised as huge before they were first touched.
#[must_use]
pub fn filled_vec<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise(v.as_ptr().cast::<u8>(), n * std::mem::size_of::<T>());
    v.resize(n, value);
    v
}

#[cfg(target_os = "linux")]
fn advise(ptr: *const u8, bytes: usize) {
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize + bytes) & !(HUGE_PAGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside an allocation this process owns; MADV_HUGEPAGE only changes how the
        // kernel backs those pages, never their contents, and a failure leaves ordinary pages in place.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *const u8, _bytes: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn filled_vec_holds_the_value() {
        let v = super::filled_vec(5_000_000, 7u32);
        assert_eq!(v.len(), 5_000_000);
        assert!(v.iter().all(|&x| x == 7));
    }
}
