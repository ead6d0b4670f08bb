//! `iaf_psc_delta`: leaky integrate-and-fire whose input spikes jump the membrane potential by their weight
//! (mV), integrated exactly on the time grid in NEST's update order (Brunel 2000's model). Input arriving
//! during the refractory period is dropped, or, with `refractory_input`, kept and added when the neuron
//! comes out of it, discounted by the membrane's decay over the remaining refractory time (NEST's rule).

use std::any::Any;
use std::ops::Range;

use crate::iaf_psc_exp::PoissonDrive;
use crate::neuron_model::{
    check_lif, with_named, Column, ColumnValue, ModelState, NeuronDynamics, NeuronModel, NeuronParameters,
};
use crate::{CoreError, NeuronSpec, Resolution, Step};

/// The model, as NEST names it.
#[derive(Debug)]
pub struct IafPscDelta;

/// The model's one instance.
pub static IAF_PSC_DELTA: IafPscDelta = IafPscDelta;

/// Parameters in NEST's names and units (pF, ms, mV, pA); [`Default`] is NEST's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct IafPscDeltaParams {
    pub c_m: f64,
    pub tau_m: f64,
    pub e_l: f64,
    pub v_th: f64,
    pub v_reset: f64,
    pub t_ref: f64,
    pub i_e: f64,
    /// Lower bound of the membrane potential (absolute; -inf: none).
    pub v_min: f64,
    /// Keep input that arrives during the refractory period (NEST's `refractory_input`).
    pub refractory_input: bool,
}

impl Default for IafPscDeltaParams {
    fn default() -> Self {
        Self {
            c_m: 250.0,
            tau_m: 10.0,
            e_l: -70.0,
            v_th: -55.0,
            v_reset: -70.0,
            t_ref: 2.0,
            i_e: 0.0,
            v_min: f64::NEG_INFINITY,
            refractory_input: false,
        }
    }
}

impl IafPscDeltaParams {
    /// The numeric parameters' names, as NEST names them (`refractory_input` is a flag).
    pub const NAMES: [&'static str; 8] = ["C_m", "tau_m", "E_L", "V_th", "V_reset", "t_ref", "I_e", "V_min"];

    /// Every numeric parameter with its name, in [`IafPscDeltaParams::NAMES`] order.
    #[must_use]
    pub fn named(&self) -> [(&'static str, f64); 8] {
        let values = [self.c_m, self.tau_m, self.e_l, self.v_th, self.v_reset, self.t_ref, self.i_e, self.v_min];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }

    /// Sets the numeric parameter `name` (`refractory_input`: non-zero is true); false if there is none.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let field = match name {
            "C_m" => &mut self.c_m,
            "tau_m" => &mut self.tau_m,
            "E_L" => &mut self.e_l,
            "V_th" => &mut self.v_th,
            "V_reset" => &mut self.v_reset,
            "t_ref" => &mut self.t_ref,
            "I_e" => &mut self.i_e,
            "V_min" => &mut self.v_min,
            "refractory_input" => {
                self.refractory_input = value != 0.0;
                return true;
            }
            _ => return false,
        };
        *field = value;
        true
    }

    /// Checks every parameter; the error names the first one out of its domain.
    pub fn validate(&self) -> Result<(), CoreError> {
        check_lif(&self.named(), &["C_m", "tau_m"])
    }
}

/// The state of a block of iaf_psc_delta neurons as columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IafPscDeltaState {
    /// Membrane potential relative to E_L (mV).
    pub v_rel: Vec<f64>,
    /// Refractory steps left.
    pub refractory: Vec<u32>,
    /// Input kept during the refractory period (mV), with `refractory_input`.
    pub kept_input: Vec<f64>,
}

impl IafPscDeltaState {
    /// Names of the state columns.
    pub const COLUMN_NAMES: [&'static str; 3] = ["V_m_rel", "refractory_steps", "refractory_input_mV"];
}

impl ModelState for IafPscDeltaState {
    fn len(&self) -> usize {
        self.v_rel.len()
    }

    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        let [v, r, kept] = Self::COLUMN_NAMES;
        vec![(v, Column::F64(&self.v_rel)), (r, Column::U32(&self.refractory)), (kept, Column::F64(&self.kept_input))]
    }

    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        let [v, r, kept] = Self::COLUMN_NAMES;
        match (value, name) {
            (ColumnValue::F64(x), n) if n == v => self.v_rel[i] = x,
            (ColumnValue::U32(x), n) if n == r => self.refractory[i] = x,
            (ColumnValue::F64(x), n) if n == kept => self.kept_input[i] = x,
            _ => return false,
        }
        true
    }

    fn bytes_per_neuron(&self) -> usize {
        8 + 4 + 8
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl NeuronModel for IafPscDelta {
    fn name(&self) -> &'static str {
        "iaf_psc_delta"
    }

    fn state_names(&self) -> &'static [&'static str] {
        &IafPscDeltaState::COLUMN_NAMES
    }

    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(IafPscDeltaState { v_rel: vec![0.0; n], refractory: vec![0; n], kept_input: vec![0.0; n] })
    }

    fn recordables(&self) -> &'static [&'static str] {
        &["V_m"]
    }
}

