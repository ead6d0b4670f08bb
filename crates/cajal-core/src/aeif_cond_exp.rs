//! `aeif_cond_exp`: the adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005) with
//! exponentially decaying conductances, integrated as NEST integrates it: the RKF45 stepper with NEST's
//! error control (`gsl_error_tol`, absolute and relative to the derivative) and the integration step
//! carried from step to step ([`crate::rkf45`]). Spikes are found after every accepted sub-step, so one
//! step may hold several when t_ref is 0 (NEST's default):
//!
//! ```text
//! per sub-step: integrate (refractory: V held at V_reset, dV/dt = 0; V above V_peak counts as V_peak)
//!   -> refractory: V = V_reset | V >= V_peak (V_th if Delta_T = 0): spike, V = V_reset, w += b, t_ref starts
//! end of step: refractory count down -> add the step's conductance jumps
//! ```
//!
//! NEST stops a simulation whose neuron reaches V_m < -1000 mV or |w| > 1e6 pA (NumericalInstability);
//! a step has no way to fail here, so such a neuron carries on.

use std::any::Any;
use std::ops::Range;

use crate::iaf_psc_exp::PoissonDrive;
use crate::neuron_model::{
    check_lif, with_named, Column, ColumnValue, ModelState, NeuronDynamics, NeuronModel, NeuronParameters,
};
use crate::rkf45::{self, Control};
use crate::{CoreError, NeuronSpec, Resolution, Step};

/// The model, as NEST names it.
#[derive(Debug)]
pub struct AeifCondExp;

/// The model's one instance.
pub static AEIF_COND_EXP: AeifCondExp = AeifCondExp;

/// Parameters in NEST's names and units (pF, nS, mV, ms, pA); [`Default`] is NEST 3.10's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AeifCondExpParams {
    pub c_m: f64,
    pub g_l: f64,
    pub e_l: f64,
    pub v_reset: f64,
    pub delta_t: f64,
    pub tau_w: f64,
    pub a: f64,
    pub b: f64,
    pub v_th: f64,
    pub v_peak: f64,
    pub t_ref: f64,
    pub e_ex: f64,
    pub e_in: f64,
    pub tau_syn_ex: f64,
    pub tau_syn_in: f64,
    pub i_e: f64,
    /// The integrator's tolerance, absolute and relative to the derivative.
    pub gsl_error_tol: f64,
}

impl Default for AeifCondExpParams {
    fn default() -> Self {
        Self {
            c_m: 281.0,
            g_l: 30.0,
            e_l: -70.6,
            v_reset: -60.0,
            delta_t: 2.0,
            tau_w: 144.0,
            a: 4.0,
            b: 80.5,
            v_th: -50.4,
            v_peak: 0.0,
            t_ref: 0.0,
            e_ex: 0.0,
            e_in: -85.0,
            tau_syn_ex: 0.2,
            tau_syn_in: 2.0,
            i_e: 0.0,
            gsl_error_tol: 1e-6,
        }
    }
}

impl AeifCondExpParams {
    /// The parameters' names, as NEST names them.
    pub const NAMES: [&'static str; 17] = [
        "C_m",
        "g_L",
        "E_L",
        "V_reset",
        "Delta_T",
        "tau_w",
        "a",
        "b",
        "V_th",
        "V_peak",
        "t_ref",
        "E_ex",
        "E_in",
        "tau_syn_ex",
        "tau_syn_in",
        "I_e",
        "gsl_error_tol",
    ];

    /// Every parameter with its name, in [`AeifCondExpParams::NAMES`] order.
    #[must_use]
    pub fn named(&self) -> [(&'static str, f64); 17] {
        let values = [
            self.c_m,
            self.g_l,
            self.e_l,
            self.v_reset,
            self.delta_t,
            self.tau_w,
            self.a,
            self.b,
            self.v_th,
            self.v_peak,
            self.t_ref,
            self.e_ex,
            self.e_in,
            self.tau_syn_ex,
            self.tau_syn_in,
            self.i_e,
            self.gsl_error_tol,
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }

    /// Sets the parameter `name`; false if the model has none of that name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let field = match name {
            "C_m" => &mut self.c_m,
            "g_L" => &mut self.g_l,
            "E_L" => &mut self.e_l,
            "V_reset" => &mut self.v_reset,
            "Delta_T" => &mut self.delta_t,
            "tau_w" => &mut self.tau_w,
            "a" => &mut self.a,
            "b" => &mut self.b,
            "V_th" => &mut self.v_th,
            "V_peak" => &mut self.v_peak,
            "t_ref" => &mut self.t_ref,
            "E_ex" => &mut self.e_ex,
            "E_in" => &mut self.e_in,
            "tau_syn_ex" => &mut self.tau_syn_ex,
            "tau_syn_in" => &mut self.tau_syn_in,
            "I_e" => &mut self.i_e,
            "gsl_error_tol" => &mut self.gsl_error_tol,
            _ => return false,
        };
        *field = value;
        true
    }

