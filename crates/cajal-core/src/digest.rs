//! The order-independent spike digest written to `summary.json` and carried through checkpoints.

use crate::rng::splitmix64;
use crate::{Gid, Step};

/// The contribution of one spike: splitmix64(splitmix64(step) XOR gid). The digest of a run is the wrapping
/// sum of these over every spike from step 0, so it does not depend on the order spikes are seen in.
#[inline]
#[must_use]
pub fn spike_term(step: Step, gid: Gid) -> u64 {
    splitmix64(splitmix64(step) ^ u64::from(gid))
}

/// Running digest and count of spikes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeDigest {
    pub sum: u64,
    pub count: u64,
}

impl SpikeDigest {
    /// Adds one spike.
    #[inline]
    pub fn add(&mut self, step: Step, gid: Gid) {
        self.sum = self.sum.wrapping_add(spike_term(step, gid));
        self.count += 1;
    }

    /// Merges another digest (e.g. of another rank).
    pub fn merge(&mut self, other: &SpikeDigest) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.count += other.count;
    }

    /// The digest as 16 lower-case hex digits.
    #[must_use]
    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_order_independent_and_hex_is_16_digits() {
        let mut a = SpikeDigest::default();
        a.add(3, 7);
        a.add(10, 2);
        let mut b = SpikeDigest::default();
        b.add(10, 2);
        b.add(3, 7);
        assert_eq!(a, b);
        assert_eq!(a.hex().len(), 16);
        assert_eq!(a.count, 2);
    }

    #[test]
    fn spike_term_uses_standard_splitmix64() {
        // splitmix64(0): the first output of the reference SplitMix64 generator seeded with 0.
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(spike_term(0, 0), splitmix64(0xe220_a839_7b1d_cdaf));
    }
}
