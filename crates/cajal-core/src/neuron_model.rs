//! Neuron models as a type. A model names its state variables and makes their columns; its parameters
//! compile, once per rank and grid, into the dynamics of one class (e.g. propagators), which advance a
//! segment of neurons by one step. The engine holds one state block per model and calls the class's kernel
//! per segment, so a new model is one module implementing these traits (plus its name in the model files'
//! registry), and the engine does not change.
//!
//! ```text
//! NeuronParameters --compile(grid)--> NeuronDynamics (one per class; shared by the rank's threads)
//! NeuronModel --new_state(n)--> ModelState (columns, one block per model per thread)
//! per step and segment: dynamics.step(state block, local range, input, ...) -> fired
//! ```

use std::any::Any;
use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use crate::iaf_psc_exp::PoissonDrive;
use crate::{CoreError, Resolution, Step};

/// A borrowed state column, by type.
#[derive(Debug)]
pub enum Column<'a> {
    F64(&'a [f64]),
    U32(&'a [u32]),
}

/// One value of a state column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnValue {
    F64(f64),
    U32(u32),
}

/// The state of a block of neurons of one model, as columns (structure of arrays), one value per local
/// neuron of the thread each.
pub trait ModelState: Send + Debug + Any {
    /// Neurons held.
    fn len(&self) -> usize;

    /// Whether no neuron is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every state column by name, in the model's order: what checkpoints store and recorders read.
    fn columns(&self) -> Vec<(&'static str, Column<'_>)>;

    /// Sets column `name` of neuron `i` (restoring a checkpoint); false if the model has no such column
    /// or it holds another type.
    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool;

    /// Bytes held per neuron.
    fn bytes_per_neuron(&self) -> usize;

    /// For the model's own dynamics, which know the concrete type.
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// For the model's own dynamics when reading (recording).
    fn as_any(&self) -> &dyn Any;
}

/// A neuron model: its name and state variables.
pub trait NeuronModel: Send + Sync + Debug {
    /// The model's name, as NEST spells it (e.g. `iaf_psc_exp`).
    fn name(&self) -> &'static str;

    /// The state variables, in column order (what checkpoints hold and what can be recorded).
    fn state_names(&self) -> &'static [&'static str];

    /// The state of `n` neurons at rest.
    fn new_state(&self, n: usize) -> Box<dyn ModelState>;

    /// What a multimeter can record, in NEST's names and units (e.g. `V_m` in mV, absolute).
    fn recordables(&self) -> &'static [&'static str];
}

/// One dynamics class as the engine runs it: a model's parameters compiled for the grid.
pub trait NeuronDynamics: Send + Sync + Debug {
    /// The model whose state this class advances.
    fn model(&self) -> &'static dyn NeuronModel;

    /// Puts neuron `i` of `state` (a state of [`NeuronDynamics::model`]) into its initial state with
    /// membrane potential `v_m` (mV, absolute).
    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64);

    /// [`NeuronDynamics::init`] for node `node` of its population (0-based): what devices whose nodes
    /// differ (a spike generator's trains) need.
    fn init_node(&self, state: &mut dyn ModelState, i: usize, node: u32, v_m: f64) {
        let _ = node;
        self.init(state, i, v_m);
    }

    /// Advances neurons `range` of `state` by one step (`step`). `input` holds two channels per local
    /// neuron of the thread (excitatory, inhibitory) and is cleared as it is read; `current` is the current
    /// (pA) that current generators inject into each local neuron during this step, added to `I_e` (empty:
    /// none on this thread); `drive` is the class's Poisson background, `bg_keys` the neurons' background
    /// stream keys. Pushes the local index of every neuron that fires.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        state: &mut dyn ModelState,
        range: Range<usize>,
        drive: Option<&PoissonDrive>,
        bg_keys: &[u64],
        input: &mut [f32],
        current: &[f64],
        step: Step,
        fired: &mut Vec<u32>,
    );

    /// Recordable `var` (an index into the model's [`NeuronModel::recordables`]) of neuron `i` of `state`.
    fn recordable(&self, state: &dyn ModelState, var: usize, i: usize) -> f64;
}

/// A neuron's parameters for one model, as model files and node tables give them.
pub trait NeuronParameters: Send + Sync + Debug + Any {
    /// The model these parameters are for.
    fn model(&self) -> &'static dyn NeuronModel;

    /// The dynamics of a class of neurons with these parameters on the grid `res`; refuses parameters out
    /// of their domain, naming the first.
    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError>;

