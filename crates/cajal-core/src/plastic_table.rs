//! The plastic synapses of one thread's targets for one plastic class (a projection with its STDP rule):
//! the same source-major rows as static synapses, 12 bytes per synapse (target channel and an f64
//! weight), and the presynaptic trace (K_plus, last spike) once per source, since it depends only on the
//! source's spikes and the class's tau_plus. Weights change when a spike is delivered, NEST's way.

use crate::ring_buffer::RingBuffer;
use crate::spike_history::SpikeHistory;
use crate::stdp::{Potentiation, StdpRule};
use crate::stdp_math::StepDecay;
use crate::synapse_table::SynapseRows;
use crate::{Gid, Resolution, Step};

/// Synapses per chunk of a delivery: its scratch stays in L1.
const CHUNK: usize = 256;
/// Potentiation rounds kept apart; a synapse's later ones run one after the other.
const ROUNDS: usize = 3;

/// Working memory of [`PlasticTable::deliver`], kept by the thread so that no delivery allocates.
#[derive(Clone, Debug, Default)]
pub struct DeliveryScratch {
    weights: Vec<f64>,
    k_minus: Vec<f64>,
    /// The first, second and third potentiation of each synapse of the chunk that has them.
    rounds: [Vec<Potentiation>; ROUNDS],
    /// Every later one, in order.
    later: Vec<Potentiation>,
}

impl DeliveryScratch {
    fn clear(&mut self) {
        self.weights.clear();
        self.k_minus.clear();
        self.rounds.iter_mut().for_each(Vec::clear);
        self.later.clear();
    }
}

/// One plastic synapse: the ring-buffer channel of its target (`2 i`, or `2 i + 1` for a negative
/// rule) and its weight. Packed to 12 bytes: x86 reads an f64 at a 4-byte boundary at full speed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, packed(4))]
pub struct PlasticSynapse {
    pub channel: u32,
    pub weight: f64,
}

/// The presynaptic trace of one source: K_plus after its last spike and that spike's stamp (0: none,
/// NEST's `t_lastspike_ = 0`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SourceTrace {
    pub k_plus: f64,
    pub t_last: Step,
}

/// One thread's synapses of one plastic class.
#[derive(Clone, Debug)]
pub struct PlasticTable {
    rule: StdpRule,
    rows: SynapseRows<PlasticSynapse>,
    /// Per delay group; the trace of a source lives at its first group.
    traces: Vec<SourceTrace>,
    /// The decay of K_plus over whole steps.
    plus_decay: StepDecay,
}

impl PlasticTable {
    /// A table of `rows` following `rule` on the grid of `res`, every source's trace at 0.
    #[must_use]
    pub fn new(rule: StdpRule, rows: SynapseRows<PlasticSynapse>, res: &Resolution) -> Self {
        let traces = vec![SourceTrace::default(); rows.num_groups()];
        let plus_decay = StepDecay::new(res.dt_ms(), rule.tau_plus());
        Self { rule, rows, traces, plus_decay }
    }

    /// The rule.
    #[must_use]
    pub fn rule(&self) -> &StdpRule {
        &self.rule
    }

    /// The rows.
    #[must_use]
    pub fn rows(&self) -> &SynapseRows<PlasticSynapse> {
        &self.rows
    }

    /// The rows, to restore weights.
    pub fn rows_mut(&mut self) -> &mut SynapseRows<PlasticSynapse> {
        &mut self.rows
    }

    /// Number of synapses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table holds no synapse.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of the synapses, and of the index with the traces.
    #[must_use]
    pub fn bytes(&self) -> (usize, usize) {
        (self.rows.synapse_bytes(), self.rows.index_bytes() + self.traces.len() * std::mem::size_of::<SourceTrace>())
    }

    /// The trace of `source` (None: no synapse of it here).
    #[must_use]
    pub fn trace(&self, source: Gid) -> Option<SourceTrace> {
        let g = self.rows.groups_of(source);
        (!g.is_empty()).then(|| self.traces[g.start])
    }

    /// Sets the trace of `source`; false if it has no synapse here.
    pub fn set_trace(&mut self, source: Gid, trace: SourceTrace) -> bool {
        let g = self.rows.groups_of(source);
        if g.is_empty() {
            return false;
        }
        self.traces[g.start] = trace;
        true
    }