    /// Checks every parameter as NEST does: finite, C_m, the time constants and gsl_error_tol > 0,
    /// t_ref >= 0, Delta_T >= 0, V_peak >= V_th, V_reset below V_peak (not V_th: the reset may lie above
    /// the exponential's threshold), and (V_peak - V_th) / Delta_T small enough for e^x not to overflow.
    /// The error names the first parameter out of its domain.
    pub fn validate(&self) -> Result<(), CoreError> {
        // check_lif would hold V_reset below V_th, which this model does not ask: V_th is checked here.
        let others: Vec<_> = self.named().into_iter().filter(|(n, _)| *n != "V_th").collect();
        check_lif(&others, &["C_m", "tau_w", "tau_syn_ex", "tau_syn_in", "gsl_error_tol"])?;
        if !self.v_th.is_finite() {
            return Err(CoreError::invalid("V_th", self.v_th, "must be a finite number"));
        }
        if self.v_peak < self.v_th {
            return Err(CoreError::invalid("V_peak", self.v_peak, "must be >= V_th"));
        }
        if self.delta_t < 0.0 {
            return Err(CoreError::invalid("Delta_T", self.delta_t, "must be >= 0"));
        }
        let max_exponent = (f64::MAX / 1e20).ln();
        if self.delta_t > 0.0 && (self.v_peak - self.v_th) / self.delta_t >= max_exponent {
            let reason = "makes (V_peak - V_th) / Delta_T overflow the exponential at a spike";
            return Err(CoreError::invalid("Delta_T", self.delta_t, reason));
        }
        if self.v_reset >= self.v_peak {
            return Err(CoreError::invalid("V_reset", self.v_reset, "must be below V_peak"));
        }
        Ok(())
    }
}

/// The state of a block of aeif_cond_exp neurons as columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AeifCondExpState {
    /// Membrane potential (mV, absolute).
    pub v_m: Vec<f64>,
    /// Adaptation current (pA).
    pub w: Vec<f64>,
    /// Excitatory and inhibitory conductances (nS).
    pub g_ex: Vec<f64>,
    pub g_in: Vec<f64>,
    /// Refractory steps left.
    pub refractory: Vec<u32>,
    /// The integration step carried to the next step (ms).
    pub h_int: Vec<f64>,
}

impl AeifCondExpState {
    /// Names of the state columns.
    pub const COLUMN_NAMES: [&'static str; 6] = ["V_m", "w", "g_ex", "g_in", "refractory_steps", "h_int"];

    fn f64_column(&mut self, name: &str) -> Option<&mut Vec<f64>> {
        match name {
            "V_m" => Some(&mut self.v_m),
            "w" => Some(&mut self.w),
            "g_ex" => Some(&mut self.g_ex),
            "g_in" => Some(&mut self.g_in),
            "h_int" => Some(&mut self.h_int),
            _ => None,
        }
    }
}

impl ModelState for AeifCondExpState {
    fn len(&self) -> usize {
        self.v_m.len()
    }

    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        let [v, w, ex, inh, r, h] = Self::COLUMN_NAMES;
        vec![
            (v, Column::F64(&self.v_m)),
            (w, Column::F64(&self.w)),
            (ex, Column::F64(&self.g_ex)),
            (inh, Column::F64(&self.g_in)),
            (r, Column::U32(&self.refractory)),
            (h, Column::F64(&self.h_int)),
        ]
    }

    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        match value {
            ColumnValue::U32(x) if name == Self::COLUMN_NAMES[4] => self.refractory[i] = x,
            ColumnValue::F64(x) => match self.f64_column(name) {
                Some(column) => column[i] = x,
                None => return false,
            },
            ColumnValue::U32(_) => return false,
        }
        true
    }

    fn bytes_per_neuron(&self) -> usize {
        5 * 8 + 4
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl NeuronModel for AeifCondExp {
    fn name(&self) -> &'static str {
        "aeif_cond_exp"
    }

    fn state_names(&self) -> &'static [&'static str] {
        &AeifCondExpState::COLUMN_NAMES
    }

    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(AeifCondExpState {
            v_m: vec![0.0; n],
            w: vec![0.0; n],
            g_ex: vec![0.0; n],
            g_in: vec![0.0; n],
            refractory: vec![0; n],
            h_int: vec![0.0; n],
        })
    }

    fn recordables(&self) -> &'static [&'static str] {
        &["V_m", "w", "g_ex", "g_in"]
    }
}

