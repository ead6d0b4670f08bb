//! Saving and restoring a rank's whole dynamic state in the layout-independent checkpoint form: neuron
//! state and input still in flight, by gid. Synapses are not saved: they are regenerated from the seed.

use cajal_checkpoint::{ColumnValues, ShardState};
use cajal_comm::{Communicator, ReduceOp};
use cajal_core::neuron_model::{Column, ColumnValue, NeuronModel};
use cajal_core::Step;
use cajal_metrics::PhaseTimers;

use crate::driver::{Engine, RunControl, SpikeObserver};
use crate::plastic_state::{export_plastic, PlasticRestore};
use crate::rank_engine::{any_column, RankEngine};
use crate::SimError;

/// The checkpoint column of state variable `var` of `model`: models' variables never collide.
fn column_name(model: &dyn NeuronModel, var: &str) -> String {
    format!("{}/{var}", model.name())
}

/// Every state column of the rank's models in `shard`: (state block, variable, values by shard index).
fn model_columns<'s>(
    models: &[&'static dyn NeuronModel],
    shard: &'s ShardState,
) -> Result<Vec<(usize, &'static str, Column<'s>)>, SimError> {
    let mut out = Vec::new();
    for (block, model) in models.iter().enumerate() {
        for var in model.state_names() {
            out.push((block, *var, any_column(shard, &column_name(*model, var))?));
        }
    }
    Ok(out)
}

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
        let local_max = self.parts().iter().filter_map(|p| p.delay_range()).map(|(_, hi)| u64::from(hi)).max();
        let horizon = comm.all_reduce_u64(&[local_max.unwrap_or(0)], ReduceOp::Max)?[0] as u32;
        let now = self.step();
        let mut out = ShardState { horizon, ..ShardState::default() };
        for part in self.parts() {
            out.neurons.push(part.neuron_set().clone());
            for (block, model) in part.states().iter().zip(self.models()) {
                for (var, column) in block.columns() {
                    let values = match column {
                        Column::F64(v) => ColumnValues::F64(v.to_vec()),
                        Column::U32(v) => ColumnValues::U32(v.to_vec()),
                    };
                    out.extend_column(&column_name(*model, var), values);
                }
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
        out.plastic = export_plastic(self.parts());
        Ok(out)
    }

    fn import_state(&mut self, step: Step, shard: &ShardState) -> Result<u64, SimError> {
        self.set_step(step);
        let columns = model_columns(self.models(), shard)?;
        let mine = self.routes().neurons().clone();
        let threads = self.parts().len() as u32;
        let horizon = shard.horizon as usize;
        let mut taken = 0;
        let mut restore = match (&shard.plastic, self.plastic_restore.take()) {
            (None, r) => r,
            (Some(_), Some(r)) => Some(r),
            (Some(_), None) => Some(PlasticRestore::new(self.parts())),
        };
        if let (Some(p), Some(r)) = (&shard.plastic, &mut restore) {
            r.take_traces(p);
        }
        let (mut weight_at, mut history_at) = (0, 0);
        for (j, gid) in shard.gids().enumerate() {
            let plastic_at = (weight_at, history_at);
            if let Some(p) = &shard.plastic {
                weight_at += p.weight_counts[j] as usize;
                history_at += p.history_counts[j] as usize;
            }
            let Some(local) = mine.index_of(gid) else { continue };
            let t = (local % threads) as usize;
            let part = &mut self.parts_mut()[t];
            let i = (local / threads) as usize;
            if let (Some(p), Some(r)) = (&shard.plastic, &mut restore) {
                r.take_neuron(part, t, i, gid, p, j, plastic_at.0, plastic_at.1)?;
            }
            for (block, var, column) in &columns {
                let value = match column {
                    Column::F64(v) => ColumnValue::F64(v[j]),
                    Column::U32(v) => ColumnValue::U32(v[j]),
                };
                if !part.states_mut()[*block].set(var, i, value) {
                    return Err(SimError::Restore(format!("state column {var} has another type than the model's")));
                }
            }
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
        self.plastic_restore = restore;
        Ok(taken)
    }

    fn finish_restore(&mut self, _comm: &mut dyn Communicator) -> Result<(), SimError> {
        let restore = self.plastic_restore.take();
        if self.parts().iter().any(|p| p.plastic().is_some()) {
            let restore = restore.ok_or_else(|| {
                SimError::Restore("the checkpoint holds no plastic state, but this network has plastic synapses".into())
            })?;
            restore.apply(self.parts_mut())?;
        }
        Ok(())
    }
}
