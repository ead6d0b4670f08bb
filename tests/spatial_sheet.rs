//! The spatial sheet model: about 500 synapses per neuron at any scale, the same spikes on 1, 2 and 4 ranks
//! with any thread count and both balancers, and every rank's remote spikes reported.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{run_microcircuit_model, scratch_dir};

const SHORT: [&str; 7] = ["--scale", "0.01", "--t-presim", "50", "--t-sim", "200", "--no-spikes"];

#[test]
fn the_sheet_keeps_its_in_degree_when_scaled_and_fires_at_a_few_hertz() {
    for scale in ["0.01", "0.03"] {
        let dir = scratch_dir(&format!("sheet-scale-{scale}"));
        let s = run_microcircuit_model(
            "models/spatial_sheet.toml",
            &dir,
            &["--scale", scale, "--t-presim", "100", "--t-sim", "300", "--no-spikes"],
        );
        let per_neuron = s["synapses"].as_f64().unwrap() / s["neurons"].as_f64().unwrap();
        assert!((per_neuron - 500.0).abs() < 10.0, "scale {scale}: {per_neuron} synapses per neuron");
        for pop in s["populations"].as_array().unwrap() {
            let rate = pop["rate_hz"].as_f64().unwrap();
            assert!((1.0..30.0).contains(&rate), "scale {scale}, {}: {rate} Hz", pop["name"]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Smaller, the sheet would be narrower than the neighbourhoods.
    let dir = scratch_dir("sheet-too-small");
    let o = common::run_cajal(
        &["run", "models/spatial_sheet.toml", "--scale", "0.005", "--out", dir.to_str().unwrap()],
        std::time::Duration::from_secs(60),
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("scaling.N") && e.contains("N >= 0.0100"), "{e}");
}

#[test]
fn the_same_spikes_on_1_2_and_4_ranks_with_both_balancers() {
    let dir = scratch_dir("sheet-ranks");
    let base = run_microcircuit_model(
        "models/spatial_sheet.toml",
        &dir.join("1"),
        &[&SHORT[..], &["--threads", "1"]].concat(),
    );
    for (ranks, threads, balancer) in
        [("2", "1", "round-robin"), ("2", "2", "cost-blocks"), ("4", "1", "round-robin"), ("4", "1", "cost-blocks")]
    {
        let flags = [&SHORT[..], &["--ranks", ranks, "--threads", threads, "--balancer", balancer]].concat();
        let s = run_microcircuit_model(
            "models/spatial_sheet.toml",
            &dir.join(format!("{ranks}-{threads}-{balancer}")),
            &flags,
        );
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{ranks} ranks x {threads} threads, {balancer}");
        assert_eq!(s["synapses"], base["synapses"]);
        let per_rank = s["per_rank"].as_array().unwrap();
        assert_eq!(per_rank.len(), ranks.parse::<usize>().unwrap());
        for r in per_rank {
            let sent = r["remote_spikes_sent"].as_u64().unwrap();
            assert_eq!(sent * 8, r["bytes_sent"].as_u64().unwrap());
            assert!(sent > 0, "{balancer}: rank {} sent no spikes", r["rank"]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