/// One class of aeif_cond_exp neurons on a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct AeifCondExpDynamics {
    pub p: AeifCondExpParams,
    /// The step (ms): the interval each step integrates over and the first integration step (NEST 3.10
    /// starts at the resolution; older versions started at min(0.01 ms, dt)).
    pub dt: f64,
    /// Where a spike is detected: V_peak, or V_th when Delta_T is 0.
    pub spike_at: f64,
    pub refractory_steps: u32,
    pub control: Control,
}

impl AeifCondExpDynamics {
    /// The class of parameters `p` on the grid `res`.
    pub fn new(p: &AeifCondExpParams, res: &Resolution) -> Result<Self, CoreError> {
        p.validate()?;
        Ok(Self {
            p: p.clone(),
            dt: res.dt_ms(),
            spike_at: if p.delta_t > 0.0 { p.v_peak } else { p.v_th },
            refractory_steps: res.interval_steps("t_ref", p.t_ref)?,
            control: Control::yp(p.gsl_error_tol, p.gsl_error_tol),
        })
    }

    /// dy/dt for y = (V_m, g_ex, g_in, w), in NEST's terms and order of operations; `i_stim` is the
    /// generators' current.
    #[inline]
    fn derivatives(&self, refractory: bool, i_stim: f64, y: &[f64; 4], f: &mut [f64; 4]) {
        let p = &self.p;
        let v = if refractory { p.v_reset } else { y[0].min(p.v_peak) };
        let (g_ex, g_in, w) = (y[1], y[2], y[3]);
        let i_syn_ex = g_ex * (v - p.e_ex);
        let i_syn_in = g_in * (v - p.e_in);
        let i_spike = if p.delta_t == 0.0 { 0.0 } else { p.g_l * p.delta_t * ((v - p.v_th) / p.delta_t).exp() };
        f[0] = if refractory {
            0.0
        } else {
            (-p.g_l * (v - p.e_l) + i_spike - i_syn_ex - i_syn_in - w + p.i_e + i_stim) / p.c_m
        };
        f[1] = -g_ex / p.tau_syn_ex;
        f[2] = -g_in / p.tau_syn_in;
        f[3] = (p.a * (v - p.e_l) - w) / p.tau_w;
    }

    /// One step of neuron `i` of `s` with the step's conductance jumps (nS, both >= 0) and generator
    /// current (pA). Returns how many spikes it fired.
    #[inline]
    fn advance(&self, s: &mut AeifCondExpState, i: usize, jump_ex: f64, jump_in: f64, i_stim: f64) -> u32 {
        let mut y = [s.v_m[i], s.g_ex[i], s.g_in[i], s.w[i]];
        let mut h = if s.h_int[i] > 0.0 { s.h_int[i] } else { self.dt };
        let mut refractory = s.refractory[i];
        let mut spikes = 0;
        let mut t = 0.0;
        while t < self.dt {
            let f = |y: &[f64; 4], f: &mut [f64; 4]| self.derivatives(refractory > 0, i_stim, y, f);
            rkf45::evolve_apply(&f, &self.control, &mut t, self.dt, &mut h, &mut y);
            if refractory > 0 {
                y[0] = self.p.v_reset;
            } else if y[0] >= self.spike_at {
                y[0] = self.p.v_reset;
                y[3] += self.p.b;
                // One more than t_ref's steps: the count-down at the end of this step takes one.
                refractory = if self.refractory_steps > 0 { self.refractory_steps.saturating_add(1) } else { 0 };
                spikes += 1;
            }
        }
        s.refractory[i] = refractory.saturating_sub(1);
        s.h_int[i] = h;
        s.v_m[i] = y[0];
        s.w[i] = y[3];
        s.g_ex[i] = y[1] + jump_ex;
        s.g_in[i] = y[2] + jump_in;
        spikes
    }
}