    /// Delivers a spike of `source` emitted in step `emitted` through every synapse of it, NEST's way:
    /// each synapse (dendritic delay d) is potentiated for every spike of its target in
    /// (t_last - d, t_spike - d], then depressed by the target's K_minus at t_spike - d, then adds its new
    /// weight to the ring buffer at `emitted + d`; then the source's trace takes the spike. Returns the
    /// number of synapses (synaptic events).
    ///
    /// In three passes over chunks of [`CHUNK`] synapses, which give the same arithmetic per synapse as one
    /// pass: the archive reads (branchy, memory-bound) collect K_minus and the potentiations; the
    /// potentiations run round by round (every synapse's first, then every second ...: distinct synapses
    /// in a round, so they run side by side); then depression and the ring buffer.
    pub fn deliver(
        &mut self,
        source: Gid,
        emitted: Step,
        ring: &mut RingBuffer,
        history: &mut SpikeHistory,
        scratch: &mut DeliveryScratch,
    ) -> u64 {
        let groups = self.rows.groups_of(source);
        if groups.is_empty() {
            return 0;
        }
        let rule = self.rule;
        let plus_decay = &self.plus_decay;
        let trace = self.traces[groups.start];
        // Stamps: the spike's time is `t_spike` x dt; every time STDP compares is on the grid.
        let (t_spike, t_last) = (emitted + 1, trace.t_last);
        let mut events = 0;
        for g in groups.clone() {
            let delay = Step::from(self.rows.group_delay(g));
            let row = ring.row_mut(emitted + delay);
            let synapses = self.rows.group_mut(g);
            events += synapses.len() as u64;
            for chunk in synapses.chunks_mut(CHUNK) {
                scratch.clear();
                for (j, syn) in chunk.iter().enumerate() {
                    let mut n = 0;
                    // A target spike that arrives (stamp + d) after the previous pre spike potentiates
                    // with K_plus decayed over the gap.
                    let k_minus = history.read((syn.channel / 2) as usize, t_last, t_spike, delay, |arrival| {
                        #[allow(clippy::cast_possible_truncation)]
                        let p = Potentiation {
                            synapse: j as u32,
                            k_plus: trace.k_plus * plus_decay.after(arrival - t_last),
                        };
                        scratch.rounds.get_mut(n).unwrap_or(&mut scratch.later).push(p);
                        n += 1;
                    });
                    scratch.k_minus.push(k_minus);
                    scratch.weights.push(syn.weight);
                }
                for round in &scratch.rounds {
                    rule.facilitate_distinct(&mut scratch.weights, round);
                }
                for p in &scratch.later {
                    let w = &mut scratch.weights[p.synapse as usize];
                    *w = rule.facilitate(*w, p.k_plus);
                }
                for ((syn, &w), &k_minus) in chunk.iter_mut().zip(&scratch.weights).zip(&scratch.k_minus) {
                    let w = rule.depress(w, k_minus);
                    row[syn.channel as usize] += w as f32;
                    syn.weight = w;
                }
            }
        }
        self.traces[groups.start] =
            SourceTrace { k_plus: trace.k_plus * plus_decay.after(t_spike - t_last) + 1.0, t_last: t_spike };
        events
    }
}

/// The plastic synapses of one thread (one table per plastic class present) and the spike archives of its
/// neurons.
#[derive(Clone, Debug)]
pub struct PlasticPart {
    /// Indexed by plastic class (a class without synapses here has an empty table).
    tables: Vec<PlasticTable>,
    history: SpikeHistory,
    scratch: DeliveryScratch,
}

impl PlasticPart {
    /// The plastic part of a thread: `tables` by class, `history` with every plastic input registered.
    #[must_use]
    pub fn new(tables: Vec<PlasticTable>, history: SpikeHistory) -> Self {
        Self { tables, history, scratch: DeliveryScratch::default() }
    }

    /// The tables, by plastic class.
    #[must_use]
    pub fn tables(&self) -> &[PlasticTable] {
        &self.tables
    }

    /// The tables, to restore traces.
    pub fn tables_mut(&mut self) -> &mut [PlasticTable] {
        &mut self.tables
    }

    /// The spike archives.
    #[must_use]
    pub fn history(&self) -> &SpikeHistory {
        &self.history
    }

    /// The spike archives, to restore them.
    pub fn history_mut(&mut self) -> &mut SpikeHistory {
        &mut self.history
    }

