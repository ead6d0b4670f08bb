//! Under `mpirun` (binary built with `--features mpi`): 2, 3 (METIS) and 4 processes (oversubscribed on small
//! machines) give the same spikes as one process, every run reports the world size it was started with,
//! and the MPI back end is the one in use. Needs Open MPI's `mpirun` on PATH (scripts/test.sh installs it).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{mpirun_cajal, repo, run_microcircuit, scratch_dir};

const SHORT: [&str; 7] = ["--scale", "0.1", "--t-presim", "100", "--t-sim", "200", "--no-spikes"];

/// `mpirun -n <n> cajal run ...`, with the settings Open MPI needs in containers (root, oversubscription,
/// yielding when idle so that oversubscribed ranks do not starve each other).
fn mpirun(n: usize, out: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut cmd = mpirun_cajal(n);
    cmd.args(["run", "models/microcircuit.toml", "--out", out.to_str().unwrap()])
        .args(SHORT)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("mpirun must be installed (scripts/test.sh installs openmpi-bin)");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("mpirun -n {n} did not finish in 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "mpirun -n {n} failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn mpi_ranks_give_the_same_spikes_as_one_process() {
    let base = scratch_dir("mpi");
    let mut one_args = SHORT.to_vec();
    one_args.extend(["--threads", "1"]);
    let one = run_microcircuit(&base.join("1x1"), &one_args);
    for (n, extra) in [(2, ["--threads", "1"]), (4, ["--threads", "1"]), (2, ["--threads", "2"])] {
        let s = mpirun(n, &base.join(format!("{n}x{}", extra[1])), &extra);
        assert_eq!(s["ranks"].as_u64().unwrap(), n as u64, "world size");
        assert_eq!(s["communicator"], "mpi");
        assert_eq!(s["spikes_digest"], one["spikes_digest"], "{n} ranks x {} threads", extra[1]);
        assert_eq!(s["spike_count"], one["spike_count"]);
        let per_rank = s["per_rank"].as_array().unwrap();
        assert_eq!(per_rank.len(), n);
        let sum: u64 = per_rank.iter().map(|r| r["synapses"].as_u64().unwrap()).sum();
        assert_eq!(sum, 2_988_807);
    }
    let blocks = mpirun(2, &base.join("2x1-blocks"), &["--threads", "1", "--balancer", "cost-blocks"]);
    assert_eq!(blocks["spikes_digest"], one["spikes_digest"], "cost-blocks balancer");
    // METIS runs on rank 0 only; the other processes receive its owner table through MPI_Bcast.
    let metis = mpirun(3, &base.join("3x1-metis"), &["--threads", "1", "--balancer", "metis"]);
    assert_eq!(metis["spikes_digest"], one["spikes_digest"], "metis balancer");
    let neurons: u64 = metis["per_rank"].as_array().unwrap().iter().map(|r| r["neurons"].as_u64().unwrap()).sum();
    assert_eq!(neurons, one["neurons"].as_u64().unwrap());
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn bad_input_under_mpi_exits_with_code_2_on_every_rank() {
    let base = scratch_dir("mpi-bad");
    let o = mpirun_cajal(2)
        .args(["run", "models/microcircuit.toml", "--set", "neuron.tau_m=-1", "--out", base.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("neuron.tau_m"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&base);
}

/// `mpirun -n <n> cajal <args>` with the container settings; returns the exit status and stderr.
fn mpirun_raw(n: usize, args: &[&str]) -> (Option<i32>, String) {
    let o = mpirun_cajal(n).args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_checkpoint_of_2_mpi_ranks_resumes_on_2_and_on_4() {
    let base = scratch_dir("mpi-ckpt");
    let plan = ["--scale", "0.1", "--t-presim", "500", "--t-sim", "500", "--no-spikes", "--threads", "1"];
    let straight = run_microcircuit(&base.join("straight"), &plan);
    for q in [2, 4] {
        // A run that reached its end is marked complete: each resume gets a checkpoint of its own.
        let (ck, stopped) = (base.join(format!("ck-{q}")), base.join(format!("stopped-{q}")));
        let mut run = vec!["run", "models/microcircuit.toml", "--out", stopped.to_str().unwrap()];
        run.extend_from_slice(&["--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "400"]);
        run.extend_from_slice(&plan);
        let (code, stderr) = mpirun_raw(2, &run);
        assert_eq!(code, Some(0), "{stderr}");
        let out = base.join(format!("resumed-{q}"));
        let (code, stderr) =
            mpirun_raw(q, &["resume", ck.to_str().unwrap(), "--threads", "1", "--out", out.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{stderr}");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["ranks"].as_u64().unwrap(), q as u64);
        for key in ["spikes_digest", "spike_count", "populations"] {
            assert_eq!(s[key], straight[key], "2 -> {q} MPI ranks: {key}");
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn the_performance_report_gathers_both_mpi_ranks() {
    let base = scratch_dir("mpi-perf");
    let s = mpirun(2, &base, &["--threads", "1", "--sync-timer"]);
    assert_eq!(s["ranks"], 2);
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(base.join("perf.json")).unwrap()).unwrap();
    assert_eq!(p["per_rank"].as_array().unwrap().len(), 2);
    let windows = p["windows"].as_u64().unwrap();
    assert_eq!(windows, 2000);
    assert_eq!(p["merged"]["exchange"]["count"].as_u64().unwrap(), 2 * windows);
    assert_eq!(p["merged"]["sync"]["count"].as_u64().unwrap(), 2 * windows);
    for r in p["per_rank"].as_array().unwrap() {
        assert!(r["phases"]["exchange"]["total_s"].as_f64().unwrap() > 0.0, "rank {} exchanged", r["rank"]);
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn the_optic_lobe_gives_the_same_voltages_bit_for_bit_on_2_and_4_mpi_ranks() {
    let base = scratch_dir("mpi-lobe");
    let run = |n: usize, name: &str| {
        let out = base.join(name);
        let args = [
            "run",
            "models/optic_lobe.toml",
            "--params",
            "tests/data/optic_lobe/pretrained_flow_0000_000.json",
            "--t-sim",
            "240",
            "--stimulus",
            "edge:30:13:on",
            "--record",
            "central-voltages",
            "--threads",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        let (code, stderr) = mpirun_raw(n, &args);
        assert_eq!(code, Some(0), "mpirun -n {n}: {stderr}");
        std::fs::read_to_string(out.join("central_voltages.csv")).unwrap()
    };
    let one = run(1, "1");
    assert_eq!(one.lines().count(), 13);
    assert_eq!(run(2, "2"), one, "2 MPI ranks");
    assert_eq!(run(4, "4"), one, "4 MPI ranks");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("4/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["ranks"], 4);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_slurm_step_whose_tasks_are_not_one_mpi_world_is_refused() {
    // What a task of `srun -n 2` sees when the MPI library did not join the tasks (each is a singleton).
    let dir = scratch_dir("slurm-singleton");
    let o = Command::new(env!("CARGO_BIN_EXE_cajal"))
        .args(["run", "models/microcircuit.toml", "--scale", "0.02", "--t-sim", "100", "--out"])
        .arg(dir.join("out"))
        .current_dir(repo())
        .env("SLURM_STEP_ID", "0")
        .env("SLURM_STEP_NUM_TASKS", "2")
        .env("SLURM_PROCID", "0")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("started 2 processes but MPI's world has 1") && stderr.contains("--mpi=pmix"), "{stderr}");
    assert!(!dir.join("out/summary.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plastic_network_under_mpi_has_the_spikes_and_weights_of_one_process_and_resumes_on_3() {
    let base = scratch_dir("mpi-plastic");
    let small = [&common::SMALL_HPC[..], &["--threads", "1"]].concat();
    let one = common::run_microcircuit_model("models/hpc_benchmark.toml", &base.join("one"), &small);
    let (ck, stopped) = (base.join("ck"), base.join("stopped"));
    let mut run = vec!["run", "models/hpc_benchmark.toml", "--out", stopped.to_str().unwrap()];
    run.extend_from_slice(&small);
    run.extend_from_slice(&["--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "60"]);
    let (code, stderr) = mpirun_raw(2, &run);
    assert_eq!(code, Some(0), "{stderr}");
    let out = base.join("resumed");
    let (code, stderr) =
        mpirun_raw(3, &["resume", ck.to_str().unwrap(), "--threads", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["communicator"], "mpi");
    assert_eq!(s["spikes_digest"], one["spikes_digest"]);
    assert_eq!(s["plasticity"]["weights_digest"], one["plasticity"]["weights_digest"]);
    let _ = std::fs::remove_dir_all(&base);
}
