//! Regression tests of issue 13's fixes at the command line: thread counts a machine cannot run are
//! refused at once (and threads beyond a rank's neurons are cut, with the same spikes); times that
//! overflow the step counter are refused for every time flag with a message that says so; imported
//! delays of exact half steps round as NEST rounds them and keep their spikes on any layout; and
//! `export-connectome` exports an imported model (with its per-neuron columns) that runs to the same spikes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{run_cajal, run_microcircuit_model, scratch_dir, two_population_connectome};

/// A 6-neuron connectome: two neurons driven to fire, delays of exact half steps (0.15, 0.35, 0.95 and
/// 1.45 ms: 2, 4, 10 and 15 steps in NEST, one step fewer if divided by 0.1), per-neuron `I_e` and `V_m`.
const NODES: &str = "id,population,I_e,V_m\n0,A,600.0,-60.0\n1,A,0.0,-65.0\n2,A,0.0,-64.0\n\
                     3,B,450.0,-55.5\n4,B,0.0,-65.0\n5,B,0.0,-65.0\n";
const EDGES: &str = "pre,post,weight,delay_ms\n0,1,900.0,0.15\n0,2,-400.0,0.35\n3,4,1200.0,0.95\n\
                     3,5,700.0,1.45\n1,5,800.0,0.15\n4,2,900.0,0.35\n0,4,300.0,1.45\n3,1,-200.0,0.95\n";

fn write_tiny_connectome(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("nodes.csv"), NODES).unwrap();
    std::fs::write(dir.join("edges.csv"), EDGES).unwrap();
    std::fs::write(dir.join("model.toml"), two_population_connectome("nodes.csv", 500.0, 3)).unwrap();
    dir.join("model.toml").to_str().unwrap().to_owned()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Asserts exit code 2 within a few seconds, and that stderr mentions each of `words`.
