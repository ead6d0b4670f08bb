//! The embedded Runge-Kutta-Fehlberg 4(5) stepper with adaptive step size that NEST integrates its
//! conductance-based neurons with (GSL's `rkf45` stepper, "standard" step-size control and `evolve_apply`),
//! written from GSL's documentation and Fehlberg's published coefficients so that a neuron takes NEST's
//! accepted and rejected sub-steps:
//!
//! ```text
//! one sub-step (evolve_apply) from t towards t1 with the carried step h:
//!   k1 = f(y) once; try h' = min(h, t1 - t) (the last one ends exactly at t1)
//!   y5 = y + h' sum b5_i k_i (fifth order, propagated), err = y5 - y4 (the embedded fourth order)
//!   E/D = max_i |err_i| / (eps_abs + eps_rel (a_y |y5_i| + a_dydt h' |f(y5)_i|))
//!   E/D > 1.1: retry with h' max(0.9 (E/D)^(-1/5), 0.2)      (a rejected sub-step; k1 kept)
//!   E/D < 0.5: accept, carry h' min(0.9 (E/D)^(-1/6), 5) (at least h')
//!   else:      accept, carry h'
//! ```
//!
//! The carried step is the one tried last, adjusted: a sub-step cut short at t1 hands on the short step
//! (grown by the control), as GSL does. The arithmetic follows GSL's order (stage sums, error sums,
//! `0.9 / r^(1/q)`), checked against GSL 1.16 bit for bit.

/// Fehlberg's stages: `A[i][j]` weighs k_(j+1) in the argument of k_(i+1).
const A2: [f64; 1] = [1.0 / 4.0];
const A3: [f64; 2] = [3.0 / 32.0, 9.0 / 32.0];
const A4: [f64; 3] = [1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0];
const A5: [f64; 4] = [439.0 / 216.0, -8.0, 3680.0 / 513.0, -845.0 / 4104.0];
const A6: [f64; 5] = [-8.0 / 27.0, 2.0, -3544.0 / 2565.0, 1859.0 / 4104.0, -11.0 / 40.0];
/// Fifth-order weights of k1, k3, k4, k5, k6 (k2's is 0).
const B5: [f64; 5] = [16.0 / 135.0, 6656.0 / 12825.0, 28561.0 / 56430.0, -9.0 / 50.0, 2.0 / 55.0];
/// Fifth minus fourth order weights (the error estimate) of k1, k3, k4, k5, k6.
const EC: [f64; 5] = [1.0 / 360.0, -128.0 / 4275.0, -2197.0 / 75240.0, 1.0 / 50.0, 2.0 / 55.0];

/// The order the control scales a rejected step with (GSL's `rkf45` reports 5); a grown step uses 6.
const ORDER: f64 = 5.0;

/// GSL's standard step-size control: the desired error of component i is
/// `eps_abs + eps_rel (a_y |y_i| + a_dydt h |y'_i|)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Control {
    pub eps_abs: f64,
    pub eps_rel: f64,
    pub a_y: f64,
    pub a_dydt: f64,
}

impl Control {
    /// Errors relative to the state only (GSL's `control_y_new`: a_y 1, a_dydt 0).
    #[must_use]
    pub fn y(eps_abs: f64, eps_rel: f64) -> Self {
        Self { eps_abs, eps_rel, a_y: 1.0, a_dydt: 0.0 }
    }

    /// Errors relative to the derivative only (GSL's `control_yp_new`: a_y 0, a_dydt 1).
    #[must_use]
    pub fn yp(eps_abs: f64, eps_rel: f64) -> Self {
        Self { eps_abs, eps_rel, a_y: 0.0, a_dydt: 1.0 }
    }

    /// The step after a step `h` that reached `y` with error `yerr` and derivative `dydt` there:
    /// `Err(smaller)` to reject, `Ok(next)` to accept (the same or larger). With `growth_matters` false the
    /// caller will cut any step of at least `h` to the same length, so a larger step is not computed (a
    /// `powf` saved per neuron and step) and `h` is returned instead.
    #[inline]
    fn adjust<const N: usize>(
        &self,
        y: &[f64; N],
        yerr: &[f64; N],
        dydt: &[f64; N],
        h: f64,
        growth_matters: bool,
    ) -> Result<f64, f64> {
        let mut worst = f64::MIN_POSITIVE;
        for n in 0..N {
            let desired = self.eps_rel * (self.a_y * y[n].abs() + self.a_dydt * (h * dydt[n]).abs()) + self.eps_abs;
            worst = worst.max(yerr[n].abs() / desired.abs());
        }
        if worst > 1.1 {
            Err(h * (0.9 / worst.powf(1.0 / ORDER)).max(0.2))
        } else if worst < 0.5 && growth_matters {
            Ok(h * (0.9 / worst.powf(1.0 / (ORDER + 1.0))).clamp(1.0, 5.0))
        } else {
            Ok(h)
        }
    }
}