impl NeuronDynamics for AeifCondExpDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &AEIF_COND_EXP
    }

    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64) {
        if let Some(s) = state.as_any_mut().downcast_mut::<AeifCondExpState>() {
            s.v_m[i] = v_m;
            s.h_int[i] = self.dt;
        }
    }

    fn step(
        &self,
        state: &mut dyn ModelState,
        range: Range<usize>,
        drive: Option<&PoissonDrive>,
        bg_keys: &[u64],
        input: &mut [f32],
        current: &[f64],
        step: Step,
        fired: &mut Vec<u32>,
    ) {
        let Some(s) = state.as_any_mut().downcast_mut::<AeifCondExpState>() else { return };
        let drive = drive.filter(|d| d.active(step));
        for i in range {
            let (mut in_ex, mut in_in) = (f64::from(input[2 * i]), f64::from(input[2 * i + 1]));
            input[2 * i] = 0.0;
            input[2 * i + 1] = 0.0;
            if let Some(d) = drive {
                let x = d.input(bg_keys[i], step);
                if d.weight >= 0.0 {
                    in_ex += x;
                } else {
                    in_in += x;
                }
            }
            let i_stim = if current.is_empty() { 0.0 } else { current[i] };
            // Inhibitory weights are negative; their conductance jumps by |w| (NEST's -w). Every spike of
            // the step is sent, as NEST sends one event per spike.
            for _ in 0..self.advance(s, i, in_ex, -in_in, i_stim) {
                fired.push(i as u32);
            }
        }
    }

    fn recordable(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        match (state.as_any().downcast_ref::<AeifCondExpState>(), var) {
            (Some(s), 0) => s.v_m[i],
            (Some(s), 1) => s.w[i],
            (Some(s), 2) => s.g_ex[i],
            (Some(s), 3) => s.g_in[i],
            _ => f64::NAN,
        }
    }
}

