//! Saving and restoring a rank's whole dynamic state in the layout-independent checkpoint form: neuron
//! state and input still in flight, by gid. Synapses are not saved: they are regenerated from the seed.

use cajal_checkpoint::{NeuronSet, ShardState};
use cajal_comm::{Communicator, ReduceOp};
use cajal_core::Step;

use crate::driver::Engine;
use crate::SimError;

impl Engine {
    /// This rank's state at [`Engine::step`]. First delivers the last window's spikes (which the next window
    /// would deliver before any update, so sums keep their order). Collective: the ranks agree on how many
    /// steps of future input to save.
    pub fn export_state(&mut self, comm: &mut dyn Communicator) -> Result<ShardState, SimError> {
        self.flush_pending();
        let local_max = self.parts().iter().filter_map(|p| p.table().delay_range()).map(|(_, hi)| u64::from(hi)).max();
        let horizon = comm.all_reduce_u64(&[local_max.unwrap_or(0)], ReduceOp::Max)?[0] as u32;
        let now = self.step();
        let mut out = ShardState { horizon, ..ShardState::default() };
        for part in self.parts() {
            out.neurons.push(match part.neuron_set() {
                cajal_net::NeuronSet::Strided { first, stride, count } => NeuronSet::strided(*first, *stride, *count),
                cajal_net::NeuronSet::List(gids) => {
                    NeuronSet { first: 0, stride: 0, count: gids.len() as u32, gids: gids.to_vec() }
                }
            });
            let s = part.state();
            out.v_rel.extend_from_slice(&s.v_rel);
            out.i_ex.extend_from_slice(&s.i_ex);
            out.i_in.extend_from_slice(&s.i_in);
            out.refractory.extend_from_slice(&s.refractory);
            // Rows k = 0..horizon of this part's ring buffer, in the shard's row-per-step layout.
            let ring = part.ring();
            for k in 0..u64::from(horizon) {
                if (k as usize) < ring.slots() {
                    out.pending_input.extend_from_slice(ring.row(now + k));
                } else {
                    out.pending_input.resize(out.pending_input.len() + 2 * part.len(), 0.0);
                }
            }
        }
        Ok(out)
    }

    /// Takes from `shard` the state of every neuron this rank owns; returns how many it took. Call it on a
    /// freshly built engine, for every shard of a checkpoint at `step`, then check the count.
    pub fn import_state(&mut self, step: Step, shard: &ShardState) -> Result<u64, SimError> {
        self.set_step(step);
        let mine = self.routes().neurons().clone();
        let threads = self.parts().len() as u32;
        let horizon = shard.horizon as usize;
        let mut taken = 0;
        for (j, gid) in shard.gids().enumerate() {
            let Some(local) = mine.index_of(gid) else { continue };
            let part = &mut self.parts_mut()[(local % threads) as usize];
            let i = (local / threads) as usize;
            let s = part.state_mut();
            s.v_rel[i] = shard.v_rel[j];
            s.i_ex[i] = shard.i_ex[j];
            s.i_in[i] = shard.i_in[j];
            s.refractory[i] = shard.refractory[j];
            let ring = part.ring_mut();
            for k in 0..horizon {
                let pair = shard.pending(j, k);
                if k < ring.slots() {
                    let row = ring.row_mut(step + k as u64);
                    row[2 * i] = pair[0];
                    row[2 * i + 1] = pair[1];
                } else if pair != [0.0, 0.0] {
                    return Err(SimError::Restore(format!(
                        "neuron {gid} has input due in {k} steps, beyond its longest incoming delay: the checkpoint does not belong to this network"
                    )));
                }
            }
            taken += 1;
        }
        Ok(taken)
    }

    /// Number of neurons of this rank.
    #[must_use]
    pub fn neuron_count(&self) -> u64 {
        u64::from(self.routes().neurons().len())
    }
}
