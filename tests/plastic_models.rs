//! Plastic synapses in every kind of spiking model file: the microcircuit (`[[plasticity]]`, here through
//! `--add`), the spatial sheet (`synapse_model` on a projection) and imported connectomes (an edge table's
//! `synapse` column naming `[synapse_types]`), each the same on two layouts; and bad plastic input refused
//! with exit code 2 and a message naming the file, key and value.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use common::{run_cajal, run_microcircuit_model, scratch_dir, two_population_connectome};

/// Runs `model` on 1 thread and on 2 ranks x 2 threads; both must agree on spikes and weights. Returns the
/// first summary.
fn same_on_two_layouts(model: &str, out: &Path, extra: &[&str]) -> Value {
    let mut a = extra.to_vec();
    a.extend(["--threads", "1"]);
    let one = run_microcircuit_model(model, &out.join("1x1"), &a);
    let mut b = extra.to_vec();
    b.extend(["--ranks", "2", "--threads", "2"]);
    let two = run_microcircuit_model(model, &out.join("2x2"), &b);
    assert_eq!(one["spikes_digest"], two["spikes_digest"], "{model}");
    assert!(one["plasticity"].is_object(), "{model}: {one}");
    assert_eq!(one["plasticity"]["weights_digest"], two["plasticity"]["weights_digest"], "{model}");
    one
}

/// Whether the projection's weights moved away from where they started (given as `w0` for all).
fn changed(p: &Value) -> bool {
    p["min_weight"].as_f64().unwrap() < p["max_weight"].as_f64().unwrap()
}

