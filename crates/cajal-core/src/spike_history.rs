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

/// The archive of one neuron, in the layout-independent form checkpoints store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeuronHistory {
    pub k_minus: f64,
    /// Stamp of the last spike (0: none yet).
    pub last_spike: Step,
    pub entries: Vec<HistoryEntry>,
}

/// The spike archives of one thread's neurons (empty for neurons without plastic inputs).
#[derive(Clone, Debug)]
pub struct SpikeHistory {
    res: Resolution,
    /// Plastic synapses onto each neuron (NEST's `n_incoming_`).
    n_incoming: Vec<u32>,
    /// The longest dendritic delay of each neuron's plastic inputs (ms).
    max_delay_ms: Vec<f64>,
    tau_minus_inv: Vec<f64>,
    k_minus: Vec<f64>,
    last_spike: Vec<Step>,
    entries: Vec<VecDeque<HistoryEntry>>,
    /// The last K_minus value asked for per neuron, as (time, value): the synapses of every source that
    /// spiked in one step with one delay ask for the same time.
    cache: Vec<(f64, f64)>,
}

impl SpikeHistory {
    /// Archives for `n` neurons, none with plastic inputs yet, each with NEST's default tau_minus (20 ms).
    #[must_use]
    pub fn new(n: usize, res: Resolution) -> Self {
        Self {
            res,
            n_incoming: vec![0; n],
            max_delay_ms: vec![0.0; n],
            tau_minus_inv: vec![1.0 / 20.0; n],
            k_minus: vec![0.0; n],
            last_spike: vec![0; n],
            entries: vec![VecDeque::new(); n],
            cache: vec![(f64::NAN, 0.0); n],
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
        self.tau_minus_inv[i] = 1.0 / tau_minus_ms;
    }

    /// Counts a plastic input of neuron `i` with dendritic delay `delay_steps` (NEST's
    /// `register_stdp_connection` before any spike).
    pub fn register_input(&mut self, i: usize, delay_steps: u32) {
        self.n_incoming[i] += 1;
        self.max_delay_ms[i] = self.max_delay_ms[i].max(self.res.steps_to_ms(Step::from(delay_steps)));
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
        let history = &mut self.entries[i];
        while history.len() > 1 {
            let next_t = self.res.tic_ms(history[1].stamp);
            if history[0].access >= n_in && t - next_t > self.max_delay_ms[i] + STDP_EPS {
                history.pop_front();
            } else {
                break;
            }
        }
        let last = self.res.tic_ms(self.last_spike[i]);
        self.k_minus[i] = self.k_minus[i] * ((last - t) * self.tau_minus_inv[i]).exp() + 1.0;
        self.last_spike[i] = stamp;
        history.push_back(HistoryEntry { stamp, k_minus: self.k_minus[i], access: 0 });
        self.cache[i].0 = f64::NAN;
    }

    /// The entries of neuron `i` with a time in (t1, t2] (up to NEST's eps), which a plastic input reads
    /// for potentiation: their access counters go up by one. Returns their index range.
    pub fn read_range(&mut self, i: usize, t1: f64, t2: f64) -> std::ops::Range<usize> {
        let history = &mut self.entries[i];
        let (t1_lim, t2_lim) = (t1 + STDP_EPS, t2 + STDP_EPS);
        let mut finish = history.len();
        while finish > 0 && self.res.tic_ms(history[finish - 1].stamp) >= t2_lim {
            finish -= 1;
        }
        let mut start = finish;
        while start > 0 && self.res.tic_ms(history[start - 1].stamp) >= t1_lim {
            start -= 1;
            history[start].access += 1;
        }
        start..finish
    }

    /// The time (ms) of entry `k` of neuron `i`.
    #[inline]
    #[must_use]
    pub fn entry_ms(&self, i: usize, k: usize) -> f64 {
        self.res.tic_ms(self.entries[i][k].stamp)
    }

    /// K_minus of neuron `i` at time `t` (ms): the trace after its last spike strictly before `t` (by more
    /// than eps), decayed to `t`; 0 before any.
    #[inline]
    pub fn k_value(&mut self, i: usize, t: f64) -> f64 {
        let (at, value) = self.cache[i];
        if at == t {
            return value;
        }
        let value = self.entries[i]
            .iter()
            .rev()
            .find(|e| t - self.res.tic_ms(e.stamp) > STDP_EPS)
            .map_or(0.0, |e| e.k_minus * ((self.res.tic_ms(e.stamp) - t) * self.tau_minus_inv[i]).exp());
        self.cache[i] = (t, value);
        value
    }

    /// Neuron `i`'s archive, for a checkpoint.
    #[must_use]
    pub fn export(&self, i: usize) -> NeuronHistory {
        NeuronHistory {
            k_minus: self.k_minus[i],
            last_spike: self.last_spike[i],
            entries: self.entries[i].iter().copied().collect(),
        }
    }

    /// Restores neuron `i`'s archive from a checkpoint.
    pub fn import(&mut self, i: usize, h: &NeuronHistory) {
        self.k_minus[i] = h.k_minus;
        self.last_spike[i] = h.last_spike;
        self.entries[i] = h.entries.iter().copied().collect();
        self.cache[i].0 = f64::NAN;
    }

    /// Bytes held (archives at their current length).
    #[must_use]
    pub fn bytes(&self) -> usize {
        let per_neuron = 4 + 8 + 8 + 8 + 8 + 16 + std::mem::size_of::<VecDeque<HistoryEntry>>();
        let entries: usize = self.entries.iter().map(|e| e.capacity()).sum();
        self.len() * per_neuron + entries * std::mem::size_of::<HistoryEntry>()
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

    #[test]
    fn k_minus_sums_decayed_spikes_and_is_read_strictly_before_a_time() {
        let mut h = history();
        h.record_spike(0, 100); // 10 ms
        h.record_spike(0, 300); // 30 ms
        let k30 = (-20.0f64 / 20.0).exp() + 1.0;
        assert!((h.export(0).k_minus - k30).abs() < 1e-15);
        // At 30 ms exactly, the spike at 30 ms is not "before": the trace of the 10 ms spike.
        assert!((h.k_value(0, 30.0) - (-20.0f64 / 20.0).exp()).abs() < 1e-15);
        assert!((h.k_value(0, 40.0) - k30 * (-10.0f64 / 20.0).exp()).abs() < 1e-15);
        assert_eq!(h.k_value(0, 5.0), 0.0);
    }

    #[test]
    fn a_read_takes_the_half_open_interval_and_entries_go_once_every_input_read_them() {
        let mut h = history();
        for stamp in [100, 200, 300] {
            h.record_spike(0, stamp);
        }
        assert_eq!(h.read_range(0, 10.0, 30.0), 1..3); // (10, 30]
        assert_eq!(h.read_range(0, 0.0, 10.0), 0..1);
        assert_eq!(h.read_range(0, 0.0, 10.0), 0..1); // the entry at 10 ms is read by both inputs now
                                                      // 50 ms: the entry at 20 ms (next after the first) is 30 ms old, more than the 1 ms delay: drop.
        h.record_spike(0, 500);
        let stamps: Vec<Step> = h.export(0).entries.iter().map(|e| e.stamp).collect();
        assert_eq!(stamps, vec![200, 300, 500]);
    }
}
