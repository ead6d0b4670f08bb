//! `iaf_psc_alpha`: leaky integrate-and-fire with alpha-shaped excitatory and inhibitory currents, integrated
//! exactly on the time grid in NEST's update order: membrane from the old currents, then the currents'
//! decay, then the step's input into the currents' derivatives, then the threshold. A weight w (pA) gives a
//! current that peaks at w after tau_syn.

use std::any::Any;
use std::ops::Range;

use crate::iaf_psc_exp::PoissonDrive;
use crate::neuron_model::{
    check_lif, with_named, Column, ColumnValue, ModelState, NeuronDynamics, NeuronModel, NeuronParameters,
};
use crate::{CoreError, NeuronSpec, Resolution, Step};

/// The model, as NEST names it.
#[derive(Debug)]
pub struct IafPscAlpha;

/// The model's one instance.
pub static IAF_PSC_ALPHA: IafPscAlpha = IafPscAlpha;

/// Parameters in NEST's names and units (pF, ms, mV, pA); [`Default`] is NEST's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct IafPscAlphaParams {
    pub c_m: f64,
    pub tau_m: f64,
    pub tau_syn_ex: f64,
    pub tau_syn_in: f64,
    pub e_l: f64,
    pub v_th: f64,
    pub v_reset: f64,
    pub t_ref: f64,
    pub i_e: f64,
    /// Lower bound of the membrane potential (absolute; -inf: none).
    pub v_min: f64,
}

impl Default for IafPscAlphaParams {
    fn default() -> Self {
        Self {
            c_m: 250.0,
            tau_m: 10.0,
            tau_syn_ex: 2.0,
            tau_syn_in: 2.0,
            e_l: -70.0,
            v_th: -55.0,
            v_reset: -70.0,
            t_ref: 2.0,
            i_e: 0.0,
            v_min: f64::NEG_INFINITY,
        }
    }
}

impl IafPscAlphaParams {
    /// The parameters' names, as NEST names them.
    pub const NAMES: [&'static str; 10] =
        ["C_m", "tau_m", "tau_syn_ex", "tau_syn_in", "E_L", "V_th", "V_reset", "t_ref", "I_e", "V_min"];

    /// Every parameter with its name, in [`IafPscAlphaParams::NAMES`] order.
    #[must_use]
    pub fn named(&self) -> [(&'static str, f64); 10] {
        let values = [
            self.c_m,
            self.tau_m,
            self.tau_syn_ex,
            self.tau_syn_in,
            self.e_l,
            self.v_th,
            self.v_reset,
            self.t_ref,
            self.i_e,
            self.v_min,
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }

    /// Sets the parameter `name`; false if the model has none of that name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let field = match name {
            "C_m" => &mut self.c_m,
            "tau_m" => &mut self.tau_m,
            "tau_syn_ex" => &mut self.tau_syn_ex,
            "tau_syn_in" => &mut self.tau_syn_in,
            "E_L" => &mut self.e_l,
            "V_th" => &mut self.v_th,
            "V_reset" => &mut self.v_reset,
            "t_ref" => &mut self.t_ref,
            "I_e" => &mut self.i_e,
            "V_min" => &mut self.v_min,
            _ => return false,
        };
        *field = value;
        true
    }

    /// Checks every parameter; the error names the first one out of its domain.
    pub fn validate(&self) -> Result<(), CoreError> {
        check_lif(&self.named(), &["C_m", "tau_m", "tau_syn_ex", "tau_syn_in"])
    }
}

/// The state of a block of iaf_psc_alpha neurons as columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IafPscAlphaState {
    /// Membrane potential relative to E_L (mV).
    pub v_rel: Vec<f64>,
    /// Excitatory and inhibitory currents (pA) and their derivatives (pA/ms).
    pub i_ex: Vec<f64>,
    pub di_ex: Vec<f64>,
    pub i_in: Vec<f64>,
    pub di_in: Vec<f64>,
    /// Refractory steps left.
    pub refractory: Vec<u32>,
}

