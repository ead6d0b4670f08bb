//! Neuron models chosen per neuron in a node table's `model` column, mixed in one network: the same spikes
//! on any layout, through a checkpoint and through `cajal export-connectome` (CSV and Parquet); a neuron
//! switched to another model fires as that model with NEST's defaults predicts, its own columns apply;
//! unknown models and parameters a neuron's model lacks exit 2 naming file, row and what is known.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{run_cajal, run_microcircuit_model, scratch_dir};

/// A connectome model file reading `nodes` and `edges.csv` beside it: populations A and B of iaf_psc_exp
/// neurons with `c_m` and `tau_m`, initial V_m Normal(-65, `v0_std`), no background.
fn model_file(nodes: &str, t_sim_ms: f64, c_m: f64, tau_m: f64, v0_std: f64) -> String {
    format!(
        r#"model = "connectome"
[simulation]
dt_ms = 0.1
t_presim_ms = 0.0
t_sim_ms = {t_sim_ms:?}
seed = 7
[tables]
nodes = "{nodes}"
edges = "edges.csv"
[neuron]
model = "iaf_psc_exp"
C_m = {c_m:?}
tau_m = {tau_m:?}
tau_syn_ex = 0.5
tau_syn_in = 0.5
E_L = -65.0
V_th = -50.0
V_reset = -65.0
t_ref = 2.0
I_e = 0.0
[populations]
names = ["A", "B"]
V0_mean = [-65.0, -65.0]
V0_std = [{v0_std:?}, {v0_std:?}]
I_e = [0.0, 0.0]
bg_rate_hz = [0.0, 0.0]
bg_weight_pA = [0.0, 0.0]
bg_delay_ms = [1.0, 1.0]
"#
    )
}

/// The models of the mixed network, by gid mod 4 (empty: the population's, iaf_psc_exp).
const MODELS: [&str; 4] = ["", "iaf_psc_alpha", "iaf_psc_delta", "iaf_cond_exp"];
const A: u32 = 90;
const N: u32 = 120;

/// A node table of N neurons (A: 0..90, B: 90..120) cycling through [`MODELS`], each with its own I_e
/// around rheobase, some with their own V_th and tau_syn_ex (empty or NaN for iaf_psc_delta, which has
/// none); and an edge table of 8 inputs per neuron, weights in the units of the target's model.
fn write_mixed(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut nodes = String::from("id,population,model,I_e,V_th,tau_syn_ex,comment\n");
    for g in 0..N {
        let pop = if g < A { "A" } else { "B" };
        let model = MODELS[(g % 4) as usize];
        let i_e = 250.0 + f64::from(g * 37 % 300);
        let v_th = if g % 5 == 0 { "-52.0" } else { "" };
        let tau = match (model, g % 3) {
            ("iaf_psc_delta", 0) => "NaN",
            ("iaf_psc_delta", _) | (_, 1) => "",
            _ => "1.0",
        };
        nodes.push_str(&format!("{g},{pop},{model},{i_e},{v_th},{tau},metadata {g}\n"));
    }
    std::fs::write(dir.join("nodes.csv"), nodes).unwrap();
    let mut edges = String::from("pre,post,weight,delay_ms\n");
    let mut x: u64 = 12345;
    for post in 0..N {
        let unit = match MODELS[(post % 4) as usize] {
            "iaf_psc_delta" => 0.8, // mV
            "iaf_cond_exp" => 3.0,  // nS
            _ => 60.0,              // pA
        };
        for _ in 0..8 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let pre = (x >> 33) as u32 % N;
            let weight = if pre < A { unit } else { -2.0 * unit };
            let delay = 1.0 + f64::from((x >> 20) as u32 % 11) * 0.1;
            edges.push_str(&format!("{pre},{post},{weight},{delay:.1}\n"));
        }
    }
    std::fs::write(dir.join("edges.csv"), edges).unwrap();
    std::fs::write(dir.join("model.toml"), model_file("nodes.csv", 300.0, 250.0, 10.0, 5.0)).unwrap();
}

