//! The microcircuit's derived quantities against the published NEST 3.10 values: scaled sizes, synapse
//! totals, weights and DC drive (reference numbers from tests/data/microcircuit_reference.toml).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use cajal_models::microcircuit::MicrocircuitParams;
use cajal_models::{ModelDocument, Override};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn params(scale: f64, extra: &[(&str, &str)]) -> MicrocircuitParams {
    let mut doc = ModelDocument::read(&repo().join("models/microcircuit.toml")).unwrap();
    doc.apply(&Override::new("scaling.N", scale)).unwrap();
    doc.apply(&Override::new("scaling.K", scale)).unwrap();
    for (k, v) in extra {
        doc.apply(&Override::new(k, v)).unwrap();
    }
    MicrocircuitParams::read(&doc).unwrap()
}

fn reference() -> toml::Table {
    let text = std::fs::read_to_string(repo().join("tests/data/microcircuit_reference.toml")).unwrap();
    text.parse().unwrap()
}

fn numbers(t: &toml::Table, section: &str, key: &str) -> Vec<f64> {
    t[section][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_float().or(v.as_integer().map(|i| i as f64)).unwrap())
        .collect()
}

#[test]
fn population_sizes_and_synapse_totals_match_nest_at_every_reference_scale() {
    let r = reference();
    for (key, scale) in [("scale_1_0", 1.0), ("scale_0_5", 0.5), ("scale_0_25", 0.25), ("scale_0_1", 0.1)] {
        let d = params(scale, &[]).derive();
        let neurons: u64 = d.sizes.iter().map(|&s| u64::from(s)).sum();
        let synapses: u64 = d.synapses.iter().flatten().sum();
        let expected = r["totals"][key].as_array().unwrap();
        assert_eq!(neurons, expected[0].as_integer().unwrap() as u64, "neurons at scale {scale}");
        assert_eq!(synapses, expected[1].as_integer().unwrap() as u64, "synapses at scale {scale}");
    }
}

#[test]
fn sizes_round_half_to_even_like_numpy() {
    // 1065 * 0.1 = 106.5 rounds to 106 (ties to even), not 107.
    let d = params(0.1, &[]).derive();
    assert_eq!(d.sizes[5], 106);
}

#[test]
fn weights_and_dc_match_nest_at_scale_0_1() {
    let r = reference();
    let d = params(0.1, &[]).derive();
    let w = numbers(&r, "scale_0_1", "weights_pA");
    assert!((d.psc_mean[1][0] - w[0]).abs() < 0.01, "excitatory {}", d.psc_mean[1][0]);
    assert!((d.psc_mean[0][1] - w[1]).abs() < 0.01, "inhibitory {}", d.psc_mean[0][1]);
    assert!((d.psc_mean[0][2] - w[2]).abs() < 0.01, "L4E->L23E {}", d.psc_mean[0][2]);
    assert!((d.psc_ext - w[0]).abs() < 0.01, "external {}", d.psc_ext);
    let dc = numbers(&r, "scale_0_1", "dc_pA");
    for (i, (&got, &want)) in d.dc.iter().zip(&dc).enumerate() {
        assert!((got - want).abs() < 0.01, "DC of population {i}: {got} vs {want}");
    }
    assert_eq!(d.k_ext, vec![160.0, 150.0, 210.0, 190.0, 200.0, 190.0, 290.0, 210.0]);
}

#[test]
fn full_scale_weights_and_no_dc() {
    let r = reference();
    let d = params(1.0, &[]).derive();
    let w = numbers(&r, "scale_1_0", "weights_pA");
    assert!((d.psc_mean[1][0] - w[0]).abs() < 0.01);
    assert!((d.psc_mean[0][1] - w[1]).abs() < 0.01);
    assert!((d.psc_mean[0][2] - w[2]).abs() < 0.01);
    assert!(d.dc.iter().all(|&x| x == 0.0));
}

#[test]
fn dc_background_replaces_poisson_with_the_mean_current() {
    // Full scale, DC only: 8 Hz x K_ext x PSC_ext x tau_syn x 0.001 pA.
    let d = params(1.0, &[("background.input", "dc")]).derive();
    let psc_ext = 0.15 * 585.39;
    for (i, k_ext) in [1600.0, 1500.0, 2100.0, 1900.0, 2000.0, 1900.0, 2900.0, 2100.0].iter().enumerate() {
        let want = 8.0 * k_ext * psc_ext * 0.5 * 0.001;
        assert!((d.dc[i] - want).abs() < 0.01 * want, "{} vs {want}", d.dc[i]);
    }
}