impl NeuronParameters for AeifCondExpParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &AEIF_COND_EXP
    }

    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        Ok(Box::new(AeifCondExpDynamics::new(self, res)?))
    }

    fn values(&self) -> Vec<(&'static str, f64)> {
        self.named().to_vec()
    }

    fn with_value(&self, name: &str, value: f64) -> Result<NeuronSpec, CoreError> {
        with_named(self, Self::set, name, value)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn neuron(p: &AeifCondExpParams) -> (AeifCondExpDynamics, AeifCondExpState) {
        let d = AeifCondExpDynamics::new(p, &Resolution::new(0.1).unwrap()).unwrap();
        let mut s = AeifCondExpState::default();
        for c in [&mut s.v_m, &mut s.w, &mut s.g_ex, &mut s.g_in, &mut s.h_int] {
            c.push(0.0);
        }
        s.refractory.push(0);
        d.init(&mut s, 0, p.e_l);
        (d, s)
    }

    /// The steps in which the neuron fires over `steps` steps of constant current.
    fn spike_steps(d: &AeifCondExpDynamics, s: &mut AeifCondExpState, steps: usize) -> Vec<usize> {
        (0..steps).filter(|_| d.advance(s, 0, 0.0, 0.0, 0.0) > 0).collect()
    }

    #[test]
    fn a_current_makes_it_fire_with_growing_intervals_and_w_jumps_by_b() {
        let p = AeifCondExpParams { i_e: 800.0, t_ref: 2.0, ..AeifCondExpParams::default() };
        let (d, mut s) = neuron(&p);
        assert_eq!(s.h_int[0], 0.1, "NEST 3.10 starts at the resolution");
        let spikes = spike_steps(&d, &mut s, 5000);
        assert!(spikes.len() >= 5, "{spikes:?}");
        let isi: Vec<usize> = spikes.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(isi.first() < isi.last(), "adaptation lengthens the intervals: {isi:?}");
        let first = spikes[0];
        let (d, mut s) = neuron(&p);
        for _ in 0..first {
            d.advance(&mut s, 0, 0.0, 0.0, 0.0);
        }
        let w_before = s.w[0];
        assert_eq!(d.advance(&mut s, 0, 0.0, 0.0, 0.0), 1);
        assert_eq!((s.v_m[0], s.refractory[0]), (-60.0, 20));
        assert!((s.w[0] - w_before - 80.5).abs() < 1.0, "w jumps by b = 80.5 pA: {} -> {}", w_before, s.w[0]);
        for _ in 0..20 {
            assert_eq!(d.advance(&mut s, 0, 0.0, 0.0, 0.0), 0);
            assert_eq!(s.v_m[0], -60.0, "held at V_reset for t_ref");
        }
    }

    #[test]
    fn without_refractory_time_one_step_can_hold_several_spikes() {
        let p = AeifCondExpParams { i_e: 1e6, ..AeifCondExpParams::default() };
        let (d, mut s) = neuron(&p);
        let n = d.advance(&mut s, 0, 0.0, 0.0, 0.0);
        assert!(n >= 2, "1e6 pA / 281 pF crosses the 60 mV from reset to V_peak in ~0.02 ms: {n}");
    }

    #[test]
    fn without_the_exponential_spikes_happen_at_v_th() {
        let p = AeifCondExpParams { delta_t: 0.0, i_e: 800.0, t_ref: 2.0, ..AeifCondExpParams::default() };
        let (d, mut s) = neuron(&p);
        assert_eq!(d.spike_at, -50.4);
        let mut top = f64::NEG_INFINITY;
        for _ in 0..2000 {
            top = top.max(s.v_m[0]);
            d.advance(&mut s, 0, 0.0, 0.0, 0.0);
        }
        assert!(top < -50.4 && top > -51.5, "the membrane turns back at V_th, highest {top}");
    }

    #[test]
    fn conductances_jump_after_the_step() {
        let (d, mut s) = neuron(&AeifCondExpParams::default());
        d.advance(&mut s, 0, 4.0, 1.5, 0.0);
        assert_eq!((s.g_ex[0], s.g_in[0]), (4.0, 1.5));
        assert!((s.v_m[0] + 70.6).abs() < 1e-5, "only the exponential's 2.5e-3 pA at E_L moved it: {}", s.v_m[0]);
        let before = s.v_m[0];
        d.advance(&mut s, 0, 0.0, 0.0, 0.0);
        assert!((s.g_ex[0] - 4.0 * (-0.5_f64).exp()).abs() < 1e-5, "{}", s.g_ex[0]);
        assert!(s.v_m[0] > before + 0.01, "{} after {before}", s.v_m[0]);
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let base = AeifCondExpParams::default;
        let bad = |p: AeifCondExpParams| p.validate().unwrap_err().to_string();
        assert!(bad(AeifCondExpParams { v_peak: -51.0, ..base() }).contains("V_peak"));
        assert!(bad(AeifCondExpParams { c_m: 0.0, ..base() }).contains("C_m"));
        assert!(bad(AeifCondExpParams { tau_w: 0.0, ..base() }).contains("tau_w"));
        assert!(bad(AeifCondExpParams { tau_syn_ex: -0.2, ..base() }).contains("tau_syn_ex"));
        assert!(bad(AeifCondExpParams { v_reset: 0.0, ..base() }).contains("V_reset"));
        assert!(bad(AeifCondExpParams { delta_t: -1.0, ..base() }).contains("Delta_T"));
        assert!(bad(AeifCondExpParams { delta_t: 0.01, v_peak: 100.0, ..base() }).contains("Delta_T"));
        assert!(bad(AeifCondExpParams { gsl_error_tol: 0.0, ..base() }).contains("gsl_error_tol"));
        assert!(bad(AeifCondExpParams { t_ref: -1.0, ..base() }).contains("t_ref"));
        assert!(bad(AeifCondExpParams { v_th: f64::INFINITY, ..base() }).contains("V_th"));
        assert!(AeifCondExpParams { v_reset: -45.0, ..base() }.validate().is_ok(), "V_reset may lie above V_th");
        assert!(AeifCondExpParams { v_peak: -50.4, ..base() }.validate().is_ok(), "V_peak = V_th is allowed");
        assert!(base().with_value("tau_m", 1.0).is_err());
        assert_eq!(base().with_value("b", 0.0).unwrap().as_model::<AeifCondExpParams>().unwrap().b, 0.0);
    }
}
