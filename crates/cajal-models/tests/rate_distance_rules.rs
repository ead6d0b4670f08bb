//! Distance rules for rate units (`models/rate_grid.toml`): every unit draws exactly `indegree` inputs,
//! all within the cutoff (around the torus when periodic), with weights of the stated mean and spread and
//! a distance profile that follows the gaussian kernel; bad rule keys name the key and value.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use cajal_models::rate_network::build;
use cajal_models::{ModelDocument, Override};
use cajal_net::RateRecipe;

fn document(extra: &[(&str, &str)]) -> ModelDocument {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/rate_grid.toml");
    let mut doc = ModelDocument::read(&path).unwrap();
    doc.apply(&Override::new("units.grid", "[20, 20, 5]")).unwrap();
    for (k, v) in extra {
        doc.apply(&Override::new(k, v)).unwrap();
    }
    doc
}

fn distance(a: [f64; 3], b: [f64; 3], period: Option<[f64; 3]>) -> f64 {
    let mut sum = 0.0;
    for k in 0..3 {
        let mut d = (a[k] - b[k]).abs();
        if let Some(p) = period {
            if p[k] > 0.0 {
                d = d.min(p[k] - d);
            }
        }
        sum += d * d;
    }
    sum.sqrt()
}

/// (distance, weight) of every input of every unit, checking the in-degree.
fn inputs(doc: &ModelDocument, period: Option<[f64; 3]>) -> Vec<(f64, f64)> {
    let net = build(doc).unwrap();
    let mut all = Vec::new();
    for t in 0..net.num_neurons() {
        let mut k = 0;
        let pt = net.position(t).unwrap();
        net.inputs_to(t, &mut |s, w| {
            all.push((distance(net.position(s).unwrap(), pt, period), w));
            k += 1;
        });
        assert_eq!(k, 100, "unit {t}");
    }
    all
}

#[test]
fn a_rate_grid_draws_its_inputs_within_the_cutoff_with_the_kernels_profile_and_the_weights_spread() {
    let doc = document(&[]);
    let all = inputs(&doc, None);
    assert!(all.iter().all(|&(d, _)| d <= 0.2 + 1e-12), "an input beyond the cutoff");
    let n = all.len() as f64;
    let mean = all.iter().map(|x| x.1).sum::<f64>() / n;
    let std = (all.iter().map(|x| (x.1 - mean).powi(2)).sum::<f64>() / n).sqrt();
    // 200,000 draws from Normal(0, 0.15): the sample mean is within 5 standard errors (0.0017) of 0.
    assert!(mean.abs() < 0.0017 && (std - 0.15).abs() < 0.003, "mean {mean}, std {std}");
    // With replacement and probability proportional to the kernel, inputs per source at distance d fall
    // as exp(-d^2 / 2 sigma^2): the ratio of mean inputs per candidate pair between a near and a far
    // shell matches the kernel's ratio within 10%.
    let shell = |lo: f64, hi: f64| all.iter().filter(|x| x.0 > lo && x.0 <= hi).count() as f64;
    let net = build(&doc).unwrap();
    let pairs = |lo: f64, hi: f64| {
        let mut c = 0.0;
        for t in (0..net.num_neurons()).step_by(7) {
            let pt = net.position(t).unwrap();
            for s in 0..net.num_neurons() {
                let d = distance(net.position(s).unwrap(), pt, None);
                if d > lo && d <= hi {
                    c += 7.0;
                }
            }
        }
        c
    };
    let ratio = (shell(0.0, 0.06) / pairs(0.0, 0.06)) / (shell(0.14, 0.2) / pairs(0.14, 0.2));
    let kernel = |d: f64| (-d * d / (2.0 * 0.1f64.powi(2))).exp();
    // Kernel averaged over each shell's pairs (by area of the gridded shells: the pairs' own distances).
    let mean_kernel = |lo: f64, hi: f64| {
        let (mut sum, mut c) = (0.0, 0.0);
        for t in (0..net.num_neurons()).step_by(7) {
            let pt = net.position(t).unwrap();
            for s in 0..net.num_neurons() {
                let d = distance(net.position(s).unwrap(), pt, None);
                if d > lo && d <= hi {
                    sum += kernel(d);
                    c += 1.0;
                }
            }
        }
        sum / c
    };
    let expected = mean_kernel(0.0, 0.06) / mean_kernel(0.14, 0.2);
    assert!((ratio / expected - 1.0).abs() < 0.1, "near/far inputs per pair {ratio}, kernel says {expected}");
}

#[test]
fn periodic_rate_grids_measure_around_the_torus_and_bad_rule_keys_are_refused() {
    // 20 x 20 x 5 units 0.05 mm apart: a 1 x 1 x 0.25 mm torus.
    let doc = document(&[("connectivity.periodic", "true")]);
    let all = inputs(&doc, Some([1.0, 1.0, 0.25]));
    assert!(all.iter().all(|&(d, _)| d <= 0.2 + 1e-12), "an input beyond the cutoff around the torus");
    let open = inputs(&document(&[]), Some([1.0, 1.0, 0.25]));
    assert_ne!(all, open, "the boundary changes the draws");
    let refused = |key: &str, value: &str| build(&document(&[(key, value)])).unwrap_err().to_string();
    let e = refused("connectivity.rule", "\"nearest\"");
    assert!(e.contains("connectivity.rule") && e.contains("nearest"), "{e}");
    let e = refused("connectivity.weight_std", "-1.0");
    assert!(e.contains("connectivity.weight_std") && e.contains(">= 0"), "{e}");
    let e = refused("connectivity.kernel", "\"box\"");
    assert!(e.contains("connectivity.kernel") && e.contains("box"), "{e}");
}
