//! `model = "network"` (populations and projections written out in the file, each population with its own
//! neuron model): models/brunel.toml runs active and irregular-rate, gives one digest on any layout, scales
//! its populations with in-degrees kept, and bad files name the key.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{run_cajal, run_microcircuit_model, scratch_dir};

#[test]
fn brunels_network_is_active_and_gives_one_digest_on_any_layout() {
    let dir = scratch_dir("brunel");
    let flags = ["--scale", "0.2", "--t-presim", "100", "--t-sim", "300", "--no-spikes"];
    let one =
        run_microcircuit_model("models/brunel.toml", &dir.join("one"), &[&flags[..], &["--threads", "1"]].concat());
    assert_eq!(one["neurons"], 2500, "sizes scale");
    assert_eq!(one["synapses"], 2500 * 1250, "in-degrees stay (1,000 + 250 per neuron)");
    for p in one["populations"].as_array().unwrap() {
        let rate = p["rate_hz"].as_f64().unwrap();
        assert!((10.0..80.0).contains(&rate), "{}: {rate} Hz", p["name"]);
    }
    let layouts: [&[&str]; 2] = [&["--ranks", "3", "--threads", "1"], &["--ranks", "2", "--threads", "2"]];
    for (k, layout) in layouts.into_iter().enumerate() {
        let s =
            run_microcircuit_model("models/brunel.toml", &dir.join(format!("l{k}")), &[&flags[..], layout].concat());
        assert_eq!(s["spikes_digest"], one["spikes_digest"], "{layout:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_network_files_exit_2_naming_the_key() {
    let dir = scratch_dir("network-bad");
    let text = std::fs::read_to_string(common::repo().join("models/brunel.toml")).unwrap();
    let bad = |name: &str, from: &str, to: &str| {
        let path = dir.join(format!("{name}.toml"));
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let o = run_cajal(
            &["run", path.to_str().unwrap(), "--t-sim", "10", "--out", dir.join("out").to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert_eq!(o.status.code(), Some(2), "{name}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = bad("model", "model = \"iaf_psc_delta\"", "model = \"lif_magic\"");
    assert!(e.contains("populations.0.neuron.model") && e.contains("iaf_psc_delta"), "{e}");
    let e = bad("param", "tau_m = 20.0", "tau_syn = 20.0");
    assert!(e.contains("populations.0.neuron.tau_syn") && e.contains("iaf_psc_delta has no such parameter"), "{e}");
    assert!(e.contains("tau_m, E_L, V_th"), "the model's parameters are listed: {e}");
    let e = bad("value", "C_m = 1.0", "C_m = -1.0");
    assert!(e.contains("populations.0.neuron.C_m") && e.contains("-1"), "{e}");
    let e = bad("target", "target = \"I\"", "target = \"X\"");
    assert!(e.contains("projections.1.target") && e.contains("X"), "{e}");
    let e = bad("rule", "rule = \"fixed_indegree\"", "rule = \"one_to_many\"");
    assert!(e.contains("projections.0.rule"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