/// `y + h sum_j a_j k_j`, the sum in stage order.
#[inline]
fn stage<const N: usize>(y: &[f64; N], h: f64, a: &[f64], k: &[[f64; N]; 6]) -> [f64; N] {
    std::array::from_fn(|n| {
        let mut sum = 0.0;
        for (j, a) in a.iter().enumerate() {
            sum += a * k[j][n];
        }
        y[n] + h * sum
    })
}

/// One RKF45 step of length `h` from `y` with `k1 = f(y)`: the fifth-order state, its error estimate
/// and the derivative there.
#[inline]
fn try_step<const N: usize>(
    f: &impl Fn(&[f64; N], &mut [f64; N]),
    y: &[f64; N],
    k1: &[f64; N],
    h: f64,
) -> ([f64; N], [f64; N], [f64; N]) {
    let mut k = [[0.0; N]; 6];
    k[0] = *k1;
    for (i, a) in [&A2[..], &A3, &A4, &A5, &A6].into_iter().enumerate() {
        let arg = stage(y, h, a, &k);
        f(&arg, &mut k[i + 1]);
    }
    let used = [0, 2, 3, 4, 5];
    let weighted = |w: &[f64; 5], n: usize| {
        let mut sum = 0.0;
        for (w, &j) in w.iter().zip(&used) {
            sum += w * k[j][n];
        }
        sum
    };
    let y5: [f64; N] = std::array::from_fn(|n| y[n] + h * weighted(&B5, n));
    let yerr: [f64; N] = std::array::from_fn(|n| h * weighted(&EC, n));
    let mut dydt = [0.0; N];
    f(&y5, &mut dydt);
    (y5, yerr, dydt)
}

/// One accepted sub-step of the autonomous system `y' = f(y)` from `*t` towards `t1` (GSL's
/// `evolve_apply`): tries the carried step `*h` (cut to end at `t1`), shrinks and retries while the
/// control rejects it, then advances `y` and `*t` and leaves the step to carry on in `*h`. Time runs over
/// the interval [0, t1] (each neuron step): a step that covered it whole carries at least itself, not
/// its grown length, which the next interval would cut to t1 all the same.
pub fn evolve_apply<const N: usize>(
    f: &impl Fn(&[f64; N], &mut [f64; N]),
    control: &Control,
    t: &mut f64,
    t1: f64,
    h: &mut f64,
    y: &mut [f64; N],
) {
    let mut k1 = [0.0; N];
    f(y, &mut k1);
    let span = t1 - *t;
    let mut h_try = *h;
    loop {
        let last = span >= 0.0 && h_try > span;
        if last {
            h_try = span;
        }
        let (y5, yerr, dydt) = try_step(f, y, &k1, h_try);
        let t_next = if last { t1 } else { *t + h_try };
        // A step that covered the whole interval [0, t1] in one go: the next interval, of the same length,
        // cuts any step of at least this one to t1, so how much it would grow changes nothing.
        let growth_matters = !(t_next == t1 && h_try >= t1);
        let next = match control.adjust(&y5, &yerr, &dydt, h_try, growth_matters) {
            Ok(next) => next,
            // A smaller step that still moves time: undo and retry.
            Err(smaller) if smaller < h_try && t_next + smaller != t_next => {
                h_try = smaller;
                continue;
            }
            Err(_) => h_try,
        };
        *y = y5;
        *t = t_next;
        *h = next;
        return;
    }
}

