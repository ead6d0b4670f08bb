//! The rate engine against the one-process reference and flyvis: the optic lobe with pretrained parameters
//! gives bitwise the reference integrator's voltages, within 1e-4 of flyvis' regression response, and the
//! same bits on 1, 2 and 4 ranks with any thread count; Euler with tau clamped to dt on a toy network.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use cajal_comm::{threads_world, Communicator, Local};
use cajal_core::{Gid, Step};
use cajal_models::optic_lobe::dynamics::GradedNetwork;
use cajal_models::optic_lobe::params::{index, Params};
use cajal_models::optic_lobe::recipe::OpticLobe;
use cajal_models::optic_lobe::stimulus::{Stimulus, StimulusDrive};
use cajal_models::optic_lobe::Connectome;
use cajal_net::{Balancer, NoDrive, RateNeuron, RateRecipe, Transfer};
use cajal_sim::{build_rate_engine, RunControl, SimError, ValueObserver};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pretrained(extent: i64) -> (OpticLobe, Params) {
    let file = repo().join("models/optic_lobe/fib25-fib19_v2.2.json");
    let indexed = Connectome::read(&file, 15, true).unwrap();
    let p =
        Params::read(&repo().join("tests/data/optic_lobe/pretrained_flow_0000_000.json"), &indexed, &index(&indexed))
            .unwrap();
    let c = if extent == 15 { indexed.clone() } else { Connectome::read(&file, extent, true).unwrap() };
    (OpticLobe::new(c, &indexed, &p), p)
}

#[derive(Default)]
struct Rows(Vec<Vec<f64>>);

impl ValueObserver for Rows {
    fn rows(&mut self, first_step: Step, width: usize, rows: &[f64]) -> Result<(), SimError> {
        assert_eq!(first_step as usize, self.0.len(), "rows arrive in order");
        self.0.extend(rows.chunks(width).map(<[f64]>::to_vec));
        Ok(())
    }
}

/// Runs `steps` steps on `comm` with `threads` threads and constant input 0.5; returns every voltage by
/// gid (from this rank) and, on rank 0, the recorded rows of `record`.
fn run(
    lobe: &OpticLobe,
    comm: &mut dyn Communicator,
    threads: usize,
    balancer: Balancer,
    steps: Step,
    record: &[Gid],
) -> (Vec<(Gid, f64)>, Vec<Vec<f64>>) {
    let (mut engine, stats) = build_rate_engine(lobe, comm, threads, balancer, 0.02).unwrap();
    assert_eq!(stats.neurons, u64::from(lobe.num_neurons()));
    engine.record(record);
    let drive = StimulusDrive::new(Stimulus::Constant(0.5), lobe.connectome.extent, 0.02);
    let mut rows = Rows::default();
    // Two calls, so the state carries over between runs as between presim and sim.
    engine.run(steps / 2, &drive, comm, &mut rows, &mut |_| {}, RunControl::default()).unwrap();
    engine.run(steps - steps / 2, &drive, comm, &mut rows, &mut |_| {}, RunControl::default()).unwrap();
    assert_eq!(engine.step(), steps);
    (engine.voltages(), rows.0)
}

