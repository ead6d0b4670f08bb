//! Integer simulation time: steps of dt, and the one place where milliseconds become steps.

use crate::CoreError;

/// A step index counted from 0. Step `s` covers model time (s*dt, (s+1)*dt]; a spike emitted in step `s`
/// carries the time stamp (s+1)*dt ms, as NEST stamps it.
pub type Step = u64;

/// The time grid of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolution {
    dt_ms: f64,
}

/// How far a duration may be off the grid (in steps) and still count as a whole number of steps.
const GRID_TOLERANCE: f64 = 1e-6;
/// Longest duration in steps (about 3,000 years at 0.1 ms): far beyond any run, far below overflow.
const MAX_DURATION_STEPS: f64 = 1e15;

impl Resolution {
    /// A grid of `dt_ms` milliseconds; it must be finite and positive.
    pub fn new(dt_ms: f64) -> Result<Self, CoreError> {
        if !(dt_ms.is_finite() && dt_ms > 0.0) {
            return Err(CoreError::invalid("dt_ms", dt_ms, "the time step must be finite and > 0"));
        }
        Ok(Self { dt_ms })
    }

    /// The step length in milliseconds.
    #[must_use]
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }

    /// A delay in steps: rounded to the nearest step (ties away from zero), and at least one step.
    #[inline]
    pub fn delay_steps(&self, delay_ms: f64) -> Result<u32, CoreError> {
        let exact = delay_ms / self.dt_ms;
        // Fast path for the common case (cast truncates, so +0.5 rounds half away from zero for x >= 0.5).
        if (0.5..65_535.0).contains(&exact) {
            return Ok((exact + 0.5) as u32);
        }
        let steps = exact.round();
        if !steps.is_finite() || steps < 1.0 {
            return Err(CoreError::invalid(
                "delay_ms",
                delay_ms,
                &format!("a delay must round to at least one step of {} ms", self.dt_ms),
            ));
        }
        if steps > f64::from(u16::MAX) {
            return Err(CoreError::invalid("delay_ms", delay_ms, "delays are limited to 65535 steps"));
        }
        Ok(steps as u32)
    }

    /// A duration (warm-up, simulated time) in whole steps; it must be >= 0, lie on the grid and stay
    /// below 10^15 steps (so that step counts never overflow).
    pub fn duration_steps(&self, name: &str, ms: f64) -> Result<Step, CoreError> {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(CoreError::invalid(name, ms, "a duration must be finite and >= 0"));
        }
        if ms / self.dt_ms > MAX_DURATION_STEPS {
            return Err(CoreError::invalid(name, ms, "is longer than 10^15 steps"));
        }
        let exact = ms / self.dt_ms;
        let steps = exact.round();
        if (exact - steps).abs() > GRID_TOLERANCE * steps.max(1.0) {
            return Err(CoreError::invalid(name, ms, &format!("must be a multiple of dt = {} ms", self.dt_ms)));
        }
        Ok(steps as Step)
    }

    /// A non-negative interval such as a refractory period in steps, rounded up as NEST's
    /// `Time::get_steps` does (0.12 ms on a 0.1 ms grid lasts 2 steps); values on the grid are exact.
    pub fn interval_steps(&self, name: &str, ms: f64) -> Result<u32, CoreError> {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(CoreError::invalid(name, ms, "must be finite and >= 0"));
        }
        let exact = ms / self.dt_ms;
        let steps =
            if (exact - exact.round()).abs() <= GRID_TOLERANCE * exact.max(1.0) { exact.round() } else { exact.ceil() };
        if steps > f64::from(u32::MAX) {
            return Err(CoreError::invalid(name, ms, "too many steps"));
        }
        Ok(steps as u32)
    }

    /// Model time in milliseconds at the end of step `s` (the stamp of a spike emitted in step `s`).
    #[must_use]
    pub fn stamp_ms(&self, s: Step) -> f64 {
        (s + 1) as f64 * self.dt_ms
    }

    /// Milliseconds spanned by `steps` steps.
    #[must_use]
    pub fn steps_to_ms(&self, steps: Step) -> f64 {
        steps as f64 * self.dt_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_to_the_nearest_step_and_never_below_one() {
        let r = Resolution::new(0.1).unwrap();
        assert_eq!(r.delay_steps(1.5).unwrap(), 15);
        assert_eq!(r.delay_steps(0.05).unwrap(), 1);
        assert_eq!(r.delay_steps(0.149).unwrap(), 1);
        assert_eq!(r.delay_steps(0.151).unwrap(), 2);
        assert!(r.delay_steps(0.04).is_err());
        assert!(r.delay_steps(f64::NAN).is_err());
    }

    #[test]
    fn durations_must_lie_on_the_grid() {
        let r = Resolution::new(0.1).unwrap();
        assert_eq!(r.duration_steps("t", 500.0).unwrap(), 5000);
        assert_eq!(r.duration_steps("t", 0.0).unwrap(), 0);
        assert!(r.duration_steps("t", 0.05).is_err());
        assert!(r.duration_steps("t", -1.0).is_err());
        assert!(Resolution::new(0.0).is_err());
        assert!(Resolution::new(-0.1).is_err());
        assert!(Resolution::new(f64::INFINITY).is_err());
        assert!(r.duration_steps("t", 1e20).is_err());
    }

    #[test]
    fn intervals_round_up_off_the_grid_like_nest() {
        let r = Resolution::new(0.1).unwrap();
        assert_eq!(r.interval_steps("t_ref", 2.0).unwrap(), 20);
        assert_eq!(r.interval_steps("t_ref", 0.12).unwrap(), 2);
        assert_eq!(r.interval_steps("t_ref", 0.3).unwrap(), 3); // 0.3 / 0.1 = 2.9999999999999996
        assert_eq!(r.interval_steps("t_ref", 0.0).unwrap(), 0);
    }
}
