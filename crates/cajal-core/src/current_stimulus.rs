//! Current generators bound to neurons (NEST's `dc_generator` and `step_current_generator`): each is a
//! piecewise-constant current as a function of the step, already shifted to when NEST's neurons feel it,
//! so a generator has no state and a resumed run continues it exactly.

use std::sync::Arc;

use crate::{CoreError, Resolution, Step};

/// What a current generator injects, as NEST's devices take it.
#[derive(Clone, Debug, PartialEq)]
pub enum CurrentWaveform {
    /// `dc_generator`: a constant `amplitude` (pA).
    Dc { amplitude: f64 },
    /// `step_current_generator`: `amplitude_values[k]` (pA) from `amplitude_times[k]` (ms, on the grid,
    /// strictly increasing) on.
    Steps { amplitude_times: Vec<f64>, amplitude_values: Vec<f64> },
}

/// A current generator's parameters: its waveform, NEST's window `start`, `stop` (ms; stop = +inf: none)
/// and the delay (ms) of its connections.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentGeneratorParams {
    pub waveform: CurrentWaveform,
    pub start: f64,
    pub stop: f64,
    pub delay: f64,
}

impl CurrentGeneratorParams {
    /// The current as its targets feel it on the grid `res`. NEST 3.10 (scripts/nest_devices.py): a
    /// generator is active in [start, stop) and its current, sent through a connection of delay d steps,
    /// enters the membrane one step after it arrives, so the target feels the amplitude set at step k in
    /// step k + d, within steps [max(start, 1 step) + d, stop + d).
    pub fn schedule(&self, res: &Resolution) -> Result<CurrentSchedule, CoreError> {
        let d = u64::from(res.delay_steps(self.delay)?);
        if !(self.start.is_finite() && self.start >= 0.0) {
            return Err(CoreError::invalid("start", self.start, "must be a finite time >= 0 (ms)"));
        }
        if self.stop.is_nan() || self.stop < self.start {
            return Err(CoreError::invalid("stop", self.stop, "must not be before start"));
        }
        let lo = res.duration_steps("start", self.start)?.max(1) + d;
        let hi =
            if self.stop.is_infinite() { Step::MAX } else { res.duration_steps("stop", self.stop)?.saturating_add(d) };
        let changes = self.changes(res)?;
        let amplitude_at = |k: Step| changes.iter().take_while(|c| c.0 <= k).last().map_or(0.0, |c| c.1);
        let mut out = Vec::new();
        if lo < hi {
            out.push((lo, amplitude_at(lo - d)));
            out.extend(changes.iter().map(|&(k, a)| (k + d, a)).filter(|&(e, _)| e > lo && e < hi));
            out.push((hi, 0.0));
        }
        Ok(CurrentSchedule::new(out))
    }

    /// The waveform's (step, amplitude) changes, checked.
    fn changes(&self, res: &Resolution) -> Result<Vec<(Step, f64)>, CoreError> {
        match &self.waveform {
            CurrentWaveform::Dc { amplitude } => {
                if !amplitude.is_finite() {
                    return Err(CoreError::invalid("amplitude", *amplitude, "must be finite (pA)"));
                }
                Ok(vec![(0, *amplitude)])
            }
            CurrentWaveform::Steps { amplitude_times, amplitude_values } => {
                if amplitude_times.len() != amplitude_values.len() {
                    let reason = format!("has {} entries for {} times", amplitude_values.len(), amplitude_times.len());
                    return Err(CoreError::invalid("amplitude_values", amplitude_values.len() as f64, &reason));
                }
                let mut out: Vec<(Step, f64)> = Vec::with_capacity(amplitude_times.len());
                for (&t, &a) in amplitude_times.iter().zip(amplitude_values) {
                    let k = res.duration_steps("amplitude_times", t)?;
                    if out.last().is_some_and(|last| last.0 >= k) {
                        return Err(CoreError::invalid("amplitude_times", t, "must be strictly increasing"));
                    }
                    if !a.is_finite() {
                        return Err(CoreError::invalid("amplitude_values", a, "must be finite (pA)"));
                    }
                    out.push((k, a));
                }
                Ok(out)
            }
        }
    }
}

/// A piecewise-constant current: `amplitudes[k]` (pA) is in effect from step `changes[k]` on, until the
/// next change; no current before the first. Steps are those of the neuron's update (delays included).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurrentSchedule {
    changes: Vec<Step>,
    amplitudes: Vec<f64>,
}

impl CurrentSchedule {
    /// The schedule of `(step, amplitude)` changes, sorted by step; a later change at the same step wins.
    #[must_use]
    pub fn new(mut changes: Vec<(Step, f64)>) -> Self {
        changes.sort_by_key(|c| c.0);
        let mut out = Self::default();
        for (step, amplitude) in changes {
            if out.changes.last() == Some(&step) {
                out.amplitudes.pop();
                out.changes.pop();
            }
            out.changes.push(step);
            out.amplitudes.push(amplitude);
        }
        out
    }