#[test]
fn the_engine_equals_the_reference_integrator_bit_for_bit_and_flyvis_within_1e_4() {
    let (lobe, p) = pretrained(15);
    let c = &lobe.connectome;
    let central: Vec<Gid> = (0..c.types.len()).map(|t| c.gid(t, (0, 0)).unwrap()).collect();
    let (voltages, rows) = run(&lobe, &mut Local, 2, Balancer::RoundRobin, 12, &central);
    let mut reference = Vec::new();
    GradedNetwork::new(c, &p).run(0.02, 12, 0.5, |_, v| reference = v.to_vec());
    assert_eq!(voltages.len(), reference.len());
    for &(g, v) in &voltages {
        assert_eq!(v.to_bits(), reference[g as usize].to_bits(), "neuron {g}");
    }
    let text = std::fs::read_to_string(repo().join("tests/data/optic_lobe/steady_state_flow_0000_000.json")).unwrap();
    let flyvis: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = flyvis["voltage"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for (step, (row, want)) in rows.iter().zip(expected).enumerate() {
        for (t, (&v, w)) in row.iter().zip(want.as_array().unwrap()).enumerate() {
            let w = w.as_f64().unwrap();
            assert!((v - w).abs() < 1e-4, "step {step}, {}: {v} vs flyvis {w}", c.types[t].name);
        }
    }
}

#[test]
fn the_same_bits_on_1_2_and_4_ranks_with_any_thread_count_and_balancer() {
    let (lobe, _) = pretrained(5);
    let c = &lobe.connectome;
    let record: Vec<Gid> = (0..c.types.len()).filter_map(|t| c.gid(t, (1, -1))).collect();
    let (mut baseline, base_rows) = run(&lobe, &mut Local, 1, Balancer::RoundRobin, 9, &record);
    baseline.sort_unstable_by_key(|&(g, _)| g);
    for (ranks, threads, balancer) in [
        (2, 1, Balancer::RoundRobin),
        (2, 3, Balancer::CostBlocks),
        (4, 2, Balancer::RoundRobin),
        (4, 1, Balancer::CostBlocks),
    ] {
        let world = threads_world(ranks);
        let lobe = &lobe;
        let record = &record;
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = world
                .into_iter()
                .map(|mut comm| s.spawn(move || run(lobe, &mut comm, threads, balancer, 9, record)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<(Gid, f64)> = results.iter().flat_map(|(v, _)| v.iter().copied()).collect();
        all.sort_unstable_by_key(|&(g, _)| g);
        let bits = |v: &[(Gid, f64)]| v.iter().map(|&(g, x)| (g, x.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&all), bits(&baseline), "{ranks} ranks x {threads} threads, {balancer:?}");
        assert_eq!(results[0].1, base_rows, "rank 0's recording on {ranks} ranks");
        assert!(results[1..].iter().all(|(_, rows)| rows.is_empty()), "only rank 0 observes");
    }
}

/// Two neurons: 0 drives 1 with weight 2; 0 has tau shorter than dt (clamped), 1 receives the drive.
struct Pair(Transfer);

impl RateRecipe for Pair {
    fn num_neurons(&self) -> Gid {
        2
    }
    fn transfer(&self) -> Transfer {
        self.0
    }
    fn neuron(&self, gid: Gid) -> RateNeuron {
        match gid {
            0 => RateNeuron { bias: -1.0, tau_s: 0.001, v_init: 3.0, input_channel: None, noise_std: 0.0 },
            _ => RateNeuron { bias: 0.25, tau_s: 0.1, v_init: 0.0, input_channel: None, noise_std: 0.0 },
        }
    }
    fn inputs_to(&self, target: Gid, sink: &mut dyn FnMut(Gid, f64)) {
        if target == 1 {
            sink(0, 2.0);
        }
    }
}

#[test]
fn euler_with_tau_clamped_to_dt_and_a_one_step_coupling_for_each_transfer_function() {
    for transfer in [Transfer::Relu, Transfer::Tanh, Transfer::Linear] {
        let (mut engine, _) = build_rate_engine(&Pair(transfer), &mut Local, 1, Balancer::RoundRobin, 0.01).unwrap();
        engine.record(&[0, 1]);
        let mut rows = Rows::default();
        engine.run(2, &NoDrive, &mut Local, &mut rows, &mut |_| {}, RunControl::default()).unwrap();
        // Neuron 0: tau 1 ms < dt 10 ms, so one step lands on the bias: V = 3 + (-3 - 1) = -1.
        assert_eq!(rows.0[0][0], -1.0);
        // Neuron 1 sees f(V0) of the step before: f(3), then f(-1).
        let v1 = 0.0 + 0.01 * (-0.0 + 0.25 + 2.0 * transfer.apply(3.0)) / 0.1;
        assert_eq!(rows.0[0][1], v1, "{transfer:?}");
        let v2 = v1 + 0.01 * (-v1 + 0.25 + 2.0 * transfer.apply(-1.0)) / 0.1;
        assert_eq!(rows.0[1][1], v2, "{transfer:?}");
    }
}

/// `n` uncoupled linear units driven by noise of amplitude `sigma` (and a weak chain coupling, so the
/// exchange carries something).
struct Noisy {
    n: u32,
    sigma: f64,
}

impl RateRecipe for Noisy {
    fn num_neurons(&self) -> Gid {
        self.n
    }
    fn transfer(&self) -> Transfer {
        Transfer::Linear
    }
    fn seed(&self) -> u64 {
        99
    }
    fn neuron(&self, _: Gid) -> RateNeuron {
        RateNeuron { bias: 0.0, tau_s: 0.05, v_init: 0.0, input_channel: None, noise_std: self.sigma }
    }
    fn inputs_to(&self, target: Gid, sink: &mut dyn FnMut(Gid, f64)) {
        if target > 0 && target % 10 != 0 {
            sink(target - 1, 1e-3);
        }
    }
}

#[test]
fn noise_comes_from_each_neurons_own_stream_with_the_variance_of_its_ar1_process() {
    let recipe = Noisy { n: 400, sigma: 2.0 };
    let all: Vec<Gid> = (0..400).collect();
    let one = {
        let (mut e, _) = build_rate_engine(&recipe, &mut Local, 2, Balancer::RoundRobin, 0.01).unwrap();
        e.record(&all);
        let mut rows = Rows::default();
        e.run(2000, &NoDrive, &mut Local, &mut rows, &mut |_| {}, RunControl::default()).unwrap();
        rows.0
    };
    // V <- a V + (dt/tau) sigma xi with a = 1 - dt/tau: stationary variance (dt/tau)^2 sigma^2 / (1 - a^2).
    let (c, a) = (0.01 / 0.05, 1.0 - 0.01 / 0.05);
    let want = c * c * 4.0 / (1.0 - a * a);
    let tail: Vec<f64> = one[500..].iter().flat_map(|r| r.iter().copied()).collect();
    let mean = tail.iter().sum::<f64>() / tail.len() as f64;
    let var = tail.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / tail.len() as f64;
    assert!(mean.abs() < 0.02 && (var / want - 1.0).abs() < 0.05, "mean {mean}, variance {var} vs {want}");
    let world = threads_world(3);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = world
            .into_iter()
            .map(|mut comm| {
                let (recipe, all) = (&recipe, &all);
                s.spawn(move || {
                    let (mut e, _) = build_rate_engine(recipe, &mut comm, 1, Balancer::CostBlocks, 0.01).unwrap();
                    e.record(all);
                    let mut rows = Rows::default();
                    e.run(2000, &NoDrive, &mut comm, &mut rows, &mut |_| {}, RunControl::default()).unwrap();
                    rows.0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results[0] == one, "3 ranks give the same noisy voltages, bit for bit");
}

/// Every rank's (gid, voltage), sorted by gid.
fn all_voltages(per_rank: Vec<Vec<(Gid, f64)>>) -> Vec<(Gid, u64)> {
    let mut all: Vec<(Gid, u64)> = per_rank.into_iter().flatten().map(|(g, v)| (g, v.to_bits())).collect();
    all.sort_unstable();
    all
}

#[test]
fn a_rate_network_saved_to_a_memory_store_on_2_ranks_continues_on_3_bit_for_bit() {
    use cajal_checkpoint::{CheckpointStore, ShardState, StoreOptions};
    use cajal_sim::RankEngine;
    let recipe = Noisy { n: 300, sigma: 2.0 };
    let (mut e, _) = build_rate_engine(&recipe, &mut Local, 1, Balancer::RoundRobin, 0.01).unwrap();
    e.run(300, &NoDrive, &mut Local, &mut Rows::default(), &mut |_| {}, RunControl::default()).unwrap();
    let straight = all_voltages(vec![e.voltages()]);
    let store = CheckpointStore::open("memory://graded", StoreOptions::default()).unwrap();
    let store = &store;
    let recipe = &recipe;
    std::thread::scope(|s| {
        for mut comm in threads_world(2) {
            s.spawn(move || {
                let (mut e, _) = build_rate_engine(recipe, &mut comm, 2, Balancer::RoundRobin, 0.01).unwrap();
                e.run(120, &NoDrive, &mut comm, &mut Rows::default(), &mut |_| {}, RunControl::default()).unwrap();
                let shard = e.export_state(&mut comm).unwrap();
                store.put(&format!("shard-{}", comm.rank()), shard.encode(1, 1).unwrap().0).unwrap();
            });
        }
    });
    let resumed: Vec<Vec<(Gid, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = threads_world(3)
            .into_iter()
            .map(|mut comm| {
                s.spawn(move || {
                    let (mut e, _) = build_rate_engine(recipe, &mut comm, 1, Balancer::CostBlocks, 0.01).unwrap();
                    let mut taken = 0;
                    for rank in 0..2 {
                        let bytes = store.get(&format!("shard-{rank}")).unwrap().unwrap();
                        taken += e.import_state(120, &ShardState::decode(&bytes, "shard").unwrap()).unwrap();
                    }
                    assert_eq!(taken, u64::from(e.neurons().len()), "every neuron restored once");
                    e.finish_restore(&mut comm).unwrap();
                    assert_eq!(RankEngine::step(&e), 120);
                    e.run(180, &NoDrive, &mut comm, &mut Rows::default(), &mut |_| {}, RunControl::default()).unwrap();
                    e.voltages()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(all_voltages(resumed) == straight, "restored on 3 ranks, the voltages differ from the straight run");
}
