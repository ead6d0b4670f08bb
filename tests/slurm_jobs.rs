//! Against a real one-node Slurm (scripts/test.sh starts slurmctld, slurmd and munge on localhost): a
//! submitted 2-rank run gives the spikes of the same run under mpirun; a job warned early with
//! `scancel --batch --signal=USR1` checkpoints and its follow-up (chained under mpirun, or the job requeued
//! under srun) resumes to the spikes of an uninterrupted run; srun without an MPI plugin runs no copies.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{mpirun_cajal, repo, run_cajal, run_microcircuit, scratch_dir, test_cluster_config};

/// The local node has 2 cores: the jobs of these tests run one after the other.
static SLURM: Mutex<()> = Mutex::new(());

/// Submits `model` with `flags` under `config`; returns the job id.
fn submit(config: &Path, out: &Path, flags: &[&str]) -> String {
    submit_model("models/microcircuit.toml", config, out, flags)
}

fn submit_model(model: &str, config: &Path, out: &Path, flags: &[&str]) -> String {
    let mut args = vec!["slurm", "submit", model, "--cluster", config.to_str().unwrap()];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = run_cajal(&args, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "cajal slurm submit: {}", String::from_utf8_lossy(&o.stderr));
    stdout.split_whitespace().nth(2).unwrap().to_owned()
}

/// Whether any job named cajal-test is pending or running.
fn jobs_left() -> bool {
    let o = Command::new("squeue").args(["-h", "-n", "cajal-test", "-o", "%i"]).output().unwrap();
    assert!(o.status.success(), "squeue: {}", String::from_utf8_lossy(&o.stderr));
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn job_logs(dir: &Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("job-") {
            text += &std::fs::read_to_string(e.path()).unwrap_or_default();
        }
    }
    text
}

