//! Checkpoints of graded and rate models through the one job: the optic lobe, the SERNN and the rate grid
//! stopped on 2 ranks and resumed on 1 and 3 write the bytes of an uninterrupted run (CSV and NPY, a stop in
//! the warm-up and one in the recorded period); SIGUSR1 during a 2-rank MPI run of the optic lobe exits 75
//! and the resume ends identically; and the sbatch script takes a graded model (tests/slurm_jobs.rs
//! submits one).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{mpirun_cajal, run_cajal, scratch_dir, test_cluster_config};

const PARAMS: &str = "tests/data/optic_lobe/pretrained_flow_0000_000.json";

/// The optic lobe under a moving edge, 100 ms warm-up and 400 ms recorded at 20 ms steps.
fn lobe_flags(format: &str) -> Vec<String> {
    let flags = ["--params", PARAMS, "--dt-ms", "20", "--t-presim", "100", "--t-sim", "400"];
    let more = ["--stimulus", "edge:90:20:on", "--record", "central-voltages", "--record-format", format];
    flags.iter().chain(&more).map(|s| (*s).to_owned()).collect()
}

fn cajal_ok(args: &[&str]) {
    let o = run_cajal(args, Duration::from_secs(300));
    assert!(o.status.success(), "cajal {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn run_model(model: &str, out: &Path, flags: &[String], extra: &[&str]) {
    let mut args = vec!["run", model, "--out", out.to_str().unwrap()];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    cajal_ok(&args);
}

/// Runs `model` uninterrupted on 1 rank, then for each (stop ms, resume ranks): stopped at that time on 2
/// ranks and resumed on the given ranks; every resumed file `file` must equal the uninterrupted one.
fn stopped_and_resumed_equal_straight(name: &str, model: &str, flags: &[String], file: &str, cases: &[(&str, &str)]) {
    let dir = scratch_dir(name);
    run_model(model, &dir.join("straight"), flags, &["--threads", "1"]);
    let straight = std::fs::read(dir.join("straight").join(file)).unwrap();
    for (stop, ranks) in cases {
        let (ck, out) = (dir.join(format!("ck-{stop}-{ranks}")), dir.join(format!("out-{stop}-{ranks}")));
        let ck_flags = ["--checkpoint-to", ck.to_str().unwrap(), "--checkpoint-every", "40", "--stop-after", stop];
        run_model(model, &out, flags, &[&["--ranks", "2", "--threads", "1"][..], &ck_flags].concat());
        assert!(!out.join("summary.json").exists(), "a stopped run writes no summary");
        cajal_ok(&["resume", ck.to_str().unwrap(), "--ranks", ranks, "--threads", "1"]);
        let resumed = std::fs::read(out.join(file)).unwrap();
        assert!(resumed == straight, "{model}: stopped at {stop} ms on 2 ranks, resumed on {ranks}: {file} differs");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["ranks"], ranks.parse::<u64>().unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_optic_lobe_stopped_on_2_ranks_resumes_on_1_and_3_to_the_same_voltage_files() {
    // In the recorded period (CSV) and inside the warm-up (NPY: the file is created after the resume).
    let csv = lobe_flags("csv");
    let cases = [("240", "1"), ("240", "3")];
    stopped_and_resumed_equal_straight("gck-lobe", "models/optic_lobe.toml", &csv, "central_voltages.csv", &cases);
    let npy = lobe_flags("npy");
    let cases = [("280", "3"), ("60", "1")];
    stopped_and_resumed_equal_straight("gck-lobe-npy", "models/optic_lobe.toml", &npy, "central_voltages.npy", &cases);
}

#[test]
fn rate_networks_stopped_on_2_ranks_resume_on_1_and_3_to_the_same_voltage_files() {
    let sernn: Vec<String> = ["--t-presim", "50", "--t-sim", "300"].iter().map(|s| (*s).to_owned()).collect();
    let cases = [("200", "1"), ("120", "3")];
    stopped_and_resumed_equal_straight("gck-sernn", "models/sernn.toml", &sernn, "voltages.csv", &cases);
    let grid: Vec<String> = [
        "--t-presim",
        "20",
        "--t-sim",
        "200",
        "--set",
        "units.grid=[12, 12, 4]",
        "--set",
        "recording.voltages=\"all\"",
        "--set",
        "recording.format=\"csv\"",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let cases = [("160", "3"), ("80", "1")];
    stopped_and_resumed_equal_straight("gck-grid", "models/rate_grid.toml", &grid, "voltages.csv", &cases);
}

/// Waits for `path` to exist while `child` runs.
fn wait_for_file(path: &Path, child: &mut std::process::Child) {
    let started = Instant::now();
    while !path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(started.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigusr1_during_a_2_rank_mpi_run_of_the_optic_lobe_exits_75_and_resumes_identically() {
    let dir = scratch_dir("gck-mpi-signal");
    // Long enough (2,000 steps of 1 ms) that the signal arrives mid-run.
    let mut flags = lobe_flags("csv");
    flags.iter_mut().for_each(|f| {
        if f == "20" {
            *f = "1".into();
        } else if f == "400" {
            *f = "2000".into();
        }
    });
    run_model("models/optic_lobe.toml", &dir.join("straight"), &flags, &["--threads", "1"]);
    let (ck, out) = (dir.join("ck"), dir.join("out"));
    let mut child = mpirun_cajal(2)
        .args(["run", "models/optic_lobe.toml", "--threads", "1", "--out", out.to_str().unwrap()])
        .args(&flags)
        .args(["--checkpoint-to", ck.to_str().unwrap(), "--checkpoint-every", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&ck.join("latest"), &mut child);
    // mpirun passes USR1 on to its ranks.
    std::process::Command::new("kill").args(["-USR1", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75), "a signal ends the run with the documented code");
    assert!(!out.join("summary.json").exists());
    let o = mpirun_cajal(2).args(["resume", ck.to_str().unwrap(), "--threads", "1"]).output().unwrap();
    assert!(o.status.success(), "resume: {}", String::from_utf8_lossy(&o.stderr));
    let straight = std::fs::read(dir.join("straight/central_voltages.csv")).unwrap();
    assert!(std::fs::read(out.join("central_voltages.csv")).unwrap() == straight, "resumed voltages differ");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_sbatch_script_of_a_graded_model_checkpoints_and_resumes_it() {
    let dir = scratch_dir("gck-slurm-script");
    let config = test_cluster_config(&dir, 2, "mpirun --bind-to none", "requeue");
    let out: PathBuf = dir.join("out");
    let mut args = vec!["slurm", "script", "models/optic_lobe.toml", "--cluster", config.to_str().unwrap()];
    let flags = lobe_flags("csv");
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = run_cajal(&args, Duration::from_secs(60));
    assert!(o.status.success(), "slurm script: {}", String::from_utf8_lossy(&o.stderr));
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(script.contains("optic_lobe.toml") && script.contains("--checkpoint-to"), "{script}");
    assert!(script.contains("resume=(resume"), "the script resumes a preempted run: {script}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_graded_resume_into_another_directory_is_refused_naming_the_missing_voltage_file() {
    let dir = scratch_dir("gck-other-out");
    let (ck, out) = (dir.join("ck"), dir.join("out"));
    let flags = ["--t-presim", "20", "--t-sim", "100", "--threads", "1"].map(String::from);
    run_model("models/sernn.toml", &out, &flags, &["--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "60"]);
    let elsewhere = dir.join("elsewhere");
    let o = run_cajal(&["resume", ck.to_str().unwrap(), "--out", elsewhere.to_str().unwrap()], Duration::from_secs(60));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("voltages.csv") && e.contains("not in the output directory"), "{e}");
    // In its own directory the same checkpoint resumes.
    cajal_ok(&["resume", ck.to_str().unwrap()]);
    assert!(out.join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
