//! The part of a rank that one thread owns: every `threads`-th neuron of the rank (round-robin, so each
//! thread gets a share of every population and the load balances), with their state, their incoming
//! synapse table and their ring buffer. Threads never write each other's parts, so update and delivery need
//! no atomics, and every neuron sums its input in the same order for any number of threads.

use std::any::Any;
use std::fmt::Debug;
use std::ops::Range;

use crate::current_stimulus::ThreadCurrents;
use crate::iaf_psc_exp::PoissonDrive;
use crate::neuron_model::{ModelState, NeuronDynamics};
use crate::neuron_set::NeuronSet;
use crate::plastic_table::PlasticPart;
use crate::poisson_generator::ThreadPoissonInputs;
use crate::ring_buffer::RingBuffer;
use crate::rng::{stream_key, Purpose};
use crate::synapse_table::SynapseTable;
use crate::{pack_spike, unpack_spike, Gid, PackedSpike, Step};

/// How many spikes ahead delivery asks for a synapse row.
const PREFETCH_AHEAD: usize = 4;

/// The dynamics shared by every neuron of one class (a population, or a parameter set of its own).
#[derive(Debug)]
pub struct PopulationDynamics {
    /// The class's model and compiled parameters.
    pub neuron: Box<dyn NeuronDynamics>,
    pub poisson: Option<PoissonDrive>,
    /// The state block (one per model on the rank) that holds this class's neurons.
    pub block: usize,
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

/// Samples a part's state after every step: the per-thread half of a multimeter (cajal_sim's state probe).
/// The part calls it after each step's update, before the step's spikes are reported.
pub trait StateProbe: Send + Debug {
    /// Step `step` has just been computed: `states` are the part's state blocks, `dynamics` the rank's
    /// classes.
    fn after_step(&mut self, step: Step, states: &[Box<dyn ModelState>], dynamics: &[PopulationDynamics]);

    /// For the owner, which reads the samples back.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// One thread's neurons, synapses and delayed input.
#[derive(Debug)]
pub struct ThreadPart {
    gids: NeuronSet,
    segments: Vec<Segment>,
    /// One state block per model on the rank, each with a row for every neuron of the part.
    states: Vec<Box<dyn ModelState>>,
    background_keys: Vec<u64>,
    table: SynapseTable,
    ring: RingBuffer,
    /// The current generators bound to this thread's neurons, if any.
    currents: Option<ThreadCurrents>,
    /// The poisson_generator trains into this thread's neurons.
    generator_inputs: ThreadPoissonInputs,
    fired: Vec<u32>,
    synaptic_events: u64,
    /// Samples state after every step when something is recorded (None: nothing is, and nothing is paid).
    probe: Option<Box<dyn StateProbe>>,
    /// Plastic synapses and the spike archives of their targets (None: every synapse here is static).
    plastic: Option<Box<PlasticPart>>,
}

impl ThreadPart {
    /// A part for the neurons `gids` with their state blocks (one per model on the rank, each as long as
    /// `gids`); `seed` keys their background streams.
    #[must_use]
    pub fn new(
        gids: NeuronSet,
        segments: Vec<Segment>,
        states: Vec<Box<dyn ModelState>>,
        table: SynapseTable,
        seed: u64,
    ) -> Self {
        let n = gids.len() as usize;
        let background_keys =
            (0..n).map(|i| stream_key(seed, Purpose::Background, u64::from(gids.gid(i as u32)))).collect();
        let max_delay = table.delay_range().map_or(1, |(_, hi)| hi);
        Self {
            gids,
            segments,
            states,
            background_keys,
            table,
            ring: RingBuffer::new(n, max_delay),
            currents: None,
            generator_inputs: ThreadPoissonInputs::default(),
            fired: Vec::new(),
            synaptic_events: 0,
            probe: None,
            plastic: None,
        }
    }

    /// Adds plastic synapses (a part with none is dropped); the ring buffer grows to their delays.
    #[must_use]
    pub fn with_plastic(mut self, plastic: PlasticPart) -> Self {
        if plastic.is_empty() {
            return self;
        }
        let static_max = self.table.delay_range().map_or(1, |(_, hi)| hi);
        let max_delay = static_max.max(plastic.max_delay().unwrap_or(1));
        if max_delay as usize + 1 > self.ring.slots() {
            self.ring = RingBuffer::new(self.len(), max_delay);
        }
        self.plastic = Some(Box::new(plastic));
        self
    }

    /// The plastic synapses, if any.
    #[must_use]
    pub fn plastic(&self) -> Option<&PlasticPart> {
        self.plastic.as_deref()
    }

    /// The plastic synapses, to restore them.
    pub fn plastic_mut(&mut self) -> Option<&mut PlasticPart> {
        self.plastic.as_deref_mut()
    }

    /// The sources with at least one synapse (static or plastic) here; a source may come more than once.
    pub fn sources(&self) -> impl Iterator<Item = Gid> + '_ {
        let plastic = self.plastic.iter().flat_map(|p| p.tables().iter().flat_map(|t| t.rows().sources()));
        self.table.sources().chain(plastic)
    }

