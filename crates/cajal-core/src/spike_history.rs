//! The postsynaptic side of STDP, as NEST's archiving node keeps it: every neuron with plastic inputs
//! archives its own spikes with the value of its K_minus trace, plastic synapses read the archive lazily
//! when a presynaptic spike is delivered, and an entry is dropped once every plastic input has read it.

use std::collections::VecDeque;

use crate::stdp::STDP_EPS;
use crate::{Resolution, Step};

/// One archived spike of a postsynaptic neuron.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryEntry {
    /// The spike's stamp in steps (its time is `stamp` x dt; u64: no overflow in any run).
    pub stamp: Step,
    /// K_minus just after the spike.
    pub k_minus: f64,
    /// How many plastic inputs have read the entry.
    pub access: u32,
}

/// An archived spike as kept: its time in ms computed once (every plastic input compares it).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Archived {
    t_ms: f64,
    entry: HistoryEntry,
}

/// The archive of one neuron, in the layout-independent form checkpoints store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeuronHistory {
    pub k_minus: f64,
    /// Stamp of the last spike (0: none yet).
    pub last_spike: Step,
    pub entries: Vec<HistoryEntry>,
}

/// What a delivery reads of one neuron, together in memory: its archive, the decay of its trace and the
/// last K_minus asked for (time, value): the synapses of every source that spiked in one step with one
/// delay ask for the same time.
#[derive(Clone, Debug)]
struct Archive {
    entries: VecDeque<Archived>,
    /// The time of the newest entry (-inf: none), so that most reads need not touch the entries.
    newest_ms: f64,
    tau_minus_inv: f64,
    cached_at: f64,
    cached_k: f64,
}

/// The spike archives of one thread's neurons (empty for neurons without plastic inputs).
#[derive(Clone, Debug)]
pub struct SpikeHistory {
    res: Resolution,
    archives: Vec<Archive>,
    /// Plastic synapses onto each neuron (NEST's `n_incoming_`).
    n_incoming: Vec<u32>,
    /// The longest dendritic delay of each neuron's plastic inputs (ms).
    max_delay_ms: Vec<f64>,
    k_minus: Vec<f64>,
    last_spike: Vec<Step>,
}

impl SpikeHistory {
    /// Archives for `n` neurons, none with plastic inputs yet, each with NEST's default tau_minus (20 ms).
    #[must_use]
    pub fn new(n: usize, res: Resolution) -> Self {
        let empty = Archive {
            entries: VecDeque::new(),
            newest_ms: f64::NEG_INFINITY,
            tau_minus_inv: 1.0 / 20.0,
            cached_at: f64::NAN,
            cached_k: 0.0,
        };
        Self {
            res,
            archives: vec![empty; n],
            n_incoming: vec![0; n],
            max_delay_ms: vec![0.0; n],
            k_minus: vec![0.0; n],
            last_spike: vec![0; n],
        }
    }

    /// Number of neurons.
    #[must_use]
    pub fn len(&self) -> usize {
        self.n_incoming.len()
    }

