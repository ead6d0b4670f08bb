//! Connection rules built through the recipe: exact totals and in-degrees, Bernoulli statistics, weight
//! and delay distributions, and answers that do not depend on who asks or how often.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use cajal_core::iaf_psc_exp::IafPscExpParams;
use cajal_core::Resolution;
use cajal_net::{Background, Distribution, PopulationNetwork, PopulationSpec, Projection, Query, Recipe, Rule};

fn population(name: &str, size: u32) -> PopulationSpec {
    PopulationSpec {
        name: name.into(),
        first_gid: 0,
        size,
        neuron: cajal_core::NeuronSpec::new(IafPscExpParams::potjans_diesmann()),
        v_init: Distribution::Constant(-65.0),
        background: Background::None,
        expected_rate_hz: None,
        placement: None,
    }
}

fn network(rule: Rule, seed: u64) -> PopulationNetwork {
    let pops = vec![population("A", 300), population("B", 200)];
    let projections = vec![Projection {
        source: 0,
        target: 1,
        rule,
        weight: Distribution::sign_preserving_normal(-50.0, 5.0),
        delay_ms: Distribution::Normal { mean: 1.5, std: 0.75, min: 0.05, max: f64::INFINITY },
        distance: Default::default(),
        allow_autapses: true,
        plasticity: None,
    }];
    PopulationNetwork::new(seed, Resolution::new(0.1).unwrap(), pops, projections).unwrap()
}

fn incoming(net: &PopulationNetwork, target: u32, query: Query) -> Vec<cajal_net::Connection> {
    let mut out = Vec::new();
    net.connections_to(target, query, |c| out.push(c)).unwrap();
    out
}

#[test]
fn fixed_total_number_is_exact_and_every_source_is_in_range() {
    let net = network(Rule::FixedTotalNumber(12_345), 7);
    let mut total = 0;
    for t in 300..500 {
        let c = incoming(&net, t, Query::Full);
        assert!(c.iter().all(|c| c.source < 300 && c.delay >= 1 && c.weight <= 0.0));
        total += c.len();
    }
    assert_eq!(total, 12_345);
    assert!(incoming(&net, 0, Query::Full).is_empty(), "population A has no incoming projection");
}

#[test]
fn fixed_indegree_gives_every_target_exactly_k() {
    let net = network(Rule::FixedIndegree(17), 7);
    for t in 300..500 {
        assert_eq!(incoming(&net, t, Query::Full).len(), 17);
    }
}

#[test]
fn pairwise_bernoulli_connects_the_expected_share() {
    let net = network(Rule::PairwiseBernoulli(0.1), 7);
    let total: usize = (300..500).map(|t| incoming(&net, t, Query::Full).len()).sum();
    // 200 x 300 pairs at p = 0.1: 6000 expected, sd ~73.
    assert!((total as f64 - 6000.0).abs() < 300.0, "{total}");
    let sources: Vec<u32> = incoming(&net, 400, Query::Full).iter().map(|c| c.source).collect();
    assert!(sources.windows(2).all(|w| w[0] < w[1]), "no multapses under Bernoulli");
}

#[test]
fn answers_are_the_same_in_any_order_and_for_both_passes() {
    let net = network(Rule::FixedTotalNumber(5_000), 3);
    let forward: Vec<_> = (300..500).map(|t| incoming(&net, t, Query::Full)).collect();
    let backward: Vec<_> = (300..500).rev().map(|t| incoming(&net, t, Query::Full)).collect();
    for (a, b) in forward.iter().zip(backward.iter().rev()) {
        assert_eq!(a, b);
    }
    for t in 300..500 {
        let sources: Vec<u32> = incoming(&net, t, Query::Sources).iter().map(|c| c.source).collect();
        let full: Vec<u32> = forward[(t - 300) as usize].iter().map(|c| c.source).collect();
        assert_eq!(sources, full, "the counting pass must see the same sources as the filling pass");
    }
    // A new instance (another rank) derives the same network; another seed does not.
    let again = network(Rule::FixedTotalNumber(5_000), 3);
    assert_eq!(incoming(&again, 451, Query::Full), forward[151]);
    let other = network(Rule::FixedTotalNumber(5_000), 4);
    assert_ne!(incoming(&other, 451, Query::Full), forward[151]);
}

#[test]
fn weights_and_delays_follow_their_distributions() {
    let net = network(Rule::FixedIndegree(200), 11);
    let all: Vec<_> = (300..500).flat_map(|t| incoming(&net, t, Query::Full)).collect();
    let n = all.len() as f64;
    let w_mean = all.iter().map(|c| f64::from(c.weight)).sum::<f64>() / n;
    assert!((w_mean + 50.0).abs() < 0.1, "{w_mean}");
    let d_mean = all.iter().map(|c| f64::from(c.delay)).sum::<f64>() / n;
    // Normal(15, 7.5) steps truncated below 0.5 step and rounded: mean ~15.46 steps.
    assert!((d_mean - 15.46).abs() < 0.15, "{d_mean}");
    assert!(all.iter().all(|c| c.delay >= 1));
}

#[test]
fn zero_sized_populations_and_bad_projections_are_refused() {
    let res = Resolution::new(0.1).unwrap();
    let e = PopulationNetwork::new(1, res, vec![population("A", 0)], vec![]).unwrap_err();
    assert!(e.to_string().contains("population A: size is 0"), "{e}");
    let bad_delay = Projection {
        source: 0,
        target: 0,
        rule: Rule::FixedIndegree(1),
        weight: Distribution::Constant(1.0),
        delay_ms: Distribution::Constant(0.04),
        distance: Default::default(),
        allow_autapses: true,
        plasticity: None,
    };
    let e = PopulationNetwork::new(1, res, vec![population("A", 3)], vec![bad_delay]).unwrap_err();
    assert!(e.to_string().contains("round below one step"), "{e}");
}

/// Sample mean and variance.
fn moments(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (mean, xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0))
}

#[test]
fn fixed_total_number_spreads_synapses_multinomially_over_targets_and_sources() {
    let net = network(Rule::FixedTotalNumber(60_000), 5);
    let mut per_source = vec![0.0; 300];
    let per_target: Vec<f64> = (300..500)
        .map(|t| {
            let c = incoming(&net, t, Query::Sources);
            for conn in &c {
                per_source[conn.source as usize] += 1.0;
            }
            c.len() as f64
        })
        .collect();
    // Multinomial over 200 targets: mean 300, variance 300 (1 - 1/200); over 300 sources: mean 200, var ~200.
    let (m, v) = moments(&per_target);
    assert!((m - 300.0).abs() < 1e-9);
    assert!((v / 298.5 - 1.0).abs() < 0.3, "per-target variance {v}");
    let (m, v) = moments(&per_source);
    assert!((m - 200.0).abs() < 1e-9);
    assert!((v / 199.3 - 1.0).abs() < 0.3, "per-source variance {v}");
}
