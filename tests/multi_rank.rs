//! Multi-rank runs inside one process (`--ranks`, the `Threads` back end): the same spikes, bit for bit,
//! for any ranks x threads and either balancer; each rank holds its share of the synapses and no more.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{run_microcircuit, scratch_dir};

const SHORT: [&str; 6] = ["--scale", "0.1", "--t-presim", "100", "--t-sim", "200"];

fn layout(out: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = SHORT.to_vec();
    args.extend_from_slice(extra);
    run_microcircuit(out, &args)
}

#[test]
fn spikes_are_identical_for_any_ranks_threads_and_balancer() {
    let base = scratch_dir("layouts");
    let reference = layout(&base.join("1x1"), &["--threads", "1"]);
    assert_eq!(reference["ranks"], 1);
    let count = reference["spike_count"].as_u64().unwrap();
    assert!(count > 1000, "the network must be active: {count} spikes");
    let layouts: [(&str, &[&str]); 5] = [
        ("1x2", &["--threads", "2"]),
        ("2x1", &["--ranks", "2", "--threads", "1"]),
        ("3x1", &["--ranks", "3", "--threads", "1"]),
        ("2x2-blocks", &["--ranks", "2", "--threads", "2", "--balancer", "cost-blocks"]),
        ("4x1-blocks", &["--ranks", "4", "--threads", "1", "--balancer", "cost-blocks"]),
    ];
    for (name, extra) in layouts {
        let s = layout(&base.join(name), extra);
        assert_eq!(s["spikes_digest"], reference["spikes_digest"], "{name}");
        assert_eq!(s["spike_count"], reference["spike_count"], "{name}");
        assert_eq!(s["populations"], reference["populations"], "{name}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn per_rank_spike_files_together_equal_the_one_rank_file() {
    let base = scratch_dir("rank-files");
    layout(&base.join("one"), &["--threads", "1"]);
    layout(&base.join("three"), &["--ranks", "3", "--threads", "1"]);
    let read = |p: std::path::PathBuf| {
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("sender,time_ms"));
        lines.map(str::to_owned).collect::<Vec<_>>()
    };
    for pop in ["L23E", "L4I", "L6I"] {
        let mut one = read(base.join("one/spikes").join(format!("{pop}.csv")));
        let mut three: Vec<String> =
            (0..3).flat_map(|r| read(base.join("three/spikes").join(format!("{pop}-rank{r}.csv")))).collect();
        assert!(!one.is_empty(), "{pop} is silent");
        one.sort();
        three.sort();
        assert_eq!(one, three, "{pop}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn each_rank_holds_its_share_of_the_synapses() {
    let base = scratch_dir("shares");
    for balancer in ["round-robin", "cost-blocks"] {
        let s =
            layout(&base.join(balancer), &["--ranks", "4", "--threads", "1", "--balancer", balancer, "--no-spikes"]);
        let total = s["synapses"].as_u64().unwrap();
        assert_eq!(total, 2_988_807);
        let per_rank = s["per_rank"].as_array().unwrap();
        assert_eq!(per_rank.len(), 4);
        let sum: u64 = per_rank.iter().map(|r| r["synapses"].as_u64().unwrap()).sum();
        assert_eq!(sum, total, "{balancer}: per-rank synapses must add up to the total");
        let neurons: u64 = per_rank.iter().map(|r| r["neurons"].as_u64().unwrap()).sum();
        assert_eq!(neurons, 7717);
        for r in per_rank {
            let share = r["synapses"].as_f64().unwrap() / total as f64;
            assert!(
                (share - 0.25).abs() < 0.25 * 0.15,
                "{balancer}: rank {} holds {share:.3} of the synapses",
                r["rank"]
            );
            assert!(r["synapse_bytes"].as_u64().unwrap() >= 8 * r["synapses"].as_u64().unwrap());
            assert!(r["bytes_sent"].as_u64().unwrap() > 0, "spikes must cross ranks");
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}
