//! A run's schedule in steps: warm-up, analysed period, periodic checkpoints and `--stop-after`, and where
//! the run must pause next. One schedule for every model; all arithmetic in whole steps.

use cajal_core::{Resolution, Step};
use cajal_models::SimulationSettings;

use crate::error::AppError;

/// When a run pauses and stops, in steps from the start of the run (step 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub res: Resolution,
    /// First step of the analysed period (the warm-up is `0..presim`).
    pub presim: Step,
    /// The planned end.
    pub end: Step,
    /// Steps between periodic checkpoints.
    pub checkpoint_every: Option<Step>,
    /// `--stop-after`: checkpoint and stop at this step.
    pub stop_after: Option<Step>,
    /// Steps between pauses the model asks for (weight snapshots): the gcd of its periods.
    pub model_pause_every: Option<Step>,
}

/// Why the run pauses at a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pause {
    /// A checkpoint is due (periodic or `--stop-after`).
    pub checkpoint: bool,
    /// `--stop-after` was reached: stop once the checkpoint is written.
    pub stop: bool,
}

impl Schedule {
    /// The schedule of `sim` with optional checkpoint period and stop time (ms); each must lie on the grid.
    pub fn new(
        sim: &SimulationSettings,
        checkpoint_every_ms: Option<f64>,
        stop_after_ms: Option<f64>,
    ) -> Result<Self, AppError> {
        let res = Resolution::new(sim.dt_ms)?;
        let presim = res.duration_steps("t_presim_ms", sim.t_presim_ms)?;
        let end = presim + res.duration_steps("t_sim_ms", sim.t_sim_ms)?;
        let on_grid = |flag: &str, ms: Option<f64>| ms.map(|ms| res.duration_steps(flag, ms)).transpose();
        Ok(Self {
            res,
            presim,
            end,
            checkpoint_every: on_grid("--checkpoint-every", checkpoint_every_ms)?,
            stop_after: on_grid("--stop-after", stop_after_ms)?,
            model_pause_every: None,
        })
    }

    /// The same schedule, pausing also at every multiple of each of `periods` (steps, > 0).
    #[must_use]
    pub fn with_model_pauses(mut self, periods: &[Step]) -> Self {
        let gcd = |mut a: Step, mut b: Step| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        self.model_pause_every = periods.iter().copied().filter(|&p| p > 0).reduce(gcd);
        self
    }

    /// The next step after `now` at which the run must pause: the end of the warm-up, a checkpoint, the
    /// stop, or the end.
    #[must_use]
    pub fn next_pause(&self, now: Step) -> Step {
        let mut target = self.end;
        if now < self.presim {
            target = target.min(self.presim);
        }
        if let Some(s) = self.stop_after.filter(|&s| s > now) {
            target = target.min(s);
        }
        for every in [self.checkpoint_every, self.model_pause_every].into_iter().flatten().filter(|&e| e > 0) {
            target = target.min((now / every + 1) * every);
        }
        target
    }

    /// What is due at step `at` (reached at a pause). Nothing is due at the planned end: the run completes.
    #[must_use]
    pub fn due_at(&self, at: Step) -> Pause {
        if at >= self.end {
            return Pause::default();
        }
        let stop = self.stop_after == Some(at);
        let periodic = self.checkpoint_every.is_some_and(|e| e > 0 && at % e == 0);
        Pause { checkpoint: stop || periodic, stop }
    }

    /// Whether a chunk from `now` is still warm-up.
    #[must_use]
    pub fn in_warm_up(&self, now: Step) -> bool {
        now < self.presim
    }

    /// Model seconds of the analysed period from `from` (or from its start) to the end.
    #[must_use]
    pub fn analysed_seconds_from(&self, from: Step) -> f64 {
        self.res.steps_to_ms(self.end - from.max(self.presim).min(self.end)) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn model_pauses_fall_on_every_multiple_of_each_period() {
        let s = schedule(0.0, 10.0, None, None).with_model_pauses(&[40, 60]);
        let mut at = 0;
        let mut seen = Vec::new();
        while at < s.end {
            at = s.next_pause(at);
            seen.push(at);
        }
        assert_eq!(seen, vec![20, 40, 60, 80, 100]);
    }

    fn schedule(presim_ms: f64, sim_ms: f64, every: Option<f64>, stop: Option<f64>) -> Schedule {
        let sim = SimulationSettings { dt_ms: 0.1, t_presim_ms: presim_ms, t_sim_ms: sim_ms, seed: 1 };
        Schedule::new(&sim, every, stop).unwrap()
    }

    /// Every pause from step 0 to the end, as a run walks them.
    fn pauses(s: &Schedule, from: Step) -> Vec<(Step, Pause)> {
        let mut now = from;
        let mut out = Vec::new();
        while now < s.end {
            now = s.next_pause(now);
            out.push((now, s.due_at(now)));
            if s.due_at(now).stop {
                break;
            }
        }
        out
    }

    #[test]
    fn checkpoints_fall_on_every_multiple_of_the_period_and_not_at_the_end() {
        let s = schedule(10.0, 30.0, Some(15.0), None);
        assert_eq!((s.presim, s.end, s.checkpoint_every), (100, 400, Some(150)));
        let cp = Pause { checkpoint: true, stop: false };
        assert_eq!(pauses(&s, 0), vec![(100, Pause::default()), (150, cp), (300, cp), (400, Pause::default())]);
    }

    #[test]
    fn stop_after_checkpoints_and_stops_there() {
        let s = schedule(0.0, 30.0, Some(10.0), Some(25.0));
        let cp = Pause { checkpoint: true, stop: false };
        assert_eq!(pauses(&s, 0), vec![(100, cp), (200, cp), (250, Pause { checkpoint: true, stop: true })]);
        // At or after the end there is nothing to stop: the run completes.
        let late = schedule(0.0, 30.0, None, Some(30.0));
        assert_eq!(pauses(&late, 0), vec![(300, Pause::default())]);
    }

    #[test]
    fn a_resume_in_the_middle_of_a_period_pauses_at_the_next_multiple() {
        // Resumed at step 1234 (a spiking window need not divide the period): next checkpoint at 1500.
        let s = schedule(0.0, 200.0, Some(50.0), None);
        assert_eq!(s.next_pause(1234), 1500);
        assert_eq!(s.next_pause(1500), 2000);
        // Resumed inside the warm-up: the warm-up still ends on its step.
        let w = schedule(100.0, 100.0, Some(70.0), None);
        assert_eq!(pauses(&w, 50).first(), Some(&(700, Pause { checkpoint: true, stop: false })));
        assert_eq!(w.next_pause(750), 1000);
        assert!(w.in_warm_up(999) && !w.in_warm_up(1000));
    }

    #[test]
    fn the_analysed_time_counts_only_what_this_segment_simulates() {
        let s = schedule(100.0, 1000.0, None, None);
        assert!((s.analysed_seconds_from(0) - 1.0).abs() < 1e-12);
        assert!((s.analysed_seconds_from(6000) - 0.5).abs() < 1e-12);
        assert_eq!(s.analysed_seconds_from(20_000), 0.0);
    }

    #[test]
    fn times_off_the_grid_are_refused_with_the_flag() {
        let sim = SimulationSettings { dt_ms: 0.1, t_presim_ms: 0.0, t_sim_ms: 10.0, seed: 1 };
        let err = Schedule::new(&sim, Some(0.05), None).unwrap_err();
        assert!(err.to_string().contains("--checkpoint-every"), "{err}");
        let err = Schedule::new(&sim, None, Some(1e30)).unwrap_err();
        assert!(err.to_string().contains("--stop-after"), "{err}");
    }
}
