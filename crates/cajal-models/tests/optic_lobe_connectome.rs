//! The flyvis connectome expanded on the hexagonal lattice: neuron and synapse counts for extents 0, 1, 2, 5
//! and 15 as flyvis gives them, the hull filling equal to flyvis' `filled_offsets.json` for every edge kind,
//! flyvis' orders, and clear errors for broken files.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use cajal_models::optic_lobe::connectome::columns;
use cajal_models::optic_lobe::Connectome;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn file() -> PathBuf {
    repo().join("models/optic_lobe/fib25-fib19_v2.2.json")
}

fn counts(c: &Connectome) -> (u32, u64, u64) {
    let (mut exc, mut inh) = (0u64, 0u64);
    c.for_each_synapse(|s| if s.sign > 0.0 { exc += 1 } else { inh += 1 });
    (c.neurons(), exc, inh)
}

#[test]
fn neuron_and_synapse_counts_match_flyvis_at_every_extent() {
    // (extent, neurons, synapses) as flyvis builds them (with the hull filling).
    for (extent, neurons, synapses) in
        [(0, 65, 480), (1, 443, 8_174), (2, 1_203, 28_904), (5, 5_759, 171_471), (15, 45_669, 1_513_231)]
    {
        let c = Connectome::read(&file(), extent, true).unwrap();
        let (n, exc, inh) = counts(&c);
        assert_eq!(n, neurons, "neurons at extent {extent}");
        assert_eq!(exc + inh, synapses, "synapses at extent {extent}");
        if extent == 15 {
            assert_eq!((exc, inh), (983_980, 529_251));
            assert_eq!(columns(15).len(), 721);
        }
    }
    let raw = Connectome::read(&file(), 15, false).unwrap();
    assert_eq!(counts(&raw).1 + counts(&raw).2, 1_357_269, "without the hull filling");
}

