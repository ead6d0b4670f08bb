//! NEST's `spike_generator` as a population of virtual source nodes: each node emits the spike times given
//! for it (off-grid times as NEST's `allow_offgrid_times = true`: to the grid within half a tic, otherwise
//! up to the end of their step), within (start, stop]. Its spikes travel like a neuron's, through ordinary
//! projections with their delays; the position in each train is the node's state, so checkpoints hold it.

use std::any::Any;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use crate::iaf_psc_exp::PoissonDrive;
use crate::neuron_model::{with_named, Column, ColumnValue, ModelState, NeuronDynamics, NeuronModel, NeuronParameters};
use crate::{CoreError, NeuronSpec, Resolution, Step};

/// The device model `spike_generator`.
#[derive(Debug)]
pub struct SpikeGenerator;

/// The model's one instance.
pub static SPIKE_GENERATOR: SpikeGenerator = SpikeGenerator;

/// The spike times (ms) of every node of a generator population, node by node (population-local index),
/// each sorted and > 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpikeTrains {
    /// `times[offsets[k]..offsets[k + 1]]` are node k's.
    offsets: Vec<usize>,
    times: Vec<f64>,
}

impl SpikeTrains {
    /// Trains from one list of times per node; refuses a time that is not finite and > 0, or out of order
    /// within its node, naming the node and the time.
    pub fn new(per_node: &[Vec<f64>]) -> Result<Self, CoreError> {
        let mut out = Self { offsets: vec![0], times: Vec::new() };
        for (node, times) in per_node.iter().enumerate() {
            for (k, &t) in times.iter().enumerate() {
                if !(t.is_finite() && t > 0.0) {
                    return Err(CoreError::invalid(
                        &format!("spike time of node {node}"),
                        t,
                        "must be finite and > 0 ms",
                    ));
                }
                if k > 0 && t < times[k - 1] {
                    let reason = format!("comes after {} ms: a node's times must be sorted", times[k - 1]);
                    return Err(CoreError::invalid(&format!("spike time of node {node}"), t, &reason));
                }
            }
            out.times.extend_from_slice(times);
            out.offsets.push(out.times.len());
        }
        Ok(out)
    }

    /// Nodes.
    #[must_use]
    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Node `k`'s times (ms); none for a node past the end.
    #[must_use]
    pub fn of(&self, k: usize) -> &[f64] {
        match (self.offsets.get(k), self.offsets.get(k + 1)) {
            (Some(&a), Some(&b)) => &self.times[a..b],
            _ => &[],
        }
    }
}

/// Reads the trains of the nodes given (0-based within the population, sorted) from where they are kept
/// (a table); every other node's train is left empty.
pub type LoadTrains = dyn Fn(&[u32]) -> Result<SpikeTrains, CoreError> + Send + Sync;

/// Where a generator population's trains come from: given whole (built in code), or loaded for the rank's
/// own nodes when the rank is built ([`NeuronParameters::load_nodes`]).
#[derive(Clone)]
pub struct TrainSource {
    nodes: u32,
    loaded: Arc<OnceLock<SpikeTrains>>,
    load: Option<Arc<LoadTrains>>,
}

impl TrainSource {
    /// Every node's trains, given.
    #[must_use]
    pub fn given(trains: SpikeTrains) -> Self {
        let nodes = trains.nodes() as u32;
        Self { nodes, loaded: Arc::new(OnceLock::from(trains)), load: None }
    }

    /// Trains of a population of `nodes` nodes that `load` reads, for a rank's nodes only.
    #[must_use]
    pub fn table(nodes: u32, load: Arc<LoadTrains>) -> Self {
        Self { nodes, loaded: Arc::new(OnceLock::new()), load: Some(load) }
    }

    /// The trains: those loaded for this rank's nodes, or, if none were asked for (a tool compiling the
    /// model outside a rank), every node's.
    fn trains(&self) -> Result<&SpikeTrains, CoreError> {
        if let Some(t) = self.loaded.get() {
            return Ok(t);
        }
        let all: Vec<u32> = (0..self.nodes).collect();
        self.load_nodes(&all)?;
        self.loaded.get().ok_or_else(|| CoreError::invalid("spike trains", 0.0, "could not be loaded"))
    }

    fn load_nodes(&self, nodes: &[u32]) -> Result<(), CoreError> {
        if let (Some(load), None) = (&self.load, self.loaded.get()) {
            let trains = load(nodes)?;
            let _ = self.loaded.set(trains);
        }
        Ok(())
    }
}

impl std::fmt::Debug for TrainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainSource").field("nodes", &self.nodes).field("loaded", &self.loaded.get().is_some()).finish()
    }
}

