//! The postsynaptic side of STDP, as NEST's archiving node keeps it: every neuron with plastic inputs
//! archives its own spikes with the value of its K_minus trace, plastic synapses read the archive lazily
//! when a presynaptic spike is delivered, and an entry is dropped once every plastic input has read it.

use crate::stdp_math::StepDecay;
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

/// A neuron's archived spikes, oldest first, in a ring of a power-of-two capacity (a `VecDeque` costs
/// more to walk from the back: its two slices).
#[derive(Clone, Debug, Default)]
struct Ring {
    slots: Box<[HistoryEntry]>,
    head: u32,
    len: u32,
}

impl Ring {
    fn len(&self) -> usize {
        self.len as usize
    }

    fn slot(&self, k: usize) -> usize {
        (self.head as usize + k) & (self.slots.len().wrapping_sub(1))
    }

    /// The k-th oldest entry (k < len).
    fn get(&self, k: usize) -> &HistoryEntry {
        &self.slots[self.slot(k)]
    }

    fn get_mut(&mut self, k: usize) -> &mut HistoryEntry {
        let s = self.slot(k);
        &mut self.slots[s]
    }

    /// Room for at least `capacity` entries (rounded up to a power of two), the entries kept in order.
    fn reserve(&mut self, capacity: usize) {
        let capacity = capacity.next_power_of_two();
        if capacity > self.slots.len() {
            let empty = HistoryEntry { stamp: 0, k_minus: 0.0, access: 0 };
            let mut slots = vec![empty; capacity].into_boxed_slice();
            for (k, slot) in slots.iter_mut().enumerate().take(self.len()) {
                *slot = *self.get(k);
            }
            *self = Self { slots, head: 0, len: self.len };
        }
    }

    fn push_back(&mut self, e: HistoryEntry) {
        if self.len() == self.slots.len() {
            self.reserve((2 * self.len()).max(4));
        }
        let s = self.slot(self.len());
        self.slots[s] = e;
        self.len += 1;
    }

    fn pop_front(&mut self) {
        #[allow(clippy::cast_possible_truncation)]
        let next = self.slot(1) as u32; // < capacity, a u32 like len
        self.head = next;
        self.len -= 1;
    }

    fn iter(&self) -> impl Iterator<Item = &HistoryEntry> {
        (0..self.len()).map(|k| self.get(k))
    }
}

/// What a delivery reads of one neuron, together in one cache line: its archive, and of its newest spike
/// the stamp, K_minus and read count (authoritative here; copied into the ring when a newer spike comes),
/// and the stamp of the spike before. Most reads need nothing else: either no spike of the target arrived
/// since the source's last spike, or only the newest one did.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct Archive {
    entries: Ring,
    /// The stamp of the newest entry (0: none).
    newest: Step,
    /// K_minus after the newest entry (0: none).
    newest_k: f64,
    /// The stamp of the entry before the newest (0: none).
    previous: Step,
    /// How many plastic inputs have read the newest entry.
    newest_access: u32,
    /// Index of the neuron's tau_minus in [`SpikeHistory::decays`].
    decay: u32,
}

/// The spike archives of one thread's neurons (empty for neurons without plastic inputs).
#[derive(Clone, Debug)]
pub struct SpikeHistory {
    res: Resolution,
    archives: Vec<Archive>,
    /// The decay of K_minus for each tau_minus of the thread's neurons (usually one).
    decays: Vec<StepDecay>,
    /// Plastic synapses onto each neuron (NEST's `n_incoming_`).
    n_incoming: Vec<u32>,
    /// The longest dendritic delay of each neuron's plastic inputs (steps).
    max_delay: Vec<Step>,
    k_minus: Vec<f64>,
    last_spike: Vec<Step>,
}