impl IafPscAlphaState {
    /// Names of the state columns.
    pub const COLUMN_NAMES: [&'static str; 6] =
        ["V_m_rel", "I_syn_ex", "dI_syn_ex", "I_syn_in", "dI_syn_in", "refractory_steps"];

    fn f64_columns(&self) -> [&Vec<f64>; 5] {
        [&self.v_rel, &self.i_ex, &self.di_ex, &self.i_in, &self.di_in]
    }
}

impl ModelState for IafPscAlphaState {
    fn len(&self) -> usize {
        self.v_rel.len()
    }

    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        let mut out: Vec<(&'static str, Column<'_>)> =
            Self::COLUMN_NAMES.iter().zip(self.f64_columns()).map(|(n, c)| (*n, Column::F64(c))).collect();
        out.push((Self::COLUMN_NAMES[5], Column::U32(&self.refractory)));
        out
    }

    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        let k = Self::COLUMN_NAMES.iter().position(|n| *n == name);
        match (k, value) {
            (Some(5), ColumnValue::U32(x)) => self.refractory[i] = x,
            (Some(k @ 0..=4), ColumnValue::F64(x)) => {
                let column = match k {
                    0 => &mut self.v_rel,
                    1 => &mut self.i_ex,
                    2 => &mut self.di_ex,
                    3 => &mut self.i_in,
                    _ => &mut self.di_in,
                };
                column[i] = x;
            }
            _ => return false,
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

impl NeuronModel for IafPscAlpha {
    fn name(&self) -> &'static str {
        "iaf_psc_alpha"
    }

    fn state_names(&self) -> &'static [&'static str] {
        &IafPscAlphaState::COLUMN_NAMES
    }

    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(IafPscAlphaState {
            v_rel: vec![0.0; n],
            i_ex: vec![0.0; n],
            di_ex: vec![0.0; n],
            i_in: vec![0.0; n],
            di_in: vec![0.0; n],
            refractory: vec![0; n],
        })
    }

    fn recordables(&self) -> &'static [&'static str] {
        &["V_m", "I_syn_ex", "I_syn_in"]
    }
}

/// One synapse type's alpha kernel over one step.
#[derive(Clone, Debug, PartialEq)]
pub struct AlphaSynapse {
    /// Decay of the derivative and of the current, e^(-h/tau_syn).
    pub p11: f64,
    /// The derivative's contribution to the current, h e^(-h/tau_syn).
    pub p21: f64,
    /// The derivative's and the current's contributions to the membrane.
    pub p31: f64,
    pub p32: f64,
    /// Derivative jump per pA of weight, e / tau_syn (the current then peaks at the weight).
    pub per_weight: f64,
}

impl AlphaSynapse {
    fn new(tau_syn: f64, tau_m: f64, c_m: f64, h: f64) -> Self {
        let decay_m = (-h / tau_m).exp();
        let gap = 1.0 / tau_syn - 1.0 / tau_m;
        let (p31, p32) = if (gap * h).abs() < 1e-8 {
            // tau_syn = tau_m: the limits of the expressions below.
            (decay_m * h * h / (2.0 * c_m), decay_m * h / c_m)
        } else {
            // Membrane response over h to a unit derivative (alpha current t e^(-t/tau_syn)) and to a unit
            // current (e^(-t/tau_syn)), from rest: e^(-h/tau_m) times integrals of e^(-gap u).
            let decayed = -(-gap * h).exp_m1(); // 1 - e^(-gap h)
            let p31 = decay_m * (decayed - gap * h * (-gap * h).exp()) / (gap * gap * c_m);
            (p31, decay_m * decayed / (gap * c_m))
        };
        let p11 = (-h / tau_syn).exp();
        Self { p11, p21: h * p11, p31, p32, per_weight: std::f64::consts::E / tau_syn }
    }
}

