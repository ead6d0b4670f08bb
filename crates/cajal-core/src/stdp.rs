//! Spike-timing-dependent plasticity rules with NEST's semantics and parameter names: `stdp_synapse`
//! (Gütig et al. 2003, bounded by 0 and Wmax) and `stdp_pl_synapse_hom` (Morrison et al. 2007, power-law
//! potentiation, multiplicative depression). A rule is shared by every synapse of a plastic class (a
//! projection); each synapse stores only its target and weight (see [`crate::plastic_table`]).

use crate::{stdp_math, CoreError};

/// NEST's tolerance when comparing spike times of the STDP history (`stdp_eps`, ms).
pub const STDP_EPS: f64 = 1.0e-6;

/// The parameters of `stdp_pl_synapse_hom` (NEST 3.10's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StdpPlParams {
    /// Time constant of potentiation (ms).
    pub tau_plus: f64,
    pub lambda: f64,
    pub alpha: f64,
    /// Exponent of the weight dependence of potentiation.
    pub mu: f64,
}

impl Default for StdpPlParams {
    fn default() -> Self {
        Self { tau_plus: 20.0, lambda: 0.1, alpha: 1.0, mu: 0.4 }
    }
}

/// The parameters of `stdp_synapse` (NEST 3.10's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StdpParams {
    /// Time constant of potentiation (ms).
    pub tau_plus: f64,
    pub lambda: f64,
    pub alpha: f64,
    pub mu_plus: f64,
    pub mu_minus: f64,
    /// Bound of the weight; its sign is every weight's sign.
    pub w_max: f64,
}

impl Default for StdpParams {
    fn default() -> Self {
        Self { tau_plus: 20.0, lambda: 0.01, alpha: 1.0, mu_plus: 1.0, mu_minus: 1.0, w_max: 100.0 }
    }
}

/// One potentiation due in a delivery: synapse `synapse` of the chunk, by the presynaptic trace `k_plus`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Potentiation {
    pub synapse: u32,
    pub k_plus: f64,
}

/// A plasticity rule, as NEST computes it: NEST's expressions in NEST's order, with cajal's own `pow` and
/// `exp` ([`crate::stdp_math`]), so that weight trajectories agree with NEST's to ~1e-15.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StdpRule {
    /// `stdp_pl_synapse_hom`.
    PowerLaw { p: StdpPlParams },
    /// `stdp_synapse`.
    Bounded(StdpParams),
}

impl StdpRule {
    /// The `stdp_pl_synapse_hom` rule, checked: tau_plus > 0, lambda >= 0, alpha >= 0, mu in [0, 1].
    pub fn power_law(p: StdpPlParams) -> Result<Self, CoreError> {
        positive("tau_plus", p.tau_plus)?;
        non_negative("lambda", p.lambda)?;
        non_negative("alpha", p.alpha)?;
        if !(0.0..=1.0).contains(&p.mu) {
            return Err(CoreError::invalid("mu", p.mu, "must be in [0, 1] (power-law potentiation)"));
        }
        Ok(Self::PowerLaw { p })
    }

    /// The `stdp_synapse` rule, checked: tau_plus > 0, lambda, alpha, mu_plus, mu_minus >= 0, Wmax != 0.
    pub fn bounded(p: StdpParams) -> Result<Self, CoreError> {
        positive("tau_plus", p.tau_plus)?;
        for (name, v) in [("lambda", p.lambda), ("alpha", p.alpha), ("mu_plus", p.mu_plus), ("mu_minus", p.mu_minus)] {
            non_negative(name, v)?;
        }
        if !p.w_max.is_finite() || p.w_max == 0.0 {
            return Err(CoreError::invalid("Wmax", p.w_max, "must be finite and not 0"));
        }
        Ok(Self::Bounded(p))
    }