impl SpikeHistory {
    /// Archives for `n` neurons, none with plastic inputs yet, each with NEST's default tau_minus (20 ms).
    #[must_use]
    pub fn new(n: usize, res: Resolution) -> Self {
        let empty =
            Archive { entries: Ring::default(), newest: 0, newest_k: 0.0, previous: 0, newest_access: 0, decay: 0 };
        Self {
            res,
            archives: vec![empty; n],
            decays: vec![StepDecay::new(res.dt_ms(), 20.0)],
            n_incoming: vec![0; n],
            max_delay: vec![0; n],
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
        let found = self.decays.iter().position(|d| d.tau_ms().to_bits() == tau_minus_ms.to_bits());
        let index = found.unwrap_or_else(|| {
            self.decays.push(StepDecay::new(self.res.dt_ms(), tau_minus_ms));
            self.decays.len() - 1
        });
        #[allow(clippy::cast_possible_truncation)]
        let index = index as u32; // at most one per neuron
        self.archives[i].decay = index;
    }

    /// Counts a plastic input of neuron `i` with dendritic delay `delay_steps` (NEST's
    /// `register_stdp_connection` before any spike).
    pub fn register_input(&mut self, i: usize, delay_steps: u32) {
        self.n_incoming[i] += 1;
        self.max_delay[i] = self.max_delay[i].max(Step::from(delay_steps));
    }

    /// Gives every neuron with plastic inputs room for `capacity` archived spikes, allocated in neuron order:
    /// deliveries walk a source's targets in ascending order, and archives that lie in that order in
    /// memory come from the cache sooner than ones scattered by growth.
    pub fn reserve(&mut self, capacity: usize) {
        for (archive, &n) in self.archives.iter_mut().zip(&self.n_incoming) {
            if n > 0 {
                archive.entries.reserve(capacity);
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
        let archive = &mut self.archives[i];
        let history = &mut archive.entries;
        while history.len() > 1 {
            if history.get(0).access >= n_in && stamp - history.get(1).stamp > self.max_delay[i] {
                history.pop_front();
            } else {
                break;
            }
        }
        let decay = &self.decays[archive.decay as usize];
        self.k_minus[i] = self.k_minus[i] * decay.after(stamp - self.last_spike[i]) + 1.0;
        self.last_spike[i] = stamp;
        if let Some(last) = history.len().checked_sub(1) {
            history.get_mut(last).access = archive.newest_access;
        }
        history.push_back(HistoryEntry { stamp, k_minus: self.k_minus[i], access: 0 });
        archive.previous = archive.newest;
        archive.newest = stamp;
        archive.newest_k = self.k_minus[i];
        archive.newest_access = 0;
    }

    /// What one plastic input of neuron `i` (dendritic delay `delay` steps) reads when its source's spike
    /// stamped `t_spike` is delivered, the source's previous spike being stamped `t_last`: NEST reads the
    /// neuron's spikes in (t_last - d, t_spike - d] and K_minus just before t_spike - d (up to an eps of
    /// 1e-6 ms, which on the grid changes nothing). Calls `potentiate(stamp + delay)` for every archived
    /// spike in the interval, oldest first, counting the read; then returns K_minus at t_spike - d: the
    /// trace after the last spike strictly before it, decayed to it; 0 before any. Compared in steps.
    #[inline]
    pub fn read(
        &mut self,
        i: usize,
        t_last: Step,
        t_spike: Step,
        delay: Step,
        mut potentiate: impl FnMut(Step),
    ) -> f64 {
        let archive = &mut self.archives[i];
        let decay = &self.decays[archive.decay as usize];
        let arrival = archive.newest + delay;
        // No spike of the neuron arrived since t_last (about half the reads): nothing to potentiate, and
        // K_minus comes from the newest spike, which is before t_spike - d (0 if there is none).
        if arrival <= t_last.min(t_spike.saturating_sub(1)) {
            return archive.newest_k * decay.after(t_spike - arrival);
        }
        // Only the newest arrived since, and before t_spike: it potentiates and gives K_minus.
        if archive.previous + delay <= t_last && t_last < arrival && arrival < t_spike {
            potentiate(arrival);
            archive.newest_access += 1;
            return archive.newest_k * decay.after(t_spike - arrival);
        }
        let Archive { entries: history, newest_access, .. } = archive;
        let newest = history.len().wrapping_sub(1);
        let mut finish = history.len();
        while finish > 0 && history.get(finish - 1).stamp + delay > t_spike {
            finish -= 1;
        }
        let mut start = finish;
        while start > 0 && history.get(start - 1).stamp + delay > t_last {
            start -= 1;
            if start == newest {
                *newest_access += 1;
            } else {
                history.get_mut(start).access += 1;
            }
        }
        for k in start..finish {
            potentiate(history.get(k).stamp + delay);
        }
        let mut before = finish;
        while before > 0 && history.get(before - 1).stamp + delay >= t_spike {
            before -= 1;
        }
        if before == 0 {
            return 0.0;
        }
        let e = history.get(before - 1);
        e.k_minus * decay.after(t_spike - (e.stamp + delay))
    }

    /// Neuron `i`'s archive, for a checkpoint.
    #[must_use]
    pub fn export(&self, i: usize) -> NeuronHistory {
        let archive = &self.archives[i];
        let mut entries: Vec<HistoryEntry> = archive.entries.iter().copied().collect();
        if let Some(newest) = entries.last_mut() {
            newest.access = archive.newest_access;
        }
        NeuronHistory { k_minus: self.k_minus[i], last_spike: self.last_spike[i], entries }
    }

    /// Restores neuron `i`'s archive from a checkpoint.
    pub fn import(&mut self, i: usize, h: &NeuronHistory) {
        self.k_minus[i] = h.k_minus;
        self.last_spike[i] = h.last_spike;
        let archive = &mut self.archives[i];
        archive.entries = Ring::default();
        for &e in &h.entries {
            archive.entries.push_back(e);
        }
        let newest = h.entries.last();
        archive.newest = newest.map_or(0, |e| e.stamp);
        archive.newest_k = newest.map_or(0.0, |e| e.k_minus);
        archive.newest_access = newest.map_or(0, |e| e.access);
        archive.previous = h.entries.len().checked_sub(2).map_or(0, |k| h.entries[k].stamp);
    }

    /// Bytes held (archives at their current length).
    #[must_use]
    pub fn bytes(&self) -> usize {
        let per_neuron = 4 + 8 + 8 + 8 + std::mem::size_of::<Archive>();
        let entries: usize = self.archives.iter().map(|a| a.entries.slots.len()).sum();
        let decays: usize = self.decays.iter().map(StepDecay::bytes).sum();
        self.len() * per_neuron + entries * std::mem::size_of::<HistoryEntry>() + decays
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

    /// K_minus at step `t` (an empty read through an input of delay 10: nothing potentiated or counted).
    fn k_at(h: &mut SpikeHistory, t: Step) -> f64 {
        h.read(0, t + 10, t + 10, 10, |_| panic!("an empty range reads nothing"))
    }

    #[test]
    fn k_minus_sums_decayed_spikes_and_is_read_strictly_before_a_time() {
        let mut h = history();
        h.record_spike(0, 100); // 10 ms
        h.record_spike(0, 300); // 30 ms
        let k30 = (-20.0f64 / 20.0).exp() + 1.0;
        assert!((h.export(0).k_minus - k30).abs() < 1e-15);
        // At 30 ms exactly, the spike at 30 ms is not "before": the trace of the 10 ms spike.
        assert!((k_at(&mut h, 300) - (-20.0f64 / 20.0).exp()).abs() < 1e-15);
        assert!((k_at(&mut h, 400) - k30 * (-10.0f64 / 20.0).exp()).abs() < 1e-15);
        assert_eq!(k_at(&mut h, 50), 0.0);
    }

    #[test]
    fn a_read_takes_the_half_open_interval_and_entries_go_once_every_input_read_them() {
        let mut h = history();
        for stamp in [100, 200, 300] {
            h.record_spike(0, stamp);
        }
        let mut seen = Vec::new();
        // Pre spikes at 11 and 31 ms through a delay of 1 ms read (10, 30] ms; the callback gets stamp + d.
        h.read(0, 110, 310, 10, |t| seen.push(t));
        assert_eq!(seen, vec![210, 310]);
        seen.clear();
        h.read(0, 10, 110, 10, |t| seen.push(t));
        h.read(0, 10, 110, 10, |t| seen.push(t)); // the entry at 10 ms is read by both inputs now
        assert_eq!(seen, vec![110, 110]);
        // 50 ms: the entry at 20 ms (next after the first) is 30 ms old, more than the 1 ms delay: drop.
        h.record_spike(0, 500);
        let stamps: Vec<Step> = h.export(0).entries.iter().map(|e| e.stamp).collect();
        assert_eq!(stamps, vec![200, 300, 500]);
    }
}