    /// Whether it holds no neuron.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.n_incoming.is_empty()
    }

    /// Sets neuron `i`'s tau_minus (ms, > 0).
    pub fn set_tau_minus(&mut self, i: usize, tau_minus_ms: f64) {
        self.archives[i].tau_minus_inv = 1.0 / tau_minus_ms;
    }

    /// Counts a plastic input of neuron `i` with dendritic delay `delay_steps` (NEST's
    /// `register_stdp_connection` before any spike).
    pub fn register_input(&mut self, i: usize, delay_steps: u32) {
        self.n_incoming[i] += 1;
        self.max_delay_ms[i] = self.max_delay_ms[i].max(self.res.steps_to_ms(Step::from(delay_steps)));
    }

    /// Gives every neuron with plastic inputs room for `capacity` archived spikes, allocated in neuron order:
    /// deliveries walk a source's targets in ascending order, and archives that lie in that order in
    /// memory come from the cache sooner than ones scattered by growth.
    pub fn reserve(&mut self, capacity: usize) {
        for (archive, &n) in self.archives.iter_mut().zip(&self.n_incoming) {
            if n > 0 {
                archive.entries.reserve_exact(capacity);
            }
        }
    }

    /// Plastic inputs of neuron `i`.
    #[must_use]
    pub fn inputs(&self, i: usize) -> u32 {
        self.n_incoming[i]
    }

    /// Archives a spike of neuron `i` stamped `stamp` (if it has plastic inputs): first drops the oldest
    /// entries that every input has read, as long as a later entry is more than the longest delay older
    /// than this spike (a K_minus read still needs the entry before its time); then K_minus jumps by 1.
    pub fn record_spike(&mut self, i: usize, stamp: Step) {
        let n_in = self.n_incoming[i];
        if n_in == 0 {
            self.last_spike[i] = stamp;
            return;
        }
        let t = self.res.tic_ms(stamp);
        let archive = &mut self.archives[i];
        let history = &mut archive.entries;
        while history.len() > 1 {
            let next_t = history[1].t_ms;
            if history[0].entry.access >= n_in && t - next_t > self.max_delay_ms[i] + STDP_EPS {
                history.pop_front();
            } else {
                break;
            }
        }
        let last = self.res.tic_ms(self.last_spike[i]);
        self.k_minus[i] = self.k_minus[i] * ((last - t) * archive.tau_minus_inv).exp() + 1.0;
        self.last_spike[i] = stamp;
        history.push_back(Archived { t_ms: t, entry: HistoryEntry { stamp, k_minus: self.k_minus[i], access: 0 } });
        archive.newest_ms = t;
        archive.cached_at = f64::NAN;
    }

    /// What one plastic input of neuron `i` reads when its source's spike is delivered, NEST's way: calls
    /// `potentiate(t)` for every archived spike with a time t in (t1, t2] (up to eps), oldest first,
    /// counting the read; then returns K_minus at t2: the trace after the last spike strictly before t2
    /// (by more than eps), decayed to t2; 0 before any.
    #[inline]
    pub fn read(&mut self, i: usize, t1: f64, t2: f64, mut potentiate: impl FnMut(f64)) -> f64 {
        let archive = &mut self.archives[i];
        let (t1_lim, t2_lim) = (t1 + STDP_EPS, t2 + STDP_EPS);
        // Nothing archived since t1 (the common case): nothing to read; K_minus is usually cached.
        if archive.newest_ms < t1_lim && archive.cached_at == t2 {
            return archive.cached_k;
        }
        let history = &mut archive.entries;
        let mut finish = history.len();
        if archive.newest_ms >= t2_lim {
            for e in history.iter().rev() {
                if e.t_ms < t2_lim {
                    break;
                }
                finish -= 1;
            }
        }
        let mut start = finish;
        for e in history.range_mut(..finish).rev() {
            if e.t_ms < t1_lim {
                break;
            }
            e.entry.access += 1;
            start -= 1;
        }
        for e in history.range(start..finish) {
            potentiate(e.t_ms);
        }
        if archive.cached_at == t2 {
            return archive.cached_k;
        }
        let k = history
            .range(..finish)
            .rev()
            .find(|e| t2 - e.t_ms > STDP_EPS)
            .map_or(0.0, |e| e.entry.k_minus * ((e.t_ms - t2) * archive.tau_minus_inv).exp());
        archive.cached_at = t2;
        archive.cached_k = k;
        k
    }

    /// Neuron `i`'s archive, for a checkpoint.
    #[must_use]
    pub fn export(&self, i: usize) -> NeuronHistory {
        NeuronHistory {
            k_minus: self.k_minus[i],
            last_spike: self.last_spike[i],
            entries: self.archives[i].entries.iter().map(|a| a.entry).collect(),
        }
    }

    /// Restores neuron `i`'s archive from a checkpoint.
    pub fn import(&mut self, i: usize, h: &NeuronHistory) {
        self.k_minus[i] = h.k_minus;
        self.last_spike[i] = h.last_spike;
        let res = self.res;
        let archive = &mut self.archives[i];
        archive.entries = h.entries.iter().map(|&entry| Archived { t_ms: res.tic_ms(entry.stamp), entry }).collect();
        archive.newest_ms = archive.entries.back().map_or(f64::NEG_INFINITY, |e| e.t_ms);
        archive.cached_at = f64::NAN;
    }

    /// Bytes held (archives at their current length).
    #[must_use]
    pub fn bytes(&self) -> usize {
        let per_neuron = 4 + 8 + 8 + 8 + std::mem::size_of::<Archive>();
        let entries: usize = self.archives.iter().map(|a| a.entries.capacity()).sum();
        self.len() * per_neuron + entries * std::mem::size_of::<Archived>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn history() -> SpikeHistory {
        let res = Resolution::new(0.1).unwrap();
        let mut h = SpikeHistory::new(1, res);
        h.set_tau_minus(0, 20.0);
        h.register_input(0, 10);
        h.register_input(0, 10);
        h
    }

    /// K_minus at `t` (an empty read: nothing potentiated, nothing counted).
    fn k_at(h: &mut SpikeHistory, t: f64) -> f64 {
        h.read(0, t, t, |_| panic!("an empty range reads nothing"))
    }

    #[test]
    fn k_minus_sums_decayed_spikes_and_is_read_strictly_before_a_time() {
        let mut h = history();
        h.record_spike(0, 100); // 10 ms
        h.record_spike(0, 300); // 30 ms
        let k30 = (-20.0f64 / 20.0).exp() + 1.0;
        assert!((h.export(0).k_minus - k30).abs() < 1e-15);
        // At 30 ms exactly, the spike at 30 ms is not "before": the trace of the 10 ms spike.
        assert!((k_at(&mut h, 30.0) - (-20.0f64 / 20.0).exp()).abs() < 1e-15);
        assert!((k_at(&mut h, 40.0) - k30 * (-10.0f64 / 20.0).exp()).abs() < 1e-15);
        assert_eq!(k_at(&mut h, 5.0), 0.0);
    }

    #[test]
    fn a_read_takes_the_half_open_interval_and_entries_go_once_every_input_read_them() {
        let mut h = history();
        for stamp in [100, 200, 300] {
            h.record_spike(0, stamp);
        }
        let mut seen = Vec::new();
        h.read(0, 10.0, 30.0, |t| seen.push(t)); // (10, 30]
        assert_eq!(seen, vec![20.0, 30.0]);
        seen.clear();
        h.read(0, 0.0, 10.0, |t| seen.push(t));
        h.read(0, 0.0, 10.0, |t| seen.push(t)); // the entry at 10 ms is read by both inputs now
        assert_eq!(seen, vec![10.0, 10.0]);
        // 50 ms: the entry at 20 ms (next after the first) is 30 ms old, more than the 1 ms delay: drop.
        h.record_spike(0, 500);
        let stamps: Vec<Step> = h.export(0).entries.iter().map(|e| e.stamp).collect();
        assert_eq!(stamps, vec![200, 300, 500]);
    }
}