/// One class of iaf_psc_delta neurons on a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct IafPscDeltaDynamics {
    /// Decay of the membrane over one step, e^(-h/tau_m).
    pub p33: f64,
    /// Membrane response to a constant current over one step, tau_m/C_m (1 - e^(-h/tau_m)).
    pub p30: f64,
    pub i_e: f64,
    /// Threshold, reset and lower bound relative to E_L.
    pub theta: f64,
    pub v_reset: f64,
    pub v_min: f64,
    pub e_l: f64,
    pub refractory_steps: u32,
    pub refractory_input: bool,
    /// h / tau_m: the decay of kept input per refractory step left.
    pub h_over_tau: f64,
}

impl IafPscDeltaDynamics {
    /// The class of parameters `p` on the grid `res`.
    pub fn new(p: &IafPscDeltaParams, res: &Resolution) -> Result<Self, CoreError> {
        p.validate()?;
        let h = res.dt_ms();
        Ok(Self {
            p33: (-h / p.tau_m).exp(),
            p30: -p.tau_m / p.c_m * (-h / p.tau_m).exp_m1(),
            i_e: p.i_e,
            theta: p.v_th - p.e_l,
            v_reset: p.v_reset - p.e_l,
            v_min: p.v_min - p.e_l,
            e_l: p.e_l,
            refractory_steps: res.interval_steps("t_ref", p.t_ref)?,
            refractory_input: p.refractory_input,
            h_over_tau: h / p.tau_m,
        })
    }

    /// One step of one neuron (NEST's order): membrane (or refractory countdown), then threshold. `jump`
    /// is the input arriving in this step (mV), `i_e` the constant current (pA: I_e plus generators').
    /// Returns whether it fired.
    #[inline]
    fn advance(&self, v: &mut f64, refractory: &mut u32, kept: &mut f64, jump: f64, i_e: f64) -> bool {
        if *refractory == 0 {
            *v = self.p30 * i_e + self.p33 * *v + jump;
            if *kept != 0.0 {
                *v += *kept;
                *kept = 0.0;
            }
            if *v < self.v_min {
                *v = self.v_min;
            }
        } else {
            if self.refractory_input {
                *kept += jump * (-f64::from(*refractory) * self.h_over_tau).exp();
            }
            *refractory -= 1;
        }
        if *v >= self.theta {
            *refractory = self.refractory_steps;
            *v = self.v_reset;
            return true;
        }
        false
    }
}

impl NeuronDynamics for IafPscDeltaDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_PSC_DELTA
    }

    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64) {
        if let Some(s) = state.as_any_mut().downcast_mut::<IafPscDeltaState>() {
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
        let Some(s) = state.as_any_mut().downcast_mut::<IafPscDeltaState>() else { return };
        // One monomorphic loop per case, so the neuron loop carries no per-neuron branches on them.
        match (drive.filter(|d| d.active(step)), current.is_empty()) {
            (Some(d), true) => {
                self.segment(s, range, input, bg_keys, fired, |j, key| j + d.input(key, step), |_| self.i_e)
            }
            (None, true) => self.segment(s, range, input, bg_keys, fired, |j, _| j, |_| self.i_e),
            (Some(d), false) => self.segment(
                s,
                range,
                input,
                bg_keys,
                fired,
                |j, key| j + d.input(key, step),
                |i| self.i_e + current[i],
            ),
            (None, false) => self.segment(s, range, input, bg_keys, fired, |j, _| j, |i| self.i_e + current[i]),
        }
    }

    fn recordable(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        self.read(state, var, i)
    }
}