/// The same source (the same table or the same given trains).
impl PartialEq for TrainSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.loaded, &other.loaded)
    }
}

/// A generator population's parameters: where its trains come from and NEST's window `start`, `stop`
/// (ms; spikes stamped in (start, stop] are emitted).
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeGeneratorParams {
    pub trains: TrainSource,
    pub start: f64,
    pub stop: f64,
}

impl SpikeGeneratorParams {
    /// Sets `start` or `stop`; false for any other name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        match name {
            "start" => self.start = value,
            "stop" => self.stop = value,
            _ => return false,
        }
        true
    }

    /// Checks the window, naming the parameter out of its domain.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.start.is_finite() && self.start >= 0.0) {
            return Err(CoreError::invalid("start", self.start, "must be a finite time >= 0 (ms)"));
        }
        if self.stop.is_nan() || self.stop < self.start {
            return Err(CoreError::invalid("stop", self.stop, "must not be before start"));
        }
        Ok(())
    }
}

/// A generator population on a grid: every node's emission steps (a spike stamped t = (s + 1) dt is emitted
/// in step s), node by node.
#[derive(Debug)]
pub struct SpikeGeneratorDynamics {
    offsets: Vec<u32>,
    steps: Vec<Step>,
}

impl SpikeGeneratorDynamics {
    /// The emission steps of `p`'s trains on the grid `res`.
    pub fn new(p: &SpikeGeneratorParams, res: &Resolution) -> Result<Self, CoreError> {
        p.validate()?;
        let start = res.duration_steps("start", p.start)?;
        let stop = if p.stop.is_infinite() { Step::MAX } else { res.duration_steps("stop", p.stop)? };
        let trains = p.trains.trains()?;
        let mut offsets = vec![0u32];
        let mut steps = Vec::new();
        for k in 0..trains.nodes() {
            for &t in trains.of(k) {
                let stamp = res.offgrid_steps(&format!("spike time of node {k}"), t)?;
                if stamp > start && stamp <= stop {
                    steps.push(stamp - 1);
                }
            }
            let end = u32::try_from(steps.len()).map_err(|_| {
                CoreError::invalid("spike times", steps.len() as f64, "at most 2^32 - 1 per population")
            })?;
            offsets.push(end);
        }
        Ok(Self { offsets, steps })
    }
}

/// Per node: the next spike in the population's flat list and the end of its own.
#[derive(Clone, Debug, Default)]
pub struct SpikeGeneratorState {
    next: Vec<u32>,
    end: Vec<u32>,
}

impl SpikeGeneratorState {
    /// Names of the state columns.
    pub const COLUMN_NAMES: [&'static str; 2] = ["next_spike", "train_end"];
}

impl ModelState for SpikeGeneratorState {
    fn len(&self) -> usize {
        self.next.len()
    }
    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        let [next, end] = Self::COLUMN_NAMES;
        vec![(next, Column::U32(&self.next)), (end, Column::U32(&self.end))]
    }
    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        let [next, end] = Self::COLUMN_NAMES;
        match (value, name) {
            (ColumnValue::U32(x), n) if n == next => self.next[i] = x,
            (ColumnValue::U32(x), n) if n == end => self.end[i] = x,
            _ => return false,
        }
        true
    }
    fn bytes_per_neuron(&self) -> usize {
        8
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl NeuronModel for SpikeGenerator {
    fn name(&self) -> &'static str {
        "spike_generator"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &SpikeGeneratorState::COLUMN_NAMES
    }
    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(SpikeGeneratorState { next: vec![0; n], end: vec![0; n] })
    }
    fn recordables(&self) -> &'static [&'static str] {
        &[]
    }
}

impl NeuronDynamics for SpikeGeneratorDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &SPIKE_GENERATOR
    }

    /// Without a node index there is no train: the node stays silent.
    fn init(&self, _: &mut dyn ModelState, _: usize, _: f64) {}

    fn init_node(&self, state: &mut dyn ModelState, i: usize, node: u32, _: f64) {
        let Some(s) = state.as_any_mut().downcast_mut::<SpikeGeneratorState>() else { return };
        let k = node as usize;
        if let (Some(&a), Some(&b)) = (self.offsets.get(k), self.offsets.get(k + 1)) {
            (s.next[i], s.end[i]) = (a, b);
        }
    }

    fn step(
        &self,
        state: &mut dyn ModelState,
        range: Range<usize>,
        _: Option<&PoissonDrive>,
        _: &[u64],
        input: &mut [f32],
        _: &[f64],
        step: Step,
        fired: &mut Vec<u32>,
    ) {
        input[2 * range.start..2 * range.end].fill(0.0);
        let Some(s) = state.as_any_mut().downcast_mut::<SpikeGeneratorState>() else { return };
        for i in range {
            // Several spikes of one node in one step are several spikes (NEST's multiplicity).
            while s.next[i] < s.end[i] && self.steps[s.next[i] as usize] <= step {
                if self.steps[s.next[i] as usize] == step {
                    fired.push(i as u32);
                }
                s.next[i] += 1;
            }
        }
    }

    fn recordable(&self, _: &dyn ModelState, _: usize, _: usize) -> f64 {
        f64::NAN
    }
}