#[test]
fn a_submitted_2_rank_run_gives_the_spikes_of_the_same_run_under_mpirun() {
    let _slurm = SLURM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch_dir("slurm-submit");
    let config = test_cluster_config(&dir, 2, "srun --mpi=pmix", "requeue");
    let flags = ["--scale", "0.1", "--t-presim", "100", "--t-sim", "1000", "--no-spikes"];
    let out = dir.join("out");
    submit(&config, &out, &flags);
    wait_until("the job's end", Duration::from_secs(600), || !jobs_left());
    assert!(out.join("summary.json").exists(), "job log:\n{}", job_logs(&dir));
    let job = summary(&out);
    assert_eq!(job["ranks"], 2, "srun started 2 ranks of one MPI world");
    let mpi_out = dir.join("mpirun");
    let o = mpirun_cajal(2)
        .args(["run", "models/microcircuit.toml", "--threads", "1", "--out", mpi_out.to_str().unwrap()])
        .args(flags)
        .output()
        .unwrap();
    assert!(o.status.success(), "mpirun: {}", String::from_utf8_lossy(&o.stderr));
    let plain = summary(&mpi_out);
    assert_eq!(job["spikes_digest"], plain["spikes_digest"]);
    assert_eq!(job["total_spikes"], plain["total_spikes"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Submits a long run, warns its batch shell with USR1 once it has a checkpoint, and waits for the follow-up
/// to finish; returns the final summary.
fn warned_early(name: &str, launcher: &str, continuation: &str) -> (serde_json::Value, String) {
    let _slurm = SLURM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch_dir(name);
    let config = test_cluster_config(&dir, 2, launcher, continuation);
    let out = dir.join("out");
    let id = submit(&config, &out, &["--scale", "0.1", "--t-presim", "100", "--t-sim", "20000", "--no-spikes"]);
    wait_until("the first checkpoint", Duration::from_secs(300), || dir.join("checkpoints/latest").exists());
    let o = Command::new("scancel").args(["--batch", "--signal=USR1", &id]).output().unwrap();
    assert!(o.status.success(), "scancel: {}", String::from_utf8_lossy(&o.stderr));
    // A requeued job waits about two minutes before Slurm lets it start again.
    wait_until("the follow-up's end", Duration::from_secs(600), || out.join("summary.json").exists() && !jobs_left());
    let logs = job_logs(&dir);
    let s = summary(&out);
    let _ = std::fs::remove_dir_all(&dir);
    (s, logs)
}

/// The uninterrupted run, in a folder of its own per test (`name`): the tests may run it at the same time.
fn uninterrupted(name: &str) -> serde_json::Value {
    let dir = scratch_dir(name);
    let s = run_microcircuit(
        &dir,
        &["--scale", "0.1", "--t-presim", "100", "--t-sim", "20000", "--no-spikes", "--ranks", "2", "--threads", "1"],
    );
    let _ = std::fs::remove_dir_all(&dir);
    s
}

#[test]
fn a_job_warned_early_checkpoints_and_its_chained_follow_up_resumes_to_the_same_spikes() {
    // mpirun as the launcher here (it passes USR1 on to the ranks too), srun in the requeue test.
    let (s, logs) = warned_early("slurm-chain", "mpirun --bind-to none", "chain");
    assert!(logs.contains("USR1 received") && logs.contains("submitting the follow-up job"), "{logs}");
    assert!(logs.contains("checkpoints resumable, running cajal resume"), "{logs}");
    let straight = uninterrupted("slurm-straight-chain");
    assert_eq!(s["spikes_digest"], straight["spikes_digest"], "{logs}");
    assert_eq!(s["total_spikes"], straight["total_spikes"]);
}

#[test]
fn a_job_warned_early_checkpoints_requeues_itself_and_resumes_to_the_same_spikes() {
    let (s, logs) = warned_early("slurm-requeue", "srun --mpi=pmix", "requeue");
    assert!(logs.contains("requeueing job") && logs.contains("(restart 1): checkpoints resumable"), "{logs}");
    let straight = uninterrupted("slurm-straight-requeue");
    assert_eq!(s["spikes_digest"], straight["spikes_digest"], "{logs}");
}

#[test]
fn srun_without_an_mpi_plugin_is_refused_instead_of_running_copies() {
    let _slurm = SLURM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch_dir("slurm-nompi");
    let o = Command::new("srun")
        .args(["-n", "2", "--mpi=none"])
        .arg(env!("CARGO_BIN_EXE_cajal"))
        .args(["run", "models/microcircuit.toml", "--scale", "0.02", "--t-sim", "100", "--out"])
        .arg(dir.join("out"))
        .current_dir(repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    // Open MPI refuses a direct launch without PMI itself; other MPI libraries start singletons, which cajal
    // refuses (see mpi_layouts.rs). Either way, no copy of the run may go ahead.
    assert!(
        stderr.contains("started 2 processes but MPI's world has 1") || stderr.contains("direct launched"),
        "{stderr}"
    );
    assert!(!dir.join("out/summary.json").exists(), "no copy of the run finished");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_submitted_graded_run_writes_the_voltages_of_the_same_run_without_slurm() {
    let _slurm = SLURM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch_dir("slurm-graded");
    let config = test_cluster_config(&dir, 2, "srun --mpi=pmix", "requeue");
    let flags = [
        "--params",
        "tests/data/optic_lobe/pretrained_flow_0000_000.json",
        "--dt-ms",
        "20",
        "--t-presim",
        "100",
        "--t-sim",
        "400",
        "--stimulus",
        "edge:90:20:on",
        "--record",
        "central-voltages",
    ];
    let out = dir.join("out");
    submit_model("models/optic_lobe.toml", &config, &out, &flags);
    wait_until("the job's end", Duration::from_secs(300), || !jobs_left());
    assert!(out.join("summary.json").exists(), "job log:\n{}", job_logs(&dir));
    assert_eq!(summary(&out)["ranks"], 2, "srun started 2 ranks of one MPI world");
    assert!(dir.join("checkpoints/complete").exists(), "the job ran with checkpoints and completed");
    let local = dir.join("local");
    let mut args = vec!["run", "models/optic_lobe.toml", "--threads", "1", "--out", local.to_str().unwrap()];
    args.extend_from_slice(&flags);
    let o = run_cajal(&args, Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let voltages = |d: &Path| std::fs::read(d.join("central_voltages.csv")).unwrap();
    assert!(voltages(&out) == voltages(&local), "the job's voltages differ from the run without Slurm");
    let _ = std::fs::remove_dir_all(&dir);
}
