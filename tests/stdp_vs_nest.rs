//! STDP synapses against NEST 3.10, pair by pair (tests/data/nest_stdp, made by
//! scripts/make-nest-stdp-references.sh): two presynaptic spike generators onto two iaf_psc_delta neurons
//! whose spikes are forced by their own generators, all four synapses plastic, for stdp_synapse and
//! stdp_pl_synapse_hom at dendritic delays 0.1, 0.5 and 1.0 ms, with trains full of edge cases
//! (simultaneous spikes, bursts, post spikes exactly one delay after and before pre spikes). Every weight
//! NEST's weight_recorder saw must appear in cajal's snapshots (taken every step) within 1e-12 relative.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::fmt::Write as _;
use std::path::Path;

use arrow_array::{Array, Float64Array, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use common::{repo, run_microcircuit_model, scratch_dir};

const CASES: [&str; 8] = [
    "pl_hpc_d0.1",
    "pl_hpc_d0.5",
    "pl_hpc_d1.0",
    "pl_alt_d0.5",
    "stdp_d0.1",
    "stdp_d0.5",
    "stdp_d1.0",
    "stdp_negative_d1.0",
];

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// The case as a `model = "network"` file: generators `pre0`, `pre1`, `drive0`, `drive1`, neurons
/// `post0`, `post1`, and one plastic projection per (pre, post) pair (each with its own initial weight).
fn model_file(case: &Value, dir: &Path) -> String {
    let csv = |name: &str, times: &[f64]| {
        let mut text = String::from("node_id,time_ms\n");
        for t in times {
            writeln!(text, "0,{t}").unwrap();
        }
        std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
    };
    for k in 0..2 {
        csv(&format!("pre{k}"), &numbers(&case["pre_times"][k]));
        csv(&format!("drive{k}"), &numbers(&case["post_drive_times"][k]));
    }
    let post = &case["post_neuron"];
    let mut m = format!(
        "model = \"network\"\n[simulation]\ndt_ms = 0.1\nt_presim_ms = 0.0\nt_sim_ms = {}\nseed = 1\n[scaling]\nN = 1.0\n",
        case["t_sim_ms"]
    );
    for k in 0..2 {
        for (name, file) in [(format!("pre{k}"), format!("pre{k}.csv")), (format!("drive{k}"), format!("drive{k}.csv"))]
        {
            writeln!(m, "[[populations]]\nname = \"{name}\"\nsize = 1\ndevice = {{ model = \"spike_generator\", spike_times = \"{file}\" }}").unwrap();
        }
        writeln!(
            m,
            "[[populations]]\nname = \"post{k}\"\nsize = 1\nV_m = {}\nneuron = {{ model = \"iaf_psc_delta\", E_L = {}, V_reset = {}, V_th = {}, t_ref = {}, C_m = {}, tau_m = {}, I_e = {}, tau_minus = {} }}",
            post["V_m"], post["E_L"], post["V_reset"], post["V_th"], post["t_ref"], post["C_m"], post["tau_m"], post["I_e"], case["tau_minus"]
        )
        .unwrap();
    }
    let params: Vec<String> = case["params"].as_object().unwrap().iter().map(|(k, v)| format!("{k} = {v}")).collect();
    for k in 0..2 {
        writeln!(
            m,
            "[[projections]]\nsource = \"drive{k}\"\ntarget = \"post{k}\"\nrule = \"one_to_one\"\nweight = {}\ndelay_ms = {}",
            case["drive_weight"], case["drive_delay_ms"]
        )
        .unwrap();
        for j in 0..2 {
            writeln!(
                m,
                "[[projections]]\nsource = \"pre{k}\"\ntarget = \"post{j}\"\nrule = \"all_to_all\"\nweight = {}\ndelay_ms = {}\nsynapse_model = \"{}\"\n{}",
                case["initial_weights"][k][j],
                case["delay_ms"],
                case["synapse_model"].as_str().unwrap(),
                params.join("\n")
            )
            .unwrap();
        }
    }
    m
}

/// The weights of every snapshot of one projection, in time order (all parts of all ranks).
fn snapshots(out: &Path, label: &str) -> Vec<(f64, f64)> {
    let mut rows = Vec::new();
    for e in std::fs::read_dir(out.join("weights")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{label}-rank")) {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap() {
            let batch = batch.unwrap();
            let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
            assert_eq!(names, ["pre", "post", "time_ms", "weight"]);
            let pre = batch.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
            let time = batch.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
            let weight = batch.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
            assert_eq!(pre.len(), batch.num_rows());
            for r in 0..batch.num_rows() {
                rows.push((time.value(r), weight.value(r)));
            }
        }
    }
    rows.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    rows
}

/// Consecutive equal values once.
fn changes(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for v in values {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

fn spike_times(out: &Path, pop: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(out.join("spikes").join(format!("{pop}.csv"))).unwrap();
    text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect()
}

#[test]
fn weight_trajectories_match_nest_pair_by_pair_for_both_synapse_models_and_three_delays() {
    let dir = scratch_dir("stdp-vs-nest");
    let mut worst = 0.0f64;
    for name in CASES {
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join(format!("tests/data/nest_stdp/{name}.json"))).unwrap(),
        )
        .unwrap();
        let work = dir.join(name);
        std::fs::create_dir_all(&work).unwrap();
        let model = work.join("model.toml");
        std::fs::write(&model, model_file(&case, &work)).unwrap();
        let mut args = vec!["--threads", "1"];
        let flags: Vec<String> = (0..2).flat_map(|k| (0..2).map(move |j| format!("pre{k}->post{j}@0.1"))).collect();
        for f in &flags {
            args.extend(["--record-weights", f.as_str()]);
        }
        let out = work.join("out");
        run_microcircuit_model(model.to_str().unwrap(), &out, &args);
        for k in 0..2 {
            let ours: Vec<f64> = spike_times(&out, &format!("post{k}"));
            let nest = numbers(&case["post_times"][k]);
            assert_eq!(ours.len(), nest.len(), "{name}: post{k} spikes");
            for (a, b) in ours.iter().zip(&nest) {
                assert!((a - b).abs() < 1e-9, "{name}: post{k} spiked at {a}, NEST at {b}");
            }
        }
        let events = case["weight_events"].as_array().unwrap();
        let mut updates = 0;
        for k in 0..2 {
            for j in 0..2 {
                let label = format!("pre{k}-to-post{j}");
                let ours = changes(snapshots(&out, &label).into_iter().map(|(_, w)| w));
                let initial = case["initial_weights"][k][j].as_f64().unwrap();
                let theirs = changes(std::iter::once(initial).chain(
                    events.iter().filter(|e| e["pre"] == k && e["post"] == j).map(|e| e["weight"].as_f64().unwrap()),
                ));
                assert!(theirs.len() > 10, "{name} {label}: the reference must change the weight often");
                assert_eq!(ours.len(), theirs.len(), "{name} {label}: {ours:?}\nNEST: {theirs:?}");
                for (step, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                    let scale = b.abs().max(1e-300);
                    worst = worst.max((a - b).abs() / scale);
                    assert!((a - b).abs() <= 1e-12 * scale, "{name} {label} change {step}: {a} vs NEST {b}");
                }
                updates += theirs.len();
                let last = case["final_weights"][k][j].as_f64().unwrap();
                assert!((ours.last().unwrap() - last).abs() <= 1e-12 * last.abs().max(1e-300), "{name} {label}");
            }
        }
        assert!(updates > 40, "{name}");
    }
    println!("largest relative difference from NEST over every weight change: {worst:e}");
    let _ = std::fs::remove_dir_all(&dir);
}
