//! cajal's own `exp`, `ln` and `pow` for STDP: table-driven (Tang's method), within 2 ulp for exp and
//! (3 + |mu ln x|) ulp for x^mu (1e-15 for hpc_benchmark's weights), inlined into the delivery loop, and the same bits on every machine whatever its
//! libm.
//!
//! Why not libm: a plastic hpc_benchmark at scale 1 makes ~240 M potentiations, each one `pow` and one
//! `exp`; libm's (called, with their special-case checks) took half the simulation time. STDP does not
//! need the last ulp: a potentiation adds `lambda w^mu K_plus`, about 1 % of `w`, so an error of 1e-15 in
//! `w^mu` moves the weight by ~1e-17 of itself, far inside the 1e-12 at which the weights are checked
//! against NEST (`tests/stdp_vs_nest.rs`). The tables (`stdp_math_tables.rs`) are constants computed to 60
//! digits by `scripts/gen-stdp-math-tables.py`; the arithmetic is plain IEEE f64 (no FMA, no libm), so a
//! run gives the same weights on any x86-64 or ARM machine, which libm's `pow` does not promise.

use crate::stdp_math_tables::{
    EXP2_FRACTION, INV_CENTRE, LN2_BY_N_HI, LN2_BY_N_LO, LN2_HI, LN2_LO, LN_CENTRE, N, N_BY_LN2,
};

/// Adding and subtracting 1.5 x 2^52 rounds a double of magnitude below 2^51 to the nearest integer.
const ROUND_SHIFT: f64 = 6_755_399_441_055_744.0;
/// log2 of N (the tables' entries).
const N_BITS: u32 = N.trailing_zeros();
/// 2^52, its bits, and 2^54 (scales a subnormal to a normal number).
const TWO_52: f64 = 4_503_599_627_370_496.0;
const TWO_52_BITS: u64 = 0x4330_0000_0000_0000;
const TWO_54: f64 = 18_014_398_509_481_984.0;
/// A double's significand bits, and the bits of 1.0.
const MANTISSA: u64 = 0x000f_ffff_ffff_ffff;
const ONE_BITS: u64 = 0x3ff0_0000_0000_0000;
/// Below e^-700 (~1e-304) a trace factor is 0: nothing it multiplies can show at f64 precision.
const EXP_FLOOR: f64 = -700.0;

/// e^y: within 2 ulp for |y| <= 700; 0 below -700; libm's value above 700 and for NaN (STDP's decays
/// never get there).
#[inline]
#[must_use]
pub fn exp(y: f64) -> f64 {
    if y.is_nan() || y.abs() > -EXP_FLOOR {
        return if y < EXP_FLOOR { 0.0 } else { y.exp() };
    }
    exp_core(y)
}

/// e^y for |y| <= 700. Integer work on the bits only (no float-int conversions, no arithmetic shifts),
/// so that lanes of it vectorise with SSE2.
#[inline(always)]
fn exp_core(y: f64) -> f64 {
    // y = k ln2 / N + r with |r| <= ln2 / 2N; e^y = 2^(k div N) 2^((k mod N) / N) e^r. Adding 1.5 x 2^52
    // rounds y N / ln2 to the integer k, which then sits in the low bits of the sum.
    let shifted = y * N_BY_LN2 + ROUND_SHIFT;
    let kf = shifted - ROUND_SHIFT;
    let r = (y - kf * LN2_BY_N_HI) - kf * LN2_BY_N_LO;
    // e^r - 1 to degree 5 (the next term, r^6 / 720, is below 1e-18), in Estrin's order: a short chain.
    let r2 = r * r;
    let p = r + r2 * ((0.5 + r * (1.0 / 6.0)) + r2 * (1.0 / 24.0 + r * (1.0 / 120.0)));
    // k (two's complement) and, offset by 1023 N to stay positive, the biased exponent 2^(k div N).
    let k = shifted.to_bits().wrapping_sub(ROUND_SHIFT.to_bits());
    let t = EXP2_FRACTION[(k & (N as u64 - 1)) as usize];
    let scale = f64::from_bits((k.wrapping_add(1023 * N as u64) >> N_BITS) << 52);
    (t + t * p) * scale
}

/// ln x for finite x > 0 (subnormals included), within 1e-16 absolute of the true value plus half an ulp.
#[inline]
#[must_use]
pub fn ln(x: f64) -> f64 {
    if x < f64::MIN_POSITIVE { ln_core(x * TWO_54, 54.0) } else { ln_core(x, 0.0) }
}

