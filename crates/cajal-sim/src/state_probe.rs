//! State recording on the engine's side, NEST's multimeter: each thread samples its own recorded neurons
//! after the steps whose stamp is a multiple of the interval, into a buffer of its own; after each window
//! the main thread takes every thread's rows, merges them into (step, gid) order and hands them to the observer
//! (which writes them), so memory holds one window of samples, never the trace.
//!
//! The value recorded at step s is the state after the update of step s, stamped (s + 1) x dt; it is
//! recorded when s + 1 is a multiple of the interval in steps (NEST: the multimeter's time stamps are
//! multiples of its interval, each the state at the end of the step that ends there).

use std::any::Any;
use std::ops::Range;

use cajal_core::neuron_model::ModelState;
use cajal_core::partition::{PopulationDynamics, StateProbe, ThreadPart};
use cajal_core::{Gid, Step};
use cajal_net::NetError;

use crate::SimError;

/// One multimeter as the engine runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct StateRecording {
    /// The recorded neurons: ascending, disjoint, half-open gid ranges (any rank's; each rank samples its
    /// own).
    pub gids: Vec<Range<Gid>>,
    /// Recordables in NEST's names; every recorded neuron's model must have them.
    pub variables: Vec<String>,
    /// Steps between samples (>= 1): the state after step s is recorded when s + 1 is a multiple of it.
    pub interval: Step,
}

impl StateRecording {
    fn contains(&self, gid: Gid) -> bool {
        let k = self.gids.partition_point(|r| r.end <= gid);
        self.gids.get(k).is_some_and(|r| r.contains(&gid))
    }
}

/// Rows of one recording: (gid, step) and `width` values each, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateSamples {
    /// Values per row (the recording's variables).
    pub width: usize,
    pub gids: Vec<Gid>,
    /// The step each row was sampled after (its stamp is (step + 1) x dt).
    pub steps: Vec<Step>,
    pub values: Vec<f64>,
}

impl StateSamples {
    /// No rows, `width` values per row.
    #[must_use]
    pub fn new(width: usize) -> Self {
        Self { width, ..Self::default() }
    }

    /// Rows held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.gids.len()
    }

    /// Whether no row is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.gids.is_empty()
    }

    /// The values of row `k`.
    #[must_use]
    pub fn row(&self, k: usize) -> &[f64] {
        &self.values[k * self.width..(k + 1) * self.width]
    }

    /// Drops every row, keeping the capacity.
    pub fn clear(&mut self) {
        self.gids.clear();
        self.steps.clear();
        self.values.clear();
    }

    /// Moves `other`'s rows to the end of these.
    pub fn append(&mut self, other: &mut Self) {
        self.gids.append(&mut other.gids);
        self.steps.append(&mut other.steps);
        self.values.append(&mut other.values);
    }

    /// Appends the rows of `runs`, each sorted by (step, gid), merged into (step, gid) order.
    pub fn merge_from(&mut self, runs: &[&StateSamples]) {
        use std::cmp::Reverse;
        let mut heads: std::collections::BinaryHeap<Reverse<(Step, Gid, usize)>> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(t, r)| Reverse((r.steps[0], r.gids[0], t)))
            .collect();
        let mut next = vec![0; runs.len()];
        while let Some(Reverse((step, gid, t))) = heads.pop() {
            let (run, k) = (runs[t], next[t]);
            self.gids.push(gid);
            self.steps.push(step);
            self.values.extend_from_slice(run.row(k));
            next[t] = k + 1;
            if k + 1 < run.len() {
                heads.push(Reverse((run.steps[k + 1], run.gids[k + 1], t)));
            }
        }
    }
}

/// A recorded neuron of a thread.
#[derive(Clone, Copy, Debug)]
struct Target {
    local: u32,
    class: u32,
    gid: Gid,
}

/// One recording on one thread.
#[derive(Debug)]
struct ProbeRecorder {
    interval: Step,
    /// The stamp (in steps: step + 1) of the next sample.
    next_stamp: Step,
    targets: Vec<Target>,
    /// Per dynamics class: the recording's variables as indices into that class's model's recordables.
    var_index: Vec<Vec<usize>>,
    samples: StateSamples,
}

/// A thread's multimeters: what [`ThreadPart::update`] calls after every step.
#[derive(Debug)]
pub struct ThreadProbe {
    /// The earliest next stamp of any recording: steps before it cost one comparison.
    next_stamp: Step,
    recorders: Vec<ProbeRecorder>,
}

/// The first stamp (step + 1) at or after step `from` that is a multiple of `interval`.
fn first_stamp(from: Step, interval: Step) -> Step {
    (from + 1).div_ceil(interval) * interval
}