#[test]
fn microcircuit_projections_become_plastic_through_plasticity_tables() {
    let dir = scratch_dir("plastic-microcircuit");
    let add = r#"plasticity={projection = "L4E->L4E", synapse_model = "stdp_pl_synapse_hom", lambda = 0.05, alpha = 0.5, tau_plus = 15.0}"#;
    let s = same_on_two_layouts(
        "models/microcircuit.toml",
        &dir,
        &["--scale", "0.05", "--t-presim", "50", "--t-sim", "200", "--no-spikes", "--add", add],
    );
    let p = &s["plasticity"]["projections"][0];
    assert_eq!(p["projection"], "L4E->L4E");
    assert!(p["synapses"].as_u64().unwrap() > 10_000 && changed(p), "{p}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spatial_sheet_projections_take_a_synapse_model() {
    let dir = scratch_dir("plastic-sheet");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(common::repo().join("models/spatial_sheet.toml")).unwrap();
    // The first projection (E->E) becomes stdp_synapse with weights up to 150 pA.
    let text = text.replacen(
        "weight_decay_mm = 0.0",
        "weight_decay_mm = 0.0\nsynapse_model = \"stdp_synapse\"\nWmax = 150.0\nlambda = 0.02\nalpha = 1.05",
        1,
    );
    let model = dir.join("sheet.toml");
    std::fs::write(&model, text).unwrap();
    let s = same_on_two_layouts(
        model.to_str().unwrap(),
        &dir,
        &["--scale", "0.01", "--t-presim", "20", "--t-sim", "60", "--no-spikes"],
    );
    let p = &s["plasticity"]["projections"][0];
    assert_eq!((p["projection"].as_str().unwrap(), p["synapse_model"].as_str().unwrap()), ("E->E", "stdp_synapse"));
    assert!(changed(p) && p["max_weight"].as_f64().unwrap() <= 150.0, "{p}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A connectome of 160 A and 40 B neurons, 30 random inputs from A and 10 from B each (a fixed LCG), A->A
/// rows plastic (`synapse = stdp`), with a Poisson background.
fn write_connectome(dir: &Path, synapse_cell: &str, types: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut nodes = String::from("id,population\n");
    for i in 0..200 {
        nodes.push_str(&format!("{i},{}\n", if i < 160 { "A" } else { "B" }));
    }
    std::fs::write(dir.join("nodes.csv"), nodes).unwrap();
    let mut state: u64 = 7;
    let mut next = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut edges = String::from("pre,post,weight,delay_ms,synapse\n");
    for post in 0..200u64 {
        for k in 0..40 {
            let pre = if k < 30 { next(160) } else { 160 + next(40) };
            let (w, cell) =
                if pre < 160 { (60.0, if post < 160 { synapse_cell } else { "" }) } else { (-250.0, "static_synapse") };
            edges.push_str(&format!("{pre},{post},{w},{:.1},{cell}\n", 1.0 + next(10) as f64 * 0.1));
        }
    }
    std::fs::write(dir.join("edges.csv"), edges).unwrap();
    let model = String::from("plastic = true\n")
        + &two_population_connectome("nodes.csv", 200.0, 3)
            .replace("bg_rate_hz = [0.0, 0.0]", "bg_rate_hz = [14000.0, 14000.0]")
            .replace("bg_weight_pA = [0.0, 0.0]", "bg_weight_pA = [87.8, 87.8]")
        + types;
    let path = dir.join("model.toml");
    std::fs::write(&path, model).unwrap();
    path.to_str().unwrap().to_owned()
}

const STDP_TYPE: &str = "[synapse_types.stdp]\nsynapse_model = \"stdp_synapse\"\nWmax = 120.0\nlambda = 0.05\n";

#[test]
fn an_edge_tables_synapse_column_names_plastic_synapse_types() {
    let dir = scratch_dir("plastic-connectome");
    let model = write_connectome(&dir, "stdp", STDP_TYPE);
    let s = same_on_two_layouts(&model, &dir, &[]);
    let p = &s["plasticity"]["projections"][0];
    assert_eq!(p["projection"], "stdp");
    assert_eq!(p["synapses"], 160 * 30);
    assert!(changed(p), "{p}");
    let off = run_microcircuit_model(&model, &dir.join("static"), &["--set", "plastic=false"]);
    assert!(off.get("plasticity").is_none());
    assert_ne!(off["spikes_digest"], s["spikes_digest"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `cajal run MODEL` and expects exit 2 with every one of `mention` in stderr.
fn refused(model: &str, out: &Path, extra: &[&str], mention: &[&str]) {
    let mut args = vec!["run", model, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run_cajal(&args, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    for m in mention {
        assert!(stderr.contains(m), "{args:?}: `{m}` missing from: {stderr}");
    }
}

#[test]
fn impossible_plasticity_is_refused_with_file_key_and_value() {
    let dir = scratch_dir("plastic-bad");
    let hpc = "models/hpc_benchmark.toml";
    let out = dir.join("out");
    let small = ["--scale", "0.02", "--t-sim", "10", "--t-presim", "0"];
    let set = |kv: &str| [&small[..], &["--set", kv]].concat().iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let cases: [(&str, &[&str]); 5] = [
        ("projections.0.lambda=-0.1", &["projections.0.lambda", "-0.1"]),
        ("projections.0.mu=1.5", &["projections.0.mu", "1.5"]),
        ("projections.0.tau_plus=0.0", &["projections.0.tau_plus", "must be > 0"]),
        ("populations.0.neuron.tau_minus=-3.0", &["populations.0.neuron.tau_minus", "-3"]),
        ("projections.0.weight=-45.0", &["E->E", "-45", ">= 0"]),
    ];
    for (kv, mention) in cases {
        let args = set(kv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut with_file = mention.to_vec();
        with_file.push("hpc_benchmark.toml");
        refused(hpc, &out, &args, &with_file);
    }
    // stdp_synapse with a weight of the other sign than Wmax, and a parameter of the other model.
    let sheet = write_connectome(
        &dir.join("c1"),
        "stdp",
        "[synapse_types.stdp]\nsynapse_model = \"stdp_synapse\"\nWmax = -120.0\n",
    );
    refused(&sheet, &out, &[], &["stdp", "60", "sign of Wmax"]);
    let wrong =
        write_connectome(&dir.join("c2"), "stdp", "[synapse_types.stdp]\nsynapse_model = \"stdp_synapse\"\nmu = 0.4\n");
    refused(&wrong, &out, &[], &["synapse_types.stdp.mu", "Wmax"]);
    // An edge naming a type the model file does not define: file, row and the known types.
    let unknown = write_connectome(&dir.join("c3"), "stpd", STDP_TYPE);
    refused(&unknown, &out, &[], &["edges.csv", "row 2", "stpd", "stdp"]);
    // A poisson_generator cannot be the source of a plastic projection.
    let text = std::fs::read_to_string(common::repo().join("tests/data/mixed/mixed.toml")).unwrap();
    let text = text.replacen(
        "source = \"noise\"\ntarget = \"exp\"\nrule = \"all_to_all\"\nweight = 120.0\ndelay_ms = 1.0",
        "source = \"noise\"\ntarget = \"exp\"\nrule = \"all_to_all\"\nweight = 120.0\ndelay_ms = 1.0\nsynapse_model = \"stdp_synapse\"",
        1,
    );
    let mixed = dir.join("plastic-noise.toml");
    std::fs::copy(common::repo().join("tests/data/mixed/replay.csv"), dir.join("replay.csv")).unwrap();
    std::fs::write(&mixed, text).unwrap();
    refused(mixed.to_str().unwrap(), &out, &[], &["noise->exp", "poisson_generator"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plastic_network_too_large_for_memory_is_refused_counting_its_plastic_bytes() {
    // hpc_benchmark per unit of scale: 81 M plastic synapses (14 B each while built) and 45.6 M static ones
    // (10 B): 1.59 GB, where 126.6 M synapses at the static 10 B would be 1.27 GB. A scale between the two
    // fits only if the plastic bytes are left out.
    let scale = format!("{:.2}", common::available_memory_bytes() / 1.45e9);
    let dir = scratch_dir("plastic-memory");
    refused("models/hpc_benchmark.toml", &dir, &["--scale", &scale, "--threads", "1"], &["plastic) of rank 0", "GiB"]);
    let _ = std::fs::remove_dir_all(&dir);
}