impl IafPscDeltaDynamics {
    /// Advances neurons `range`: `jump(synaptic input, background key)` adds the background, `i_e(i)` is
    /// local neuron i's constant current.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &self,
        s: &mut IafPscDeltaState,
        range: Range<usize>,
        input: &mut [f32],
        bg_keys: &[u64],
        fired: &mut Vec<u32>,
        jump: impl Fn(f64, u64) -> f64,
        i_e: impl Fn(usize) -> f64,
    ) {
        let first = range.start;
        let neurons = s.v_rel[range.clone()]
            .iter_mut()
            .zip(&mut s.refractory[range.clone()])
            .zip(&mut s.kept_input[range.clone()])
            .zip(input[2 * range.start..2 * range.end].chunks_exact_mut(2))
            .zip(&bg_keys[range]);
        for (k, ((((v, refractory), kept), channels), &key)) in neurons.enumerate() {
            // Both synapse channels jump the membrane: a delta synapse has no sign-specific kinetics.
            let synaptic = f64::from(channels[0]) + f64::from(channels[1]);
            channels[0] = 0.0;
            channels[1] = 0.0;
            if self.advance(v, refractory, kept, jump(synaptic, key), i_e(first + k)) {
                fired.push((first + k) as u32);
            }
        }
    }

    fn read(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        match (state.as_any().downcast_ref::<IafPscDeltaState>(), var) {
            (Some(s), 0) => s.v_rel[i] + self.e_l,
            _ => f64::NAN,
        }
    }
}

impl NeuronParameters for IafPscDeltaParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_PSC_DELTA
    }

    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        Ok(Box::new(IafPscDeltaDynamics::new(self, res)?))
    }

    fn values(&self) -> Vec<(&'static str, f64)> {
        let mut v = self.named().to_vec();
        v.push(("refractory_input", f64::from(u8::from(self.refractory_input))));
        v
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

    fn run(p: &IafPscDeltaParams, jumps: &[f64]) -> (Vec<f64>, Vec<usize>) {
        let d = IafPscDeltaDynamics::new(p, &Resolution::new(0.1).unwrap()).unwrap();
        let (mut v, mut r, mut kept) = (0.0, 0, 0.0);
        let mut trace = Vec::new();
        let mut spikes = Vec::new();
        for (s, &j) in jumps.iter().enumerate() {
            if d.advance(&mut v, &mut r, &mut kept, j, d.i_e) {
                spikes.push(s);
            }
            trace.push(v);
        }
        (trace, spikes)
    }

    #[test]
    fn a_jump_decays_with_tau_m_and_a_current_settles_at_its_steady_state() {
        let p = IafPscDeltaParams::default();
        let mut jumps = vec![0.0; 50];
        jumps[0] = 2.0;
        let (v, _) = run(&p, &jumps);
        assert_eq!(v[0], 2.0, "the jump enters in its own step");
        assert!((v[10] - 2.0 * (-1.0_f64 / 10.0).exp()).abs() < 1e-12, "{}", v[10]);
        let dc = IafPscDeltaParams { i_e: 100.0, ..IafPscDeltaParams::default() };
        let (v, spikes) = run(&dc, &vec![0.0; 2000]);
        assert!(spikes.is_empty(), "100 pA x 10 ms / 250 pF = 4 mV stays below the 15 mV threshold");
        assert!((v[1999] - 4.0).abs() < 1e-6, "{}", v[1999]);
    }

    #[test]
    fn input_during_the_refractory_period_is_dropped_or_kept_as_nest_does() {
        // A spike at step 0 (jump over threshold), then 1 mV at step 5, inside the 2 ms (20 step) refractory time.
        let mut jumps = vec![0.0; 40];
        jumps[0] = 20.0;
        jumps[5] = 1.0;
        let (dropped, spikes) = run(&IafPscDeltaParams::default(), &jumps);
        assert_eq!(spikes, vec![0]);
        assert_eq!(dropped[25], 0.0, "dropped: the membrane stays at reset");
        let kept = IafPscDeltaParams { refractory_input: true, ..IafPscDeltaParams::default() };
        let (with, _) = run(&kept, &jumps);
        // The spike leaves 20 refractory steps; steps 1..=20 count them down, so the input of step 5 arrives
        // with 16 left: discounted by e^(-16 h / tau_m) and added in step 21, the first free one.
        assert_eq!(with[20], 0.0);
        assert!((with[21] - (-1.6_f64 / 10.0).exp()).abs() < 1e-12, "{}", with[21]);
    }

    #[test]
    fn the_potential_never_falls_below_v_min() {
        let p = IafPscDeltaParams { v_min: -71.0, ..IafPscDeltaParams::default() };
        let (v, _) = run(&p, &[-5.0, 0.0]);
        assert_eq!(v[0], -1.0, "V_min -71 mV is 1 mV below E_L");
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let e = IafPscDeltaParams { tau_m: 0.0, ..IafPscDeltaParams::default() }.validate().unwrap_err();
        assert!(e.to_string().contains("tau_m"), "{e}");
        let e = IafPscDeltaParams { v_reset: -50.0, ..IafPscDeltaParams::default() }.validate().unwrap_err();
        assert!(e.to_string().contains("V_reset"), "{e}");
        assert!(IafPscDeltaParams::default().with_value("tau_syn_ex", 1.0).is_err());
    }
}
