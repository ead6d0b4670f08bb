//! Checkpoint and resume against the local disk: a run stopped at 400 ms and resumed (on the same or
//! another number of ranks, also after a signal or a kill) ends exactly like the run that never stopped;
//! damaged or foreign checkpoints are refused with a message that names the problem.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, run_cajal, run_microcircuit, scratch_dir};

/// 500 ms warm-up + 500 ms analysed at scale 0.1: 1,000 ms in all.
const PLAN: [&str; 6] = ["--scale", "0.1", "--t-presim", "500", "--t-sim", "500"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = PLAN.to_vec();
    a.extend_from_slice(extra);
    a
}

fn resume(url: &Path, extra: &[&str]) -> serde_json::Value {
    let mut a = vec!["resume", url.to_str().unwrap()];
    a.extend_from_slice(extra);
    let o = run_cajal(&a, Duration::from_secs(300));
    assert!(o.status.success(), "cajal {a:?}: {}", String::from_utf8_lossy(&o.stderr));
    let out = extra.iter().position(|x| *x == "--out").map(|i| PathBuf::from(extra[i + 1])).unwrap();
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn same_result(a: &serde_json::Value, b: &serde_json::Value, what: &str) {
    for key in ["spikes_digest", "spike_count", "populations", "steps", "neurons", "synapses"] {
        assert_eq!(a[key], b[key], "{what}: {key}");
    }
}

/// All analysed spikes of a run's output folder (every rank and segment file), sorted.
fn spike_lines(out: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for f in std::fs::read_dir(out.join("spikes")).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        lines.extend(text.lines().skip(1).map(str::to_owned));
    }
    lines.sort();
    lines
}

