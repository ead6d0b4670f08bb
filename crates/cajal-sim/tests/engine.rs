//! The engine end to end on small networks: a spike reaches its target after exactly its delay and moves the
//! membrane as the closed-form PSP says, and the full neuron state is bitwise the same for any number of
//! threads.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::PathBuf;

use cajal_comm::{threads_world, Communicator, Local};
use cajal_core::iaf_psc_exp::IafPscExpParams;
use cajal_core::{unpack_spike, PackedSpike, Resolution, Step};
use cajal_models::{load_model, Override};
use cajal_net::{Background, Balancer, Distribution, PopulationNetwork, PopulationSpec, Projection, Rule};
use cajal_sim::{build_engine, BuildOptions, Engine, RankEngine, RunControl, SimError, SpikeObserver};

fn options(threads: usize) -> BuildOptions {
    BuildOptions { threads, balancer: Balancer::RoundRobin }
}

#[derive(Default)]
struct Collect(Vec<(Step, u32)>);

impl SpikeObserver for Collect {
    fn observe(&mut self, t0: Step, spikes: &[PackedSpike]) -> Result<(), SimError> {
        for &s in spikes {
            let (lag, gid) = unpack_spike(s);
            self.0.push((t0 + u64::from(lag), gid));
        }
        Ok(())
    }
}

fn neuron(i_e: f64) -> IafPscExpParams {
    IafPscExpParams { i_e, ..IafPscExpParams::potjans_diesmann() }
}

fn pop(name: &str, i_e: f64) -> PopulationSpec {
    PopulationSpec {
        name: name.into(),
        first_gid: 0,
        size: 1,
        neuron: cajal_core::NeuronSpec::new(neuron(i_e)),
        v_init: Distribution::Constant(-65.0),
        background: Background::None,
        expected_rate_hz: None,
        placement: None,
    }
}

/// (gid -> every state column's value) over every part, as bit patterns.
fn state_by_gid(engine: &Engine) -> BTreeMap<u32, Vec<u64>> {
    use cajal_core::neuron_model::Column;
    let mut out = BTreeMap::new();
    for part in engine.parts() {
        for i in 0..part.len() {
            let bits = part.states()[0]
                .columns()
                .iter()
                .map(|(_, c)| match c {
                    Column::F64(v) => v[i].to_bits(),
                    Column::U32(v) => u64::from(v[i]),
                })
                .collect();
            out.insert(part.gid(i as u32), bits);
        }
    }
    out
}

#[test]
fn a_spike_arrives_after_its_delay_with_the_analytic_psp() {
    let projection = Projection {
        source: 0,
        target: 1,
        rule: Rule::FixedIndegree(1),
        weight: Distribution::Constant(87.81),
        delay_ms: Distribution::Constant(1.5),
        distance: Default::default(),
        allow_autapses: true,
        plasticity: None,
    };
    let net = PopulationNetwork::new(
        1,
        Resolution::new(0.1).unwrap(),
        vec![pop("driver", 500.0), pop("target", 0.0)],
        vec![projection],
    )
    .unwrap();
    let (mut engine, stats) = build_engine(&net, &mut Local, options(2)).unwrap();
    assert_eq!(stats.synapses, 1);
    assert_eq!(engine.window(), 15);
    let mut spikes = Collect::default();
    let mut trace = Vec::new();
    for _ in 0..200 {
        engine.run_controlled(1, &mut Local, &mut spikes, &mut |_| {}, RunControl::default()).unwrap();
        trace.push(state_by_gid(&engine)[&1][0]);
    }
    // The driver first fires in step 138 (constant current, see the integrator tests).
    assert_eq!(spikes.0.first(), Some(&(138, 0)));
    let v: Vec<f64> = trace.into_iter().map(f64::from_bits).collect();
    // Emitted in step 138 with a delay of 15 steps: the current jumps at the end of step 153, so V moves
    // from step 154 on and after step 153 + k equals the PSP at k * 0.1 ms.
    assert!(v[..=153].iter().all(|&x| x == 0.0), "target moved before the spike arrived");
    let (tm, ts, c, w) = (10.0_f64, 0.5_f64, 250.0_f64, f64::from(87.81_f32));
    for k in 1..40 {
        let t = k as f64 * 0.1;
        let psp = w * ts * tm / (c * (tm - ts)) * ((-t / tm).exp() - (-t / ts).exp());
        assert!((v[153 + k as usize] - psp).abs() < 1e-9, "k = {k}: {} vs {psp}", v[153 + k as usize]);
    }
}

/// Final state by gid and every spike a rank observed.
type RunResult = (BTreeMap<u32, Vec<u64>>, Vec<(Step, u32)>);

