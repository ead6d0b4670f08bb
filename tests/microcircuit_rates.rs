//! The microcircuit at scale 0.1 fires like NEST's. Over 1 s after a 0.5 s warm-up, the mean over three
//! seeds of each population's rate lies within max(10 %, 3 sd x sqrt(1/3 + 1/5)) of NEST 3.10's mean over
//! five seeds (sd: NEST's seed spread); the mean CV of inter-spike intervals and the synchrony (variance
//! over mean of the population count in 3 ms bins) lie within max(10 %, 3 sd of NEST's seed spread) of
//! NEST's, computed by the same code from NEST's spikes (tests/data/nest/microcircuit_s0.1, made by
//! scripts/make-nest-references.sh). Also checks the run's bookkeeping: synapse total, spike files and
//! their agreement with the reported counts.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use cajal_metrics::spike_stats::{run_stats, PopulationStats, SYNCHRONY_BIN_MS};
use common::{repo, run_microcircuit, scratch_dir};

const CAJAL_SEEDS: [&str; 3] = ["1", "2", "3"];
const NEST_SEEDS: usize = 5;

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
}

/// Reads one statistic of a population's statistics.
type Measure = fn(&PopulationStats) -> Option<f64>;

/// One statistic per population and run: `runs[r][p]`.
fn column(runs: &[Vec<PopulationStats>], p: usize, f: Measure) -> Vec<f64> {
    runs.iter().map(|r| f(&r[p]).unwrap()).collect()
}

#[test]
fn scale_0_1_rates_cv_and_synchrony_match_nest_over_seeds() {
    let nest_dir = repo().join("tests/data/nest/microcircuit_s0.1");
    let nest: Vec<Vec<PopulationStats>> =
        (1..=NEST_SEEDS).map(|k| run_stats(&nest_dir.join(format!("seed{k}")), SYNCHRONY_BIN_MS).unwrap()).collect();
    let base = scratch_dir("rates");
    let mut cajal = Vec::new();
    for seed in CAJAL_SEEDS {
        let out = base.join(seed);
        let s = run_microcircuit(&out, &["--scale", "0.1", "--seed", seed, "--threads", "2"]);
        assert_eq!(s["neurons"], 7717);
        assert_eq!(s["synapses"], 2_988_807);
        assert_eq!(s["t_presim_ms"], 500.0);
        assert_eq!(s["t_sim_ms"], 1000.0);
        let stats = run_stats(&out, SYNCHRONY_BIN_MS).unwrap();
        for (p, st) in s["populations"].as_array().unwrap().iter().zip(&stats) {
            assert_eq!(p["name"], st.name.as_str());
            // The spike file holds exactly the analysed spikes, all inside (t_presim, t_presim + t_sim].
            let csv = std::fs::read_to_string(out.join("spikes").join(format!("{}.csv", st.name))).unwrap();
            let mut lines = csv.lines();
            assert_eq!(lines.next(), Some("sender,time_ms"));
            let times: Vec<f64> = lines.map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
            assert_eq!(times.len() as u64, p["spike_count"].as_u64().unwrap());
            assert_eq!(st.spikes, p["spike_count"].as_u64().unwrap());
            assert!(times.iter().all(|&t| t > 500.0 && t <= 1500.0 + 1e-9));
            assert!((st.rate_hz - p["rate_hz"].as_f64().unwrap()).abs() < 1e-9);
        }
        cajal.push(stats);
    }
    let mut report = String::new();
    let mut bad = Vec::new();
    let n_cajal = CAJAL_SEEDS.len() as f64;
    for (i, pop) in nest[0].iter().enumerate() {
        let measures: [(&str, Measure, bool); 3] = [
            ("rate_hz", |s| Some(s.rate_hz), true),
            ("cv_isi", |s| s.cv_isi, false),
            ("synchrony", |s| s.synchrony, false),
        ];
        for (what, f, is_rate) in measures {
            let (ours, _) = mean_sd(&column(&cajal, i, f));
            let (theirs, sd) = mean_sd(&column(&nest, i, f));
            // Rates: the difference of two means (3 and 5 seeds); the others: NEST's seed spread.
            let spread = if is_rate { 3.0 * sd * (1.0 / n_cajal + 1.0 / NEST_SEEDS as f64).sqrt() } else { 3.0 * sd };
            let tol = (0.1 * theirs).max(spread);
            let off = (ours - theirs).abs() > tol;
            report.push_str(&format!(
                "{:<5} {what:<9} cajal {ours:7.3}  NEST {theirs:7.3} (sd {sd:.3})  tolerance {tol:.3}{}\n",
                pop.name,
                if off { "  <- off" } else { "" }
            ));
            if off {
                bad.push(format!("{} {what}", pop.name));
            }
        }
    }
    println!("{report}");
    assert!(bad.is_empty(), "off: {bad:?}\n{report}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn dc_background_gives_an_almost_silent_network() {
    // NEST at scale 0.1 with DC input only: only L6I fires (~3.4 Hz). It checks the DC that replaces the
    // Poisson input (full-scale K_ext, as NEST's example computes it) plus the in-degree compensation.
    let base = scratch_dir("dc");
    let s = run_microcircuit(
        &base,
        &["--scale", "0.1", "--t-presim", "500", "--t-sim", "1000", "--set", "background.input=dc", "--no-spikes"],
    );
    let pops = s["populations"].as_array().unwrap();
    let rate = |i: usize| pops[i]["rate_hz"].as_f64().unwrap();
    assert!(rate(7) > 2.4 && rate(7) < 4.4, "L6I {}", rate(7));
    for (i, p) in pops.iter().enumerate().take(7) {
        assert!(rate(i) < 0.5, "{} {}", p["name"], rate(i));
    }
    let _ = std::fs::remove_dir_all(&base);
}
