//! A second neuron model, defined here and nowhere in the engine: a clock neuron that fires every `period`
//! steps from a phase set by its initial potential. Mixed with iaf_psc_exp in one network it fires on its
//! schedule, drives its iaf targets, gives the same spikes on any number of ranks and threads, and its
//! state goes through a checkpoint and back on another layout.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::any::Any;
use std::collections::BTreeSet;
use std::ops::Range;

use cajal_comm::{threads_world, Communicator, Local};
use cajal_core::iaf_psc_exp::{IafPscExpParams, PoissonDrive};
use cajal_core::neuron_model::{Column, ColumnValue, ModelState};
use cajal_core::{
    unpack_spike, CoreError, NeuronDynamics, NeuronModel, NeuronParameters, NeuronSpec, PackedSpike, Resolution, Step,
};
use cajal_net::{Background, Distribution, PopulationNetwork, PopulationSpec, Projection, Recipe, Rule};
use cajal_sim::{build_engine, BuildOptions, RankEngine, RunControl, SimError, SpikeObserver};

#[derive(Debug)]
struct Clock;

static CLOCK: Clock = Clock;

#[derive(Debug, Default)]
struct ClockState {
    countdown: Vec<u32>,
}

impl ModelState for ClockState {
    fn len(&self) -> usize {
        self.countdown.len()
    }
    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        vec![("countdown", Column::U32(&self.countdown))]
    }
    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        match (name, value) {
            ("countdown", ColumnValue::U32(x)) => self.countdown[i] = x,
            _ => return false,
        }
        true
    }
    fn bytes_per_neuron(&self) -> usize {
        4
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl NeuronModel for Clock {
    fn name(&self) -> &'static str {
        "clock_neuron"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["countdown"]
    }
    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(ClockState { countdown: vec![0; n] })
    }
    fn recordables(&self) -> &'static [&'static str] {
        &["countdown"]
    }
}

#[derive(Debug, Clone, PartialEq)]
struct ClockParams {
    period: u32,
}

#[derive(Debug)]
struct ClockDynamics {
    period: u32,
}

impl NeuronDynamics for ClockDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &CLOCK
    }
    /// The phase comes from the initial potential: |V_m| mod period steps to the first spike.
    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64) {
        if let Some(s) = state.as_any_mut().downcast_mut::<ClockState>() {
            s.countdown[i] = (v_m.abs() as u32) % self.period;
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
        _: Step,
        fired: &mut Vec<u32>,
    ) {
        let Some(s) = state.as_any_mut().downcast_mut::<ClockState>() else { return };
        input[2 * range.start..2 * range.end].fill(0.0);
        for i in range {
            if s.countdown[i] == 0 {
                fired.push(i as u32);
                s.countdown[i] = self.period - 1;
            } else {
                s.countdown[i] -= 1;
            }
        }
    }
    fn recordable(&self, state: &dyn ModelState, _: usize, i: usize) -> f64 {
        state.as_any().downcast_ref::<ClockState>().map_or(f64::NAN, |s| f64::from(s.countdown[i]))
    }
}

impl NeuronParameters for ClockParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &CLOCK
    }
    fn compile(&self, _: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        if self.period == 0 {
            return Err(CoreError::invalid("period", 0.0, "must be >= 1"));
        }
        Ok(Box::new(ClockDynamics { period: self.period }))
    }
    fn values(&self) -> Vec<(&'static str, f64)> {
        vec![("period", f64::from(self.period))]
    }
    fn with_value(&self, name: &str, value: f64) -> Result<NeuronSpec, CoreError> {
        match name {
            "period" => Ok(NeuronSpec::new(ClockParams { period: value as u32 })),
            _ => Err(CoreError::invalid(name, value, "is not a parameter of clock_neuron")),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Default)]
struct Collect(BTreeSet<(Step, u32)>);

impl SpikeObserver for Collect {
    fn observe(&mut self, t0: Step, spikes: &[PackedSpike]) -> Result<(), SimError> {
        self.0.extend(spikes.iter().map(|&s| unpack_spike(s)).map(|(lag, gid)| (t0 + u64::from(lag), gid)));
        Ok(())
    }
}

const CLOCKS: u32 = 12;
const PERIOD: u32 = 7;

