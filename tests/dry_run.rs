//! Dry runs (`--dry-run P --dry-rank R`): one process builds only rank R of P. Its sizes and its exact
//! spike fan-out (streamed from the recipe) must equal what rank R learns in a real P-rank run, with any
//! balancer (METIS included), and a 1,024-rank job of the full-scale microcircuit is sized in seconds and
//! megabytes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{run_cajal, scratch_dir};

fn run_json(args: &[&str], out: &std::path::Path) -> serde_json::Value {
    let mut all = vec!["run", "models/microcircuit.toml", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run_cajal(&all, Duration::from_secs(300));
    assert!(o.status.success(), "cajal {all:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn dry_run_ranks_match_the_ranks_of_a_real_run() {
    let base = scratch_dir("dry-vs-real");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let ranks = (4 * cores).min(8);
    let ranks_s = ranks.to_string();
    for balancer in ["round-robin", "cost-blocks", "metis"] {
        // 8 ranks (4 on one core: in-process ranks count against the limit of 4 threads per core) of a
        // network with about 12 synapses per neuron: a neuron reaches only some ranks, so the fan-out is not
        // trivial.
        let real = run_json(
            &[
                "--scale",
                "0.003",
                "--ranks",
                &ranks_s,
                "--threads",
                "1",
                "--t-presim",
                "0",
                "--t-sim",
                "1",
                "--no-spikes",
                "--balancer",
                balancer,
            ],
            &base.join(format!("real-{balancer}")),
        );
        let per_rank = real["per_rank"].as_array().unwrap();
        for rank in [0, 3, ranks - 1] {
            let dry = run_json(
                &[
                    "--scale",
                    "0.003",
                    "--dry-run",
                    &ranks_s,
                    "--dry-rank",
                    &rank.to_string(),
                    "--threads",
                    "1",
                    "--balancer",
                    balancer,
                ],
                &base.join(format!("dry-{balancer}-{rank}")),
            );
            assert_eq!(dry["dry_run"], true);
            let r = &per_rank[rank];
            for key in ["neurons", "synapses", "synapse_bytes", "neurons_with_remote_targets", "remote_destinations"] {
                assert_eq!(dry[key], r[key], "{balancer}, rank {rank}: {key}");
            }
            let routes = dry["remote_destinations"].as_u64().unwrap();
            let neurons = dry["neurons"].as_u64().unwrap();
            assert!(
                routes > 0 && routes < neurons * (ranks as u64 - 1),
                "{balancer}, rank {rank}: fan-out {routes} must be partial"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_1024_rank_full_scale_job_is_sized_without_running_it() {
    let base = scratch_dir("dry-1024");
    let s = run_json(&["--dry-run", "1024", "--dry-rank", "3", "--threads", "2"], &base);
    assert_eq!(s["ranks"], 1024);
    assert_eq!(s["neurons_total"], 77_169);
    let neurons = s["neurons"].as_u64().unwrap();
    assert!(neurons == 75 || neurons == 76, "{neurons}");
    let synapses = s["synapses"].as_f64().unwrap();
    let share = 298_880_968.0 / 1024.0;
    assert!((synapses - share).abs() < 0.1 * share, "{synapses} vs {share}");
    assert!(s["synapse_bytes"].as_f64().unwrap() >= 8.0 * synapses);
    assert!(s["peak_rss_bytes"].as_u64().unwrap() < 256 << 20, "one rank of 1,024 must not hold the network");
    let routes = s["remote_destinations"].as_u64().unwrap();
    assert!(routes > 0 && routes <= neurons * 1023, "{routes}");
    assert!(s["expected_bytes_sent_per_window"].as_f64().unwrap() > 0.0);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_dry_rank_outside_the_job_is_refused() {
    let base = scratch_dir("dry-bad");
    let out = base.to_str().unwrap();
    let o = run_cajal(
        &["run", "models/microcircuit.toml", "--dry-run", "4", "--dry-rank", "4", "--out", out],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--dry-rank 4"), "{stderr}");
    let _ = std::fs::remove_dir_all(&base);
}
