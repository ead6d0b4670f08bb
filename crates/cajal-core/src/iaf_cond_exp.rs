//! `iaf_cond_exp`: leaky integrate-and-fire with exponentially decaying excitatory and inhibitory
//! conductances (a weight w nS jumps the conductance by |w|), integrated as NEST integrates it: the RKF45
//! stepper with NEST's error control (absolute 1e-3 on the state) and the integration step carried from
//! step to step ([`crate::rkf45`]), in NEST's update order:
//!
//! ```text
//! integrate over the step (refractory: V held, dV/dt = 0; V above V_th counts as V_th in the equation)
//! -> add the step's conductance jumps -> refractory: count down, V = V_reset
//!                                        else V >= V_th: spike, V = V_reset, t_ref starts
//! ```

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
pub struct IafCondExp;

/// The model's one instance.
pub static IAF_COND_EXP: IafCondExp = IafCondExp;

/// Parameters in NEST's names and units (mV, pF, ms, nS, pA); [`Default`] is NEST 3.10's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct IafCondExpParams {
    pub e_l: f64,
    pub c_m: f64,
    pub t_ref: f64,
    pub v_th: f64,
    pub v_reset: f64,
    pub e_ex: f64,
    pub e_in: f64,
    pub g_l: f64,
    pub tau_syn_ex: f64,
    pub tau_syn_in: f64,
    pub i_e: f64,
}

impl Default for IafCondExpParams {
    fn default() -> Self {
        Self {
            e_l: -70.0,
            c_m: 250.0,
            t_ref: 2.0,
            v_th: -55.0,
            v_reset: -60.0,
            e_ex: 0.0,
            e_in: -85.0,
            g_l: 16.6667,
            tau_syn_ex: 0.2,
            tau_syn_in: 2.0,
            i_e: 0.0,
        }
    }
}

impl IafCondExpParams {
    /// The parameters' names, as NEST names them.
    pub const NAMES: [&'static str; 11] =
        ["E_L", "C_m", "t_ref", "V_th", "V_reset", "E_ex", "E_in", "g_L", "tau_syn_ex", "tau_syn_in", "I_e"];

    /// Every parameter with its name, in [`IafCondExpParams::NAMES`] order.
    #[must_use]
    pub fn named(&self) -> [(&'static str, f64); 11] {
        let values = [
            self.e_l,
            self.c_m,
            self.t_ref,
            self.v_th,
            self.v_reset,
            self.e_ex,
            self.e_in,
            self.g_l,
            self.tau_syn_ex,
            self.tau_syn_in,
            self.i_e,
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }

    /// Sets the parameter `name`; false if the model has none of that name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let field = match name {
            "E_L" => &mut self.e_l,
            "C_m" => &mut self.c_m,
            "t_ref" => &mut self.t_ref,
            "V_th" => &mut self.v_th,
            "V_reset" => &mut self.v_reset,
            "E_ex" => &mut self.e_ex,
            "E_in" => &mut self.e_in,
            "g_L" => &mut self.g_l,
            "tau_syn_ex" => &mut self.tau_syn_ex,
            "tau_syn_in" => &mut self.tau_syn_in,
            "I_e" => &mut self.i_e,
            _ => return false,
        };
        *field = value;
        true
    }

    /// Checks every parameter as NEST does (C_m and the time constants > 0, t_ref >= 0, V_reset below
    /// V_th; g_L is free); the error names the first one out of its domain.
    pub fn validate(&self) -> Result<(), CoreError> {
        check_lif(&self.named(), &["C_m", "tau_syn_ex", "tau_syn_in"])
    }
}

/// The state of a block of iaf_cond_exp neurons as columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IafCondExpState {
    /// Membrane potential (mV, absolute).
    pub v_m: Vec<f64>,
    /// Excitatory and inhibitory conductances (nS).
    pub g_ex: Vec<f64>,
    pub g_in: Vec<f64>,
    /// Refractory steps left.
    pub refractory: Vec<u32>,
    /// The integration step carried to the next step (ms).
    pub h_int: Vec<f64>,
}