/// 12 clock neurons (phases 0..12 mod 7, from V_m uniform in [0, 12)) driving 20 iaf_psc_exp neurons.
fn network() -> PopulationNetwork {
    let pop = |name: &str, size, neuron, v_init| PopulationSpec {
        name: name.into(),
        first_gid: 0,
        size,
        neuron,
        v_init,
        background: Background::None,
        expected_rate_hz: None,
        placement: None,
    };
    let clocks = pop(
        "clocks",
        CLOCKS,
        NeuronSpec::new(ClockParams { period: PERIOD }),
        Distribution::Uniform { low: 0.0, high: 12.0 },
    );
    let lif = pop("lif", 20, NeuronSpec::new(IafPscExpParams::potjans_diesmann()), Distribution::Constant(-58.0));
    let drive = Projection {
        source: 0,
        target: 1,
        rule: Rule::FixedIndegree(4),
        weight: Distribution::Constant(300.0),
        delay_ms: Distribution::Constant(1.0),
        distance: Default::default(),
        allow_autapses: true,
        plasticity: None,
    };
    PopulationNetwork::new(5, Resolution::new(0.1).unwrap(), vec![clocks, lif], vec![drive]).unwrap()
}

fn build(net: &PopulationNetwork, comm: &mut dyn Communicator, threads: usize) -> cajal_sim::Engine {
    let options = BuildOptions { threads, balancer: cajal_net::Balancer::RoundRobin };
    build_engine(net, comm, options).unwrap().0
}

fn run(engine: &mut cajal_sim::Engine, comm: &mut dyn Communicator, steps: Step, spikes: &mut Collect) {
    engine.advance(steps, spikes, comm, RunControl::default(), &mut |_| {}).unwrap();
}

/// Every rank's spikes of `steps` steps on `ranks` in-process ranks of `threads` threads.
fn spikes_on(net: &PopulationNetwork, ranks: usize, threads: usize, steps: Step) -> BTreeSet<(Step, u32)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = threads_world(ranks)
            .into_iter()
            .map(|mut comm| {
                s.spawn(move || {
                    let mut engine = build(net, &mut comm, threads);
                    let mut spikes = Collect::default();
                    run(&mut engine, &mut comm, steps, &mut spikes);
                    spikes.0
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_model_defined_outside_the_engine_runs_beside_iaf_psc_exp() {
    let net = network();
    let mut engine = build(&net, &mut Local, 2);
    let names: Vec<&str> = engine.models().iter().map(|m| m.name()).collect();
    assert_eq!(names, vec!["clock_neuron", "iaf_psc_exp"], "one state block per model, in class order");
    let mut spikes = Collect::default();
    run(&mut engine, &mut Local, 300, &mut spikes);
    for gid in 0..CLOCKS {
        let times: Vec<Step> = spikes.0.iter().filter(|(_, g)| *g == gid).map(|(t, _)| *t).collect();
        let first = times[0];
        assert!(first < Step::from(PERIOD), "clock {gid} starts within a period: {first}");
        let expected: Vec<Step> = (first..300).step_by(PERIOD as usize).collect();
        assert_eq!(times, expected, "clock {gid} fires every {PERIOD} steps");
    }
    let lif_spikes = spikes.0.iter().filter(|(_, g)| *g >= CLOCKS).count();
    assert!(lif_spikes > 20, "the clocks drive the iaf neurons: {lif_spikes} spikes");
    assert_eq!(spikes_on(&net, 3, 1, 300), spikes.0, "3 ranks give the same spikes");
    assert_eq!(spikes_on(&net, 2, 2, 300), spikes.0, "2 ranks x 2 threads give the same spikes");
}

#[test]
fn a_models_own_state_goes_through_a_checkpoint_onto_another_layout() {
    let net = network();
    let mut straight = Collect::default();
    let mut engine = build(&net, &mut Local, 1);
    run(&mut engine, &mut Local, 250, &mut straight);
    // 2 ranks stop at step 123 (not a multiple of the period or the window) and save their state.
    let shards: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = threads_world(2)
            .into_iter()
            .map(|mut comm| {
                let net = &net;
                s.spawn(move || {
                    let mut engine = build(net, &mut comm, 2);
                    run(&mut engine, &mut comm, 123, &mut Collect::default());
                    engine.export_state(&mut comm).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(shards[0].u32_column("clock_neuron/countdown").is_some(), "the model's state is in the shard");
    assert!(shards[0].f64_column("iaf_psc_exp/V_m_rel").is_some());
    let mut engine = build(&net, &mut Local, 3);
    let taken: u64 = shards.iter().map(|shard| engine.import_state(123, shard).unwrap()).sum();
    assert_eq!(taken, u64::from(net.num_neurons()));
    engine.finish_restore(&mut Local).unwrap();
    let mut resumed = Collect::default();
    run(&mut engine, &mut Local, 127, &mut resumed);
    let after: BTreeSet<_> = straight.0.iter().filter(|(t, _)| *t >= 123).copied().collect();
    assert_eq!(resumed.0, after, "restored on 1 rank of 3 threads, the spikes continue as if never stopped");
}