impl NeuronParameters for SpikeGeneratorParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &SPIKE_GENERATOR
    }
    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        Ok(Box::new(SpikeGeneratorDynamics::new(self, res)?))
    }
    /// The window; the trains are data, compared by [`PartialEq`] on the parameters.
    fn values(&self) -> Vec<(&'static str, f64)> {
        vec![("start", self.start), ("stop", self.stop)]
    }
    fn with_value(&self, name: &str, value: f64) -> Result<NeuronSpec, CoreError> {
        with_named(self, Self::set, name, value)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn load_nodes(&self, nodes: &[u32]) -> Result<(), CoreError> {
        self.trains.load_nodes(nodes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn emitted(p: &SpikeGeneratorParams, node: u32, steps: Step) -> Vec<Step> {
        let d = SpikeGeneratorDynamics::new(p, &Resolution::new(0.1).unwrap()).unwrap();
        let mut state = SPIKE_GENERATOR.new_state(1);
        d.init_node(state.as_mut(), 0, node, 0.0);
        let (mut input, mut fired, mut out) = (vec![0.0f32; 2], Vec::new(), Vec::new());
        for s in 0..steps {
            fired.clear();
            d.step(state.as_mut(), 0..1, None, &[], &mut input, &[], s, &mut fired);
            out.extend(fired.iter().map(|_| s));
        }
        out
    }

    #[test]
    fn times_follow_nest_offgrid_rounding_and_the_start_stop_window() {
        // NEST 3.10 with these times, start 0.5, stop 1.5: spikes stamped 1.0 (twice), 1.1 and 1.5.
        let trains = SpikeTrains::new(&[vec![0.1, 0.5, 0.5, 1.0, 1.0004, 1.03, 1.5]]).unwrap();
        let p = SpikeGeneratorParams { trains: TrainSource::given(trains), start: 0.5, stop: 1.5 };
        assert_eq!(emitted(&p, 0, 30), [9, 9, 10, 14], "emitted in the step that ends at the stamp");
    }

    #[test]
    fn each_node_emits_its_own_train() {
        let trains = SpikeTrains::new(&[vec![0.2], vec![0.1, 0.3]]).unwrap();
        let p = SpikeGeneratorParams { trains: TrainSource::given(trains), start: 0.0, stop: f64::INFINITY };
        assert_eq!(emitted(&p, 0, 10), [1]);
        assert_eq!(emitted(&p, 1, 10), [0, 2]);
        assert!(emitted(&p, 2, 10).is_empty(), "a node without times is silent");
    }

    #[test]
    fn a_rank_keeps_the_trains_of_its_own_nodes_only() {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = asked.clone();
        let load = move |nodes: &[u32]| {
            seen.lock().unwrap().push(nodes.to_vec());
            let all = [vec![0.2], vec![0.1, 0.3], vec![0.5]];
            let kept: Vec<Vec<f64>> = all
                .iter()
                .enumerate()
                .map(|(k, t)| if nodes.contains(&(k as u32)) { t.clone() } else { vec![] })
                .collect();
            SpikeTrains::new(&kept)
        };
        let p = SpikeGeneratorParams { trains: TrainSource::table(3, Arc::new(load)), start: 0.0, stop: f64::INFINITY };
        p.load_nodes(&[1]).unwrap();
        assert_eq!(emitted(&p, 1, 10), [0, 2]);
        assert!(emitted(&p, 0, 10).is_empty() && emitted(&p, 2, 10).is_empty(), "other ranks' nodes are not held");
        assert_eq!(*asked.lock().unwrap(), vec![vec![1]], "read once, for this rank's node");
    }

    #[test]
    fn bad_times_are_refused_with_node_and_value() {
        let e = SpikeTrains::new(&[vec![1.0], vec![0.0]]).unwrap_err().to_string();
        assert!(e.contains("node 1") && e.contains('0'), "{e}");
        let e = SpikeTrains::new(&[vec![2.0, 1.0]]).unwrap_err().to_string();
        assert!(e.contains("sorted"), "{e}");
    }
}
