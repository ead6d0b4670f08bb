//! The recipe: a network described by lazy questions per neuron id, so a rank asks only about the neurons
//! it owns and no rank ever holds the whole network.

use cajal_core::{Gid, NeuronParameters, NeuronSpec, Resolution};

use crate::{Distribution, NetError};

/// External drive of a population, besides the constant current I_e in its neuron parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Background {
    None,
    /// An independent Poisson train per neuron with `rate_hz`, each event adding `weight_pa`, arriving after
    /// `delay_ms` (as from a generator connected with that delay).
    Poisson {
        rate_hz: f64,
        weight_pa: f64,
        delay_ms: f64,
    },
}

/// One population: a contiguous block of gids with shared parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationSpec {
    pub name: String,
    pub first_gid: Gid,
    pub size: u32,
    /// The neuron model and its parameters.
    pub neuron: NeuronSpec,
    /// Initial membrane potential (mV, absolute).
    pub v_init: Distribution,
    pub background: Background,
    /// Expected mean firing rate (Hz), if the model knows one: used to model exchange volume in dry runs.
    pub expected_rate_hz: Option<f64>,
    /// Where the neurons sit, for spatial models.
    pub placement: Option<crate::space::Placement>,
}

pub use cajal_core::synapse_table::Connection;

/// A current generator (NEST's `dc_generator` or `step_current_generator`) and the neurons it drives.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentGenerator {
    /// The name it is given (for messages).
    pub name: String,
    pub params: cajal_core::current_stimulus::CurrentGeneratorParams,
    /// The gids it drives, as sorted, disjoint ranges.
    pub targets: Vec<std::ops::Range<Gid>>,
}

/// A class of plastic synapses: the STDP rule of one projection. A connection of the class has
/// `synapse = 1 + its index` in [`Recipe::plastic_classes`].
#[derive(Clone, Debug, PartialEq)]
pub struct PlasticClass {
    /// The projection's name, for messages and reports (e.g. `E->E`).
    pub name: String,
    pub rule: cajal_core::stdp::StdpRule,
}

/// What a construction pass needs to know about each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// Counting pass: sources only (delays and weights are not drawn; they come from their own streams).
    Sources,
    /// Filling pass: everything.
    Full,
}

/// A network, described per neuron.
pub trait Recipe: Sync {
    /// Number of neurons; gids are `0..num_neurons()` in population order.
    fn num_neurons(&self) -> Gid;
    /// The root seed of every random stream.
    fn seed(&self) -> u64;
    /// The time grid.
    fn resolution(&self) -> Resolution;
    /// The populations, in gid order.
    fn populations(&self) -> &[PopulationSpec];
    /// Initial membrane potential (mV, absolute) of `gid`.
    fn initial_v_m(&self, gid: Gid) -> Result<f64, NetError>;
    /// Calls `sink` for every incoming connection of `target`, in a fixed order, drawing from the target's
    /// own streams only, so the answer is the same on any rank and in any pass. The `synapse` class is
    /// given in both passes.
    fn connections_to<F: FnMut(Connection)>(&self, target: Gid, query: Query, sink: F) -> Result<(), NetError>;

    /// Does the up-front work that answering queries needs (e.g. splitting fixed synapse totals over
    /// targets). Call it from outside any thread pool that will then query the recipe.
    fn prepare(&self) {}

    /// Expected number of incoming synapses of `gid`, for cost-based balancing and memory estimates (0 if
    /// unknown).
    fn expected_in_degree(&self, _gid: Gid) -> f64 {
        0.0
    }

    /// Expected number of plastic incoming synapses of `gid` (within [`Recipe::expected_in_degree`]), for
    /// memory estimates.
    fn expected_plastic_in_degree(&self, _gid: Gid) -> f64 {
        0.0
    }

    /// Loads what answering queries about `owned` (this rank's neurons) needs, e.g. its rows of an imported
    /// edge table. Called once per rank after the decomposition.
    fn prepare_rank(&self, _owned: &crate::NeuronSet) -> Result<(), NetError> {
        Ok(())
    }

    /// Calls `f(pre, post)` for every synapse of the whole network (for graph balancers; call
    /// [`Recipe::prepare`] first). Twice as many calls as synapses cost no more than one pass each.
    fn for_each_edge(&self, f: &mut dyn FnMut(Gid, Gid)) -> Result<(), NetError> {
        for t in 0..self.num_neurons() {
            self.connections_to(t, Query::Sources, |c| f(c.source, t))?;
        }
        Ok(())
    }

    /// Where `gid` sits, for spatial models (None: the model has no positions).
    fn position(&self, _gid: Gid) -> Option<crate::space::Point> {
        None
    }

    /// Neurons (model and parameters) that some neurons are instead of their population's (e.g. from a
    /// node table's `model` and parameter columns), each with its population, whose background they keep:
    /// dynamics class `populations().len() + k` is entry `k`. Entries differ from each other and from
    /// their population's neuron, so every class compiles once per rank; models may differ from class to
    /// class (the engine keeps one state block per model).
    fn extra_neuron_classes(&self) -> &[(usize, NeuronSpec)] {
        &[]
    }

    /// The dynamics class of `gid`: its population's index, or a class of
    /// [`Recipe::extra_neuron_classes`].
    fn dynamics_of(&self, gid: Gid) -> usize {
        self.population_of(gid)
    }

    /// The neuron model and parameters of dynamics class `class` (see [`Recipe::dynamics_of`]).
    fn neuron_class(&self, class: usize) -> &dyn NeuronParameters {
        let pops = self.populations();
        match pops.get(class) {
            Some(p) => p.neuron.params(),
            None => self.extra_neuron_classes()[class - pops.len()].1.params(),
        }
    }

    /// Number of dynamics classes (populations, then [`Recipe::extra_neuron_classes`]).
    fn num_classes(&self) -> usize {
        self.populations().len() + self.extra_neuron_classes().len()
    }

    /// The plastic synapse classes (a connection's `synapse` is 1 + an index here, or 0 for static).
    fn plastic_classes(&self) -> &[PlasticClass] {
        &[]
    }

    /// The current generators and the neurons each drives, in the order every neuron sums them.
    fn current_generators(&self) -> &[CurrentGenerator] {
        &[]
    }

    /// The index of the population that holds `gid`.
    fn population_of(&self, gid: Gid) -> usize {
        let pops = self.populations();
        pops.partition_point(|p| p.first_gid <= gid).saturating_sub(1)
    }
}