#[test]
fn a_run_stopped_at_400_ms_and_resumed_ends_like_one_that_never_stopped() {
    let base = scratch_dir("ckpt-same");
    let straight = run_microcircuit(&base.join("straight"), &args(&["--threads", "2"]));
    let ck = base.join("ck");
    let stopped = run_cajal(
        &[
            &["run", "models/microcircuit.toml", "--out", base.join("split").to_str().unwrap()],
            &args(&["--threads", "2", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "400"])[..],
        ]
        .concat(),
        Duration::from_secs(300),
    );
    assert_eq!(stopped.status.code(), Some(0), "{}", String::from_utf8_lossy(&stopped.stderr));
    assert!(!base.join("split/summary.json").exists(), "a stopped run has no summary yet");
    let resumed = resume(&ck, &["--threads", "1", "--out", base.join("split").to_str().unwrap()]);
    same_result(&straight, &resumed, "1 rank, 2 threads -> 1 thread");
    assert_eq!(resumed["resumed_from_step"], 4000);
    assert_eq!(spike_lines(&base.join("straight")), spike_lines(&base.join("split")), "spike files");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_checkpoint_of_p_ranks_resumes_on_q_ranks() {
    let base = scratch_dir("ckpt-ranks");
    let straight = run_microcircuit(&base.join("straight"), &args(&["--threads", "1", "--no-spikes"]));
    for (p, q) in [("2", "4"), ("4", "1")] {
        let ck = base.join(format!("ck-{p}-{q}"));
        let out = base.join(format!("out-{p}-{q}"));
        let o = run_cajal(
            &[
                &["run", "models/microcircuit.toml", "--out", out.to_str().unwrap(), "--no-spikes"],
                &args(&[
                    "--ranks",
                    p,
                    "--threads",
                    "1",
                    "--checkpoint-to",
                    ck.to_str().unwrap(),
                    "--stop-after",
                    "400",
                ])[..],
            ]
            .concat(),
            Duration::from_secs(300),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let resumed = resume(&ck, &["--ranks", q, "--threads", "1", "--out", out.to_str().unwrap()]);
        assert_eq!(resumed["ranks"].as_u64().unwrap().to_string(), q);
        same_result(&straight, &resumed, &format!("{p} ranks -> {q} ranks"));
    }
    let _ = std::fs::remove_dir_all(&base);
}

fn cajal_child(args: &[&str], envs: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cajal"));
    cmd.args(args).current_dir(repo()).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn wait_for(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("cajal did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the checkpoint root has a `latest` pointer.
fn wait_for_latest(ck: &Path, child: &mut std::process::Child) {
    let started = Instant::now();
    while !ck.join("latest").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(started.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const LONG: [&str; 8] = ["--scale", "0.1", "--t-presim", "200", "--t-sim", "4800", "--no-spikes", "--threads"];

/// The straight run of LONG on 2 threads, and the same run started with checkpoints every `every_ms` into
/// `<base>/ck`, writing to `<base>/out`, with `envs` set.
fn straight_and_checkpointing(
    base: &Path,
    every_ms: &str,
    envs: &[(&str, &str)],
) -> (serde_json::Value, PathBuf, PathBuf, std::process::Child) {
    let mut long = LONG.to_vec();
    long.push("2");
    let straight = run_microcircuit(&base.join("straight"), &long);
    let (ck, out) = (base.join("ck"), base.join("out"));
    let mut a = vec!["run", "models/microcircuit.toml", "--out", out.to_str().unwrap()];
    a.extend_from_slice(&["--checkpoint-to", ck.to_str().unwrap(), "--checkpoint-every", every_ms]);
    a.extend_from_slice(&long);
    let child = cajal_child(&a, envs);
    (straight, ck, out, child)
}

#[test]
fn sigusr1_mid_run_writes_a_checkpoint_exits_75_and_resumes_bit_for_bit() {
    let base = scratch_dir("ckpt-signal");
    let (straight, ck, out, mut child) = straight_and_checkpointing(&base, "100", &[]);
    wait_for_latest(&ck, &mut child);
    // SAFETY-free: kill(2) through the `kill` command.
    Command::new("kill").args(["-USR1", &child.id().to_string()]).status().unwrap();
    let status = wait_for(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(75), "a signal ends the run with the documented code");
    assert!(!out.join("summary.json").exists());
    let resumed = resume(&ck, &["--out", out.to_str().unwrap(), "--threads", "1"]);
    same_result(&straight, &resumed, "after SIGUSR1");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn kill_9_while_a_checkpoint_is_written_leaves_the_previous_one_usable() {
    let base = scratch_dir("ckpt-kill");
    // Every checkpoint pauses 1.5 s between its shards and its manifest; kill -9 lands in the second pause.
    let (straight, ck, out, mut child) =
        straight_and_checkpointing(&base, "500", &[("CAJAL_CHECKPOINT_COMMIT_DELAY_MS", "1500")]);
    wait_for_latest(&ck, &mut child);
    let first = std::fs::read_to_string(ck.join("latest")).unwrap();
    // The next checkpoint's folder appears with its shard; its manifest follows only after the pause.
    let step_folders = || {
        std::fs::read_dir(&ck)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("step-"))
            .count()
    };
    let started = Instant::now();
    while step_folders() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its second checkpoint");
        assert!(started.elapsed() < Duration::from_secs(120), "no second checkpoint started");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap(); // SIGKILL, inside the pause between the shard and the manifest
    let _ = child.wait();
    let folders: Vec<String> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert!(folders.len() >= 2, "the interrupted checkpoint left its shards: {folders:?}");
    assert_eq!(std::fs::read_to_string(ck.join("latest")).unwrap(), first, "latest must still name the complete one");
    let v = run_cajal(&["checkpoints", "verify", ck.to_str().unwrap()], Duration::from_secs(60));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let list = String::from_utf8_lossy(
        &run_cajal(&["checkpoints", "list", ck.to_str().unwrap()], Duration::from_secs(60)).stdout,
    )
    .into_owned();
    assert!(list.contains("incomplete") && list.contains("latest"), "{list}");
    let resumed = resume(&ck, &["--out", out.to_str().unwrap(), "--threads", "2"]);
    same_result(&straight, &resumed, "after kill -9");
    // The resumed run checkpointed again (every 500 ms, as the original): its commits removed the orphan.
    for f in std::fs::read_dir(&ck).unwrap() {
        let f = f.unwrap().path();
        if f.is_dir() {
            assert!(f.join("manifest.json").exists(), "orphan left behind: {}", f.display());
        }
    }
    // A finished run is not resumed again by mistake.
    let again = run_cajal(&["resume", ck.to_str().unwrap(), "--out", out.to_str().unwrap()], Duration::from_secs(60));
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is complete"));
    let _ = std::fs::remove_dir_all(&base);
}

fn expect_refused(ck: &Path, out: &Path, mention: &[&str]) {
    let o = run_cajal(&["resume", ck.to_str().unwrap(), "--out", out.to_str().unwrap()], Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for m in mention {
        assert!(stderr.contains(m), "stderr must mention `{m}`: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn damaged_missing_or_foreign_checkpoints_are_refused() {
    let base = scratch_dir("ckpt-bad");
    let (ck, out) = (base.join("ck"), base.join("out"));
    let o = run_cajal(
        &[
            &["run", "models/microcircuit.toml", "--out", out.to_str().unwrap(), "--no-spikes"],
            &args(&["--ranks", "2", "--threads", "1", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "100"])
                [..],
        ]
        .concat(),
        Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let name = std::fs::read_to_string(ck.join("latest")).unwrap();
    let dir = ck.join(&name);
    let shard = dir.join("shard-00001.bin");
    let good = std::fs::read(&shard).unwrap();

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    std::fs::write(&shard, &flipped).unwrap();
    expect_refused(&ck, &out, &["shard-00001.bin", "checksum"]);
    let v = run_cajal(&["checkpoints", "verify", ck.to_str().unwrap()], Duration::from_secs(60));
    assert_eq!(v.status.code(), Some(2));

    std::fs::remove_file(&shard).unwrap();
    expect_refused(&ck, &out, &["shard-00001.bin", "missing"]);
    std::fs::write(&shard, &good).unwrap();

    let manifest_path = dir.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["seed"] = serde_json::json!(12345);
    std::fs::write(&manifest_path, serde_json::to_string(&m).unwrap()).unwrap();
    expect_refused(&ck, &out, &["seed"]);
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["model_text"] = serde_json::json!(m["model_text"].as_str().unwrap().replace("seed = 55", "seed = 56"));
    std::fs::write(&manifest_path, serde_json::to_string(&m).unwrap()).unwrap();
    expect_refused(&ck, &out, &["model does not match its hash"]);
    std::fs::write(&manifest_path, &manifest).unwrap();

    expect_refused(&base.join("nothing-here"), &out, &["no checkpoint", "does not exist"]);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_signal_is_honoured_even_when_checkpoints_cut_the_run_into_short_chunks() {
    // Constant delays make the window 8 steps; checkpoints every 5 ms give chunks of about 7 windows.
    let base = scratch_dir("ckpt-short-chunks");
    let (ck, out) = (base.join("ck"), base.join("out"));
    let mut a = vec![
        "run",
        "models/microcircuit.toml",
        "--out",
        out.to_str().unwrap(),
        "--checkpoint-to",
        ck.to_str().unwrap(),
        "--checkpoint-every",
        "5",
        "--set",
        "connectivity.delay_rel_std=0",
    ];
    a.extend_from_slice(&["--scale", "0.05", "--t-presim", "0", "--t-sim", "20000", "--no-spikes", "--threads", "1"]);
    let mut child = cajal_child(&a, &[]);
    wait_for_latest(&ck, &mut child);
    Command::new("kill").args(["-USR1", &child.id().to_string()]).status().unwrap();
    let status = wait_for(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(75));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_resume_removes_the_files_of_an_earlier_failed_attempt_and_checks_its_arguments() {
    let base = scratch_dir("ckpt-stale");
    let straight = run_microcircuit(&base.join("straight"), &args(&["--threads", "1"]));
    let (ck, out) = (base.join("ck"), base.join("out"));
    let o = run_cajal(
        &[
            &["run", "models/microcircuit.toml", "--out", out.to_str().unwrap()],
            &args(&["--threads", "1", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "700"])[..],
        ]
        .concat(),
        Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // What an interrupted two-rank attempt would have left.
    std::fs::write(out.join("spikes/L23E-rank1-s1.csv"), "sender,time_ms\n1,701.0\n").unwrap();
    let early = run_cajal(
        &["resume", ck.to_str().unwrap(), "--stop-after", "600", "--out", out.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(early.status.code(), Some(2), "a stop before the checkpoint is refused");
    let typo = base.join("no-such-root");
    let missing = run_cajal(&["resume", typo.to_str().unwrap()], Duration::from_secs(60));
    assert_eq!(missing.status.code(), Some(2));
    assert!(!typo.exists(), "resume must not create the directory it reads from");
    let resumed = resume(&ck, &["--out", out.to_str().unwrap(), "--threads", "1"]);
    same_result(&straight, &resumed, "after a failed attempt");
    assert!(!out.join("spikes/L23E-rank1-s1.csv").exists());
    assert_eq!(spike_lines(&base.join("straight")), spike_lines(&out));
    let _ = std::fs::remove_dir_all(&base);
}