impl ThreadProbe {
    /// The probe of `part` for `recordings`, sampling from step `from` on; None if none of the part's
    /// neurons is recorded. Refuses a variable that a recorded neuron's model does not have, listing the
    /// model's recordables.
    pub fn for_part(
        part: &ThreadPart,
        dynamics: &[PopulationDynamics],
        recordings: &[StateRecording],
        from: Step,
    ) -> Result<Option<Self>, SimError> {
        let mut recorders = Vec::with_capacity(recordings.len());
        let mut any = false;
        for rec in recordings {
            if rec.interval == 0 {
                return Err(SimError::Net(NetError::Invalid("a recording interval of 0 steps".into())));
            }
            let mut targets = Vec::new();
            let mut var_index: Vec<Vec<usize>> = vec![Vec::new(); dynamics.len()];
            for seg in part.segments() {
                for local in seg.local.clone() {
                    let gid = part.gid(local as u32);
                    if !rec.contains(gid) {
                        continue;
                    }
                    if var_index[seg.dynamics].is_empty() {
                        var_index[seg.dynamics] = variable_indices(&dynamics[seg.dynamics], &rec.variables, gid)?;
                    }
                    targets.push(Target { local: local as u32, class: seg.dynamics as u32, gid });
                }
            }
            any |= !targets.is_empty();
            recorders.push(ProbeRecorder {
                interval: rec.interval,
                next_stamp: first_stamp(from, rec.interval),
                targets,
                var_index,
                samples: StateSamples::new(rec.variables.len()),
            });
        }
        let next_stamp = recorders.iter().filter(|r| !r.targets.is_empty()).map(|r| r.next_stamp).min();
        Ok(any.then(|| Self { next_stamp: next_stamp.unwrap_or(Step::MAX), recorders }))
    }

    /// Moves the rows sampled so far into `into` (one entry per recording).
    pub fn drain_into(&mut self, into: &mut [StateSamples]) {
        for (r, out) in self.recorders.iter_mut().zip(into) {
            out.append(&mut r.samples);
        }
    }
}

/// `variables` as indices into the recordables of `class`'s model; an error lists what it has.
fn variable_indices(class: &PopulationDynamics, variables: &[String], gid: Gid) -> Result<Vec<usize>, SimError> {
    let model = class.neuron.model();
    let have = model.recordables();
    variables
        .iter()
        .map(|v| {
            have.iter().position(|h| h == v).ok_or_else(|| {
                SimError::Net(NetError::Invalid(format!(
                    "neuron {gid} ({}) has no recordable {v}; its recordables are: {}",
                    model.name(),
                    if have.is_empty() { "none".to_owned() } else { have.join(", ") }
                )))
            })
        })
        .collect()
}

impl StateProbe for ThreadProbe {
    fn after_step(&mut self, step: Step, states: &[Box<dyn ModelState>], dynamics: &[PopulationDynamics]) {
        let stamp = step + 1;
        if stamp < self.next_stamp {
            return;
        }
        let mut next = Step::MAX;
        for r in &mut self.recorders {
            if r.targets.is_empty() {
                continue;
            }
            if stamp >= r.next_stamp {
                if stamp % r.interval == 0 {
                    let s = &mut r.samples;
                    for t in &r.targets {
                        let class = &dynamics[t.class as usize];
                        let state = states[class.block].as_ref();
                        s.gids.push(t.gid);
                        s.steps.push(step);
                        for &v in &r.var_index[t.class as usize] {
                            s.values.push(class.neuron.recordable(state, v, t.local as usize));
                        }
                    }
                }
                r.next_stamp = (stamp / r.interval + 1) * r.interval;
            }
            next = next.min(r.next_stamp);
        }
        self.next_stamp = next;
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_the_multiples_of_the_interval_from_the_first_step_on() {
        assert_eq!(first_stamp(0, 1), 1);
        assert_eq!(first_stamp(0, 10), 10);
        assert_eq!(first_stamp(9, 10), 10, "step 9 ends at stamp 10");
        assert_eq!(first_stamp(10, 10), 20);
        assert_eq!(first_stamp(1000, 3), 1002);
    }

    #[test]
    fn sorted_runs_merge_in_order() {
        let run = |rows: &[(Gid, Step)]| {
            let mut s = StateSamples::new(1);
            for &(g, st) in rows {
                s.gids.push(g);
                s.steps.push(st);
                s.values.push(f64::from(g) + st as f64 / 10.0);
            }
            s
        };
        let (a, b, c) = (run(&[(0, 1), (2, 1), (0, 2)]), run(&[]), run(&[(1, 1), (3, 1), (1, 2), (5, 3)]));
        let mut merged = StateSamples::new(1);
        merged.merge_from(&[&a, &b, &c]);
        assert_eq!(merged.gids, vec![0, 1, 2, 3, 0, 1, 5]);
        assert_eq!(merged.steps, vec![1, 1, 1, 1, 2, 2, 3]);
        assert_eq!(merged.values, vec![0.1, 1.1, 2.1, 3.1, 0.2, 1.2, 5.3]);
    }

    #[test]
    fn membership_is_by_range() {
        let r = StateRecording { gids: vec![0..3, 10..11], variables: vec![], interval: 1 };
        assert!(r.contains(0) && r.contains(2) && r.contains(10));
        assert!(!r.contains(3) && !r.contains(9) && !r.contains(11));
    }
}
