//! Integer simulation time: steps of dt, and the one place where milliseconds become steps, by NEST's
//! two rules (delays round to the nearest step; times and intervals go through tics and round up).

use crate::CoreError;

/// A step index counted from 0. Step `s` covers model time (s*dt, (s+1)*dt]; a spike emitted in step `s`
/// carries the time stamp (s+1)*dt ms, as NEST stamps it.
pub type Step = u64;

/// NEST's default time base: a tic is 1 µs. Times become tics first (`Time::ms`), then steps.
pub const TICS_PER_MS: f64 = 1000.0;
/// Longest time in steps: step counts, stamps (exact in f64 below 2^53) and sums of two times never
/// overflow. About 3,000 years at 0.1 ms.
pub const MAX_STEPS: Step = 1_000_000_000_000_000;
/// The longest delay in steps (delays are stored as `u16`).
pub const MAX_DELAY_STEPS: u32 = u16::MAX as u32;

/// The time grid of a run: dt as a whole number of tics, with NEST's conversion factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolution {
    /// dt in ms as NEST holds it: tics per step / tics per ms.
    dt_ms: f64,
    tics_per_step: u64,
    /// 1 / dt, the factor NEST multiplies a delay by (`Range::STEPS_PER_MS`).
    steps_per_ms: f64,
}

/// How far dt may be off the tic grid (relative) and still count as a whole number of tics: what a
/// decimal parse leaves (0.1 x 1000 = 100.00000000000001).
const TIC_TOLERANCE: f64 = 1e-9;

impl Resolution {
    /// A grid of `dt_ms` milliseconds: finite, positive and a whole number of tics (0.001 ms), as NEST
    /// requires of its resolution.
    pub fn new(dt_ms: f64) -> Result<Self, CoreError> {
        if !(dt_ms.is_finite() && dt_ms > 0.0) {
            return Err(CoreError::invalid("dt_ms", format!("{dt_ms:?}"), "the time step must be finite and > 0"));
        }
        let tics = dt_ms * TICS_PER_MS;
        let whole = tics.round();
        if whole > MAX_STEPS as f64 {
            return Err(CoreError::invalid(
                "dt_ms",
                format!("{dt_ms:?}"),
                "the time step is too long for the step counter",
            ));
        }
        if whole < 1.0 || (tics - whole).abs() > TIC_TOLERANCE * whole {
            return Err(CoreError::invalid(
                "dt_ms",
                dt_ms,
                "the time step must be a whole number of microseconds (NEST's tic of 0.001 ms), e.g. 0.1, 0.025 or 20",
            ));
        }
        let dt_ms = whole / TICS_PER_MS;
        Ok(Self { dt_ms, tics_per_step: whole as u64, steps_per_ms: 1.0 / dt_ms })
    }

