//! The part of a rank that one thread owns: every `threads`-th neuron of the rank (round-robin, so each
//! thread gets a share of every population and the load balances), with their state, their incoming
//! synapse table and their ring buffer. Threads never write each other's parts, so update and delivery need
//! no atomics, and every neuron sums its input in the same order for any number of threads.

use std::ops::Range;

use crate::iaf_psc_exp::{step_population, IafPscExpState, PoissonDrive, Propagators};
use crate::neuron_set::NeuronSet;
use crate::ring_buffer::RingBuffer;
use crate::rng::{stream_key, Purpose};
use crate::synapse_table::SynapseTable;
use crate::{pack_spike, unpack_spike, Gid, PackedSpike, Step};

/// The dynamics shared by every neuron of one population.
#[derive(Clone, Debug)]
pub struct PopulationDynamics {
    pub propagators: Propagators,
    pub poisson: Option<PoissonDrive>,
}

/// A run of consecutive local neurons with the same dynamics (one population, or one parameter set of
/// neurons with parameters of their own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index into the rank's [`PopulationDynamics`].
    pub dynamics: usize,
    /// Local indices.
    pub local: Range<usize>,
}

/// One thread's neurons, synapses and delayed input.
#[derive(Debug)]
pub struct ThreadPart {
    gids: NeuronSet,
    segments: Vec<Segment>,
    state: IafPscExpState,
    background_keys: Vec<u64>,
    table: SynapseTable,
    ring: RingBuffer,
    fired: Vec<u32>,
    synaptic_events: u64,
}

impl ThreadPart {
    /// A part for the neurons `gids` (as many as `state` holds); `seed` keys their
    /// background streams.
    #[must_use]
    pub fn new(gids: NeuronSet, segments: Vec<Segment>, state: IafPscExpState, table: SynapseTable, seed: u64) -> Self {
        let n = state.len();
        let background_keys =
            (0..n).map(|i| stream_key(seed, Purpose::Background, u64::from(gids.gid(i as u32)))).collect();
        let max_delay = table.delay_range().map_or(1, |(_, hi)| hi);
        Self {
            gids,
            segments,
            state,
            background_keys,
            table,
            ring: RingBuffer::new(n, max_delay),
            fired: Vec::new(),
            synaptic_events: 0,
        }
    }

    /// The gid of local neuron `i`.
    #[inline]
    #[must_use]
    pub fn gid(&self, i: u32) -> Gid {
        self.gids.gid(i)
    }

    /// Number of neurons owned.
    #[must_use]
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether the part owns no neuron.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// The neuron state columns.
    #[must_use]
    pub fn state(&self) -> &IafPscExpState {
        &self.state
    }

    /// The neuron state columns, for restoring a checkpoint.
    pub fn state_mut(&mut self) -> &mut IafPscExpState {
        &mut self.state
    }

    /// The neurons owned.
    #[must_use]
    pub fn neuron_set(&self) -> &NeuronSet {
        &self.gids
    }

    /// The delayed input not yet consumed.
    #[must_use]
    pub fn ring(&self) -> &RingBuffer {
        &self.ring
    }

    /// The delayed input, for restoring a checkpoint.
    pub fn ring_mut(&mut self) -> &mut RingBuffer {
        &mut self.ring
    }

    /// The incoming synapses.
    #[must_use]
    pub fn table(&self) -> &SynapseTable {
        &self.table
    }

    /// Bytes held for state, synapses and ring buffer.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.table.bytes() + self.state.len() * (3 * 8 + 4 + 8) + self.ring.slots() * self.state.len() * 8
    }

    /// Advances every neuron through steps `t0..t0 + n_steps`, appending the spikes as (lag, gid).
    pub fn update(&mut self, dynamics: &[PopulationDynamics], t0: Step, n_steps: u32, spikes: &mut Vec<PackedSpike>) {
        for lag in 0..n_steps {
            let step = t0 + u64::from(lag);
            let input = self.ring.row_mut(step);
            self.fired.clear();
            for seg in &self.segments {
                let dyn_ = &dynamics[seg.dynamics];
                step_population(
                    &dyn_.propagators,
                    dyn_.poisson.as_ref(),
                    &mut self.state,
                    seg.local.clone(),
                    &self.background_keys,
                    input,
                    step,
                    &mut self.fired,
                );
            }
            let gids = &self.gids;
            spikes.extend(self.fired.iter().map(|&i| pack_spike(lag, gids.gid(i))));
        }
    }

    /// Expands spikes emitted in the window that started at `t0` (sorted by lag, then source) through the
    /// synapse table into the ring buffer.
    pub fn deliver(&mut self, spikes: &[PackedSpike], t0: Step) {
        for &s in spikes {
            let (lag, gid) = unpack_spike(s);
            self.synaptic_events += self.table.deliver(gid, t0 + u64::from(lag), &mut self.ring);
        }
    }

    /// Synapses spikes were expanded through since the last reset.
    #[must_use]
    pub fn synaptic_events(&self) -> u64 {
        self.synaptic_events
    }

    /// Starts counting synaptic events afresh.
    pub fn reset_synaptic_events(&mut self) {
        self.synaptic_events = 0;
    }
}