/// Integrates `y' = f(y)` over `[0, t1]` as NEST's neurons do within one time step: sub-steps from the
/// carried step `*h` until time reaches `t1`; `*h` is left for the next call.
pub fn integrate<const N: usize>(
    f: &impl Fn(&[f64; N], &mut [f64; N]),
    control: &Control,
    t1: f64,
    h: &mut f64,
    y: &mut [f64; N],
) {
    let mut t = 0.0;
    while t < t1 {
        evolve_apply(f, control, &mut t, t1, h, y);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn one_step_is_fehlbergs_fifth_order_with_the_fourth_order_difference_as_error() {
        let f = |y: &[f64; 1], d: &mut [f64; 1]| d[0] = -y[0];
        let (y5, yerr, dydt) = try_step(&f, &[1.0], &[-1.0], 0.1);
        // GSL 1.16's gsl_odeiv_step_rkf45 gives these bits for y' = -y, y(0) = 1, h = 0.1.
        assert_eq!(y5[0], 0.904_837_417_147_435_9);
        assert_eq!(yerr[0], 1.330_128_205_218_050_9e-8);
        assert_eq!(dydt[0], -y5[0]);
        assert!((y5[0] - (-0.1_f64).exp()).abs() < 1e-9, "fifth order: error ~h^6");
    }

    #[test]
    fn decay_is_integrated_to_the_requested_accuracy() {
        let f = |y: &[f64; 1], d: &mut [f64; 1]| d[0] = -y[0];
        // The global error stays near the per-sub-step tolerance: the fifth-order solution is carried on.
        for (eps, within) in [(1e-3, 1e-7), (1e-10, 1e-10)] {
            let control = Control::y(eps, 0.0);
            let (mut y, mut h) = ([1.0], 0.1);
            for _ in 0..50 {
                integrate(&f, &control, 0.1, &mut h, &mut y);
            }
            assert!((y[0] - (-5.0_f64).exp()).abs() < within, "eps {eps}: {} vs {}", y[0], (-5.0_f64).exp());
        }
    }

    #[test]
    fn the_sub_steps_are_gsls() {
        // GSL 1.16 (gsl_odeiv_evolve_apply, rkf45, control_y_new(1e-9, 0)) on y' = -y from y = 1 over three
        // intervals of 0.1 from h = 0.1: the first try is rejected, then two sub-steps per interval, the
        // second cut short at the interval's end. (t, h, y) after each sub-step, bit for bit.
        let expected = [
            (0.053_636_917_227_226_13, 0.053_636_917_227_226_13, 0.947_776_165_213_789_9),
            (0.1, 0.052_070_097_741_448_995, 0.904_837_418_007_093_8),
            (0.052_070_097_741_448_995, 0.053_480_424_449_116_35, 0.858_928_069_669_472_1),
            (0.1, 0.053_220_278_220_437_414, 0.818_730_753_027_070_3),
            (0.053_220_278_220_437_414, 0.054_573_766_620_230_03, 0.776_296_861_632_226_8),
            (0.1, 0.053_910_226_727_090_525, 0.740_818_220_612_402_3),
        ];
        let calls = Cell::new(0);
        let f = |y: &[f64; 1], d: &mut [f64; 1]| {
            calls.set(calls.get() + 1);
            d[0] = -y[0];
        };
        let control = Control::y(1e-9, 0.0);
        let (mut y, mut h) = ([1.0], 0.1);
        let mut got = Vec::new();
        for _ in 0..3 {
            let mut t = 0.0;
            while t < 0.1 {
                evolve_apply(&f, &control, &mut t, 0.1, &mut h, &mut y);
                got.push((t, h, y[0]));
            }
        }
        assert_eq!(got, expected);
        assert_eq!(calls.get(), 6 * 7 + 6, "7 evaluations per sub-step, 6 more for the rejected try");
    }

    #[test]
    fn the_control_scales_as_gsls_standard_control() {
        let c = Control::y(1.0, 0.0);
        let at = |e: f64| c.adjust(&[0.0], &[e], &[0.0], 1.0, true);
        assert_eq!(at(1.0), Ok(1.0));
        assert_eq!(at(1.1), Ok(1.0), "up to 10 % over is kept");
        assert_eq!(at(0.5), Ok(1.0));
        assert_eq!(at(2.0), Err(0.9 / 2.0_f64.powf(0.2)));
        assert_eq!(at(1e6), Err(0.2), "shrinks at most 5-fold");
        assert_eq!(at(0.1), Ok(0.9 / 0.1_f64.powf(1.0 / 6.0)));
        assert_eq!(at(0.0), Ok(5.0), "grows at most 5-fold");
        // Derivative-relative: D = 1 + 1 x h |y'| = 3 for h = 2, y' = -1; E = 3.4.
        let yp = Control::yp(1.0, 1.0);
        assert_eq!(yp.adjust(&[100.0], &[3.4], &[-1.0], 2.0, true), Err(2.0 * 0.9 / (3.4_f64 / 3.0).powf(0.2)));
    }
}
