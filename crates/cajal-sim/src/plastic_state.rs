//! Plastic state through checkpoints: a rank's weights (by target), spike archives and presynaptic
//! traces into the layout-independent [`PlasticShard`], and back on any layout. A restore gathers what
//! every shard holds for this rank's neurons first, then sets each thread's weights and traces in one pass
//! over its tables ([`PlasticRestore::apply`]).

use std::collections::{BTreeMap, HashMap};

use cajal_checkpoint::PlasticShard;
use cajal_core::partition::ThreadPart;
use cajal_core::plastic_table::SourceTrace;
use cajal_core::spike_history::{HistoryEntry, NeuronHistory};
use cajal_core::Gid;

use crate::SimError;

/// The plastic state of `parts` in the shard's neuron order (part after part), or None if no part has a
/// plastic synapse.
#[must_use]
pub fn export_plastic(parts: &[ThreadPart]) -> Option<PlasticShard> {
    if parts.iter().all(|p| p.plastic().is_none()) {
        return None;
    }
    let mut out = PlasticShard::default();
    let mut traces: BTreeMap<(u32, Gid), SourceTrace> = BTreeMap::new();
    for part in parts {
        let n = part.len();
        let Some(plastic) = part.plastic() else {
            out.weight_counts.extend(std::iter::repeat_n(0, n));
            out.k_minus.extend(std::iter::repeat_n(0.0, n));
            out.last_spike.extend(std::iter::repeat_n(0, n));
            out.history_counts.extend(std::iter::repeat_n(0, n));
            continue;
        };
        let (counts, weights) = plastic.weights_by_target(n);
        out.weight_counts.extend(counts);
        out.weights.extend(weights);
        for i in 0..n {
            let h = plastic.history().export(i);
            out.k_minus.push(h.k_minus);
            out.last_spike.push(h.last_spike);
            out.history_counts.push(h.entries.len() as u32);
            for e in &h.entries {
                out.history_stamps.push(e.stamp);
                out.history_k_minus.push(e.k_minus);
                out.history_access.push(e.access);
            }
        }
        for (class, table) in plastic.tables().iter().enumerate() {
            for source in table.rows().sources() {
                if let Some(t) = table.trace(source) {
                    traces.insert((class as u32, source), t);
                }
            }
        }
    }
    for ((class, source), t) in traces {
        out.trace_class.push(class);
        out.trace_source.push(source);
        out.trace_k_plus.push(t.k_plus);
        out.trace_t_last.push(t.t_last);
    }
    Some(out)
}

/// One thread's weights as they arrive from the shards, by local neuron.
#[derive(Debug, Default)]
struct PartWeights {
    counts: Vec<u32>,
    offsets: Vec<usize>,
    weights: Vec<f64>,
    received: Vec<bool>,
}

/// What the shards hold for this rank, gathered before it is set.
#[derive(Debug, Default)]
pub struct PlasticRestore {
    parts: Vec<PartWeights>,
    traces: HashMap<(u32, Gid), SourceTrace>,
}

impl PlasticRestore {
    /// An empty restore for `parts` (their plastic input counts say where each neuron's weights go).
    #[must_use]
    pub fn new(parts: &[ThreadPart]) -> Self {
        let parts = parts
            .iter()
            .map(|p| {
                let Some(plastic) = p.plastic() else { return PartWeights::default() };
                let counts: Vec<u32> = (0..p.len()).map(|i| plastic.history().inputs(i)).collect();
                let mut offsets = Vec::with_capacity(counts.len());
                let mut total = 0;
                for &c in &counts {
                    offsets.push(total);
                    total += c as usize;
                }
                PartWeights { received: vec![false; counts.len()], counts, offsets, weights: vec![0.0; total] }
            })
            .collect();
        Self { parts, traces: HashMap::new() }
    }

    /// Takes the state of the shard's `j`-th neuron (`gid`, local neuron `i` of part `t`) from `shard`,
    /// whose `j`-th neuron's weights start at `weight_at` and archive at `history_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn take_neuron(
        &mut self,
        part: &mut ThreadPart,
        t: usize,
        i: usize,
        gid: Gid,
        shard: &PlasticShard,
        j: usize,
        weight_at: usize,
        history_at: usize,
    ) -> Result<(), SimError> {
        let count = shard.weight_counts[j];
        let mine = self.parts[t].counts.get(i).copied().unwrap_or(0);
        if count != mine {
            return Err(SimError::Restore(format!(
                "neuron {gid} has {mine} plastic inputs, the checkpoint {count}: it does not belong to this network"
            )));
        }
        let Some(plastic) = part.plastic_mut() else { return Ok(()) };
        let w = &mut self.parts[t];
        let at = w.offsets[i];
        w.weights[at..at + count as usize].copy_from_slice(&shard.weights[weight_at..weight_at + count as usize]);
        w.received[i] = true;
        let entries = (history_at..history_at + shard.history_counts[j] as usize)
            .map(|k| HistoryEntry {
                stamp: shard.history_stamps[k],
                k_minus: shard.history_k_minus[k],
                access: shard.history_access[k],
            })
            .collect();
        let h = NeuronHistory { k_minus: shard.k_minus[j], last_spike: shard.last_spike[j], entries };
        plastic.history_mut().import(i, &h);
        Ok(())
    }

    /// Keeps the shard's presynaptic traces.
    pub fn take_traces(&mut self, shard: &PlasticShard) {
        for k in 0..shard.trace_class.len() {
            let t = SourceTrace { k_plus: shard.trace_k_plus[k], t_last: shard.trace_t_last[k] };
            self.traces.insert((shard.trace_class[k], shard.trace_source[k]), t);
        }
    }

    /// Sets every part's weights and traces; fails if a neuron with plastic inputs or a source's trace
    /// was in no shard.
    pub fn apply(self, parts: &mut [ThreadPart]) -> Result<(), SimError> {
        for (part, w) in parts.iter_mut().zip(self.parts) {
            let gid_of = |i: usize| part.gid(i as u32);
            if let Some(i) = (0..w.counts.len()).find(|&i| w.counts[i] > 0 && !w.received[i]) {
                return Err(SimError::Restore(format!("no shard holds the plastic weights of neuron {}", gid_of(i))));
            }
            let Some(plastic) = part.plastic_mut() else { continue };
            plastic.set_weights_by_target(&w.counts, &w.weights).map_err(SimError::Restore)?;
            for (class, table) in plastic.tables_mut().iter_mut().enumerate() {
                let sources: Vec<Gid> = table.rows().sources().collect();
                for s in sources {
                    let trace = self.traces.get(&(class as u32, s)).ok_or_else(|| {
                        SimError::Restore(format!("no shard holds the trace of neuron {s} (plastic class {class})"))
                    })?;
                    table.set_trace(s, *trace);
                }
            }
        }
        Ok(())
    }
}
