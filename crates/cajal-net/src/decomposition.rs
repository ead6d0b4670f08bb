//! Decomposition as data, balancing as a function: a balancer maps a neuron count and a number of parts to
//! contiguous gid ranges; ranks and threads are both cut this way.

use std::ops::Range;

use cajal_core::Gid;

/// Splits `0..n` into `parts` contiguous ranges whose sizes differ by at most one (larger ones first).
#[must_use]
pub fn block_partition(n: Gid, parts: usize) -> Vec<Range<Gid>> {
    let parts = parts.max(1) as u64;
    let n64 = u64::from(n);
    (0..parts)
        .map(|p| {
            let lo = p * n64 / parts;
            let hi = (p + 1) * n64 / parts;
            lo as Gid..hi as Gid
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_everything_once() {
        for (n, p) in [(10, 3), (7717, 2), (1, 4), (0, 2), (5, 1)] {
            let b = block_partition(n, p);
            assert_eq!(b.len(), p);
            assert_eq!(b[0].start, 0);
            assert_eq!(b[p - 1].end, n);
            for w in b.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let sizes: Vec<u32> = b.iter().map(|r| r.end - r.start).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}