    /// The step length in milliseconds.
    #[must_use]
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }

    /// A delay in steps, by NEST's `Time::delay_ms_to_steps`: floor(ms x (1/dt) + 0.5), so a delay half a
    /// step off the grid rounds up (0.15 ms at dt 0.1 is 2 steps); at least one step.
    #[inline]
    pub fn delay_steps(&self, delay_ms: f64) -> Result<u32, CoreError> {
        let scaled = delay_ms * self.steps_per_ms;
        // Fast path (construction calls this per synapse): the cast truncates, which is floor for x >= 0.
        if (0.5..65_534.5).contains(&scaled) {
            return Ok((scaled + 0.5) as u32);
        }
        let steps = (scaled + 0.5).floor();
        if !steps.is_finite() || steps < 1.0 {
            return Err(CoreError::invalid(
                "delay_ms",
                format!("{delay_ms:?}"),
                &format!("a delay must round to at least one step of {} ms", self.dt_ms),
            ));
        }
        if steps > f64::from(MAX_DELAY_STEPS) {
            return Err(CoreError::invalid(
                "delay_ms",
                format!("{delay_ms:?}"),
                &format!(
                    "delays are limited to {MAX_DELAY_STEPS} steps ({} ms)",
                    self.limit_ms(MAX_DELAY_STEPS.into())
                ),
            ));
        }
        Ok(steps as u32)
    }

    /// A time in tics, by NEST's `Time::ms`: trunc(ms x 1000 + 0.5); it must be finite, >= 0 and no more
    /// than [`MAX_STEPS`] steps.
    fn tics(&self, name: &str, ms: f64) -> Result<u64, CoreError> {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(CoreError::invalid(name, format!("{ms:?}"), "a time must be finite and >= 0"));
        }
        let tics = (ms * TICS_PER_MS + 0.5).trunc();
        if tics / self.tics_per_step as f64 > MAX_STEPS as f64 {
            return Err(CoreError::invalid(
                name,
                format!("{ms:?}"),
                &format!(
                    "is too long for the step counter: at most {MAX_STEPS} steps ({} ms at dt = {} ms)",
                    self.limit_ms(MAX_STEPS),
                    self.dt_ms
                ),
            ));
        }
        Ok(tics as u64)
    }

    /// A length of simulated time (warm-up, analysed period, checkpoint period, stop time) in steps. As
    /// NEST's `Simulate`, it must be a whole number of steps (after conversion to tics), >= 0 and at most
    /// [`MAX_STEPS`].
    pub fn duration_steps(&self, name: &str, ms: f64) -> Result<Step, CoreError> {
        let tics = self.tics(name, ms)?;
        if tics % self.tics_per_step != 0 {
            return Err(CoreError::invalid(
                name,
                format!("{ms:?}"),
                &format!("must be a multiple of dt = {} ms", self.dt_ms),
            ));
        }
        Ok(tics / self.tics_per_step)
    }

    /// An interval such as a refractory period in steps, as NEST's `Time(Time::ms(t)).get_steps()`: the
    /// time in tics, rounded up to whole steps (t_ref = 0.12 ms at dt 0.1 lasts 2 steps, 0.1004 ms 1 step).
    pub fn interval_steps(&self, name: &str, ms: f64) -> Result<u32, CoreError> {
        let tics = self.tics(name, ms)?;
        let steps = tics.div_ceil(self.tics_per_step);
        u32::try_from(steps)
            .map_err(|_| CoreError::invalid(name, format!("{ms:?}"), &format!("is more than {} steps", u32::MAX)))
    }

    /// A spike time on the grid, in steps, as NEST's `allow_offgrid_times = true` places it: to the nearest
    /// tic, then up to the end of its step (1.0004 ms is 1.0 ms at dt 0.1, 1.03 ms is 1.1 ms).
    pub fn offgrid_steps(&self, name: &str, ms: f64) -> Result<Step, CoreError> {
        Ok(self.tics(name, ms)?.div_ceil(self.tics_per_step))
    }

    /// Model time in milliseconds at the end of step `s` (the stamp of a spike emitted in step `s`).
    #[must_use]
    pub fn stamp_ms(&self, s: Step) -> f64 {
        (s + 1) as f64 * self.dt_ms
    }

    /// The time `steps` whole steps after 0, in ms as NEST's `Time::get_ms` gives it (tics times ms per
    /// tic): where NEST computes with spike times (STDP), the same number, so results agree to the bit.
    #[must_use]
    pub fn tic_ms(&self, steps: Step) -> f64 {
        const MS_PER_TIC: f64 = 1.0 / TICS_PER_MS;
        MS_PER_TIC * (steps * self.tics_per_step) as f64
    }

    /// Milliseconds spanned by `steps` steps.
    #[must_use]
    pub fn steps_to_ms(&self, steps: Step) -> f64 {
        steps as f64 * self.dt_ms
    }

    /// `steps` in ms for messages (rounded to what a person reads).
    fn limit_ms(&self, steps: Step) -> String {
        format!("{:e}", self.steps_to_ms(steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_half_steps_up_as_nest_does() {
        let r = Resolution::new(0.1).unwrap();
        assert_eq!(r.delay_steps(1.5).unwrap(), 15);
        assert_eq!(r.delay_steps(0.05).unwrap(), 1);
        assert_eq!(r.delay_steps(0.149).unwrap(), 1);
        // 0.15 / 0.1 is 1.4999999999999998, but 0.15 x 10 is 1.5: NEST multiplies, so 2 steps.
        assert_eq!(r.delay_steps(0.15).unwrap(), 2);
        assert_eq!(r.delay_steps(6553.5).unwrap(), 65535);
        assert!(r.delay_steps(6553.6).is_err());
        assert!(r.delay_steps(0.04).is_err());
        assert!(r.delay_steps(f64::NAN).is_err());
        assert!(r.delay_steps(-1.0).is_err());
    }

    #[test]
    fn durations_must_lie_on_the_grid_and_fit_the_step_counter() {
        let r = Resolution::new(0.1).unwrap();
        assert_eq!(r.duration_steps("t", 500.0).unwrap(), 5000);
        assert_eq!(r.duration_steps("t", 0.0).unwrap(), 0);
        assert_eq!(r.duration_steps("t", 0.3).unwrap(), 3);
        assert!(r.duration_steps("t", 0.05).is_err());
        // 0.1004 ms is 100 tics: on the grid for NEST (Time::ms rounds to tics first).
        assert_eq!(r.duration_steps("t", 0.1004).unwrap(), 1);
        assert!(r.duration_steps("t", 0.1005).is_err());
        assert!(r.duration_steps("t", -1.0).is_err());
        let e = r.duration_steps("t_sim", 1e30).unwrap_err().to_string();
        assert!(e.contains("too long for the step counter") && e.contains("1e14 ms"), "{e}");
        assert_eq!(r.duration_steps("t", 1e14).unwrap(), MAX_STEPS);
        assert!(r.duration_steps("t", f64::INFINITY).is_err());
    }

    #[test]
    fn the_time_step_must_be_a_whole_number_of_tics() {
        assert!(Resolution::new(0.0).is_err());
        assert!(Resolution::new(-0.1).is_err());
        assert!(Resolution::new(f64::INFINITY).is_err());
        assert!(Resolution::new(0.0005).is_err());
        assert!(Resolution::new(0.0125).is_err());
        assert_eq!(Resolution::new(0.1).unwrap().dt_ms(), 0.1);
        assert_eq!(Resolution::new(0.025).unwrap().dt_ms(), 0.025);
        assert_eq!(Resolution::new(20.0).unwrap().dt_ms(), 20.0);
        assert_eq!(Resolution::new(0.001).unwrap().dt_ms(), 0.001);
    }

    #[test]
    fn intervals_go_through_tics_and_round_up_like_nest() {
        let r = Resolution::new(0.1).unwrap();
        assert_eq!(r.interval_steps("t_ref", 2.0).unwrap(), 20);
        assert_eq!(r.interval_steps("t_ref", 0.12).unwrap(), 2);
        assert_eq!(r.interval_steps("t_ref", 0.3).unwrap(), 3); // 0.3 / 0.1 = 2.9999999999999996
        assert_eq!(r.interval_steps("t_ref", 0.1004).unwrap(), 1); // 100 tics
        assert_eq!(r.interval_steps("t_ref", 0.1005).unwrap(), 2); // 101 tics
        assert_eq!(r.interval_steps("t_ref", 0.0).unwrap(), 0);
        assert!(r.interval_steps("t_ref", -0.1).is_err());
    }

    /// tests/data/nest_time_rules.csv: NEST 3.10's answers (scripts/nest_time_rules.py) for every half-step
    /// delay up to 20 ms at dt 0.1, 0.25 and 0.01, and for refractory periods on and just off the grid.
    #[test]
    fn delay_and_refractory_steps_equal_nest_3_10s() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/nest_time_rules.csv");
        let text = std::fs::read_to_string(path).unwrap();
        let (mut delays, mut refs) = (0, 0);
        let mut wrong = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let r = Resolution::new(f[1].parse().unwrap()).unwrap();
            let ms: f64 = f[2].parse().unwrap();
            let nest: u32 = f[3].parse().unwrap();
            let ours = match f[0] {
                "delay" => {
                    delays += 1;
                    r.delay_steps(ms).unwrap()
                }
                "t_ref" => {
                    refs += 1;
                    r.interval_steps("t_ref", ms).unwrap()
                }
                other => panic!("unknown rule {other}"),
            };
            if ours != nest {
                wrong.push(format!("{line}: cajal {ours}"));
            }
        }
        assert_eq!(delays, 200 + 80 + 2000);
        assert!(refs >= 3 * 20, "{refs}");
        assert!(wrong.is_empty(), "{} differ from NEST:\n{}", wrong.len(), wrong.join("\n"));
    }
}
