//! `cajal slurm script` without Slurm: the script asks for the warning signal and the resources of the
//! cluster config; run by bash with a plain launcher and a stand-in `sbatch`, it starts the run, turns USR1
//! into a checkpoint and a chained follow-up, resumes from `latest`, and stops once the run is complete,
//! with the spikes of an uninterrupted run. Bad cluster configs and run options exit with code 2.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, run_cajal, run_microcircuit, scratch_dir, test_cluster_config};

fn script(args: &[&str]) -> String {
    let o = run_cajal(&[&["slurm", "script"], args].concat(), Duration::from_secs(60));
    assert!(o.status.success(), "cajal slurm script {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn the_script_requests_the_cluster_configs_resources_and_the_warning_signal() {
    let s =
        script(&["models/microcircuit.toml", "--cluster", "cluster/local.toml", "--scale", "0.1", "--out", "out/x"]);
    for line in [
        "#SBATCH --job-name=cajal",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --time=00:30:00",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --requeue",
        "srun --mpi=pmix \"$cajal\" \"${step[@]}\" &",
        "scontrol requeue \"$SLURM_JOB_ID\"",
        "--checkpoint-to \"$url\" --checkpoint-every 1000 --keep 2 --threads 1)",
        "resume=(resume \"$url\" --threads 1)",
        "trap forward_usr1 USR1",
        "#SBATCH --chdir=",
    ] {
        assert!(s.contains(line), "missing {line:?} in\n{s}");
    }
    let model = repo().join("models/microcircuit.toml");
    assert!(s.contains(&format!("run=(run {} --scale 0.1 --out out/x", model.display())), "{s}");
    let multi = script(&[
        "models/microcircuit.toml",
        "--cluster",
        "cluster/example-multinode.toml",
        "--set",
        "background.input=\"dc\"",
    ]);
    for line in [
        "#SBATCH --partition=compute",
        "#SBATCH --account=my-project",
        "#SBATCH --nodes=8",
        "#SBATCH --mem=0",
        "#SBATCH --signal=B:USR1@300",
        "module load gcc/12",
        "export AWS_REGION=eu-central-1",
        "'background.input=\"dc\"'",
        "url=s3://my-bucket/cajal/microcircuit",
    ] {
        assert!(multi.contains(line), "missing {line:?} in\n{multi}");
    }
    for text in [&s, &multi] {
        let dir = scratch_dir("slurm-syntax");
        std::fs::write(dir.join("job.sh"), text).unwrap();
        let ok = Command::new("bash").arg("-n").arg(dir.join("job.sh")).status().unwrap();
        assert!(ok.success(), "bash -n rejects the script");
    }
}

/// Runs `script` with bash and `path_dir` first on PATH; sends USR1 to the batch shell once `wait_for`
/// exists, if given. Returns (exit code, output).
fn run_batch_shell(script: &Path, path_dir: &Path, usr1_after: Option<&Path>) -> (i32, String) {
    let log = script.with_extension("log");
    let path = format!("{}:{}", path_dir.display(), std::env::var("PATH").unwrap());
    let mut child = Command::new("bash")
        .arg(script)
        .env("PATH", path)
        .env("SLURM_JOB_ID", "4242")
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(log.with_extension("err")).unwrap()))
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut signalled = usr1_after.is_none();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if !signalled && usr1_after.is_some_and(Path::exists) {
            Command::new("kill").args(["-USR1", &child.id().to_string()]).status().unwrap();
            signalled = true;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the batch shell did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&log).unwrap() + &std::fs::read_to_string(log.with_extension("err")).unwrap();
    (status.code().unwrap_or(-1), text)
}

