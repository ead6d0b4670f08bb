//! What a job needs from a rank's engine, whatever the model: advance a chunk of steps (stopping early when
//! the ranks agree to), save and restore the whole dynamic state by gid, timers and activity counts. The
//! spiking [`Engine`](crate::Engine) and the graded/rate [`RateEngine`](crate::RateEngine) implement it, so
//! one job type runs, checkpoints and resumes every model.

use cajal_checkpoint::ShardState;
use cajal_comm::Communicator;
use cajal_core::neuron_model::Column;
use cajal_core::Step;
use cajal_metrics::PhaseTimers;
use cajal_net::NeuronSet;

use crate::driver::RunControl;
use crate::SimError;

/// One rank's engine between chunks of a run.
pub trait RankEngine {
    /// What a chunk reads and writes besides the communicator: where spikes go, or the stimulus and where
    /// recorded values go.
    type Io<'a>;

    /// The next step to simulate (steps done so far).
    fn step(&self) -> Step;

    /// Simulates `n_steps` more steps; `progress` gets the steps done in this call after each window (or
    /// step). Returns whether `control` stopped it early ([`RankEngine::step`] says where). Collective.
    fn advance(
        &mut self,
        n_steps: Step,
        io: Self::Io<'_>,
        comm: &mut dyn Communicator,
        control: RunControl<'_>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<bool, SimError>;

    /// This rank's per-phase timers.
    fn timers(&self) -> &PhaseTimers;

    /// The timers, e.g. to time a checkpoint.
    fn timers_mut(&mut self) -> &mut PhaseTimers;

    /// Starts timers and activity counts afresh (after the warm-up: reports cover the analysed period).
    fn reset_metrics(&mut self);

    /// (spikes emitted, synaptic events delivered) on this rank since the last reset.
    fn activity(&self) -> (u64, u64);

    /// The neurons of this rank.
    fn neurons(&self) -> &NeuronSet;

    /// This rank's whole dynamic state at [`RankEngine::step`], by gid. Collective.
    fn export_state(&mut self, comm: &mut dyn Communicator) -> Result<ShardState, SimError>;

    /// Takes from `shard` (of a checkpoint at `step`) the state of every neuron this rank owns; returns how
    /// many it took. Called on a freshly built engine for every shard that holds any of its neurons.
    fn import_state(&mut self, step: Step, shard: &ShardState) -> Result<u64, SimError>;

    /// After every shard was imported: whatever must follow from the restored state before the next step
    /// (for rate networks, the values other ranks read). Collective.
    fn finish_restore(&mut self, comm: &mut dyn Communicator) -> Result<(), SimError>;
}

/// The column `name` of `shard`, or an error saying the checkpoint lacks it.
pub(crate) fn f64_column<'s>(shard: &'s ShardState, name: &str) -> Result<&'s [f64], SimError> {
    shard.f64_column(name).ok_or_else(|| missing(name))
}

/// The column `name` of `shard` with its type, or an error saying the checkpoint lacks it.
pub(crate) fn any_column<'s>(shard: &'s ShardState, name: &str) -> Result<Column<'s>, SimError> {
    match (shard.f64_column(name), shard.u32_column(name)) {
        (Some(v), _) => Ok(Column::F64(v)),
        (_, Some(v)) => Ok(Column::U32(v)),
        _ => Err(missing(name)),
    }
}

fn missing(name: &str) -> SimError {
    SimError::Restore(format!("the checkpoint has no state column {name}: it was written by another kind of model"))
}