    /// NEST's model name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::PowerLaw { .. } => "stdp_pl_synapse_hom",
            Self::Bounded(_) => "stdp_synapse",
        }
    }

    /// The parameters with NEST's names (what a model file gives).
    #[must_use]
    pub fn values(&self) -> Vec<(&'static str, f64)> {
        match self {
            Self::PowerLaw { p, .. } => {
                vec![("tau_plus", p.tau_plus), ("lambda", p.lambda), ("alpha", p.alpha), ("mu", p.mu)]
            }
            Self::Bounded(p) => vec![
                ("tau_plus", p.tau_plus),
                ("lambda", p.lambda),
                ("alpha", p.alpha),
                ("mu_plus", p.mu_plus),
                ("mu_minus", p.mu_minus),
                ("Wmax", p.w_max),
            ],
        }
    }

    /// Whether `w` is a weight this rule can start from: >= 0 for the power law; the sign of Wmax and no
    /// further from 0 than Wmax for `stdp_synapse` (NEST requires the sign; the bound keeps the rule's
    /// normalised weight in [0, 1]). Returns why not.
    pub fn check_weight(&self, w: f64) -> Result<(), String> {
        if !w.is_finite() {
            return Err("must be finite".into());
        }
        match self {
            Self::PowerLaw { .. } if w < 0.0 => Err("must be >= 0 for stdp_pl_synapse_hom".into()),
            Self::Bounded(p) if (w >= 0.0) != (p.w_max >= 0.0) => {
                Err(format!("must have the sign of Wmax ({}) for stdp_synapse", p.w_max))
            }
            Self::Bounded(p) if w.abs() > p.w_max.abs() => {
                Err(format!("must be no further from 0 than Wmax ({}) for stdp_synapse", p.w_max))
            }
            _ => Ok(()),
        }
    }

    /// The time constant of the presynaptic trace (ms).
    #[must_use]
    pub fn tau_plus(&self) -> f64 {
        match self {
            Self::PowerLaw { p, .. } => p.tau_plus,
            Self::Bounded(p) => p.tau_plus,
        }
    }

    /// Potentiation of `w` by the presynaptic trace value `k_plus`.
    #[inline]
    #[must_use]
    pub fn facilitate(&self, w: f64, k_plus: f64) -> f64 {
        self.facilitate_lanes([w], [k_plus])[0]
    }

    /// [`StdpRule::facilitate`] of `L` weights at once (the arithmetic of each lane is the same).
    #[inline(always)]
    fn facilitate_lanes<const L: usize>(&self, w: [f64; L], k_plus: [f64; L]) -> [f64; L] {
        match self {
            Self::PowerLaw { p } => {
                let w_mu = stdp_math::pow_lanes(w, p.mu);
                std::array::from_fn(|l| w[l] + (p.lambda * w_mu[l] * k_plus[l]))
            }
            Self::Bounded(p) => {
                let room = stdp_math::pow_lanes(w.map(|v| 1.0 - (v / p.w_max)), p.mu_plus);
                std::array::from_fn(|l| {
                    let norm = (w[l] / p.w_max) + (p.lambda * room[l] * k_plus[l]);
                    if norm < 1.0 { norm * p.w_max } else { p.w_max }
                })
            }
        }
    }

    /// Potentiates `weights[p.synapse]` by `p.k_plus` for every `p` of `round`, which names each synapse at
    /// most once, so that they run side by side: 8 at a time, the arithmetic of [`StdpRule::facilitate`].
    #[inline]
    pub fn facilitate_distinct(&self, weights: &mut [f64], round: &[Potentiation]) {
        const LANES: usize = 8;
        for batch in round.chunks(LANES) {
            // Spare lanes repeat the first: they take the same path through `pow_lanes`.
            let mut w = [weights[batch[0].synapse as usize]; LANES];
            let mut k_plus = [batch[0].k_plus; LANES];
            for (l, p) in batch.iter().enumerate() {
                w[l] = weights[p.synapse as usize];
                k_plus[l] = p.k_plus;
            }
            let new = self.facilitate_lanes(w, k_plus);
            for (p, &w) in batch.iter().zip(&new) {
                weights[p.synapse as usize] = w;
            }
        }
    }

    /// Depression of `w` by the postsynaptic trace value `k_minus`; never past 0.
    #[inline]
    #[must_use]
    pub fn depress(&self, w: f64, k_minus: f64) -> f64 {
        match self {
            Self::PowerLaw { p, .. } => {
                let new_w = w - (p.lambda * p.alpha * w * k_minus);
                if new_w > 0.0 {
                    new_w
                } else {
                    0.0
                }
            }
            Self::Bounded(p) => {
                let norm = (w / p.w_max) - (p.alpha * p.lambda * stdp_math::pow(w / p.w_max, p.mu_minus) * k_minus);
                if norm > 0.0 {
                    norm * p.w_max
                } else {
                    0.0
                }
            }
        }
    }
}

fn positive(name: &'static str, v: f64) -> Result<(), CoreError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(CoreError::invalid(name, v, "must be > 0"))
    }
}

fn non_negative(name: &'static str, v: f64) -> Result<(), CoreError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(CoreError::invalid(name, v, "must be >= 0"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn power_law_potentiates_by_lambda_w_to_the_mu_and_depresses_multiplicatively_never_below_zero() {
        let r = StdpRule::power_law(StdpPlParams { tau_plus: 15.0, lambda: 0.1, alpha: 0.0513, mu: 0.4 }).unwrap();
        assert!((r.facilitate(32.0, 1.0) - (32.0 + 0.1 * 32f64.powf(0.4))).abs() <= 1e-15 * 32.0);
        assert_eq!(r.depress(10.0, 2.0), 10.0 - 0.1 * 0.0513 * 10.0 * 2.0);
        assert_eq!(r.depress(10.0, 1e6), 0.0);
        assert_eq!(r.tau_plus(), 15.0);
    }

    #[test]
    fn bounded_rule_stays_between_zero_and_wmax_with_the_sign_of_wmax() {
        let p = StdpParams { w_max: -100.0, ..StdpParams::default() };
        let r = StdpRule::bounded(p).unwrap();
        assert_eq!(r.facilitate(-99.0, 1e6), -100.0);
        assert_eq!(r.depress(-1.0, 1e6), 0.0);
        assert!(r.check_weight(-50.0).is_ok());
        assert!(r.check_weight(50.0).is_err());
        assert!(r.check_weight(-150.0).is_err());
    }

    #[test]
    fn impossible_parameters_are_refused_by_name() {
        let e = StdpRule::power_law(StdpPlParams { lambda: -0.1, ..StdpPlParams::default() }).unwrap_err();
        assert!(e.to_string().contains("lambda"), "{e}");
        let e = StdpRule::power_law(StdpPlParams { mu: 1.5, ..StdpPlParams::default() }).unwrap_err();
        assert!(e.to_string().contains("mu"), "{e}");
        let e = StdpRule::bounded(StdpParams { tau_plus: 0.0, ..StdpParams::default() }).unwrap_err();
        assert!(e.to_string().contains("tau_plus"), "{e}");
        let e = StdpRule::bounded(StdpParams { w_max: 0.0, ..StdpParams::default() }).unwrap_err();
        assert!(e.to_string().contains("Wmax"), "{e}");
    }
}
