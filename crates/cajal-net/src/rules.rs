//! Connection rules between two populations, and the per-target counts of the fixed-total-number rule.

use cajal_core::rng::{Purpose, Stream};

use crate::space::Kernel;
use crate::NetError;

/// How the connections of one projection are drawn. Autapses and multapses are allowed, as NEST allows them
/// by default for these rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Exactly `n` synapses in total; sources and targets drawn uniformly with replacement.
    FixedTotalNumber(u64),
    /// Each target draws exactly `k` sources uniformly with replacement.
    FixedIndegree(u32),
    /// Each (source, target) pair is connected with probability `p`.
    PairwiseBernoulli(f64),
    /// Target k of the target population gets source k (NEST's `one_to_one`; the sizes must agree).
    OneToOne,
    /// Every source to every target (NEST's `all_to_all`).
    AllToAll,
    /// Each (source, target) pair no farther apart than `cutoff` (mm) is connected with probability
    /// kernel(distance) (NEST's spatial pairwise Bernoulli with a mask).
    DistanceBernoulli { kernel: Kernel, cutoff: f64 },
    /// Each target draws `k` sources within `cutoff`, with replacement, each with probability proportional to
    /// kernel(distance).
    DistanceIndegree { k: u32, kernel: Kernel, cutoff: f64 },
}

impl Rule {
    /// Whether the rule depends on where neurons are.
    #[must_use]
    pub fn is_spatial(&self) -> bool {
        matches!(self, Self::DistanceBernoulli { .. } | Self::DistanceIndegree { .. })
    }

    /// Checks the rule's parameter.
    pub fn validate(&self, what: &str) -> Result<(), NetError> {
        match *self {
            Self::PairwiseBernoulli(p) if !(0.0..=1.0).contains(&p) => {
                Err(NetError::Invalid(format!("{what}: probability {p} is outside [0, 1]")))
            }
            // Per-target counts are u32: a projection of at most u32::MAX synapses can never overflow one.
            Self::FixedTotalNumber(n) if n > u64::from(u32::MAX) => {
                Err(NetError::Invalid(format!("{what}: {n} synapses in one projection is beyond what cajal supports")))
            }
            Self::DistanceBernoulli { kernel, cutoff } | Self::DistanceIndegree { kernel, cutoff, .. } => {
                if !(cutoff.is_finite() && cutoff > 0.0) {
                    return Err(NetError::Invalid(format!("{what}: cutoff {cutoff} mm must be > 0")));
                }
                kernel.validate(what)
            }
            _ => Ok(()),
        }
    }
}

/// Splits `total` synapses over `n_targets` targets uniformly (a multinomial draw: each synapse picks its
/// target), from the stream of the (source, target) population pair, so every rank derives the same counts
/// whatever the layout.
#[must_use]
pub fn split_total_over_targets(total: u64, n_targets: u32, seed: u64, pair_key: u64) -> Vec<u32> {
    let mut counts = vec![0u32; n_targets as usize];
    if n_targets == 0 {
        return counts;
    }
    let mut s = Stream::new(seed, Purpose::TotalSplit, pair_key);
    for _ in 0..total {
        counts[s.below(u64::from(n_targets)) as usize] += 1;
    }
    counts
}

/// floor(x) for x >= 0 (or -0.0) by integer conversion: the same value as `f64::floor`, without the libm
/// call that baseline x86-64 (no SSE4.1 rounding instruction) makes for it, once per drawn synapse.
#[inline]
fn floor_non_negative(x: f64) -> f64 {
    if x < 9.0e15 {
        (x as u64) as f64
    } else {
        x.floor()
    }
}

/// Calls `emit` with the 0-based source index of every connection a Bernoulli(p) draw over `n_sources`
/// makes, in ascending order, skipping geometrically (O(connections), not O(sources)).
pub fn bernoulli_sources(p: f64, n_sources: u32, s: &mut Stream, mut emit: impl FnMut(u32)) {
    if p <= 0.0 || n_sources == 0 {
        return;
    }
    if p >= 1.0 {
        (0..n_sources).for_each(emit);
        return;
    }
    let log_q = (-p).ln_1p();
    let mut next: f64 = -1.0;
    loop {
        let u = 1.0 - s.uniform(); // (0, 1]
        next += 1.0 + floor_non_negative(u.ln() / log_q);
        if next >= f64::from(n_sources) {
            return;
        }
        emit(next as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_split_sums_to_the_total_and_is_reproducible() {
        let a = split_total_over_targets(10_000, 37, 5, 3);
        let b = split_total_over_targets(10_000, 37, 5, 3);
        assert_eq!(a, b);
        assert_eq!(a.iter().map(|&c| u64::from(c)).sum::<u64>(), 10_000);
        assert_ne!(a, split_total_over_targets(10_000, 37, 5, 4));
        assert!(split_total_over_targets(5, 0, 1, 1).is_empty());
    }

    #[test]
    fn bernoulli_hits_the_expected_share() {
        let mut s = Stream::new(2, Purpose::Sources, 0);
        let mut hits = Vec::new();
        bernoulli_sources(0.1, 100_000, &mut s, |j| hits.push(j));
        assert!((hits.len() as f64 - 10_000.0).abs() < 400.0, "{}", hits.len());
        assert!(hits.windows(2).all(|w| w[0] < w[1]));
        let mut all = 0;
        bernoulli_sources(1.0, 17, &mut s, |_| all += 1);
        assert_eq!(all, 17);
        let mut none = 0;
        bernoulli_sources(0.0, 17, &mut s, |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn probabilities_outside_unit_interval_are_refused() {
        assert!(Rule::PairwiseBernoulli(1.5).validate("p").is_err());
        assert!(Rule::PairwiseBernoulli(-0.1).validate("p").is_err());
        assert!(Rule::PairwiseBernoulli(f64::NAN).validate("p").is_err());
        assert!(Rule::PairwiseBernoulli(0.3).validate("p").is_ok());
    }
}