impl IafCondExpState {
    /// Names of the state columns.
    pub const COLUMN_NAMES: [&'static str; 5] = ["V_m", "g_ex", "g_in", "refractory_steps", "h_int"];

    fn f64_column(&mut self, name: &str) -> Option<&mut Vec<f64>> {
        match name {
            "V_m" => Some(&mut self.v_m),
            "g_ex" => Some(&mut self.g_ex),
            "g_in" => Some(&mut self.g_in),
            "h_int" => Some(&mut self.h_int),
            _ => None,
        }
    }
}

impl ModelState for IafCondExpState {
    fn len(&self) -> usize {
        self.v_m.len()
    }

    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        let [v, ex, inh, r, h] = Self::COLUMN_NAMES;
        vec![
            (v, Column::F64(&self.v_m)),
            (ex, Column::F64(&self.g_ex)),
            (inh, Column::F64(&self.g_in)),
            (r, Column::U32(&self.refractory)),
            (h, Column::F64(&self.h_int)),
        ]
    }

    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        match value {
            ColumnValue::U32(x) if name == Self::COLUMN_NAMES[3] => self.refractory[i] = x,
            ColumnValue::F64(x) => match self.f64_column(name) {
                Some(column) => column[i] = x,
                None => return false,
            },
            ColumnValue::U32(_) => return false,
        }
        true
    }

    fn bytes_per_neuron(&self) -> usize {
        4 * 8 + 4
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl NeuronModel for IafCondExp {
    fn name(&self) -> &'static str {
        "iaf_cond_exp"
    }

    fn state_names(&self) -> &'static [&'static str] {
        &IafCondExpState::COLUMN_NAMES
    }

    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(IafCondExpState {
            v_m: vec![0.0; n],
            g_ex: vec![0.0; n],
            g_in: vec![0.0; n],
            refractory: vec![0; n],
            h_int: vec![0.0; n],
        })
    }

    fn recordables(&self) -> &'static [&'static str] {
        &["V_m", "g_ex", "g_in"]
    }
}

/// One class of iaf_cond_exp neurons on a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct IafCondExpDynamics {
    pub p: IafCondExpParams,
    /// The step (ms): the interval each step integrates over and the first integration step.
    pub dt: f64,
    pub refractory_steps: u32,
    pub control: Control,
}

impl IafCondExpDynamics {
    /// The class of parameters `p` on the grid `res`.
    pub fn new(p: &IafCondExpParams, res: &Resolution) -> Result<Self, CoreError> {
        p.validate()?;
        Ok(Self {
            p: p.clone(),
            dt: res.dt_ms(),
            refractory_steps: res.interval_steps("t_ref", p.t_ref)?,
            control: Control::y(1e-3, 0.0),
        })
    }

    /// dy/dt for y = (V_m, g_ex, g_in), in NEST's terms and order of operations; `i_stim` is the
    /// generators' current.
    #[inline]
    fn derivatives(&self, refractory: bool, i_stim: f64, y: &[f64; 3], f: &mut [f64; 3]) {
        let p = &self.p;
        let v = if refractory { p.v_reset } else { y[0].min(p.v_th) };
        let i_syn_ex = y[1] * (v - p.e_ex);
        let i_syn_in = y[2] * (v - p.e_in);
        let i_leak = p.g_l * (v - p.e_l);
        f[0] = if refractory { 0.0 } else { (-i_leak + i_stim + p.i_e - i_syn_ex - i_syn_in) / p.c_m };
        f[1] = -y[1] / p.tau_syn_ex;
        f[2] = -y[2] / p.tau_syn_in;
    }

    /// One step of neuron `i` of `s` with the step's conductance jumps (nS, both >= 0) and generator
    /// current (pA). Returns whether it fired.
    #[inline]
    fn advance(&self, s: &mut IafCondExpState, i: usize, jump_ex: f64, jump_in: f64, i_stim: f64) -> bool {
        let mut y = [s.v_m[i], s.g_ex[i], s.g_in[i]];
        let refractory = s.refractory[i] > 0;
        let mut h = if s.h_int[i] > 0.0 { s.h_int[i] } else { self.dt };
        let f = |y: &[f64; 3], f: &mut [f64; 3]| self.derivatives(refractory, i_stim, y, f);
        rkf45::integrate(&f, &self.control, self.dt, &mut h, &mut y);
        s.h_int[i] = h;
        s.g_ex[i] = y[1] + jump_ex;
        s.g_in[i] = y[2] + jump_in;
        let mut fired = false;
        if refractory {
            s.refractory[i] -= 1;
            y[0] = self.p.v_reset;
        } else if y[0] >= self.p.v_th {
            s.refractory[i] = self.refractory_steps;
            y[0] = self.p.v_reset;
            fired = true;
        }
        s.v_m[i] = y[0];
        fired
    }
}

impl NeuronDynamics for IafCondExpDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_COND_EXP
    }

    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64) {
        if let Some(s) = state.as_any_mut().downcast_mut::<IafCondExpState>() {
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
        let Some(s) = state.as_any_mut().downcast_mut::<IafCondExpState>() else { return };
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
            // Inhibitory weights are negative; their conductance jumps by |w| (NEST's -w).
            if self.advance(s, i, in_ex, -in_in, i_stim) {
                fired.push(i as u32);
            }
        }
    }

    fn recordable(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        match (state.as_any().downcast_ref::<IafCondExpState>(), var) {
            (Some(s), 0) => s.v_m[i],
            (Some(s), 1) => s.g_ex[i],
            (Some(s), 2) => s.g_in[i],
            _ => f64::NAN,
        }
    }
}