/// Spike times (ms) per sender from every spike file of a run.
fn spikes_by_sender(out: &Path) -> BTreeMap<u32, Vec<f64>> {
    let mut by = BTreeMap::new();
    for entry in std::fs::read_dir(out.join("spikes")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().skip(1) {
            let (sender, t) = line.split_once(',').unwrap();
            by.entry(sender.parse().unwrap()).or_insert_with(Vec::new).push(t.parse().unwrap());
        }
    }
    by
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_network_mixing_four_models_gives_the_same_spikes_on_any_layout_through_a_checkpoint_and_an_export() {
    let dir = scratch_dir("node-models-mixed");
    write_mixed(&dir);
    let model = dir.join("model.toml");
    let model = model.to_str().unwrap();
    let one = run_microcircuit_model(model, &dir.join("one"), &["--threads", "1"]);
    let spikes = spikes_by_sender(&dir.join("one"));
    for (k, name) in MODELS.iter().enumerate() {
        let firing = spikes.keys().filter(|g| **g % 4 == k as u32).count();
        assert!(firing >= 5, "{name:?}: only {firing} neurons fire");
    }
    // The same table without its model column (renamed, so ignored): every neuron iaf_psc_exp.
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let nodes = std::fs::read_to_string(dir.join("nodes.csv")).unwrap();
    std::fs::write(plain.join("nodes.csv"), nodes.replacen(",model,", ",kind,", 1).replace(",NaN,", ",,")).unwrap();
    std::fs::copy(dir.join("edges.csv"), plain.join("edges.csv")).unwrap();
    std::fs::copy(dir.join("model.toml"), plain.join("model.toml")).unwrap();
    let s = run_microcircuit_model(plain.join("model.toml").to_str().unwrap(), &plain.join("out"), &["--no-spikes"]);
    assert_ne!(s["spikes_digest"], one["spikes_digest"], "the models change the dynamics");
    let layouts: [&[&str]; 5] = [
        &["--threads", "3"],
        &["--threads", "2"],
        &["--ranks", "2", "--threads", "1"],
        &["--ranks", "4", "--threads", "1"],
        &["--ranks", "2", "--threads", "2"],
    ];
    for (k, layout) in layouts.into_iter().enumerate() {
        let s = run_microcircuit_model(model, &dir.join(format!("l{k}")), &[&["--no-spikes"], layout].concat());
        assert_eq!(s["spikes_digest"], one["spikes_digest"], "{layout:?}");
    }
    // Stopped on 2 ranks, resumed on 1.
    let (ck, out) = (dir.join("ck"), dir.join("ck-out"));
    let run = ["run", model, "--out", out.to_str().unwrap(), "--no-spikes", "--ranks", "2", "--threads", "1"];
    let o = run_cajal(
        &[&run[..], &["--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "150"]].concat(),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_cajal(&["resume", ck.to_str().unwrap(), "--threads", "1"], Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(summary(&out)["spikes_digest"], one["spikes_digest"], "through a checkpoint");
    // Exported (every neuron's model and parameters) and run again, as CSV and as Parquet.
    for format in ["csv", "parquet"] {
        let tables = dir.join(format!("export-{format}"));
        let args = ["export-connectome", model, "--out", tables.to_str().unwrap(), "--format", format];
        let o = run_cajal(&args, Duration::from_secs(60));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if format == "csv" {
            let text = std::fs::read_to_string(tables.join("nodes.csv")).unwrap();
            let mut lines = text.lines();
            assert!(lines.next().unwrap().starts_with("id,population,model,C_m,tau_m,tau_syn_ex,"), "{text:.200}");
            let delta = lines.nth(2).unwrap();
            assert!(delta.starts_with("2,A,iaf_psc_delta,250.0,10.0,,"), "empty where a model lacks it: {delta}");
        }
        let again = tables.join("model.toml");
        let s = run_microcircuit_model(again.to_str().unwrap(), &tables.join("out"), &["--no-spikes", "--ranks", "2"]);
        assert_eq!(s["spikes_digest"], one["spikes_digest"], "exported as {format}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Checks that `times` are a constant current's regular firing: the first spike in the step that crosses
/// at `first` ms, the others `t_ref + again` ms later (within the grid's rounding), to the end.
fn assert_regular(id: u32, times: &[f64], first: f64, again: f64, t_end: f64) {
    let (t_ref, dt) = (2.0, 0.1);
    assert!(
        times[0] >= first - 1e-9 && times[0] <= first + dt + 1e-9,
        "neuron {id}: first {} ms, t* {first}",
        times[0]
    );
    for w in times.windows(2) {
        let isi = w[1] - w[0];
        assert!(isi >= t_ref + again - 1e-9 && isi <= t_ref + again + 2.0 * dt, "neuron {id}: interval {isi} ms");
    }
    assert!(times.last().unwrap() + t_ref + again + 2.0 * dt > t_end, "neuron {id}: fires to the end");
}

#[test]
fn a_neuron_switched_to_another_model_fires_as_that_model_with_nests_defaults() {
    let dir = scratch_dir("node-models-single");
    std::fs::create_dir_all(&dir).unwrap();
    // The population's iaf_psc_exp has C_m 500 pF and tau_m 20 ms; switched neurons take their model's
    // NEST defaults (C_m 250 pF, tau_m 10 ms, E_L -70 mV, V_th -55 mV; iaf_cond_exp: g_L 16.6667 nS,
    // V_reset -60 mV) and start from their V_m column.
    let nodes = "id,population,model,I_e,V_th,V_m\n\
                 0,A,,1000,,-65\n\
                 1,A,iaf_psc_delta,1000,,-70\n\
                 2,A,iaf_psc_delta,1000,1000,-70\n\
                 3,A,iaf_psc_exp,1000,1000,-65\n\
                 4,B,iaf_cond_exp,1000,,-70\n\
                 5,B,iaf_psc_delta,0,,-70\n";
    std::fs::write(dir.join("nodes.csv"), nodes).unwrap();
    // Neuron 5 (iaf_psc_delta, at rest) gets an input of 20 mV from each of neuron 0's spikes, 1 ms later:
    // a delta synapse jumps the membrane past threshold at once.
    std::fs::write(dir.join("edges.csv"), "pre,post,weight,delay_ms\n0,5,20.0,1.0\n").unwrap();
    std::fs::write(dir.join("model.toml"), model_file("nodes.csv", 200.0, 500.0, 20.0, 0.0)).unwrap();
    run_microcircuit_model(dir.join("model.toml").to_str().unwrap(), &dir.join("out"), &["--threads", "1"]);
    let spikes = spikes_by_sender(&dir.join("out"));
    // Driven from rest by I: V reaches theta = V_th - E_L after t* = -tau ln(1 - theta / (I R)), R = tau / C.
    let t_star = |tau: f64, c: f64, theta: f64| -tau * (1.0 - theta / (1000.0 * tau / c)).ln();
    let exp = t_star(20.0, 500.0, 15.0);
    assert_regular(0, &spikes[&0], exp, exp, 200.0);
    let delta = t_star(10.0, 250.0, 15.0);
    assert!((delta - exp).abs() > 1.0, "the two predictions differ: {delta} vs {exp}");
    assert_regular(1, &spikes[&1], delta, delta, 200.0);
    assert!(!spikes.contains_key(&2), "iaf_psc_delta with its own V_th of 1000 mV");
    assert!(!spikes.contains_key(&3), "iaf_psc_exp with its own V_th of 1000 mV");
    // iaf_cond_exp: tau = C_m / g_L = 15 ms, I / g_L = 60 mV over E_L -70 (V_inf -10 mV); after a spike it
    // restarts from V_reset -60 mV, so later intervals are t_ref + tau ln((V_inf - V_reset) / (V_inf - V_th)).
    let g_l: f64 = 16.6667;
    let (tau, v_inf) = (250.0 / g_l, -70.0 + 1000.0 / g_l);
    let first = -tau * (1.0 - 15.0 / (1000.0 / g_l)).ln();
    let again = tau * ((v_inf + 60.0) / (v_inf + 55.0)).ln();
    assert_regular(4, &spikes[&4], first, again, 200.0);
    // A spike of neuron 0 is stamped at t (the end of the step it crossed in); with a 1 ms delay the 20 mV
    // jump enters in the step that ends at t + 1 (NEST's iaf_psc_delta: the membrane jumps in the step its
    // input arrives in), and neuron 5 fires in that step.
    let expected: Vec<f64> = spikes[&0].iter().map(|t| t + 1.0).filter(|t| *t <= 200.0 + 1e-9).collect();
    assert_eq!(spikes[&5].len(), expected.len(), "{:?}", spikes[&5]);
    for (got, want) in spikes[&5].iter().zip(&expected) {
        assert!((got - want).abs() < 1e-9, "neuron 5 at {got} ms, expected {want} ms");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_models_and_parameters_a_neurons_model_lacks_exit_2_naming_row_and_what_is_known() {
    let dir = scratch_dir("node-models-bad");
    let case = |name: &str, nodes: &str, file: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("nodes.csv"), nodes).unwrap();
        std::fs::write(d.join("edges.csv"), "pre,post,weight,delay_ms\n0,1,1.0,1.0\n").unwrap();
        std::fs::write(d.join("model.toml"), model_file(file, 10.0, 250.0, 10.0, 0.0)).unwrap();
        let out = d.join("out");
        let o = run_cajal(
            &["run", d.join("model.toml").to_str().unwrap(), "--out", out.to_str().unwrap()],
            Duration::from_secs(60),
        );
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        e
    };
    let known = "known: iaf_psc_exp, iaf_psc_delta, iaf_psc_alpha, iaf_cond_exp, aeif_cond_exp";
    let e = case("unknown", "id,population,model\n0,A,\n1,A,iaf_psc_exp\n2,B,hh_psc_alpha\n", "nodes.csv");
    assert!(e.contains("nodes.csv: row 4") && e.contains("`hh_psc_alpha`") && e.contains(known), "{e}");
    let e = case(
        "lacks",
        "id,population,model,tau_syn_in\n0,A,,1.0\n1,A,iaf_psc_delta,\n2,B,iaf_psc_delta,2.0\n",
        "nodes.csv",
    );
    assert!(
        e.contains("nodes.csv: row 4")
            && e.contains("column `tau_syn_in` = 2")
            && e.contains("iaf_psc_delta has no parameter tau_syn_in")
            && e.contains("C_m, tau_m, E_L, V_th, V_reset, t_ref, I_e, V_min"),
        "{e}"
    );
    let e = case("domain", "id,population,model,C_m\n0,A,,\n1,A,iaf_cond_exp,-1\n2,B,,\n", "nodes.csv");
    assert!(e.contains("nodes.csv: row 3") && e.contains("iaf_cond_exp") && e.contains("C_m"), "{e}");
    // The same unknown model in a Parquet table names the data row.
    let d = dir.join("parquet");
    std::fs::create_dir_all(&d).unwrap();
    let batch =
        cajal_net::parquet_tables::node_batch(vec![0, 1, 2], vec!["A".into(), "A".into(), "B".into()], None, vec![])
            .unwrap();
    let batch =
        cajal_net::imported::with_text_column(&batch, "model", vec!["", "iaf_psc_alpha", "iaf_psc_exp2"]).unwrap();
    cajal_net::parquet_tables::TableWriter::create(&dir.join("parquet/nodes.parquet"), &batch)
        .unwrap()
        .finish()
        .unwrap();
    let e = case("parquet", "unused\n", "nodes.parquet");
    assert!(e.contains("nodes.parquet: row 3") && e.contains("`iaf_psc_exp2`") && e.contains(known), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