fn refused_quickly(args: &[&str], words: &[&str]) {
    let started = Instant::now();
    let o = run_cajal(args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{args:?} took {:?}", started.elapsed());
    assert!(!stderr.contains("panicked"), "{stderr}");
    for w in words {
        assert!(stderr.contains(w), "{args:?}: stderr lacks `{w}`: {stderr}");
    }
}

#[test]
fn threads_beyond_four_per_core_are_refused_at_once() {
    let dir = scratch_dir("too-many-threads");
    let out = dir.to_str().unwrap();
    let limit = (4 * cores()).to_string();
    refused_quickly(&["run", "models/microcircuit.toml", "--threads", "100000", "--out", out], &["100000", &limit]);
    // In-process ranks are threads of this process too.
    let ranks = (4 * cores() + 1).to_string();
    refused_quickly(
        &["run", "models/microcircuit.toml", "--ranks", &ranks, "--threads", "1", "--out", out],
        &[&format!("{ranks} ranks x 1 threads"), &limit],
    );
    refused_quickly(&["resume", out, "--threads", "100000"], &["100000"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn more_ranks_than_neurons_is_a_clear_error() {
    let dir = scratch_dir("ranks-beyond-neurons");
    let model = write_tiny_connectome(&dir.join("tables"));
    let out = dir.join("out");
    refused_quickly(
        &["run", &model, "--ranks", "7", "--threads", "1", "--out", out.to_str().unwrap()],
        &["6 neurons", "7 ranks"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn threads_beyond_a_ranks_neurons_are_cut_with_a_warning_and_the_same_spikes() {
    let dir = scratch_dir("threads-beyond-neurons");
    let model = write_tiny_connectome(&dir.join("tables"));
    let one = run_microcircuit_model(&model, &dir.join("one"), &["--threads", "1"]);
    // 2 ranks of 3 neurons each, asked for 4 threads each (within 4 per core on 2 or more cores).
    let threads = if cores() >= 2 { "4" } else { "3" };
    let out = dir.join("many");
    let args = ["run", &model, "--ranks", "2", "--threads", threads, "--out", out.to_str().unwrap()];
    let o = run_cajal(&args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("more threads than this rank's neurons"), "{stderr}");
    let many: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(many["spikes_digest"], one["spikes_digest"]);
    assert!(one["spike_count"].as_u64().unwrap() > 20, "{one}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn times_that_overflow_the_step_counter_are_refused_for_every_time_flag() {
    let dir = scratch_dir("huge-times");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let mc = "models/microcircuit.toml";
    for flag in ["--t-sim", "--t-presim"] {
        refused_quickly(&["run", mc, flag, "1e30", "--out", out], &["1e30", "too long for the step counter"]);
    }
    for flag in ["--checkpoint-every", "--stop-after"] {
        let ck = dir.join("ck");
        refused_quickly(
            &["run", mc, "--scale", "0.01", "--checkpoint-to", ck.to_str().unwrap(), flag, "1e30", "--out", out],
            &[flag, "1e30", "too long for the step counter"],
        );
    }
    refused_quickly(&["run", mc, "--dt-ms", "1e30", "--out", out], &["1e30", "too long for the step counter"]);
    refused_quickly(
        &["run", "models/optic_lobe.toml", "--t-sim", "1e30", "--out", out],
        &["1e30", "too long for the step counter"],
    );
    // resume and the Slurm script check theirs too.
    let ck = dir.join("resumable");
    let ck_s = ck.to_str().unwrap();
    let o = run_cajal(
        &[
            "run",
            mc,
            "--scale",
            "0.01",
            "--t-presim",
            "0",
            "--t-sim",
            "50",
            "--checkpoint-to",
            ck_s,
            "--stop-after",
            "10",
            "--out",
            out,
        ],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for flag in ["--checkpoint-every", "--stop-after"] {
        refused_quickly(&["resume", ck_s, flag, "1e30"], &[flag, "1e30", "too long for the step counter"]);
    }
    for flag in ["--stop-after", "--t-sim"] {
        refused_quickly(
            &["slurm", "script", mc, "--cluster", "cluster/local.toml", flag, "1e30"],
            &["1e30", "too long for the step counter"],
        );
    }
    // A time step off NEST's 1 µs tic grid, and a time off the step grid.
    refused_quickly(&["run", mc, "--dt-ms", "0.0125", "--out", out], &["0.0125", "0.001 ms"]);
    refused_quickly(&["run", mc, "--t-sim", "100.05", "--out", out], &["100.05", "multiple of dt"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An exported edge table's delays in steps of 0.1 ms, in file order.
fn delay_steps(edges_csv: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(edges_csv).unwrap();
    let ms = |l: &str| l.rsplit(',').next().unwrap().parse::<f64>().unwrap();
    text.lines().skip(1).map(|l| (ms(l) / 0.1).round() as u32).collect()
}

#[test]
fn imported_half_step_delays_round_as_nest_does_and_keep_their_spikes_on_any_layout() {
    let dir = scratch_dir("half-steps");
    let model = write_tiny_connectome(&dir.join("tables"));
    let base = run_microcircuit_model(&model, &dir.join("r1"), &["--threads", "1"]);
    assert!(base["spike_count"].as_u64().unwrap() > 20, "{base}");
    let layouts: [&[&str]; 3] =
        [&["--ranks", "2", "--threads", "1"], &["--ranks", "3", "--threads", "1"], &["--threads", "2"]];
    for (k, layout) in layouts.into_iter().enumerate() {
        let s = run_microcircuit_model(&model, &dir.join(format!("l{k}")), layout);
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{layout:?}");
    }
    // Exporting the imported model writes the delays it uses as whole steps: NEST's 2, 4, 10, 15 steps.
    let exported = dir.join("exported");
    let o = run_cajal(&["export-connectome", &model, "--out", exported.to_str().unwrap()], Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Each target's synapses in the order it sums them, targets 1, 2, 4, 5 in turn: 0.15 and 0.95 ms (target
    // 1), 0.35 and 0.35 ms (2), 0.95 and 1.45 ms (4), 1.45 and 0.15 ms (5). Dividing by 0.1 would give 1, 9,
    // 3, 3, 9, 14, 14, 1.
    assert_eq!(delay_steps(&exported.join("edges.csv")), [2, 10, 4, 4, 10, 15, 15, 2]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_imported_model_exports_with_its_neuron_columns_and_runs_to_the_same_spikes() {
    let dir = scratch_dir("export-imported");
    let model = write_tiny_connectome(&dir.join("tables"));
    let original = run_microcircuit_model(&model, &dir.join("orig"), &["--threads", "1"]);
    for format in ["csv", "parquet"] {
        let exported = dir.join(format!("exported-{format}"));
        let o = run_cajal(
            &["export-connectome", &model, "--out", exported.to_str().unwrap(), "--format", format],
            Duration::from_secs(60),
        );
        assert!(o.status.success(), "{format}: {}", String::from_utf8_lossy(&o.stderr));
        if format == "csv" {
            let nodes = std::fs::read_to_string(exported.join("nodes.csv")).unwrap();
            let header = nodes.lines().next().unwrap();
            assert_eq!(header, "id,population,C_m,tau_m,tau_syn_ex,tau_syn_in,E_L,V_th,V_reset,t_ref,I_e,V_m");
            assert!(nodes.lines().nth(1).unwrap().ends_with(",2.0,600.0,-60.0"), "{nodes}");
        }
        let again = run_microcircuit_model(
            exported.join("model.toml").to_str().unwrap(),
            &dir.join(format!("again-{format}")),
            &["--ranks", "2", "--threads", "1"],
        );
        assert_eq!(again["spikes_digest"], original["spikes_digest"], "{format}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