/// One class of iaf_psc_alpha neurons on a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct IafPscAlphaDynamics {
    pub ex: AlphaSynapse,
    pub inh: AlphaSynapse,
    /// e^(-h/tau_m) - 1 (the membrane's change per step, as a factor of V).
    pub expm1_m: f64,
    /// Response to a constant current over one step, tau_m/C_m (1 - e^(-h/tau_m)).
    pub p30: f64,
    pub i_e: f64,
    pub theta: f64,
    pub v_reset: f64,
    pub v_min: f64,
    pub e_l: f64,
    pub refractory_steps: u32,
}

impl IafPscAlphaDynamics {
    /// The class of parameters `p` on the grid `res`.
    pub fn new(p: &IafPscAlphaParams, res: &Resolution) -> Result<Self, CoreError> {
        p.validate()?;
        let h = res.dt_ms();
        Ok(Self {
            ex: AlphaSynapse::new(p.tau_syn_ex, p.tau_m, p.c_m, h),
            inh: AlphaSynapse::new(p.tau_syn_in, p.tau_m, p.c_m, h),
            expm1_m: (-h / p.tau_m).exp_m1(),
            p30: -p.tau_m / p.c_m * (-h / p.tau_m).exp_m1(),
            i_e: p.i_e,
            theta: p.v_th - p.e_l,
            v_reset: p.v_reset - p.e_l,
            v_min: p.v_min - p.e_l,
            e_l: p.e_l,
            refractory_steps: res.interval_steps("t_ref", p.t_ref)?,
        })
    }

    /// One step of neuron `i` of `s` with the step's input (pA of weight, excitatory and inhibitory).
    /// Returns whether it fired.
    #[inline]
    fn advance(&self, s: &mut IafPscAlphaState, i: usize, in_ex: f64, in_in: f64, i_e: f64) -> bool {
        let (ex, inh) = (&self.ex, &self.inh);
        if s.refractory[i] == 0 {
            let v = s.v_rel[i];
            let membrane =
                self.p30 * i_e + ex.p31 * s.di_ex[i] + ex.p32 * s.i_ex[i] + inh.p31 * s.di_in[i] + inh.p32 * s.i_in[i];
            s.v_rel[i] = (membrane + self.expm1_m * v + v).max(self.v_min);
        } else {
            s.refractory[i] -= 1;
        }
        s.i_ex[i] = ex.p21 * s.di_ex[i] + ex.p11 * s.i_ex[i];
        s.di_ex[i] *= ex.p11;
        s.i_in[i] = inh.p21 * s.di_in[i] + inh.p11 * s.i_in[i];
        s.di_in[i] *= inh.p11;
        s.di_ex[i] += ex.per_weight * in_ex;
        s.di_in[i] += inh.per_weight * in_in;
        if s.v_rel[i] >= self.theta {
            s.refractory[i] = self.refractory_steps;
            s.v_rel[i] = self.v_reset;
            return true;
        }
        false
    }
}

impl NeuronDynamics for IafPscAlphaDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_PSC_ALPHA
    }

    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64) {
        if let Some(s) = state.as_any_mut().downcast_mut::<IafPscAlphaState>() {
            s.v_rel[i] = v_m - self.e_l;
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
        let Some(s) = state.as_any_mut().downcast_mut::<IafPscAlphaState>() else { return };
        let drive = drive.filter(|d| d.active(step));
        for i in range {
            let (mut in_ex, mut in_in) = (f64::from(input[2 * i]), f64::from(input[2 * i + 1]));
            input[2 * i] = 0.0;
            input[2 * i + 1] = 0.0;
            if let Some(d) = drive {
                let x = d.input(bg_keys[i], step);
                // As for spikes: a non-negative weight drives the excitatory current, a negative one the inhibitory.
                if d.weight >= 0.0 {
                    in_ex += x;
                } else {
                    in_in += x;
                }
            }
            let i_e = if current.is_empty() { self.i_e } else { self.i_e + current[i] };
            if self.advance(s, i, in_ex, in_in, i_e) {
                fired.push(i as u32);
            }
        }
    }

    fn recordable(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        self.read(state, var, i)
    }
}