    /// Number of synapses, static and plastic.
    #[must_use]
    pub fn num_synapses(&self) -> usize {
        self.table.len() + self.plastic.as_ref().map_or(0, |p| p.len())
    }

    /// Smallest and largest delay (steps) of any synapse, static or plastic.
    #[must_use]
    pub fn delay_range(&self) -> Option<(u32, u32)> {
        let plastic = self.plastic.as_ref().and_then(|p| Some((p.min_delay()?, p.max_delay()?)));
        match (self.table.delay_range(), plastic) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) | (None, x) => x,
        }
    }

    /// Binds current generators to this part's neurons.
    #[must_use]
    pub fn with_currents(mut self, currents: ThreadCurrents) -> Self {
        self.currents = Some(currents);
        self
    }

    /// Adds the trains of the poisson_generators connected to this part's neurons.
    #[must_use]
    pub fn with_generator_inputs(mut self, inputs: ThreadPoissonInputs) -> Self {
        self.generator_inputs = inputs;
        self
    }

    /// Samples state after every step from now on (None: stop).
    pub fn set_probe(&mut self, probe: Option<Box<dyn StateProbe>>) {
        self.probe = probe;
    }

    /// The state probe, if any.
    pub fn probe_mut(&mut self) -> Option<&mut (dyn StateProbe + 'static)> {
        self.probe.as_deref_mut()
    }

    /// The runs of local neurons with one dynamics class each, in local order.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
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
        self.gids.len() as usize
    }

    /// Whether the part owns no neuron.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.gids.is_empty()
    }

    /// The state blocks, one per model on the rank (in the rank's model order).
    #[must_use]
    pub fn states(&self) -> &[Box<dyn ModelState>] {
        &self.states
    }

    /// The state blocks, for restoring a checkpoint.
    pub fn states_mut(&mut self) -> &mut [Box<dyn ModelState>] {
        &mut self.states
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
        let n = self.len();
        let state: usize = self.states.iter().map(|s| s.bytes_per_neuron()).sum();
        let plastic = self.plastic.as_ref().map_or(0, |p| p.bytes().0 + p.bytes().1);
        self.table.bytes() + plastic + n * (state + 8) + self.ring.slots() * n * 8
    }

    /// Advances every neuron through steps `t0..t0 + n_steps`, appending the spikes as (lag, gid).
    pub fn update(&mut self, dynamics: &[PopulationDynamics], t0: Step, n_steps: u32, spikes: &mut Vec<PackedSpike>) {
        for lag in 0..n_steps {
            let step = t0 + u64::from(lag);
            let input = self.ring.row_mut(step);
            if !self.generator_inputs.is_empty() {
                self.generator_inputs.add_to(step, input);
            }
            let current: &[f64] = match &mut self.currents {
                Some(c) => c.at(step),
                None => &[],
            };
            self.fired.clear();
            for seg in &self.segments {
                let class = &dynamics[seg.dynamics];
                class.neuron.step(
                    self.states[class.block].as_mut(),
                    seg.local.clone(),
                    class.poisson.as_ref(),
                    &self.background_keys,
                    input,
                    current,
                    step,
                    &mut self.fired,
                );
            }
            if let Some(plastic) = &mut self.plastic {
                plastic.record_spikes(&self.fired, step);
            }
            if let Some(probe) = &mut self.probe {
                probe.after_step(step, &self.states, dynamics);
            }
            let gids = &self.gids;
            spikes.extend(self.fired.iter().map(|&i| pack_spike(lag, gids.gid(i))));
        }
    }

    /// Expands spikes emitted in the window that started at `t0` (sorted by lag, then source) through the
    /// synapse table into the ring buffer.
    pub fn deliver(&mut self, spikes: &[PackedSpike], t0: Step) {
        let Some(plastic) = &mut self.plastic else {
            for (k, &s) in spikes.iter().enumerate() {
                // The row a few spikes ahead is on its way while this one is added up.
                if let Some(&ahead) = spikes.get(k + PREFETCH_AHEAD) {
                    self.table.prefetch(unpack_spike(ahead).1);
                }
                let (lag, gid) = unpack_spike(s);
                self.synaptic_events += self.table.deliver(gid, t0 + u64::from(lag), &mut self.ring);
            }
            return;
        };
        // A source's static row first, then its plastic rows (class by class): the same order on any layout.
        for (k, &s) in spikes.iter().enumerate() {
            if let Some(&ahead) = spikes.get(k + PREFETCH_AHEAD) {
                self.table.prefetch(unpack_spike(ahead).1);
            }
            let (lag, gid) = unpack_spike(s);
            self.synaptic_events += self.table.deliver(gid, t0 + u64::from(lag), &mut self.ring);
            self.synaptic_events += plastic.deliver(gid, t0 + u64::from(lag), &mut self.ring);
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
