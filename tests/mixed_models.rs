//! Every neuron model and device in one network (tests/data/mixed/mixed.toml: iaf_psc_exp, iaf_psc_alpha,
//! iaf_psc_delta, iaf_cond_exp and aeif_cond_exp populations, a poisson_generator, a replayed
//! spike_generator, dc and step current generators, state recordings of every model): the same spikes
//! and the same recorded tables on 1, 2 and 4 ranks and 1-3 threads, and through a checkpoint taken while
//! the current generators are on, resumed on another layout.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::recordings::{table, Row};
use common::{run_cajal, run_microcircuit_model, scratch_dir};

const MODEL: &str = "tests/data/mixed/mixed.toml";
const LABELS: [&str; 5] = ["exp", "alpha", "delta", "cond", "adex"];

fn recordings(out: &Path) -> Vec<Vec<Row>> {
    LABELS.iter().map(|l| table(out, l)).collect()
}

#[test]
fn a_network_of_every_model_and_device_is_the_same_on_any_layout_and_through_a_checkpoint() {
    let dir = scratch_dir("mixed-models");
    let base_out = dir.join("base");
    let base = run_microcircuit_model(MODEL, &base_out, &["--threads", "1"]);
    for p in base["populations"].as_array().unwrap().iter().take(5) {
        assert!(p["spike_count"].as_u64().unwrap() > 20, "every model fires: {p}");
    }
    let reference = recordings(&base_out);
    // 6 recorded neurons each; exp and adex every 0.1 ms, the others every 1 ms, over 180 ms.
    let rows: Vec<usize> = reference.iter().map(Vec::len).collect();
    assert_eq!(rows, [6 * 1800, 6 * 180, 6 * 180, 6 * 180, 6 * 1800]);
    let layouts: [&[&str]; 4] = [
        &["--threads", "3"],
        &["--ranks", "2", "--threads", "2"],
        &["--ranks", "4", "--threads", "1"],
        &["--ranks", "2", "--threads", "3"],
    ];
    for (k, layout) in layouts.into_iter().enumerate() {
        let out = dir.join(format!("l{k}"));
        let s = run_microcircuit_model(MODEL, &out, layout);
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{layout:?}");
        assert!(recordings(&out) == reference, "{layout:?}: recordings differ");
    }
    // Stopped at 100 ms on 4 ranks (dc on since 50 ms, the second current step since 60 ms, replay and
    // Poisson trains running), resumed on 1 rank with 2 threads into the same output folder.
    let split = dir.join("split");
    let ck = dir.join("ck");
    let (sp, ckp) = (split.to_str().unwrap(), ck.to_str().unwrap());
    let flags = ["--ranks", "4", "--threads", "1", "--checkpoint-to", ckp, "--stop-after", "100"];
    let o = run_cajal(&[&["run", MODEL, "--out", sp][..], &flags].concat(), Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_cajal(&["resume", ckp, "--threads", "2", "--out", sp], Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(split.join("summary.json")).unwrap()).unwrap();
    assert_eq!(resumed["spikes_digest"], base["spikes_digest"]);
    assert_eq!(resumed["resumed_from_step"], 1000);
    assert!(recordings(&split) == reference, "resumed recordings differ from the straight run's");
    let _ = std::fs::remove_dir_all(&dir);
}
