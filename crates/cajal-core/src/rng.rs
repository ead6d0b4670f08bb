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
    /// A neuron's position in space (placements drawn at random).
    Positions = 7,
    /// Noise input of a rate neuron, drawn per step.
    Noise = 8,
    /// A train from a poisson_generator into one target (per target and connection), drawn per step.
    GeneratorInput = 9,
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

/// A standard normal number for `step` of the stream with key `key` (Box-Muller from the numbers at counters
/// 2 step and 2 step + 1): random access, so a neuron's noise at a step does not depend on who draws it.
#[inline]
#[must_use]
pub fn normal_at(key: u64, step: u64) -> f64 {
    let u1 = 1.0 - to_unit(u64_at(key, 2 * step)); // (0, 1]
    let u2 = to_unit(u64_at(key, 2 * step + 1));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Converts 64 random bits to a uniform double in [0, 1) with 53 bits of precision.
#[inline]
#[must_use]
pub fn to_unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A sequential stream: a key and a counter.
#[derive(Clone, Debug)]
pub struct Stream {
    key: u64,
    counter: u64,
}

impl Stream {
    /// The stream for (seed, purpose, id), at its start.
    #[must_use]
    pub fn new(seed: u64, purpose: Purpose, id: u64) -> Self {
        Self { key: stream_key(seed, purpose, id), counter: 0 }
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

    /// A standard normal deviate (ziggurat with 256 layers: one 64-bit draw and no transcendental function
    /// in about 99% of calls).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let z = ziggurat();
        loop {
            let u = self.next_u64();
            let layer = (u & 0xFF) as usize;
            let sign = if u & 0x100 == 0 { 1.0 } else { -1.0 };
            let x = to_unit(u) * z.x[layer];
            if x < z.x[layer + 1] {
                return sign * x;
            }
            if layer == 0 {
                // The tail beyond R, by Marsaglia's exponential method.
                loop {
                    let a = -(1.0 - self.uniform()).ln() / ZIGGURAT_R;
                    let b = -(1.0 - self.uniform()).ln();
                    if 2.0 * b > a * a {
                        return sign * (ZIGGURAT_R + a);
                    }
                }
            }
            let y = z.f[layer] + self.uniform() * (z.f[layer + 1] - z.f[layer]);
            if y < (-0.5 * x * x).exp() {
                return sign * x;
            }
        }
    }
}

/// Right edge of the base layer of the 256-layer normal ziggurat.
const ZIGGURAT_R: f64 = 3.654_152_885_361_009;
/// Area of each layer of the 256-layer normal ziggurat (under the unnormalised density exp(-x^2/2)).
const ZIGGURAT_V: f64 = 0.004_928_673_233_99;

/// Layer edges `x` (x[0] is the base layer's equivalent width, x[256] = 0) and densities `f` at them.
struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

/// The ziggurat tables, computed once (immutable after that).
fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let density = |x: f64| (-0.5 * x * x).exp();
        let mut x = [0.0; 257];
        x[0] = ZIGGURAT_V / density(ZIGGURAT_R);
        x[1] = ZIGGURAT_R;
        for i in 1..255 {
            x[i + 1] = (-2.0 * (ZIGGURAT_V / x[i] + density(x[i])).ln()).sqrt();
        }
        x[256] = 0.0;
        let mut f = [0.0; 257];
        for i in 0..257 {
            f[i] = density(x[i]);
        }
        Ziggurat { x, f }
    })
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
    fn ziggurat_layers_close_at_zero() {
        let z = ziggurat();
        assert!(z.x[255] > 0.0 && z.x[255] < 0.3, "{}", z.x[255]);
        assert!(z.x.windows(2).skip(1).all(|w| w[0] > w[1]));
    }

    #[test]
    fn normal_matches_the_standard_cdf_at_many_points() {
        // Standard normal CDF values (tables): P(Z <= q).
        let points = [
            (-3.0, 0.001_349_9),
            (-2.0, 0.022_750),
            (-1.0, 0.158_655),
            (-0.5, 0.308_538),
            (0.0, 0.5),
            (0.25, 0.598_706),
            (1.5, 0.933_193),
            (2.5, 0.993_790),
            (3.7, 0.999_892),
        ];
        let mut s = Stream::new(11, Purpose::Delays, 2);
        let n = 1_000_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        for (q, p) in points {
            let share = xs.iter().filter(|&&x| x <= q).count() as f64 / n as f64;
            let tol = 4.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-6;
            assert!((share - p).abs() < tol, "P(Z <= {q}) = {share}, expected {p}");
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
