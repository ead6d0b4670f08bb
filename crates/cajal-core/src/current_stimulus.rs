//! Current generators bound to neurons (NEST's `dc_generator` and `step_current_generator`): each is a
//! piecewise-constant current as a function of the step, already shifted to when NEST's neurons feel it,
//! so a generator has no state and a resumed run continues it exactly.

use std::sync::Arc;

use crate::Step;

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
    use super::*;

    #[test]
    fn a_schedule_holds_each_amplitude_until_the_next_change() {
        let s = CurrentSchedule::new(vec![(30, 0.0), (10, 5.0), (20, -2.0)]);
        let at: Vec<f64> = [0, 9, 10, 19, 20, 29, 30, 100].iter().map(|&t| s.at(t)).collect();
        assert_eq!(at, [0.0, 0.0, 5.0, 5.0, -2.0, -2.0, 0.0, 0.0]);
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
