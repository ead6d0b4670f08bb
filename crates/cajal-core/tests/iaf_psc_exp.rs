//! The integrator against closed-form membrane responses and hand-computed steps.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use cajal_core::iaf_psc_exp::{psc_per_psp, step_population, IafPscExpParams, IafPscExpState, Propagators};
use cajal_core::Resolution;

fn microcircuit_params() -> IafPscExpParams {
    IafPscExpParams::potjans_diesmann()
}

/// Closed-form PSP of an exponential current `w e^{-t/tau_s}` on a passive membrane starting at rest.
fn analytic_psp(w: f64, t: f64, p: &IafPscExpParams) -> f64 {
    let (tm, ts, c) = (p.tau_m, p.tau_syn_ex, p.c_m);
    w * ts * tm / (c * (tm - ts)) * ((-t / tm).exp() - (-t / ts).exp())
}

/// Runs one neuron for `steps` steps with `weight` arriving in step 0; returns V (relative) after each step.
fn psp_trace(p: &IafPscExpParams, dt: f64, weight: f32, steps: usize) -> Vec<f64> {
    let prop = Propagators::new(p, &Resolution::new(dt).unwrap()).unwrap();
    let mut state = IafPscExpState::new(1);
    let mut fired = Vec::new();
    let mut out = Vec::new();
    for s in 0..steps {
        let mut input = [if s == 0 { weight } else { 0.0 }, 0.0];
        step_population(&prop, None, &mut state, 0..1, &[0], &mut input, s as u64, &mut fired, |_| prop.p20 * prop.i_e);
        out.push(state.v_rel[0]);
    }
    assert!(fired.is_empty());
    out
}

#[test]
fn psc_to_psp_conversion_matches_the_microcircuit_value() {
    let k = psc_per_psp(250.0, 10.0, 0.5);
    assert!((k - 585.39).abs() < 0.01, "{k}");
    assert!((0.15 * k - 87.81).abs() < 0.01);
}

#[test]
fn exponential_psc_matches_the_analytic_psp_at_grid_points() {
    let p = microcircuit_params();
    let dt = 0.1;
    let trace = psp_trace(&p, dt, 87.81, 200);
    // The weight enters the current at the end of step 0, so V after step k is the PSP at (k) * dt.
    for (k, v) in trace.iter().enumerate() {
        let t = k as f64 * dt;
        let expect = analytic_psp(f64::from(87.81_f32), t, &p);
        assert!((v - expect).abs() < 1e-12 + 1e-10 * expect.abs(), "step {k}: {v} vs {expect}");
    }
}

#[test]
fn psp_peak_is_015_mv_at_about_158_ms() {
    let p = microcircuit_params();
    let dt = 0.01;
    let trace = psp_trace(&p, dt, 87.81, 1000);
    let (k, peak) = trace.iter().enumerate().fold((0, 0.0), |acc, (k, &v)| if v > acc.1 { (k, v) } else { acc });
    let t_peak = k as f64 * dt;
    assert!((peak - 0.15).abs() < 1e-4, "peak {peak}");
    assert!((t_peak - 1.58).abs() < 0.011, "t_peak {t_peak}");
}

#[test]
fn close_time_constants_use_the_stable_limit() {
    let mut p = microcircuit_params();
    p.tau_syn_ex = 10.0 * (1.0 + 1e-14);
    let trace = psp_trace(&p, 0.1, 100.0, 30);
    // Limit tau_s -> tau_m: V(t) = w t / C e^{-t/tau}.
    for (k, v) in trace.iter().enumerate() {
        let t = k as f64 * 0.1;
        let expect = 100.0 * t / 250.0 * (-t / 10.0).exp();
        assert!((v - expect).abs() < 1e-9, "step {k}: {v} vs {expect}");
    }
}

#[test]
fn one_step_by_hand() {
    let mut p = microcircuit_params();
    p.i_e = 100.0;
    p.tau_syn_in = 2.0;
    let h = 0.1;
    let prop = Propagators::new(&p, &Resolution::new(h).unwrap()).unwrap();
    let mut state = IafPscExpState::new(1);
    state.v_rel[0] = 3.0;
    state.i_ex[0] = 50.0;
    state.i_in[0] = -20.0;
    let mut input = [10.0_f32, -4.0];
    let mut fired = Vec::new();
    step_population(&prop, None, &mut state, 0..1, &[0], &mut input, 0, &mut fired, |_| prop.p20 * prop.i_e);
    let (tm, c) = (10.0_f64, 250.0_f64);
    let p21 = |ts: f64| ts * tm / (c * (tm - ts)) * ((-h / tm).exp() - (-h / ts).exp());
    let v = 3.0 * (-h / tm).exp() + p21(0.5) * 50.0 + p21(2.0) * -20.0 + tm / c * (1.0 - (-h / tm).exp()) * 100.0;
    assert!((state.v_rel[0] - v).abs() < 1e-12, "{} vs {v}", state.v_rel[0]);
    assert!((state.i_ex[0] - (50.0 * (-h / 0.5).exp() + 10.0)).abs() < 1e-12);
    assert!((state.i_in[0] - (-20.0 * (-h / 2.0).exp() - 4.0)).abs() < 1e-12);
    assert_eq!(input, [0.0, 0.0], "input is consumed");
}

#[test]
fn constant_current_fires_resets_and_stays_refractory_for_t_ref() {
    let mut p = microcircuit_params();
    p.i_e = 500.0; // V_inf = 20 mV above rest; threshold 15 mV: crossing at 10 ms * ln 4 = 13.86 ms
    let prop = Propagators::new(&p, &Resolution::new(0.1).unwrap()).unwrap();
    let mut state = IafPscExpState::new(1);
    let mut fired_at = Vec::new();
    let mut vs = Vec::new();
    for s in 0..400u64 {
        let mut input = [0.0_f32; 2];
        let mut fired = Vec::new();
        step_population(&prop, None, &mut state, 0..1, &[0], &mut input, s, &mut fired, |_| prop.p20 * prop.i_e);
        if !fired.is_empty() {
            fired_at.push(s);
        }
        vs.push(state.v_rel[0]);
    }
    // V >= 15 first after 139 integration steps (13.9 ms); 20 refractory steps clamp V at reset; then again.
    assert_eq!(fired_at, vec![138, 297]);
    assert!(vs[139..=158].iter().all(|&v| v == 0.0));
    assert!(vs[159] > 0.0);
}

#[test]
fn invalid_parameters_are_refused_by_name() {
    let mut p = microcircuit_params();
    p.tau_m = -1.0;
    let e = Propagators::new(&p, &Resolution::new(0.1).unwrap()).unwrap_err();
    assert!(e.to_string().contains("tau_m"), "{e}");
    let mut p = microcircuit_params();
    p.c_m = f64::NAN;
    assert!(p.validate().unwrap_err().to_string().contains("C_m"));
    let mut p = microcircuit_params();
    p.v_reset = -40.0;
    assert!(p.validate().unwrap_err().to_string().contains("V_reset"));
}
