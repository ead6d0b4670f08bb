//! Saving and restoring a rank's whole dynamic state in the layout-independent checkpoint form: neuron
//! state and input still in flight, by gid. Synapses are not saved: they are regenerated from the seed.

use cajal_checkpoint::{ColumnValues, ShardState};
use cajal_comm::{Communicator, ReduceOp};
use cajal_core::iaf_psc_exp::{Column, IafPscExpState};
use cajal_core::Step;
use cajal_metrics::PhaseTimers;

use crate::driver::{Engine, RunControl, SpikeObserver};
use crate::rank_engine::{f64_column, u32_column, RankEngine};
use crate::SimError;

impl RankEngine for Engine {
    type Io<'a> = &'a mut dyn SpikeObserver;

    fn step(&self) -> Step {
        Engine::step(self)
    }

    fn advance(
        &mut self,
        n_steps: Step,
        observer: Self::Io<'_>,
        comm: &mut dyn Communicator,
        control: RunControl<'_>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<bool, SimError> {
        self.run_controlled(n_steps, comm, observer, progress, control)
    }

    fn timers(&self) -> &PhaseTimers {
        Engine::timers(self)
    }

    fn timers_mut(&mut self) -> &mut PhaseTimers {
        Engine::timers_mut(self)
    }

    fn reset_metrics(&mut self) {
        Engine::reset_metrics(self);
    }

    fn activity(&self) -> (u64, u64) {
        Engine::activity(self)
    }

    fn neurons(&self) -> &cajal_net::NeuronSet {
        self.routes().neurons()
    }

    /// First delivers the last window's spikes (which the next window would deliver before any update, so
    /// sums keep their order). Collective: the ranks agree on how many steps of future input to save.
    fn export_state(&mut self, comm: &mut dyn Communicator) -> Result<ShardState, SimError> {
        self.flush_pending();
        let local_max = self.parts().iter().filter_map(|p| p.table().delay_range()).map(|(_, hi)| u64::from(hi)).max();
        let horizon = comm.all_reduce_u64(&[local_max.unwrap_or(0)], ReduceOp::Max)?[0] as u32;
        let now = self.step();
        let mut out = ShardState { horizon, ..ShardState::default() };
        for part in self.parts() {
            out.neurons.push(part.neuron_set().clone());
            for (name, column) in part.state().columns() {
                let values = match column {
                    Column::F64(v) => ColumnValues::F64(v.to_vec()),
                    Column::U32(v) => ColumnValues::U32(v.to_vec()),
                };
                out.extend_column(name, values);
            }
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

    fn import_state(&mut self, step: Step, shard: &ShardState) -> Result<u64, SimError> {
        self.set_step(step);
        let [v_name, ex_name, in_name, refractory_name] = IafPscExpState::COLUMN_NAMES;
        let (v_rel, i_ex) = (f64_column(shard, v_name)?, f64_column(shard, ex_name)?);
        let (i_in, refractory) = (f64_column(shard, in_name)?, u32_column(shard, refractory_name)?);
        let mine = self.routes().neurons().clone();
        let threads = self.parts().len() as u32;
        let horizon = shard.horizon as usize;
        let mut taken = 0;
        for (j, gid) in shard.gids().enumerate() {
            let Some(local) = mine.index_of(gid) else { continue };
            let part = &mut self.parts_mut()[(local % threads) as usize];
            let i = (local / threads) as usize;
            let s = part.state_mut();
            s.v_rel[i] = v_rel[j];
            s.i_ex[i] = i_ex[j];
            s.i_in[i] = i_in[j];
            s.refractory[i] = refractory[j];
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

    fn finish_restore(&mut self, _comm: &mut dyn Communicator) -> Result<(), SimError> {
        Ok(())
    }
}