impl IafPscAlphaDynamics {
    fn read(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        match (state.as_any().downcast_ref::<IafPscAlphaState>(), var) {
            (Some(s), 0) => s.v_rel[i] + self.e_l,
            (Some(s), 1) => s.i_ex[i],
            (Some(s), 2) => s.i_in[i],
            _ => f64::NAN,
        }
    }
}

impl NeuronParameters for IafPscAlphaParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_PSC_ALPHA
    }

    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        Ok(Box::new(IafPscAlphaDynamics::new(self, res)?))
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

    fn at_rest() -> IafPscAlphaState {
        let mut s = IafPscAlphaState::default();
        for c in [&mut s.v_rel, &mut s.i_ex, &mut s.di_ex, &mut s.i_in, &mut s.di_in] {
            c.push(0.0);
        }
        s.refractory.push(0);
        s
    }

    #[test]
    fn a_weight_gives_a_current_that_peaks_at_the_weight_after_tau_syn() {
        let p = IafPscAlphaParams { tau_syn_ex: 2.0, ..IafPscAlphaParams::default() };
        let d = IafPscAlphaDynamics::new(&p, &Resolution::new(0.1).unwrap()).unwrap();
        let mut s = at_rest();
        d.advance(&mut s, 0, 100.0, 0.0, d.i_e);
        let mut peak: (usize, f64) = (0, 0.0);
        for k in 1..100 {
            d.advance(&mut s, 0, 0.0, 0.0, d.i_e);
            if s.i_ex[0] > peak.1 {
                peak = (k, s.i_ex[0]);
            }
        }
        assert_eq!(peak.0, 20, "the peak comes tau_syn = 20 steps after the input");
        assert!((peak.1 - 100.0).abs() < 1e-9, "{}", peak.1);
    }

    #[test]
    fn the_membrane_kernel_matches_the_alpha_psp_in_closed_form() {
        // PSP of an alpha current w e/tau_s t e^(-t/tau_s) on a membrane (tau_m, C):
        // V(t) = w e / (tau_s C) * e^(-t/tau_m) (1 - e^(-a t)(1 + a t)) / a^2, a = 1/tau_s - 1/tau_m.
        let p = IafPscAlphaParams::default();
        let d = IafPscAlphaDynamics::new(&p, &Resolution::new(0.1).unwrap()).unwrap();
        let mut s = at_rest();
        d.advance(&mut s, 0, 50.0, 0.0, d.i_e);
        let a = 1.0 / 2.0 - 1.0 / 10.0;
        for k in 1..=80 {
            d.advance(&mut s, 0, 0.0, 0.0, d.i_e);
            let t = f64::from(k) * 0.1;
            let v =
                50.0 * std::f64::consts::E / (2.0 * 250.0) * (-t / 10.0).exp() * (1.0 - (-a * t).exp() * (1.0 + a * t))
                    / (a * a);
            assert!((s.v_rel[0] - v).abs() < 1e-12, "k = {k}: {} vs {v}", s.v_rel[0]);
        }
    }

    #[test]
    fn equal_time_constants_use_the_limit() {
        let p = IafPscAlphaParams { tau_syn_ex: 10.0, ..IafPscAlphaParams::default() };
        let d = IafPscAlphaDynamics::new(&p, &Resolution::new(0.1).unwrap()).unwrap();
        let near = IafPscAlphaParams { tau_syn_ex: 10.0 * (1.0 + 1e-6), ..IafPscAlphaParams::default() };
        let n = IafPscAlphaDynamics::new(&near, &Resolution::new(0.1).unwrap()).unwrap();
        assert!((d.ex.p31 - n.ex.p31).abs() < 1e-9 * n.ex.p31.abs() + 1e-15);
        assert!((d.ex.p32 - n.ex.p32).abs() < 1e-6 * n.ex.p32.abs());
    }
}
