//! Poisson counts by inverting a tabulated CDF with one uniform: the background input draws one count per
//! neuron and step, and with a mean of 0.1-3 events per step a table lookup beats any rejection sampler.

use crate::CoreError;

/// Largest mean per step for which the table is built (exp(-mean) must not underflow).
const MAX_MEAN: f64 = 700.0;

/// Number of equal slices of [0, 1) in the guide table.
const GUIDE_SLICES: usize = 1024;

/// 2^53: a uniform is m 2^-53 for the top 53 bits m of a 64-bit draw (`rng::to_unit`).
const TWO_53: f64 = 9_007_199_254_740_992.0;

/// The cumulative distribution of a Poisson law, tabulated until the tail is below double precision, with
/// a guide table (Chen & Asau's indexed search): the answer for the lower edge of each of 1024 slices of
/// [0, 1), so a lookup starts at the right count and almost never loops. The result is exactly that of a
/// linear search from 0, just without its unpredictable branches.
#[derive(Clone, Debug)]
pub struct PoissonTable {
    cdf: Vec<f64>,
    guide: Vec<u32>,
    /// The CDF on the scale of a uniform's 53 bits, ceil(CDF(k) 2^53): for u = m 2^-53, u >= CDF(k) exactly
    /// when m >= this, so a draw needs no floating point (`sample_bits`).
    cdf_bits: Vec<u64>,
    /// `guide` as a fixed array: indexed by a uniform's top 10 bits, never out of bounds.
    guide_bits: Box<[u32; GUIDE_SLICES]>,
}

impl PoissonTable {
    /// The table for `mean` events (finite, 0 <= mean <= 700).
    pub fn new(mean: f64) -> Result<Self, CoreError> {
        if !(mean.is_finite() && (0.0..=MAX_MEAN).contains(&mean)) {
            return Err(CoreError::invalid(
                "Poisson mean per step",
                mean,
                "must be finite and in [0, 700]; use DC input for stronger drive",
            ));
        }
        let mut cdf = Vec::new();
        let mut pmf = (-mean).exp();
        let mut acc = 0.0;
        let mut k = 0.0_f64;
        loop {
            acc += pmf;
            cdf.push(acc);
            k += 1.0;
            pmf *= mean / k;
            // Past the mode, stop once the remaining mass cannot change a 53-bit uniform's answer.
            if k > mean && (pmf < 1e-17 || acc >= 1.0) {
                break;
            }
        }
        if let Some(last) = cdf.last_mut() {
            *last = f64::INFINITY; // every uniform maps into the table
        }
        let linear = |u: f64| cdf.iter().position(|&c| u < c).unwrap_or(cdf.len() - 1) as u32;
        let guide: Vec<u32> = (0..GUIDE_SLICES).map(|i| linear(i as f64 / GUIDE_SLICES as f64)).collect();
        // c 2^53 is exact (a power-of-two scaling) and at most 2^53, so its ceiling is an exact u64.
        let cdf_bits = cdf.iter().map(|&c| if c.is_finite() { (c * TWO_53).ceil() as u64 } else { u64::MAX }).collect();
        let mut guide_bits = Box::new([0u32; GUIDE_SLICES]);
        guide_bits.copy_from_slice(&guide);
        Ok(Self { cdf, guide, cdf_bits, guide_bits })
    }

    /// The count for a uniform `u` in [0, 1): the smallest k with u < CDF(k).
    #[inline]
    #[must_use]
    pub fn sample(&self, u: f64) -> u32 {
        // u >= slice's lower edge, so the answer is at least the guide's; the CDF ends in +inf.
        let mut k = self.guide[((u * GUIDE_SLICES as f64) as usize).min(GUIDE_SLICES - 1)] as usize;
        while u >= self.cdf[k] {
            k += 1;
        }
        k as u32
    }

    /// `sample(to_unit(x))` for a 64-bit draw `x`, exactly, in integers: the guide slice is x's top 10
    /// bits (floor(u 1024) for u = (x >> 11) 2^-53) and the CDF is compared on the 53-bit scale.
    #[inline]
    #[must_use]
    pub fn sample_bits(&self, x: u64) -> u32 {
        let m = x >> 11;
        let mut k = self.guide_bits[(x >> 54) as usize] as usize;
        while m >= self.cdf_bits[k] {
            k += 1;
        }
        k as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Stream};

    #[test]
    fn counts_have_poisson_mean_and_variance() {
        for mean in [0.0, 0.128, 1.6, 2.32, 40.0] {
            let table = PoissonTable::new(mean).unwrap();
            let mut s = Stream::new(4, Purpose::Background, 0);
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| f64::from(table.sample(s.uniform()))).collect();
            let m = xs.iter().sum::<f64>() / f64::from(n);
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / f64::from(n);
            let tol = 5.0 * (mean / f64::from(n)).sqrt() + 1e-12;
            assert!((m - mean).abs() <= tol, "mean {m} vs {mean}");
            assert!((v - mean).abs() <= 0.03 * mean + 1e-12, "var {v} vs {mean}");
        }
    }

    #[test]
    fn zero_probability_matches_exp_minus_mean() {
        let t = PoissonTable::new(1.6).unwrap();
        let p0 = (-1.6f64).exp();
        assert_eq!(t.sample(p0 * 0.999), 0);
        assert_eq!(t.sample(p0 * 1.001), 1);
        assert!(t.sample(0.999_999_999_999) > 5);
    }

    #[test]
    fn guided_lookup_equals_linear_search() {
        for mean in [0.05, 1.68, 9.0] {
            let t = PoissonTable::new(mean).unwrap();
            let mut s = Stream::new(8, Purpose::Background, 1);
            for _ in 0..100_000 {
                let u = s.uniform();
                let linear = t.cdf.iter().position(|&c| u < c).unwrap() as u32;
                assert_eq!(t.sample(u), linear);
            }
            // Slice edges exactly.
            for i in 0..GUIDE_SLICES {
                let u = i as f64 / GUIDE_SLICES as f64;
                assert_eq!(t.sample(u), t.cdf.iter().position(|&c| u < c).unwrap() as u32);
            }
        }
    }

    #[test]
    fn drawing_from_the_bits_equals_drawing_from_the_uniform() {
        use crate::rng::{to_unit, u64_at};
        for mean in [0.0, 0.05, 1.68, 2.0, 9.0, 40.0] {
            let t = PoissonTable::new(mean).unwrap();
            for i in 0..200_000u64 {
                let x = u64_at(0x5eed, i);
                assert_eq!(t.sample_bits(x), t.sample(to_unit(x)), "mean {mean}, draw {x:#x}");
            }
            // Exactly at and next to every CDF value and slice edge.
            let edges = t
                .cdf
                .iter()
                .filter(|c| c.is_finite())
                .map(|&c| (c * TWO_53) as u64)
                .chain((0..GUIDE_SLICES as u64).map(|i| i << 43));
            for m in edges {
                for m in [m.saturating_sub(1), m, m + 1].into_iter().filter(|&m| m < 1 << 53) {
                    let x = (m << 11) | 0x7ff;
                    assert_eq!(t.sample_bits(x), t.sample(to_unit(x)), "mean {mean}, m {m}");
                }
            }
        }
    }

    #[test]
    fn bad_means_are_refused() {
        assert!(PoissonTable::new(-1.0).is_err());
        assert!(PoissonTable::new(f64::NAN).is_err());
        assert!(PoissonTable::new(1e6).is_err());
    }
}
