//! The benchmark networks at reduced size against NEST 3.10's statistics (tests/data/nest_networks, made by
//! scripts/make-nest-network-references.sh): Brunel's delta network at scale 0.2 and the COBA network at
//! scale 0.5, 100 ms warm-up + 400 ms analysed, three seeds each in both simulators; every population's
//! rate, CV of inter-spike intervals and synchrony within max(10 %, 3 sd of NEST's seeds).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{repo, run_cajal, run_microcircuit_model, scratch_dir};

fn compare_with_nest(model: &str, scale: &str) {
    let dir = scratch_dir(&format!("stats-{model}"));
    let mut runs = Vec::new();
    for seed in ["1", "2", "3"] {
        let out = dir.join(format!("seed{seed}"));
        let flags = ["--scale", scale, "--seed", seed, "--t-presim", "100", "--t-sim", "400", "--threads", "2"];
        run_microcircuit_model(&format!("models/{model}.toml"), &out, &flags);
        runs.push(out.to_str().unwrap().to_owned());
    }
    let json = dir.join("cajal.json");
    let mut args = vec!["spike-stats", "--json", json.to_str().unwrap()];
    args.extend(runs.iter().map(String::as_str));
    let o = run_cajal(&args, Duration::from_secs(60));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let ours = read(&json);
    let nest = read(&repo().join(format!("tests/data/nest_networks/{model}_s{scale}.json")));
    let (ours, nest) = (ours["populations"].as_array().unwrap(), nest["populations"].as_array().unwrap());
    assert_eq!(ours.len(), nest.len());
    let mut report = Vec::new();
    let mut ok = true;
    for (a, b) in nest.iter().zip(ours) {
        assert_eq!(a["name"], b["name"]);
        assert_eq!(a["size"], b["size"], "the same population sizes at scale {scale}");
        for stat in ["rate_hz", "cv_isi", "synchrony"] {
            let (n, sd, c) =
                (a[stat]["mean"].as_f64().unwrap(), a[stat]["sd"].as_f64().unwrap(), b[stat]["mean"].as_f64().unwrap());
            let bound = (0.1 * n.abs()).max(3.0 * sd);
            ok &= (n - c).abs() <= bound;
            report.push(format!("{} {stat}: NEST {n:.3} cajal {c:.3} bound {bound:.3}", a["name"]));
        }
    }
    println!("{model} at scale {scale}:\n{}", report.join("\n"));
    assert!(ok, "{model}: some statistics outside their bounds:\n{}", report.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn brunels_delta_network_matches_nests_statistics() {
    compare_with_nest("brunel", "0.2");
}

#[test]
fn the_coba_network_matches_nests_statistics() {
    compare_with_nest("coba", "0.5");
}

#[test]
fn spike_stats_read_parquet_spikes_as_they_read_csv_ones() {
    let dir = scratch_dir("stats-parquet");
    let flags = ["--scale", "0.05", "--t-presim", "50", "--t-sim", "200", "--ranks", "2"];
    let mut stats = Vec::new();
    for format in ["csv", "parquet"] {
        let out = dir.join(format);
        run_microcircuit_model("models/brunel.toml", &out, &[&flags[..], &["--spike-format", format]].concat());
        let json = dir.join(format!("{format}.json"));
        let o = run_cajal(
            &["spike-stats", out.to_str().unwrap(), "--json", json.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(o.status.success(), "{format}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        stats.push(v["populations"].clone());
    }
    assert!(stats[0].as_array().unwrap()[0]["rate_hz"]["mean"].as_f64().unwrap() > 1.0);
    // The same spikes: times parsed from CSV decimals and read as Parquet doubles differ in the last bit at
    // most, so the CVs may too.
    for (a, b) in stats[0].as_array().unwrap().iter().zip(stats[1].as_array().unwrap()) {
        for stat in ["rate_hz", "cv_isi", "synchrony"] {
            let (x, y) = (a[stat]["mean"].as_f64().unwrap(), b[stat]["mean"].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * x.abs(), "{} {stat}: CSV {x}, Parquet {y}", a["name"]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
