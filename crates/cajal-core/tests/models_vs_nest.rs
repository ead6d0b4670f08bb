//! cajal's neuron models against NEST 3.10 trace by trace: one neuron fed the spike trains and constant
//! current NEST's neuron was fed (tests/data/nest_traces, made by scripts/nest_neuron_traces.py), through
//! the model's own kernel as the engine calls it (iaf_psc_delta with and without refractory input,
//! iaf_psc_alpha). Exact-integration models stay within
//! 1e-9 x max(1, |V|) mV of NEST's membrane at every step and fire in the same steps.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use cajal_core::iaf_psc_alpha::IafPscAlphaParams;
use cajal_core::iaf_psc_delta::IafPscDeltaParams;
use cajal_core::{NeuronParameters, Resolution};

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/nest_traces").join(case)
}

fn rows(case: &str, name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir(case).join(name)).unwrap();
    text.lines().filter(|l| !l.starts_with('#')).skip(1).map(|l| l.split(',').map(str::to_owned).collect()).collect()
}

/// The reference's parameters (NEST's names) set on `base`, and its two weights.
fn reference_params(case: &str, mut set: impl FnMut(&str, f64)) -> (f32, f32) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir(case).join("params.json")).unwrap()).unwrap();
    assert_eq!(json["nest"], "3.10.0");
    for (name, v) in json["params"].as_object().unwrap() {
        let value = v.as_f64().or_else(|| v.as_bool().map(|b| f64::from(u8::from(b)))).unwrap();
        if name != "V_m" {
            set(name, value);
        }
    }
    let w = &json["weights"];
    (w[0].as_f64().unwrap() as f32, w[1].as_f64().unwrap() as f32)
}

/// Runs `params` through the model's kernel over the case's inputs; returns (largest |dV| relative to
/// max(1, |V|), cajal's spike steps, NEST's spike steps).
fn compare(case: &str, params: &dyn NeuronParameters, (w_ex, w_in): (f32, f32), v0: f64) -> (f64, Vec<u64>, Vec<u64>) {
    let nest_v: Vec<f64> = rows(case, "v_m.csv").iter().map(|r| r[1].parse().unwrap()).collect();
    let nest_spikes: Vec<u64> = rows(case, "spikes.csv").iter().map(|r| r[0].parse().unwrap()).collect();
    let mut inputs = vec![(0u32, 0u32); nest_v.len()];
    for r in rows(case, "inputs.csv") {
        inputs[r[0].parse::<usize>().unwrap()] = (r[1].parse().unwrap(), r[2].parse().unwrap());
    }
    let dynamics = params.compile(&Resolution::new(0.1).unwrap()).unwrap();
    let mut state = params.model().new_state(1);
    dynamics.init(state.as_mut(), 0, v0);
    let (mut fired, mut spikes) = (Vec::new(), Vec::new());
    let mut largest: f64 = 0.0;
    for (step, &(ex, inh)) in inputs.iter().enumerate() {
        // As the engine's delivery does: every synapse adds its f32 weight to the step's f32 buffer.
        let mut buffer = [0.0f32; 2];
        (0..ex).for_each(|_| buffer[0] += w_ex);
        (0..inh).for_each(|_| buffer[1] += w_in);
        fired.clear();
        dynamics.step(state.as_mut(), 0..1, None, &[0], &mut buffer, &[], step as u64, &mut fired);
        if !fired.is_empty() {
            spikes.push(step as u64);
        }
        let v = match &state.columns()[0].1 {
            cajal_core::neuron_model::Column::F64(v) => v[0],
            cajal_core::neuron_model::Column::U32(_) => unreachable!("V_m_rel is the first column"),
        } + params.values().iter().find(|(n, _)| *n == "E_L").unwrap().1;
        largest = largest.max((v - nest_v[step]).abs() / nest_v[step].abs().max(1.0));
    }
    (largest, spikes, nest_spikes)
}

#[test]
fn iaf_psc_delta_follows_nests_membrane_and_spikes() {
    for case in ["iaf_psc_delta-inputs", "iaf_psc_delta-refractory_input"] {
        let mut p = IafPscDeltaParams::default();
        let weights = reference_params(case, |name, v| assert!(p.set(name, v), "{case}: unknown {name}"));
        let (largest, spikes, nest_spikes) = compare(case, &p, weights, -70.0);
        println!("{case}: largest relative |V_m(cajal) - V_m(NEST)| {largest:.3e}, {} spikes", spikes.len());
        assert!(nest_spikes.len() >= 50, "{case}: the reference must make the neuron fire");
        assert_eq!(spikes, nest_spikes, "{case}: the same output spikes");
        assert!(largest <= 1e-9, "{case}: largest difference {largest}");
    }
}

#[test]
fn iaf_psc_alpha_follows_nests_membrane_and_spikes() {
    let case = "iaf_psc_alpha-inputs";
    let mut p = IafPscAlphaParams::default();
    let weights = reference_params(case, |name, v| assert!(p.set(name, v), "{case}: unknown {name}"));
    let (largest, spikes, nest_spikes) = compare(case, &p, weights, -70.0);
    println!("{case}: largest relative |V_m(cajal) - V_m(NEST)| {largest:.3e}, {} spikes", spikes.len());
    assert!(nest_spikes.len() >= 30, "{case}: the reference must make the neuron fire");
    assert_eq!(spikes, nest_spikes, "{case}: the same output spikes");
    assert!(largest <= 1e-9, "{case}: largest difference {largest}");
}