#[test]
fn the_batch_shell_checkpoints_on_usr1_chains_a_follow_up_that_resumes_and_finishes() {
    let dir = scratch_dir("slurm-shell");
    let config = test_cluster_config(&dir, 1, "env", "chain");
    let out = dir.join("out");
    let flags = ["--scale", "0.1", "--t-presim", "100", "--t-sim", "6000", "--no-spikes"];
    let mut args = vec!["slurm", "script", "models/microcircuit.toml", "--cluster", config.to_str().unwrap()];
    args.extend_from_slice(&flags);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = run_cajal(&args, Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let job = dir.join("job.sh");
    std::fs::write(&job, &o.stdout).unwrap();
    // A stand-in sbatch that records how the follow-up was submitted.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("sbatch-args");
    std::fs::write(bin.join("sbatch"), format!("#!/bin/sh\necho \"$@\" > {}\n", record.display())).unwrap();
    Command::new("chmod").args(["+x", bin.join("sbatch").to_str().unwrap()]).status().unwrap();

    let latest = dir.join("checkpoints/latest");
    let (code, log) = run_batch_shell(&job, &bin, Some(&latest));
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("checkpoints none, running cajal run") && log.contains("USR1 received"), "{log}");
    assert!(!out.join("summary.json").exists(), "stopped before the end");
    let submitted = std::fs::read_to_string(&record).unwrap();
    assert!(submitted.starts_with("--dependency=afterany:4242 "), "{submitted}");

    let (code, log) = run_batch_shell(&job, &bin, None);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("checkpoints resumable, running cajal resume"), "{log}");
    let (code, log) = run_batch_shell(&job, &bin, None);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("already complete"), "{log}");

    let resumed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let straight = run_microcircuit(&dir.join("straight"), &[&flags[..], &["--threads", "1"]].concat());
    assert_eq!(resumed["spikes_digest"], straight["spikes_digest"]);
    assert_eq!(resumed["total_spikes"], straight["total_spikes"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoint_state_says_none_resumable_or_complete() {
    let dir = scratch_dir("slurm-state");
    let ck = dir.join("ck");
    let state = |url: &str| {
        let o = run_cajal(&["checkpoints", "state", url], Duration::from_secs(30));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(state(ck.to_str().unwrap()), "none");
    let base = [
        "--scale",
        "0.02",
        "--t-presim",
        "0",
        "--t-sim",
        "200",
        "--no-spikes",
        "--checkpoint-to",
        ck.to_str().unwrap(),
    ];
    let a = dir.join("a");
    let mut args = vec!["run", "models/microcircuit.toml", "--out", a.to_str().unwrap(), "--stop-after", "100"];
    args.extend_from_slice(&base);
    let o = run_cajal(&args, Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(state(ck.to_str().unwrap()), "resumable");
    assert_eq!(state(&format!("file://{}", ck.display())), "resumable");
    let o = run_cajal(&["resume", ck.to_str().unwrap()], Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(state(ck.to_str().unwrap()), "complete");
    let _ = std::fs::remove_dir_all(&dir);
}

fn bad(args: &[&str]) -> String {
    let o = run_cajal(args, Duration::from_secs(60));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
    e
}

#[test]
fn bad_cluster_configs_and_run_options_exit_2_and_say_what_is_wrong() {
    let dir = scratch_dir("slurm-bad");
    let good = std::fs::read_to_string(repo().join("cluster/local.toml")).unwrap();
    let case = |name: &str, from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        bad(&["slurm", "script", "models/microcircuit.toml", "--cluster", path.to_str().unwrap()])
    };
    let e = case("unknown", "nodes = 1", "nodes = 1\nnodez = 2");
    assert!(e.contains("unknown.toml") && e.contains("nodez"), "{e}");
    let e = case("zero", "nodes = 1", "nodes = 0");
    assert!(e.contains("job.nodes") && e.contains("must be >= 1"), "{e}");
    let e = case("cores", "cpus_per_task = 1", "cpus_per_task = 4");
    assert!(e.contains("job.cpus_per_task") && e.contains("more than the node's 2 cores"), "{e}");
    let e = case("time", "time = \"00:30:00\"", "time = \"half an hour\"");
    assert!(e.contains("job.time") && e.contains("not a Slurm time"), "{e}");
    let e = case("lead", "signal_lead_s = 120", "signal_lead_s = 3600");
    assert!(e.contains("job.signal_lead_s") && e.contains("1800 s"), "{e}");
    let e = case("cont", "continue = \"requeue\"", "continue = \"retry\"");
    assert!(e.contains("cont.toml") && e.contains("retry"), "{e}");
    let e = case("launcher", "command = \"srun --mpi=pmix\"", "command = \" \"");
    assert!(e.contains("launcher.command"), "{e}");
    let e = bad(&["slurm", "script", "models/microcircuit.toml", "--cluster", "cluster/local.toml", "--threads", "2"]);
    assert!(e.contains("--threads") && e.contains("cluster config"), "{e}");
    let e = bad(&["slurm", "script", "models/microcircuit.toml", "--cluster", "cluster/local.toml", "--scale", "-1"]);
    assert!(e.contains("run options") && e.contains("--scale"), "{e}");
    // Flags the model's kind cannot use are refused as `cajal run` refuses them.
    let e = bad(&["slurm", "script", "models/optic_lobe.toml", "--cluster", "cluster/local.toml", "--no-spikes"]);
    assert!(e.contains("--no-spikes") && e.contains("optic_lobe"), "{e}");
    let e = bad(&["slurm", "script", "models/microcircuit.toml", "--cluster", "/no/such/cluster.toml"]);
    assert!(e.contains("/no/such/cluster.toml"), "{e}");
    let e = case("name", "name = \"cajal\"", "name = \"../../evil\"");
    assert!(e.contains("job.name") && e.contains("letters, digits"), "{e}");
    let e = case("partition", "partition = \"\"", "partition = \"a\\nb\"");
    assert!(e.contains("job.partition") && e.contains("line breaks"), "{e}");
    // 65536 x 65536 would wrap to 0 in 32 bits.
    let wrap = dir.join("wrap.toml");
    std::fs::write(
        &wrap,
        good.replacen("ntasks_per_node = 2", "ntasks_per_node = 65536", 1).replacen(
            "cpus_per_task = 1",
            "cpus_per_task = 65536",
            1,
        ),
    )
    .unwrap();
    let e = bad(&["slurm", "script", "models/microcircuit.toml", "--cluster", wrap.to_str().unwrap()]);
    assert!(e.contains("job.cpus_per_task") && e.contains("more than the node's 2 cores"), "{e}");
    let e = case("every", "every_ms = 1000.0", "every_ms = 0.05");
    assert!(e.contains("checkpoint.every_ms") && e.contains("0.05"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_location_holding_another_run_is_refused() {
    let dir = scratch_dir("slurm-location");
    let config = test_cluster_config(&dir, 1, "env", "chain");
    let out = dir.join("out");
    let ck = dir.join("checkpoints");
    let flags = ["--scale", "0.02", "--t-presim", "0", "--t-sim", "200", "--no-spikes", "--out", out.to_str().unwrap()];
    let mut run =
        vec!["run", "models/microcircuit.toml", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "100"];
    run.extend_from_slice(&flags);
    let o = run_cajal(&run, Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script_for = |extra: &[&str]| {
        let mut a = vec!["slurm", "script", "models/microcircuit.toml", "--cluster", config.to_str().unwrap()];
        a.extend_from_slice(&flags);
        a.extend_from_slice(extra);
        run_cajal(&a, Duration::from_secs(60))
    };
    let same = script_for(&[]);
    assert!(same.status.success(), "{}", String::from_utf8_lossy(&same.stderr));
    assert!(String::from_utf8_lossy(&same.stderr).contains("will resume this run"));
    let other = script_for(&["--seed", "7"]);
    let e = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{e}");
    assert!(e.contains("checkpoint.url") && e.contains("already holds another run"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