/// ln(2^-bias x) for finite normal x > 0.
#[inline(always)]
fn ln_core(x: f64, bias: f64) -> f64 {
    let bits = x.to_bits();
    // The exponent as a double without an int-to-float conversion (cvtsi2sd would chain the iterations
    // of the delivery loop through its false dependency): 2^52 + biased exponent, less 2^52 + 1023.
    let e = f64::from_bits(TWO_52_BITS | (bits >> 52)) - (TWO_52 + 1023.0) - bias;
    // x = 2^e m, m in [1, 2); c_i = 1 + (i + 1/2) / N is the centre of the table interval holding m (its
    // bits: m's leading bits, then a one), and m - c_i is exact.
    let i = ((bits >> (52 - N_BITS)) & (N as u64 - 1)) as usize;
    let m = f64::from_bits((bits & MANTISSA) | ONE_BITS);
    let c = f64::from_bits((bits & (MANTISSA & !(MANTISSA >> N_BITS))) | ONE_BITS | (1 << (51 - N_BITS)));
    let r = (m - c) * INV_CENTRE[i];
    // ln(1 + r) to degree 7 (|r| < 1/256: the next term is below 1e-20), in Estrin's order.
    let r2 = r * r;
    let r4 = r2 * r2;
    let q = ((-0.5 + r * (1.0 / 3.0)) + r2 * (-0.25 + r * 0.2)) + r4 * (-1.0 / 6.0 + r * (1.0 / 7.0));
    (e * LN2_HI + LN_CENTRE[i]) + (e * LN2_LO + (r + r2 * q))
}

/// x^mu as STDP uses it (x >= 0): exactly x for mu = 1 and 1 for mu = 0 (NEST's `stdp_synapse` defaults
/// keep their exact arithmetic), 0 for x = 0 < mu, else e^(mu ln x) within (3 + |mu ln x|) ulp (the
/// rounding of mu ln x scales with it: 1e-15 for x up to 100 and mu <= 0.5); libm's `powf`
/// for what STDP never asks (negative, infinite or NaN x).
#[inline]
#[must_use]
pub fn pow(x: f64, mu: f64) -> f64 {
    if mu == 1.0 {
        x
    } else if mu == 0.0 {
        1.0
    } else if x > 0.0 && x < f64::INFINITY {
        exp(mu * ln(x))
    } else if x == 0.0 && mu > 0.0 {
        0.0
    } else {
        x.powf(mu)
    }
}

/// [`pow`] of `L` numbers at once, bit for bit the same: written lane by lane so that the compiler runs
/// the lanes side by side in vector registers when every lane takes the common path.
#[inline(always)]
#[must_use]
pub fn pow_lanes<const L: usize>(x: [f64; L], mu: f64) -> [f64; L] {
    if mu != 1.0 && mu != 0.0 && x.iter().all(|&v| (f64::MIN_POSITIVE..f64::INFINITY).contains(&v)) {
        let y = x.map(|v| mu * ln_core(v, 0.0));
        if y.iter().all(|v| v.abs() <= -EXP_FLOOR) {
            return y.map(exp_core);
        }
    }
    x.map(|v| pow(v, mu))
}

/// Steps tabled by [`StepDecay`]: 409.6 ms at dt = 0.1 ms, 32 KiB (L2-resident; the short differences,
/// the most frequent, stay in L1).
const DECAY_TABLE_STEPS: usize = 4096;

/// The decay of an STDP trace over a whole number of steps k, e^(-k dt / tau), looked up for the first
/// [`DECAY_TABLE_STEPS`] steps and computed beyond: one function of k either way (the table is a cache of
/// it), so results do not depend on the table's length. Spike times are on the grid, so every decay STDP
/// needs is one of these; NEST computes e^((t_a - t_b) / tau) from times in ms, which differs from it in
/// the last bits of the argument only.
#[derive(Clone, Debug, PartialEq)]
pub struct StepDecay {
    dt_ms: f64,
    tau_ms: f64,
    factors: Vec<f64>,
}

impl StepDecay {
    /// The decay of a trace with time constant `tau_ms` (> 0) on a grid of `dt_ms`.
    #[must_use]
    pub fn new(dt_ms: f64, tau_ms: f64) -> Self {
        let mut decay = Self { dt_ms, tau_ms, factors: Vec::new() };
        decay.factors = (0..DECAY_TABLE_STEPS as u64).map(|k| decay.compute(k)).collect();
        decay
    }

    /// The time constant (ms).
    #[must_use]
    pub fn tau_ms(&self) -> f64 {
        self.tau_ms
    }