impl NeuronParameters for IafCondExpParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_COND_EXP
    }

    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        Ok(Box::new(IafCondExpDynamics::new(self, res)?))
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

    fn neuron(p: &IafCondExpParams) -> (IafCondExpDynamics, IafCondExpState) {
        let d = IafCondExpDynamics::new(p, &Resolution::new(0.1).unwrap()).unwrap();
        let mut s = IafCondExpState::default();
        s.v_m.push(p.e_l);
        s.g_ex.push(0.0);
        s.g_in.push(0.0);
        s.refractory.push(0);
        s.h_int.push(d.dt);
        (d, s)
    }

    #[test]
    fn a_current_settles_at_the_leak_steady_state() {
        let p = IafCondExpParams { i_e: 100.0, ..IafCondExpParams::default() };
        let (d, mut s) = neuron(&p);
        for _ in 0..2000 {
            assert!(!d.advance(&mut s, 0, 0.0, 0.0, 0.0));
        }
        let steady = p.e_l + 100.0 / p.g_l; // 6 mV above rest, under the 15 mV to threshold
        assert!((s.v_m[0] - steady).abs() < 1e-3, "{} vs {steady}", s.v_m[0]);
        // NEST's step would grow past dt; cajal carries dt itself, which the next step cuts to alike.
        assert_eq!(s.h_int[0], d.dt, "a smooth membrane takes each step whole");
    }

    #[test]
    fn a_conductance_jumps_after_the_step_and_decays_with_tau_syn() {
        let (d, mut s) = neuron(&IafCondExpParams::default());
        d.advance(&mut s, 0, 3.0, 2.0, 0.0);
        assert_eq!((s.g_ex[0], s.g_in[0], s.v_m[0]), (3.0, 2.0, -70.0), "the jump enters at the end of its step");
        for _ in 0..10 {
            d.advance(&mut s, 0, 0.0, 0.0, 0.0);
        }
        // Over 1 ms: e^(-5) for tau 0.2 ms, e^(-0.5) for 2 ms, to the control's absolute 1e-3.
        assert!((s.g_ex[0] - 3.0 * (-5.0_f64).exp()).abs() < 1e-3, "{}", s.g_ex[0]);
        assert!((s.g_in[0] - 2.0 * (-0.5_f64).exp()).abs() < 1e-3, "{}", s.g_in[0]);
        assert!(s.v_m[0] > -70.0, "excitation towards E_ex outweighs inhibition towards E_in at rest");
    }

    #[test]
    fn a_spike_holds_the_membrane_at_reset_for_t_ref() {
        let p = IafCondExpParams { i_e: 1000.0, ..IafCondExpParams::default() };
        let (d, mut s) = neuron(&p);
        let first = (0..1000).find(|_| d.advance(&mut s, 0, 0.0, 0.0, 0.0)).unwrap();
        assert_eq!((s.v_m[0], s.refractory[0]), (-60.0, 20));
        for k in 0..20 {
            assert!(!d.advance(&mut s, 0, 0.0, 0.0, 0.0));
            assert_eq!(s.v_m[0], -60.0, "refractory step {k}");
        }
        assert!(!d.advance(&mut s, 0, 0.0, 0.0, 0.0));
        assert!(s.v_m[0] > -60.0, "free again 2 ms after the spike at step {first}");
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let bad = |p: IafCondExpParams| p.validate().unwrap_err().to_string();
        assert!(bad(IafCondExpParams { c_m: 0.0, ..IafCondExpParams::default() }).contains("C_m"));
        assert!(bad(IafCondExpParams { tau_syn_in: -1.0, ..IafCondExpParams::default() }).contains("tau_syn_in"));
        assert!(bad(IafCondExpParams { v_reset: -55.0, ..IafCondExpParams::default() }).contains("V_reset"));
        assert!(bad(IafCondExpParams { t_ref: -0.1, ..IafCondExpParams::default() }).contains("t_ref"));
        assert!(bad(IafCondExpParams { e_ex: f64::NAN, ..IafCondExpParams::default() }).contains("E_ex"));
        assert!(IafCondExpParams { g_l: 0.0, ..IafCondExpParams::default() }.validate().is_ok(), "NEST allows g_L = 0");
        assert!(IafCondExpParams::default().with_value("tau_m", 10.0).is_err(), "no tau_m: g_L and C_m");
    }
}