    /// Number of plastic synapses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tables.iter().map(PlasticTable::len).sum()
    }

    /// Whether the part has no plastic synapse.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the plastic synapses, and of everything else (index, traces, archives).
    #[must_use]
    pub fn bytes(&self) -> (usize, usize) {
        self.tables.iter().map(PlasticTable::bytes).fold((0, self.history.bytes()), |(s, o), (a, b)| (s + a, o + b))
    }

    /// The smallest delay (steps) of any plastic synapse.
    #[must_use]
    pub fn min_delay(&self) -> Option<u32> {
        self.tables.iter().filter_map(|t| t.rows().delay_range()).map(|(lo, _)| lo).min()
    }

    /// The longest delay (steps) of any plastic synapse.
    #[must_use]
    pub fn max_delay(&self) -> Option<u32> {
        self.tables.iter().filter_map(|t| t.rows().delay_range()).map(|(_, hi)| hi).max()
    }

    /// Delivers a spike of `source` emitted in step `emitted` through its plastic synapses of every class.
    #[inline]
    pub fn deliver(&mut self, source: Gid, emitted: Step, ring: &mut RingBuffer) -> u64 {
        let mut events = 0;
        for table in &mut self.tables {
            events += table.deliver(source, emitted, ring, &mut self.history, &mut self.scratch);
        }
        events
    }

    /// Archives the spikes of local neurons `fired`, emitted in step `step`.
    #[inline]
    pub fn record_spikes(&mut self, fired: &[u32], step: Step) {
        for &i in fired {
            self.history.record_spike(i as usize, step + 1);
        }
    }

    /// Calls `f(class, source, local target, delay, weight)` for every plastic synapse, in storage order:
    /// classes, sources ascending, delays ascending, targets ascending, multapses in generation order. A
    /// target's synapses come in the order (class, source, delay, occurrence), whatever the layout.
    pub fn for_each_synapse(&self, mut f: impl FnMut(usize, Gid, u32, u32, f64)) {
        for (class, table) in self.tables.iter().enumerate() {
            let rows = table.rows();
            for (source, g) in rows.source_group_pairs() {
                let delay = rows.group_delay(g);
                for syn in rows.group(g) {
                    f(class, source, syn.channel / 2, delay, syn.weight);
                }
            }
        }
    }

    /// Every weight by target: counts per local neuron (of `n` neurons) and the weights, neuron after
    /// neuron, each neuron's in the layout-independent order of [`PlasticPart::for_each_synapse`].
    #[must_use]
    pub fn weights_by_target(&self, n: usize) -> (Vec<u32>, Vec<f64>) {
        let counts: Vec<u32> = (0..n).map(|i| self.history.inputs(i)).collect();
        let mut cursor = offsets(&counts);
        let mut weights = vec![0.0; cursor.last().copied().unwrap_or(0)];
        cursor.pop();
        self.for_each_synapse(|_, _, i, _, w| {
            weights[cursor[i as usize]] = w;
            cursor[i as usize] += 1;
        });
        (counts, weights)
    }

    /// Sets every weight from [`PlasticPart::weights_by_target`]'s form. Fails (naming the local neuron)
    /// if a neuron's count differs from its plastic inputs here.
    pub fn set_weights_by_target(&mut self, counts: &[u32], weights: &[f64]) -> Result<(), String> {
        let n = self.history.len();
        if counts.len() != n {
            return Err(format!("weights for {} neurons, not {n}", counts.len()));
        }
        if let Some(i) = (0..n).find(|&i| counts[i] != self.history.inputs(i)) {
            return Err(format!(
                "local neuron {i} has {} plastic inputs, the checkpoint {}",
                self.history.inputs(i),
                counts[i]
            ));
        }
        let mut cursor = offsets(counts);
        if cursor.last().copied() != Some(weights.len()) {
            return Err(format!("{} weights for {} synapses", weights.len(), cursor.last().copied().unwrap_or(0)));
        }
        cursor.pop();
        for table in &mut self.tables {
            let rows = table.rows_mut();
            for g in 0..rows.num_groups() {
                for syn in rows.group_mut(g) {
                    let i = (syn.channel / 2) as usize;
                    syn.weight = weights[cursor[i]];
                    cursor[i] += 1;
                }
            }
        }
        Ok(())
    }
}