#[test]
fn the_hull_filling_equals_flyvis_filled_offsets_for_every_edge_kind() {
    let c = Connectome::read(&file(), 15, true).unwrap();
    let text = std::fs::read_to_string(repo().join("tests/data/optic_lobe/filled_offsets.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edges = expected["edges"].as_array().unwrap();
    assert_eq!(edges.len(), c.kinds.len());
    for (kind, e) in c.kinds.iter().zip(edges) {
        let name = format!("{} -> {}", e["src"], e["tar"]);
        assert_eq!(c.types[kind.source].name, e["src"].as_str().unwrap());
        assert_eq!(kind.raw as u64, e["n_raw_offsets"].as_u64().unwrap(), "{name}");
        let want: Vec<((i64, i64), f64)> = e["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| ((o[0][0].as_i64().unwrap(), o[0][1].as_i64().unwrap()), o[1].as_f64().unwrap()))
            .collect();
        assert_eq!(kind.offsets, want, "{name}");
    }
}

#[test]
fn neurons_are_ordered_by_type_then_u_then_v_and_strides_apply() {
    let c = Connectome::read(&file(), 15, true).unwrap();
    assert_eq!(c.types.len(), 65);
    assert_eq!(c.types[0].name, "R1");
    assert_eq!(c.inputs.len(), 8);
    let lawf1 = c.types.iter().find(|t| t.name == "Lawf1").unwrap();
    assert_eq!(lawf1.stride, (3, 2));
    assert!(lawf1.columns.iter().all(|&(u, v)| u.rem_euclid(3) == 0 && v.rem_euclid(2) == 0));
    let r1 = &c.types[0];
    assert_eq!(r1.count, 721);
    assert!(r1.columns.windows(2).all(|w| w[0] < w[1]), "u ascending, then v");
    assert_eq!(c.gid(0, (-15, 0)), Some(0));
    assert_eq!(c.gid(1, (-15, 0)), Some(721));
    // Synapses come kind by kind, then offset by offset, then source by source.
    let mut last = (0usize, 0usize, 0u32);
    let mut ordered = true;
    c.for_each_synapse(|s| {
        let key = (s.kind, s.offset, s.source);
        ordered &= key >= last;
        last = key;
    });
    assert!(ordered);
}

#[test]
fn broken_connectome_files_are_refused_clearly() {
    let text = std::fs::read_to_string(file()).unwrap();
    let path = PathBuf::from("broken.json");
    let e = Connectome::parse(&path, &text[..text.len() / 2], 15, true).unwrap_err().to_string();
    assert!(e.contains("broken.json") && e.contains("not a flyvis connectome"), "{e}");
    let e = Connectome::parse(&path, "{}", 15, true).unwrap_err().to_string();
    assert!(e.contains("missing field"), "{e}");
    let e = Connectome::parse(&path, &text.replacen("\"src\": \"R1\"", "\"src\": \"R99\"", 1), 15, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown cell type R99"), "{e}");
    let e = Connectome::read(&PathBuf::from("/no/such/connectome.json"), 15, true).unwrap_err().to_string();
    assert!(e.contains("/no/such/connectome.json"), "{e}");
}

#[test]
fn the_pretrained_model_reproduces_flyvis_regression_response_within_1e_4() {
    use cajal_models::optic_lobe::dynamics::GradedNetwork;
    use cajal_models::optic_lobe::params::{index, Params};
    let c = Connectome::read(&file(), 15, true).unwrap();
    let idx = index(&c);
    assert_eq!((idx.pairs, idx.keys), (604, 2355), "flyvis' parameter counts");
    let data = repo().join("tests/data/optic_lobe");
    let p = Params::read(&data.join("pretrained_flow_0000_000.json"), &c, &idx).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("steady_state_flow_0000_000.json")).unwrap()).unwrap();
    let names: Vec<&str> = reference["cell_types"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, c.types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>());
    let expected = reference["voltage"].as_array().unwrap();
    let central: Vec<u32> = (0..c.types.len()).map(|t| c.gid(t, (0, 0)).unwrap()).collect();
    let net = GradedNetwork::new(&c, &p);
    let mut worst = 0.0f64;
    net.run(0.02, 12, 0.5, |step, v| {
        let row = expected[step].as_array().unwrap();
        for (t, &g) in central.iter().enumerate() {
            worst = worst.max((v[g as usize] - row[t].as_f64().unwrap()).abs());
        }
    });
    assert!(worst < 1e-4, "largest deviation from flyvis: {worst}");
}

#[test]
fn parameter_files_that_do_not_fit_the_connectome_are_refused() {
    use cajal_models::optic_lobe::params::{index, Params};
    let c = Connectome::read(&file(), 15, true).unwrap();
    let idx = index(&c);
    let dir = std::env::temp_dir().join(format!("cajal-params-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo().join("tests/data/optic_lobe/pretrained_flow_0000_000.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["edges_sign"].as_array_mut().unwrap().pop();
    let path = dir.join("short.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let e = Params::read(&path, &c, &idx).unwrap_err().to_string();
    assert!(e.contains("edges_sign") && e.contains("603 values") && e.contains("604"), "{e}");
    std::fs::write(&path, &text[..100]).unwrap();
    assert!(Params::read(&path, &c, &idx).unwrap_err().to_string().contains("not a flyvis parameter file"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn negative_strengths_are_clamped_to_zero() {
    use cajal_models::optic_lobe::params::{index, Params};
    let c = Connectome::read(&file(), 1, true).unwrap();
    let idx = index(&c);
    let p = Params {
        nodes_bias: vec![0.5; 65],
        nodes_time_const: vec![0.05; 65],
        edges_sign: vec![-1.0; idx.pairs],
        edges_syn_count: vec![2.0_f64.ln(); idx.keys],
        edges_syn_strength: (0..idx.pairs).map(|i| if i % 2 == 0 { -0.3 } else { 0.25 }).collect(),
    };
    for (w, &pair) in p.weights(&idx).iter().zip(&idx.pair) {
        let expected = if pair % 2 == 0 { 0.0 } else { -0.5 };
        assert!((w - expected).abs() < 1e-12, "pair {pair}: {w}");
    }
    // The engine's recipe applies the same clamp.
    use cajal_net::RateRecipe;
    let lobe = cajal_models::optic_lobe::OpticLobe::new(c.clone(), &c, &p);
    let (mut zero, mut negative) = (0, 0);
    for target in 0..lobe.num_neurons() {
        lobe.inputs_to(target, &mut |_, w| {
            if w == 0.0 {
                zero += 1;
            } else {
                assert!((w + 0.5).abs() < 1e-12, "{w}");
                negative += 1;
            }
        });
    }
    assert_eq!(zero, idx.pair.iter().filter(|&&p| p % 2 == 0).count());
    assert_eq!(zero + negative, idx.pair.len());
}

#[test]
fn flyvis_initial_parameters_give_every_pair_a_mean_weight_of_0_01_with_the_file_signs() {
    use cajal_models::optic_lobe::recipe::{initial_params, OpticLobe};
    use cajal_net::RateRecipe;
    let c = Connectome::read(&file(), 15, true).unwrap();
    let p = initial_params(&c);
    assert_eq!((p.edges_sign.len(), p.edges_syn_count.len()), (604, 2355));
    assert!(p.nodes_bias.iter().all(|&b| b == 0.5) && p.nodes_time_const.iter().all(|&t| t == 0.05));
    let lobe = OpticLobe::new(c.clone(), &c, &p);
    // Sum and count of |w| per (source type, target type), over every synapse of the lattice.
    let mut per_pair = std::collections::HashMap::new();
    for target in 0..lobe.num_neurons() {
        let (tt, _) = lobe.locate(target);
        lobe.inputs_to(target, &mut |source, w| {
            let (st, _) = lobe.locate(source);
            let kind = c.kinds.iter().find(|k| k.source == st && k.target == tt).unwrap();
            assert_eq!(w.signum(), kind.sign, "sign of {} -> {}", c.types[st].name, c.types[tt].name);
            let e = per_pair.entry((st, tt)).or_insert((0.0f64, 0u64));
            e.0 += w.abs();
            e.1 += 1;
        });
    }
    assert_eq!(per_pair.len(), 604);
    for ((s, t), (sum, n)) in per_pair {
        let mean = sum / n as f64;
        assert!((mean - 0.01).abs() < 1e-12, "{} -> {}: mean weight {mean}", c.types[s].name, c.types[t].name);
    }
}
