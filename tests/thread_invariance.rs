//! The same spikes, bit for bit, for any number of threads: the microcircuit at scale 0.1 on 1, 2 and 3
//! threads gives the same digest, the same spike count and identical spike files.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{run_microcircuit, scratch_dir};

#[test]
fn spikes_digest_is_identical_for_one_two_and_three_threads() {
    let base = scratch_dir("threads");
    let mut digests = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = base.join(threads);
        let s =
            run_microcircuit(&out, &["--scale", "0.1", "--t-presim", "100", "--t-sim", "200", "--threads", threads]);
        assert_eq!(s["threads_per_rank"].as_u64().unwrap().to_string(), threads);
        let count = s["spike_count"].as_u64().unwrap();
        assert!(count > 1000, "the network must be active for the comparison to mean anything: {count} spikes");
        let files: Vec<String> = ["L23E", "L4E", "L6I"]
            .iter()
            .map(|p| std::fs::read_to_string(out.join("spikes").join(format!("{p}.csv"))).unwrap())
            .collect();
        digests.push((s["spikes_digest"].as_str().unwrap().to_owned(), count, files));
    }
    assert_eq!(digests[0], digests[1], "1 vs 2 threads");
    assert_eq!(digests[0], digests[2], "1 vs 3 threads");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_different_seed_gives_different_spikes() {
    let base = scratch_dir("seeds");
    let a = run_microcircuit(
        &base.join("a"),
        &["--scale", "0.05", "--t-presim", "0", "--t-sim", "100", "--no-spikes", "--seed", "1"],
    );
    let b = run_microcircuit(
        &base.join("b"),
        &["--scale", "0.05", "--t-presim", "0", "--t-sim", "100", "--no-spikes", "--seed", "2"],
    );
    assert_ne!(a["spikes_digest"], b["spikes_digest"]);
    let _ = std::fs::remove_dir_all(&base);
}

/// The reference SplitMix64 step, written out here independently of the engine's.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn the_digest_equals_a_recomputation_from_the_spike_files() {
    // With no warm-up the spike files hold every spike of the run, so the digest can be recomputed.
    let out = scratch_dir("digest");
    let s = run_microcircuit(&out, &["--scale", "0.05", "--t-presim", "0", "--t-sim", "300", "--threads", "2"]);
    let mut sum = 0u64;
    let mut count = 0u64;
    for p in s["populations"].as_array().unwrap() {
        let csv =
            std::fs::read_to_string(out.join("spikes").join(format!("{}.csv", p["name"].as_str().unwrap()))).unwrap();
        for line in csv.lines().skip(1) {
            let (sender, time) = line.split_once(',').unwrap();
            let gid: u64 = sender.parse().unwrap();
            // A spike of step s is stamped (s + 1) dt.
            let step = (time.parse::<f64>().unwrap() / 0.1).round() as u64 - 1;
            sum = sum.wrapping_add(splitmix64(splitmix64(step) ^ gid));
            count += 1;
        }
    }
    assert!(count > 100, "{count}");
    assert_eq!(count, s["spike_count"].as_u64().unwrap());
    assert_eq!(format!("{sum:016x}"), s["spikes_digest"].as_str().unwrap());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_time_step_flag_sets_dt_for_the_microcircuit_too() {
    let flags = ["--scale", "0.02", "--t-presim", "0", "--t-sim", "50", "--no-spikes", "--threads", "1"];
    let coarse = run_microcircuit(&scratch_dir("dt-coarse"), &flags);
    let fine = run_microcircuit(&scratch_dir("dt-fine"), &[&flags[..], &["--dt-ms", "0.05"]].concat());
    assert_eq!(coarse["dt_ms"], 0.1);
    assert_eq!(fine["dt_ms"], 0.05);
    assert_ne!(coarse["spikes_digest"], fine["spikes_digest"], "another grid, other spikes");
}

#[test]
fn inside_a_slurm_job_threads_default_to_cpus_per_task() {
    let dir = scratch_dir("slurm-cpus");
    let out = dir.join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cajal"))
        .args(["run", "models/microcircuit.toml", "--scale", "0.02", "--t-presim", "0", "--t-sim", "20", "--no-spikes"])
        .arg("--out")
        .arg(&out)
        .current_dir(common::repo())
        .env("SLURM_CPUS_PER_TASK", "3")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["threads_per_rank"], 3);
    let _ = std::fs::remove_dir_all(&dir);
}