    /// The current (pA) in effect during step `step`.
    #[must_use]
    pub fn at(&self, step: Step) -> f64 {
        match self.changes.partition_point(|&c| c <= step) {
            0 => 0.0,
            k => self.amplitudes[k - 1],
        }
    }
}

/// The current generators of one thread's neurons and the current they inject in the step being updated.
#[derive(Clone, Debug, Default)]
pub struct ThreadCurrents {
    /// Each generator with the local indices of its targets on this thread; every neuron sums its
    /// generators in this (global) order, so the sums do not depend on the layout.
    sources: Vec<(Arc<CurrentSchedule>, Vec<u32>)>,
    current: Vec<f64>,
}

impl ThreadCurrents {
    /// Currents for a thread of `n_local` neurons from `sources` (in the network's generator order).
    #[must_use]
    pub fn new(n_local: usize, sources: Vec<(Arc<CurrentSchedule>, Vec<u32>)>) -> Self {
        Self { sources, current: vec![0.0; n_local] }
    }

    /// The current (pA) of every local neuron during step `step`.
    pub fn at(&mut self, step: Step) -> &[f64] {
        self.current.fill(0.0);
        for (schedule, targets) in &self.sources {
            let amplitude = schedule.at(step);
            if amplitude != 0.0 {
                for &i in targets {
                    self.current[i as usize] += amplitude;
                }
            }
        }
        &self.current
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_schedule_holds_each_amplitude_until_the_next_change() {
        let s = CurrentSchedule::new(vec![(30, 0.0), (10, 5.0), (20, -2.0)]);
        let at: Vec<f64> = [0, 9, 10, 19, 20, 29, 30, 100].iter().map(|&t| s.at(t)).collect();
        assert_eq!(at, [0.0, 0.0, 5.0, 5.0, -2.0, -2.0, 0.0, 0.0]);
    }

    fn felt(p: &CurrentGeneratorParams, steps: Step) -> Vec<(Step, f64)> {
        let s = p.schedule(&Resolution::new(0.1).unwrap()).unwrap();
        (0..steps).map(|k| (k, s.at(k))).filter(|x| x.1 != 0.0).collect()
    }

    #[test]
    fn dc_windows_shift_as_in_nest() {
        // NEST 3.10: start 1, stop 2, delay 0.5 ms: felt in the steps stamped 1.6 .. 2.5 ms (steps 15..=24);
        // start 0, stop 0.5, delay 0.3 ms: steps 4..=7.
        let dc = |start, stop, delay| CurrentGeneratorParams {
            waveform: CurrentWaveform::Dc { amplitude: 1.0 },
            start,
            stop,
            delay,
        };
        assert_eq!(felt(&dc(1.0, 2.0, 0.5), 40), (15..25).map(|k| (k, 1.0)).collect::<Vec<_>>());
        assert_eq!(felt(&dc(0.0, 0.5, 0.3), 40), (4..8).map(|k| (k, 1.0)).collect::<Vec<_>>());
    }

    #[test]
    fn step_currents_switch_at_their_time_plus_the_delay_within_the_window() {
        // NEST 3.10: times 0.5, 1, 2 ms -> 1, 2, 3 pA, start 0.8, stop 1.5, delay 0.2: 1 pA in the steps
        // stamped 1.1, 1.2 ms, 2 pA in 1.3 .. 1.7 ms.
        let p = CurrentGeneratorParams {
            waveform: CurrentWaveform::Steps {
                amplitude_times: vec![0.5, 1.0, 2.0],
                amplitude_values: vec![1.0, 2.0, 3.0],
            },
            start: 0.8,
            stop: 1.5,
            delay: 0.2,
        };
        let want: Vec<(Step, f64)> = vec![(10, 1.0), (11, 1.0), (12, 2.0), (13, 2.0), (14, 2.0), (15, 2.0), (16, 2.0)];
        assert_eq!(felt(&p, 40), want);
        let bad = CurrentGeneratorParams {
            waveform: CurrentWaveform::Steps { amplitude_times: vec![1.0, 1.0], amplitude_values: vec![1.0, 2.0] },
            ..p
        };
        assert!(bad.schedule(&Resolution::new(0.1).unwrap()).unwrap_err().to_string().contains("increasing"));
    }

    #[test]
    fn generators_on_one_neuron_add_up() {
        let a = Arc::new(CurrentSchedule::new(vec![(1, 2.0)]));
        let b = Arc::new(CurrentSchedule::new(vec![(2, 3.0), (4, 0.0)]));
        let mut t = ThreadCurrents::new(3, vec![(a, vec![0, 2]), (b, vec![2])]);
        assert_eq!(t.at(0), [0.0, 0.0, 0.0]);
        assert_eq!(t.at(2), [2.0, 0.0, 5.0]);
        assert_eq!(t.at(4), [2.0, 0.0, 2.0]);
    }
}
