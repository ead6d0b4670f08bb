//! Counter-based random streams keyed by (seed, purpose, id).
//!
//! A stream's n-th number is a pure function of its key and n (SplitMix64 started at the key), so a neuron
//! draws the same numbers on any rank or thread, and a stream needs no state beyond its key and counter.
//! The samplers (uniform, bounded integer, normal) are ours, so no dependency bump can change results.

/// The SplitMix64 increment (the golden ratio in 64 bits).
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output mix: two xor-shift-multiply rounds and a final xor-shift.
#[inline]
#[must_use]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One standard SplitMix64 step from state `x`: add the golden gamma, then mix.
#[inline]
#[must_use]
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN_GAMMA))
}

/// What a stream is used for; part of its key so that purposes never share numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Initial neuron state (e.g. membrane potential).
    InitialState = 1,
    /// Presynaptic sources of a target neuron's incoming connections.
    Sources = 2,
    /// Weights of a target neuron's incoming connections.
    Weights = 3,
    /// Delays of a target neuron's incoming connections.
    Delays = 4,
    /// Poisson background input of a neuron, drawn per step.
    Background = 5,
    /// The split of a fixed total number of synapses over the targets of one projection.
    TotalSplit = 6,
}

/// The key of the stream for (seed, purpose, id).
#[inline]
#[must_use]
pub fn stream_key(seed: u64, purpose: Purpose, id: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ purpose as u64) ^ id)
}

/// The `counter`-th 64-bit number of the stream with key `key`, without any stream state.
#[inline]
#[must_use]
pub fn u64_at(key: u64, counter: u64) -> u64 {
    mix64(key.wrapping_add(counter.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

/// Converts 64 random bits to a uniform double in [0, 1) with 53 bits of precision.
#[inline]
#[must_use]
pub fn to_unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A sequential stream: a key and a counter (and one spare normal deviate).
#[derive(Clone, Debug)]
pub struct Stream {
    key: u64,
    counter: u64,
    spare_normal: Option<f64>,
}

impl Stream {
    /// The stream for (seed, purpose, id), at its start.
    #[must_use]
    pub fn new(seed: u64, purpose: Purpose, id: u64) -> Self {
        Self { key: stream_key(seed, purpose, id), counter: 0, spare_normal: None }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let x = u64_at(self.key, self.counter);
        self.counter += 1;
        x
    }

    /// A uniform double in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        to_unit(self.next_u64())
    }

    /// A uniform integer in [0, n) without modulo bias (Lemire's multiply-shift with rejection). `n` > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// A standard normal deviate (Marsaglia's polar method; the second deviate of a pair is kept).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some(v * f);
                return u * f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut a = Stream::new(1, Purpose::Sources, 5);
        let mut b = Stream::new(1, Purpose::Sources, 5);
        let mut c = Stream::new(1, Purpose::Weights, 5);
        let mut d = Stream::new(2, Purpose::Sources, 5);
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        let xd: Vec<u64> = (0..4).map(|_| d.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(xa, xd);
        let key = stream_key(1, Purpose::Sources, 5);
        assert_eq!(u64_at(key, 2), xa[2]);
    }

    #[test]
    fn uniform_and_below_have_the_right_moments() {
        let mut s = Stream::new(9, Purpose::Sources, 0);
        let n = 200_000;
        let mean = (0..n).map(|_| s.uniform()).sum::<f64>() / f64::from(n);
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        let mut counts = [0u32; 7];
        for _ in 0..n {
            counts[s.below(7) as usize] += 1;
        }
        for c in counts {
            assert!((f64::from(c) / f64::from(n) - 1.0 / 7.0).abs() < 0.005, "{counts:?}");
        }
    }

    #[test]
    fn normal_has_zero_mean_and_unit_variance() {
        let mut s = Stream::new(3, Purpose::Weights, 1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
        let tail = xs.iter().filter(|x| **x > 1.0).count() as f64 / n as f64;
        assert!((tail - 0.158_655).abs() < 0.004, "{tail}");
    }
}
