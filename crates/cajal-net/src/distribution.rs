//! Distributions of weights, delays and initial values, sampled from a neuron's own stream. Bounded
//! normals are redrawn until they fall within bounds, with a cap on the number of draws so that a
//! distribution that cannot satisfy its bounds is an error, never a hang.

use cajal_core::rng::Stream;

use crate::NetError;

/// Most draws a bounded distribution may take for one value.
pub const MAX_REDRAWS: u32 = 100_000;
/// Smallest share of draws that must fall within a normal's bounds for it to be accepted at all.
pub const MIN_ACCEPTANCE: f64 = 1e-3;

/// A distribution of a real parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    Constant(f64),
    /// Normal(mean, std), redrawn until `min <= x <= max` (bounds may be infinite).
    Normal {
        mean: f64,
        std: f64,
        min: f64,
        max: f64,
    },
    /// Uniform on [low, high).
    Uniform {
        low: f64,
        high: f64,
    },
}

/// The complementary error function (rational approximation, relative error < 1.2e-7): enough to decide
/// whether bounds leave a normal a sensible share of draws.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Standard normal CDF.
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

impl Distribution {
    /// A normal redrawn until it keeps the sign of its mean (NEST's sign-preserving weights).
    #[must_use]
    pub fn sign_preserving_normal(mean: f64, std: f64) -> Self {
        if mean >= 0.0 {
            Self::Normal { mean, std, min: 0.0, max: f64::INFINITY }
        } else {
            Self::Normal { mean, std, min: f64::NEG_INFINITY, max: 0.0 }
        }
    }

    /// Checks the parameters; `what` names the use in the error.
    pub fn validate(&self, what: &str) -> Result<(), NetError> {
        let bad = |reason: String| Err(NetError::Distribution { what: what.to_owned(), reason });
        match *self {
            Self::Constant(v) if !v.is_finite() => bad(format!("value {v} is not finite")),
            Self::Constant(_) => Ok(()),
            Self::Uniform { low, high } if !(low.is_finite() && high.is_finite() && low < high) => {
                bad(format!("uniform needs finite low < high, got [{low}, {high})"))
            }
            Self::Uniform { .. } => Ok(()),
            Self::Normal { mean, std, min, max } => {
                if !mean.is_finite() || !std.is_finite() || std < 0.0 {
                    return bad(format!(
                        "normal needs a finite mean and a finite std >= 0, got mean {mean}, std {std}"
                    ));
                }
                if min.is_nan() || max.is_nan() || min > max {
                    return bad(format!("normal bounds [{min}, {max}] are empty"));
                }
                let acceptance = if std == 0.0 {
                    f64::from(u8::from(min <= mean && mean <= max))
                } else {
                    normal_cdf((max - mean) / std) - normal_cdf((min - mean) / std)
                };
                if acceptance < MIN_ACCEPTANCE {
                    return bad(format!(
                        "normal(mean {mean}, std {std}) falls within [{min}, {max}] in only {acceptance:.2e} of draws"
                    ));
                }
                Ok(())
            }
        }
    }

    /// A bound on |x| that (practically) every draw respects: bounds where given, else mean + 40 std.
    #[must_use]
    pub fn magnitude_bound(&self) -> f64 {
        match *self {
            Self::Constant(v) => v.abs(),
            Self::Uniform { low, high } => low.abs().max(high.abs()),
            Self::Normal { mean, std, min, max } => {
                let lo = min.max(mean - 40.0 * std);
                let hi = max.min(mean + 40.0 * std);
                lo.abs().max(hi.abs())
            }
        }
    }

    /// Draws a value; bounded normals are redrawn up to [`MAX_REDRAWS`] times.
    #[inline]
    pub fn sample(&self, s: &mut Stream, what: &str) -> Result<f64, NetError> {
        match *self {
            Self::Constant(v) => Ok(v),
            Self::Uniform { low, high } => Ok(low + (high - low) * s.uniform()),
            Self::Normal { mean, std, min, max } => {
                for _ in 0..MAX_REDRAWS {
                    let x = mean + std * s.normal();
                    if min <= x && x <= max {
                        return Ok(x);
                    }
                }
                Err(NetError::RedrawLimit { what: what.to_owned(), tries: MAX_REDRAWS })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cajal_core::rng::Purpose;

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((normal_cdf(-1.933) - 0.026_62).abs() < 1e-4);
    }

    #[test]
    fn bounded_normal_stays_within_bounds() {
        let d = Distribution::Normal { mean: 1.5, std: 0.75, min: 0.05, max: f64::INFINITY };
        d.validate("delay").unwrap();
        let mut s = Stream::new(1, Purpose::Delays, 0);
        let xs: Vec<f64> = (0..50_000).map(|_| d.sample(&mut s, "delay").unwrap()).collect();
        assert!(xs.iter().all(|&x| x >= 0.05));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 1.55).abs() < 0.02, "{mean}"); // truncation lifts the mean slightly
    }

    #[test]
    fn sign_preserving_normal_keeps_the_sign() {
        let d = Distribution::sign_preserving_normal(-1.0, 2.0);
        let mut s = Stream::new(1, Purpose::Weights, 0);
        assert!((0..10_000).all(|_| d.sample(&mut s, "w").unwrap() <= 0.0));
    }

    #[test]
    fn impossible_bounds_are_refused_up_front() {
        let d = Distribution::Normal { mean: 0.0, std: 1.0, min: 10.0, max: f64::INFINITY };
        let e = d.validate("weight of L23E->L4E").unwrap_err();
        assert!(e.to_string().contains("weight of L23E->L4E"), "{e}");
        assert!(Distribution::Normal { mean: 0.0, std: -1.0, min: 0.0, max: 1.0 }.validate("x").is_err());
        assert!(Distribution::Normal { mean: 0.0, std: 1.0, min: 2.0, max: 1.0 }.validate("x").is_err());
        assert!(Distribution::Uniform { low: 1.0, high: 1.0 }.validate("x").is_err());
        assert!(Distribution::Constant(f64::NAN).validate("x").is_err());
    }

    #[test]
    fn redraws_are_capped_not_endless() {
        // Skipping validation on purpose: sampling alone must still terminate with an error.
        let d = Distribution::Normal { mean: 0.0, std: 1.0, min: 50.0, max: f64::INFINITY };
        let mut s = Stream::new(1, Purpose::Weights, 0);
        assert!(matches!(d.sample(&mut s, "w"), Err(NetError::RedrawLimit { .. })));
    }
}