    /// (name, value) of every parameter, in NEST's names and units.
    fn values(&self) -> Vec<(&'static str, f64)>;

    /// The same neuron with parameter `name` set to `value` (e.g. a population's own `I_e`); refuses a
    /// name the model does not have.
    fn with_value(&self, name: &str, value: f64) -> Result<NeuronSpec, CoreError>;

    /// For code that needs a particular model's parameters (e.g. per-neuron parameter columns).
    fn as_any(&self) -> &dyn Any;

    /// Loads what the nodes `nodes` (0-based within the population, sorted) need and nothing more, before
    /// the rank compiles its classes: a device's per-node data (a spike generator's trains) is kept only
    /// by the rank that owns the node. Called once per rank; most models need nothing.
    fn load_nodes(&self, nodes: &[u32]) -> Result<(), CoreError> {
        let _ = nodes;
        Ok(())
    }
}

/// A population's (or class's) neuron: model and parameters, shared, and the time constant of the trace
/// its plastic inputs read (NEST's `tau_minus`, a parameter of every neuron that archives its spikes).
#[derive(Clone, Debug)]
pub struct NeuronSpec(Arc<dyn NeuronParameters>, f64);

/// NEST's default `tau_minus` (ms).
pub const DEFAULT_TAU_MINUS_MS: f64 = 20.0;

impl NeuronSpec {
    /// The neuron with parameters `p` (and NEST's default tau_minus).
    #[must_use]
    pub fn new(p: impl NeuronParameters + 'static) -> Self {
        Self(Arc::new(p), DEFAULT_TAU_MINUS_MS)
    }

    /// The same neuron with tau_minus `ms` (> 0, checked by whoever reads it).
    #[must_use]
    pub fn with_tau_minus(mut self, ms: f64) -> Self {
        self.1 = ms;
        self
    }

    /// tau_minus (ms): the decay of the trace of this neuron's spikes that its plastic inputs read.
    #[must_use]
    pub fn tau_minus_ms(&self) -> f64 {
        self.1
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &dyn NeuronParameters {
        self.0.as_ref()
    }

    /// The parameters as model `P`'s, if they are.
    #[must_use]
    pub fn as_model<P: NeuronParameters>(&self) -> Option<&P> {
        self.0.as_any().downcast_ref::<P>()
    }
}

/// Same model and the same parameter values (bit for bit).
impl PartialEq for NeuronSpec {
    fn eq(&self, other: &Self) -> bool {
        let bits = |s: &Self| s.0.values().iter().map(|(n, v)| (*n, v.to_bits())).collect::<Vec<_>>();
        self.0.model().name() == other.0.model().name()
            && bits(self) == bits(other)
            && self.1.to_bits() == other.1.to_bits()
    }
}

/// The checks every integrate-and-fire parameter set shares, on `named` (NEST's names): every value finite
/// (`V_min` may be -inf: no bound), the `positive` ones > 0, `t_ref` >= 0, `V_reset` below `V_th` and not
/// below `V_min`. The error names the first parameter out of its domain.
pub fn check_lif(named: &[(&'static str, f64)], positive: &[&str]) -> Result<(), CoreError> {
    let value = |name: &str| named.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    for &(name, v) in named {
        if v.is_nan() || (v.is_infinite() && !(name == "V_min" && v < 0.0)) {
            return Err(CoreError::invalid(name, v, "must be a finite number"));
        }
    }
    for &(name, v) in named.iter().filter(|(n, _)| positive.contains(n)) {
        if v <= 0.0 {
            return Err(CoreError::invalid(name, v, "must be > 0"));
        }
    }
    if let Some(t_ref) = value("t_ref").filter(|&t| t < 0.0) {
        return Err(CoreError::invalid("t_ref", t_ref, "must be >= 0"));
    }
    if let (Some(reset), Some(th)) = (value("V_reset"), value("V_th")) {
        if reset >= th {
            return Err(CoreError::invalid("V_reset", reset, "must be below V_th"));
        }
        if value("V_min").is_some_and(|min| reset < min) {
            return Err(CoreError::invalid("V_reset", reset, "must not be below V_min"));
        }
    }
    Ok(())
}

/// [`NeuronParameters::with_value`] for a parameter type with a setter by name.
pub fn with_named<P: NeuronParameters + Clone>(
    p: &P,
    set: fn(&mut P, &str, f64) -> bool,
    name: &str,
    value: f64,
) -> Result<NeuronSpec, CoreError> {
    let mut changed = p.clone();
    if !set(&mut changed, name, value) {
        let reason = format!("is not a parameter of {}", p.model().name());
        return Err(CoreError::invalid(name, value, &reason));
    }
    Ok(NeuronSpec::new(changed))
}

/// The models present among `classes`, each once, in first-seen order (the engine's state blocks), and
/// the block of each class.
#[must_use]
pub fn model_slots(classes: &[Box<dyn NeuronDynamics>]) -> (Vec<&'static dyn NeuronModel>, Vec<usize>) {
    let mut models: Vec<&'static dyn NeuronModel> = Vec::new();
    let slots = classes
        .iter()
        .map(|c| {
            let m = c.model();
            models.iter().position(|k| k.name() == m.name()).unwrap_or_else(|| {
                models.push(m);
                models.len() - 1
            })
        })
        .collect();
    (models, slots)
}