    /// Bytes of its table.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.factors.len() * std::mem::size_of::<f64>()
    }

    /// e^(-k dt / tau).
    #[inline]
    #[must_use]
    pub fn after(&self, k: u64) -> f64 {
        match usize::try_from(k).ok().and_then(|k| self.factors.get(k)) {
            Some(&f) => f,
            None => self.compute(k),
        }
    }

    #[inline(never)]
    fn compute(&self, k: u64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let t = k as f64 * self.dt_ms;
        exp(-t / self.tau_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative distance of `a` from `b`.
    fn rel(a: f64, b: f64) -> f64 {
        if a == b { 0.0 } else { ((a - b) / b).abs() }
    }

    /// Deterministic points spread over [lo, hi].
    fn sweep(lo: f64, hi: f64, n: u32) -> impl Iterator<Item = f64> {
        (0..=n).map(move |k| lo + (hi - lo) * f64::from(k) / f64::from(n))
    }

    #[test]
    fn the_generated_tables_agree_with_libm_to_an_ulp() {
        for i in 0..N {
            let c = 1.0 + (i as f64 + 0.5) / N as f64;
            assert!(rel(INV_CENTRE[i], 1.0 / c) <= f64::EPSILON, "1/c_{i}");
            assert!(rel(LN_CENTRE[i], c.ln()) <= f64::EPSILON, "ln c_{i}");
            assert!(rel(EXP2_FRACTION[i], (i as f64 / N as f64).exp2()) <= f64::EPSILON, "2^({i}/N)");
        }
        assert!(rel(LN2_HI + LN2_LO, std::f64::consts::LN_2) <= f64::EPSILON / 2.0);
        assert!(rel(LN2_BY_N_HI + LN2_BY_N_LO, std::f64::consts::LN_2 / N as f64) <= f64::EPSILON / 2.0);
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm_and_exact_at_zero() {
        assert_eq!(exp(0.0), 1.0);
        let mut worst = 0.0f64;
        for y in sweep(-700.0, 700.0, 400_000).chain(sweep(-0.01, 0.01, 100_000)) {
            worst = worst.max(rel(exp(y), y.exp()));
        }
        assert!(worst <= 2.0 * f64::EPSILON, "worst relative error {worst:e}");
        assert_eq!(exp(-700.5), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn ln_is_within_an_ulp_plus_1e_16_of_libm_also_for_subnormals() {
        let mut worst = 0.0f64;
        for x in sweep(1e-3, 4.0, 200_000).chain(sweep(1.0, 1e6, 100_000)).chain([1e-310, 5e-324, 1e300, 1.0]) {
            let (a, b) = (ln(x), x.ln());
            worst = worst.max((a - b).abs() / (1e-16 + b.abs() * f64::EPSILON));
        }
        assert!(worst <= 1.0, "worst error {worst} (units of 1e-16 + 1 ulp)");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn pow_is_within_a_few_ulp_of_libm_and_exact_where_nest_defaults_need_it() {
        let mut worst = 0.0f64;
        for mu in [0.4, 0.05, 0.5, 0.95, 2.0] {
            for x in sweep(1e-6, 1.0, 50_000).chain(sweep(1.0, 1e4, 50_000)) {
                let ulps = rel(pow(x, mu), x.powf(mu)) / f64::EPSILON;
                worst = worst.max(ulps / (3.0 + (mu * x.ln()).abs()));
                if mu <= 0.5 && x <= 100.0 {
                    assert!(rel(pow(x, mu), x.powf(mu)) <= 1e-15, "{x}^{mu}");
                }
            }
        }
        assert!(worst <= 1.0, "worst error {worst} (units of 3 + |mu ln x| ulp)");
        assert_eq!(pow(0.3, 1.0), 0.3);
        assert_eq!(pow(0.3, 0.0), 1.0);
        assert_eq!(pow(0.0, 0.4), 0.0);
        assert_eq!(pow(0.0, 0.0), 1.0);
        assert!(pow(-1.0, 0.4).is_nan());
    }

    #[test]
    fn pow_lanes_is_pow_bit_for_bit_on_every_path() {
        for mu in [0.4, 1.0, 0.0, 0.7] {
            for x in [[45.6, 1e-3, 3.0, 7e5], [0.0, 1e-310, f64::INFINITY, -2.0], [1e300, 1e-300, 1.0, 2.0]] {
                let lanes = pow_lanes(x, mu);
                for (a, &v) in lanes.iter().zip(&x) {
                    assert_eq!(a.to_bits(), pow(v, mu).to_bits(), "{v}^{mu}");
                }
            }
        }
    }

    #[test]
    fn a_step_decay_is_one_function_of_k_inside_and_beyond_its_table() {
        let d = StepDecay::new(0.1, 15.0);
        assert_eq!(d.after(0), 1.0);
        for k in [1, 150, 4095, 4096, 4097, 100_000, u64::MAX] {
            #[allow(clippy::cast_precision_loss)]
            let expected = exp(-(k as f64 * 0.1) / 15.0);
            assert_eq!(d.after(k), expected, "k = {k}");
            assert!(rel(d.after(k), (-(k as f64) * 0.1 / 15.0).exp()) <= 1e-14 || k > 100_000);
        }
        assert_eq!(d.after(u64::MAX), 0.0);
    }
}