fn microcircuit(comm: &mut dyn Communicator, build: BuildOptions) -> RunResult {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/microcircuit.toml");
    let model = load_model(&path, &[Override::new("scaling.N", 0.05), Override::new("scaling.K", 0.05)]).unwrap();
    let (mut engine, _) = build_engine(&model.network, comm, build).unwrap();
    let mut spikes = Collect::default();
    // Two calls with an odd split: results must not depend on how a run is cut into calls either.
    engine.run_controlled(1234, comm, &mut spikes, &mut |_| {}, RunControl::default()).unwrap();
    engine.run_controlled(766, comm, &mut spikes, &mut |_| {}, RunControl::default()).unwrap();
    (state_by_gid(&engine), spikes.0)
}

#[test]
fn neuron_state_is_bitwise_identical_for_one_and_three_threads() {
    let (one, spikes_one) = microcircuit(&mut Local, options(1));
    let (three, spikes_three) = microcircuit(&mut Local, options(3));
    assert!(spikes_one.len() > 500, "network too quiet to compare: {}", spikes_one.len());
    assert_eq!(spikes_one, spikes_three);
    assert_eq!(one.len(), three.len());
    assert_eq!(one, three);
}

#[test]
fn neuron_state_is_bitwise_identical_across_in_process_ranks_and_balancers() {
    let (one, spikes_one) = microcircuit(&mut Local, options(1));
    for balancer in [Balancer::RoundRobin, Balancer::CostBlocks] {
        let per_rank: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = threads_world(3)
                .into_iter()
                .map(|mut comm| s.spawn(move || microcircuit(&mut comm, BuildOptions { threads: 2, balancer })))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut state = BTreeMap::new();
        let mut spikes = Vec::new();
        for (st, sp) in per_rank {
            state.extend(st);
            spikes.extend(sp);
        }
        spikes.sort_unstable();
        let mut expected = spikes_one.clone();
        expected.sort_unstable();
        assert_eq!(spikes, expected, "{balancer:?}: each rank observes its own spikes; together they are all");
        assert_eq!(state, one, "{balancer:?}");
    }
}

/// Panics when it sees window 10, standing in for any failure inside the window loop.
struct PanickingObserver;

impl SpikeObserver for PanickingObserver {
    fn observe(&mut self, t0: Step, _spikes: &[PackedSpike]) -> Result<(), SimError> {
        assert!(t0 != 10, "observer failure injected by the test");
        Ok(())
    }
}

#[test]
fn a_panic_in_the_window_loop_ends_the_run_with_an_error_not_a_hang() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/microcircuit.toml");
        let model = load_model(&path, &[Override::new("scaling.N", 0.02), Override::new("scaling.K", 0.02)]).unwrap();
        let (mut engine, _) = build_engine(&model.network, &mut Local, options(3)).unwrap();
        let outcome =
            engine.run_controlled(100, &mut Local, &mut PanickingObserver, &mut |_| {}, RunControl::default());
        let _ = done_tx.send(matches!(outcome, Err(SimError::WorkerPanic)));
    });
    let got = done_rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the run hung after a panic");
    assert!(got, "the run must report the failure");
}

#[test]
fn state_exported_mid_run_continues_bitwise_on_another_layout() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/microcircuit.toml");
    let load = || load_model(&path, &[Override::new("scaling.N", 0.05), Override::new("scaling.K", 0.05)]).unwrap();
    let (straight_state, straight_spikes) = microcircuit(&mut Local, options(1));
    // Run 1234 steps on 2 threads, save, restore on 3 in-process ranks x 2 threads, run the other 766.
    let model = load();
    let (mut first, _) = build_engine(&model.network, &mut Local, options(2)).unwrap();
    let mut spikes = Collect::default();
    first.run_controlled(1234, &mut Local, &mut spikes, &mut |_| {}, RunControl::default()).unwrap();
    let shard = first.export_state(&mut Local).unwrap();
    assert_eq!(shard.len(), 3858);
    let resumed: Vec<RunResult> = std::thread::scope(|s| {
        let handles: Vec<_> = threads_world(3)
            .into_iter()
            .map(|mut comm| {
                let (model, shard) = (load(), &shard);
                s.spawn(move || {
                    let (mut engine, _) = build_engine(&model.network, &mut comm, options(2)).unwrap();
                    assert_eq!(engine.import_state(1234, shard).unwrap(), u64::from(engine.neurons().len()));
                    let mut spikes = Collect::default();
                    engine.run_controlled(766, &mut comm, &mut spikes, &mut |_| {}, RunControl::default()).unwrap();
                    (state_by_gid(&engine), spikes.0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut state = BTreeMap::new();
    let mut all_spikes = spikes.0;
    for (st, sp) in resumed {
        state.extend(st);
        all_spikes.extend(sp);
    }
    all_spikes.sort_unstable();
    let mut expected = straight_spikes;
    expected.sort_unstable();
    assert_eq!(all_spikes, expected);
    assert_eq!(state, straight_state);
}
