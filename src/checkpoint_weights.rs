//! The plastic weights a checkpoint holds, by target neuron, and how they map back onto a target's
//! connections as the recipe lists them (for `cajal export-connectome --from-checkpoint`).
//!
//! A checkpoint stores each neuron's plastic weights in the order (class, source, delay, occurrence) —
//! the order of the synapse tables, whatever the layout. The recipe lists a target's connections in
//! generation order; a stable sort of its plastic connections by (class, source, delay) gives the stored
//! order, multapses keeping their generation order (as they do in the tables).

use cajal_checkpoint::{CheckpointStore, Manifest};
use cajal_core::Gid;
use cajal_net::Connection;

use crate::error::AppError;

/// Every plastic weight of a checkpoint, by target gid.
pub struct CheckpointWeights {
    /// Per gid: (first index into `weights`, count).
    at: Vec<(u64, u32)>,
    weights: Vec<f64>,
}

impl CheckpointWeights {
    /// Reads every shard of checkpoint `m` of a network of `neurons` neurons.
    pub fn read(m: &Manifest, store: &CheckpointStore, neurons: Gid) -> Result<Self, AppError> {
        let mut out = Self { at: vec![(0, 0); neurons as usize], weights: Vec::new() };
        let mut seen = vec![false; neurons as usize];
        for i in 0..m.shards.len() {
            let shard = m.read_shard(store, i)?;
            let Some(p) = &shard.plastic else {
                shard.gids().for_each(|g| seen.get_mut(g as usize).map_or((), |s| *s = true));
                continue;
            };
            let mut from = 0usize;
            for (j, gid) in shard.gids().enumerate() {
                let count = p.weight_counts[j];
                let slot = out.at.get_mut(gid as usize).ok_or_else(|| {
                    AppError::bad(format!("checkpoint {}: neuron {gid} is not in the model's network", m.name))
                })?;
                *slot = (out.weights.len() as u64, count);
                out.weights.extend_from_slice(&p.weights[from..from + count as usize]);
                from += count as usize;
                seen[gid as usize] = true;
            }
        }
        if let Some(g) = seen.iter().position(|s| !s) {
            return Err(AppError::bad(format!("checkpoint {}: no shard holds neuron {g}", m.name)));
        }
        Ok(out)
    }

    /// Replaces the weights of `target`'s plastic connections (in recipe order) by the checkpoint's.
    pub fn apply(&self, target: Gid, conns: &mut [Connection]) -> Result<(), AppError> {
        let (first, count) = self.at[target as usize];
        let mut plastic: Vec<usize> = (0..conns.len()).filter(|&k| conns[k].synapse != 0).collect();
        if plastic.len() != count as usize {
            return Err(AppError::bad(format!(
                "neuron {target} has {} plastic inputs, the checkpoint {count}: it is not this network's",
                plastic.len()
            )));
        }
        plastic.sort_by_key(|&k| (conns[k].synapse, conns[k].source, conns[k].delay));
        for (rank, k) in plastic.into_iter().enumerate() {
            conns[k].weight = self.weights[first as usize + rank];
        }
        Ok(())
    }
}