/// Prefix sums of `counts`, with the total last.
fn offsets(counts: &[u32]) -> Vec<usize> {
    let mut out = Vec::with_capacity(counts.len() + 1);
    let mut total = 0usize;
    for &c in counts {
        out.push(total);
        total += c as usize;
    }
    out.push(total);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::stdp::{StdpParams, StdpPlParams};
    use crate::synapse_table::TableCounter;

    const D: u32 = 10; // 1 ms at dt 0.1

    /// One synapse from source 0 onto local neuron 0 (dendritic delay D), with its archive.
    fn pair(rule: StdpRule, w0: f64, tau_minus: f64) -> (PlasticTable, SpikeHistory, RingBuffer) {
        let res = Resolution::new(0.1).unwrap();
        let mut counter = TableCounter::new(1);
        counter.count(0);
        let mut filler = counter.finish::<PlasticSynapse>().unwrap();
        filler.place(0, 0, D, PlasticSynapse { channel: 0, weight: w0 }).unwrap();
        let mut history = SpikeHistory::new(1, res);
        history.set_tau_minus(0, tau_minus);
        history.register_input(0, D);
        (PlasticTable::new(rule, filler.finish().unwrap(), &res), history, RingBuffer::new(1, D))
    }

    fn weight(t: &PlasticTable) -> f64 {
        t.rows().group(0)[0].weight
    }

    #[test]
    fn potentiation_alone_follows_the_closed_form() {
        let (lambda, mu, tau) = (0.1, 0.4, 15.0);
        let rule = StdpRule::power_law(StdpPlParams { tau_plus: tau, lambda, alpha: 0.0, mu }).unwrap();
        let (mut t, mut h, mut ring) = pair(rule, 40.0, 30.0);
        t.deliver(0, 99, &mut ring, &mut h, &mut DeliveryScratch::default()); // pre at 10 ms: nothing to read, K+ = 1
        assert_eq!(weight(&t), 40.0);
        h.record_spike(0, 150); // post at 15 and 22 ms
        h.record_spike(0, 220);
        t.deliver(0, 399, &mut ring, &mut h, &mut DeliveryScratch::default()); // pre at 40 ms: both post spikes in (9, 39]
        let w1 = 40.0 + lambda * 40f64.powf(mu) * (-(15.0 + 1.0 - 10.0) / tau).exp();
        let w2 = w1 + lambda * w1.powf(mu) * (-(22.0 + 1.0 - 10.0) / tau).exp();
        assert!((weight(&t) - w2).abs() < 1e-12 * w2, "{} vs {w2}", weight(&t));
        assert_eq!(ring.row(399 + u64::from(D))[0], w2 as f32, "the spike carries the new weight");
        assert!((t.trace(0).unwrap().k_plus - ((-30.0 / tau).exp() + 1.0)).abs() < 1e-15);
        assert_eq!(t.trace(0).unwrap().t_last, 400);
    }

    #[test]
    fn depression_alone_follows_the_closed_form() {
        let (lambda, alpha, tau_minus) = (0.1, 0.5, 25.0);
        let rule = StdpRule::power_law(StdpPlParams { tau_plus: 15.0, lambda, alpha, mu: 0.4 }).unwrap();
        let (mut t, mut h, mut ring) = pair(rule, 40.0, tau_minus);
        h.record_spike(0, 50); // post at 5 and 8 ms
        h.record_spike(0, 80);
        // The first pre spike (at 20 ms) reads both post spikes with K+ = 0: no potentiation; K- at 19 ms.
        t.deliver(0, 199, &mut ring, &mut h, &mut DeliveryScratch::default());
        let k_minus = ((-3.0 / tau_minus).exp() + 1.0) * (-(19.0 - 8.0) / tau_minus).exp();
        let w1 = 40.0 - lambda * alpha * 40.0 * k_minus;
        assert!((weight(&t) - w1).abs() < 1e-12 * w1, "{} vs {w1}", weight(&t));
        // A post spike exactly at t_spike - d (29 ms) potentiates, but is not "before" it for K-, which
        // comes from the spike at 8 ms.
        h.record_spike(0, 290);
        t.deliver(0, 299, &mut ring, &mut h, &mut DeliveryScratch::default());
        let k_plus = 1.0 * (-(29.0 + 1.0 - 20.0) / 15.0f64).exp();
        let potentiated = w1 + lambda * w1.powf(0.4) * k_plus;
        let k8 = (-3.0 / tau_minus).exp() + 1.0;
        let w2 = potentiated - lambda * alpha * potentiated * (k8 * (-(29.0 - 8.0) / tau_minus).exp());
        assert!((weight(&t) - w2).abs() < 1e-12 * w2, "{} vs {w2}", weight(&t));
    }

    #[test]
    fn bounded_weights_stay_between_zero_and_wmax() {
        let p = StdpParams { tau_plus: 20.0, lambda: 5.0, alpha: 10.0, mu_plus: 0.0, mu_minus: 0.0, w_max: 50.0 };
        let (mut t, mut h, mut ring) = pair(StdpRule::bounded(p).unwrap(), 49.0, 20.0);
        t.deliver(0, 99, &mut ring, &mut h, &mut DeliveryScratch::default());
        h.record_spike(0, 120);
        t.deliver(0, 139, &mut ring, &mut h, &mut DeliveryScratch::default()); // strong potentiation, then K- of the spike at 12 ms
        assert!((0.0..=50.0).contains(&weight(&t)));
        for k in 0..20 {
            h.record_spike(0, 200 + 10 * k);
            t.deliver(0, 205 + 10 * k, &mut ring, &mut h, &mut DeliveryScratch::default());
            let w = weight(&t);
            assert!((0.0..=50.0).contains(&w), "{w}");
        }
        let (mut t, mut h, mut ring) = pair(StdpRule::bounded(p).unwrap(), 1.0, 20.0);
        h.record_spike(0, 10);
        t.deliver(0, 99, &mut ring, &mut h, &mut DeliveryScratch::default());
        assert_eq!(weight(&t), 0.0, "depression past 0 stops at 0");
    }
}
