//! `iaf_psc_exp`: leaky integrate-and-fire with exponential excitatory and inhibitory currents, integrated
//! exactly on the time grid with NEST's propagators and update order (Rotter & Diesmann 1999).

use std::any::Any;
use std::ops::Range;

use crate::neuron_model::{
    check_lif, with_named, ColumnValue, ModelState, NeuronDynamics, NeuronModel, NeuronParameters,
};
use crate::poisson::PoissonTable;
use crate::rng::u64_at;
use crate::{CoreError, Resolution, Step};

/// The model: `iaf_psc_exp`, as NEST names it.
#[derive(Debug)]
pub struct IafPscExp;

/// The model's one instance (models are stateless; classes and state blocks refer to it).
pub static IAF_PSC_EXP: IafPscExp = IafPscExp;

impl NeuronModel for IafPscExp {
    fn name(&self) -> &'static str {
        "iaf_psc_exp"
    }

    fn state_names(&self) -> &'static [&'static str] {
        &IafPscExpState::COLUMN_NAMES
    }

    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(IafPscExpState::new(n))
    }

    fn recordables(&self) -> &'static [&'static str] {
        &["V_m", "I_syn_ex", "I_syn_in"]
    }
}

/// One class of iaf_psc_exp neurons on a grid: its propagators, and E_L for the initial state.
#[derive(Clone, Debug, PartialEq)]
pub struct IafPscExpDynamics {
    pub propagators: Propagators,
    pub e_l: f64,
}

impl NeuronDynamics for IafPscExpDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_PSC_EXP
    }

    fn init(&self, state: &mut dyn ModelState, i: usize, v_m: f64) {
        if let Some(s) = state.as_any_mut().downcast_mut::<IafPscExpState>() {
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
        // The engine gives each class the state block of its own model.
        let Some(s) = state.as_any_mut().downcast_mut::<IafPscExpState>() else { return };
        let prop = &self.propagators;
        if current.is_empty() {
            let dc = prop.p20 * prop.i_e;
            step_population(prop, drive, s, range, bg_keys, input, step, fired, |_| dc);
        } else {
            step_population(prop, drive, s, range, bg_keys, input, step, fired, |i| prop.p20 * (prop.i_e + current[i]));
        }
    }

    fn recordable(&self, state: &dyn ModelState, var: usize, i: usize) -> f64 {
        let Some(s) = state.as_any().downcast_ref::<IafPscExpState>() else { return f64::NAN };
        match var {
            0 => s.v_rel[i] + self.e_l,
            1 => s.i_ex[i],
            2 => s.i_in[i],
            _ => f64::NAN,
        }
    }
}

impl NeuronParameters for IafPscExpParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &IAF_PSC_EXP
    }

    fn compile(&self, res: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        Ok(Box::new(IafPscExpDynamics { propagators: Propagators::new(self, res)?, e_l: self.e_l }))
    }

    fn values(&self) -> Vec<(&'static str, f64)> {
        self.named().to_vec()
    }

    fn with_value(&self, name: &str, value: f64) -> Result<crate::NeuronSpec, CoreError> {
        with_named(self, Self::set, name, value)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Parameters in NEST's units: pF, ms, mV, pA.
#[derive(Clone, Debug, PartialEq)]
pub struct IafPscExpParams {
    pub c_m: f64,
    pub tau_m: f64,
    pub tau_syn_ex: f64,
    pub tau_syn_in: f64,
    pub e_l: f64,
    pub v_th: f64,
    pub v_reset: f64,
    pub t_ref: f64,
    pub i_e: f64,
}

impl IafPscExpParams {
    /// The cortical microcircuit's neurons (Potjans & Diesmann 2014; NEST's C_m and tau_m defaults), for
    /// tests and benchmarks. Model files set every parameter themselves.
    #[must_use]
    pub fn potjans_diesmann() -> Self {
        Self {
            c_m: 250.0,
            tau_m: 10.0,
            tau_syn_ex: 0.5,
            tau_syn_in: 0.5,
            e_l: -65.0,
            v_th: -50.0,
            v_reset: -65.0,
            t_ref: 2.0,
            i_e: 0.0,
        }
    }

    /// The parameters' names, as NEST names them (node tables and model files use them too).
    pub const NAMES: [&'static str; 9] =
        ["C_m", "tau_m", "tau_syn_ex", "tau_syn_in", "E_L", "V_th", "V_reset", "t_ref", "I_e"];

    /// Every parameter with its name, in [`IafPscExpParams::NAMES`] order.
    #[must_use]
    pub fn named(&self) -> [(&'static str, f64); 9] {
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
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }

    /// Sets the parameter `name`; false if iaf_psc_exp has none of that name.
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

/// The exact-integration constants of one population for one step length.
#[derive(Clone, Debug, PartialEq)]
pub struct Propagators {
    pub p22: f64,
    pub p11_ex: f64,
    pub p11_in: f64,
    pub p21_ex: f64,
    pub p21_in: f64,
    pub p20: f64,
    /// Threshold relative to E_L.
    pub theta: f64,
    /// Reset potential relative to E_L.
    pub v_reset: f64,
    pub refractory_steps: u32,
    pub i_e: f64,
}

/// Propagator from a synaptic current to the membrane potential over `h`, in a form that stays accurate
/// when tau_m is close to tau_syn (where the textbook difference of exponentials cancels).
fn p21(tau_syn: f64, tau_m: f64, c_m: f64, h: f64) -> f64 {
    let rate_gap = 1.0 / tau_syn - 1.0 / tau_m; // (tau_m - tau_syn) / (tau_syn tau_m)
    if (rate_gap * h).abs() < 1e-12 {
        return h / c_m * (-h / tau_m).exp();
    }
    // tau_s tau_m / (C (tau_m - tau_s)) (e^{-h/tau_m} - e^{-h/tau_s}) = e^{-h/tau_m} (1 - e^{-h gap}) / (C gap)
    (-h / tau_m).exp() * -(-h * rate_gap).exp_m1() / (c_m * rate_gap)
}

impl Propagators {
    /// Propagators of `p` for the grid `res`.
    pub fn new(p: &IafPscExpParams, res: &Resolution) -> Result<Self, CoreError> {
        p.validate()?;
        let h = res.dt_ms();
        Ok(Self {
            p22: (-h / p.tau_m).exp(),
            p11_ex: (-h / p.tau_syn_ex).exp(),
            p11_in: (-h / p.tau_syn_in).exp(),
            p21_ex: p21(p.tau_syn_ex, p.tau_m, p.c_m, h),
            p21_in: p21(p.tau_syn_in, p.tau_m, p.c_m, h),
            p20: -(-h / p.tau_m).exp_m1() * p.tau_m / p.c_m,
            theta: p.v_th - p.e_l,
            v_reset: p.v_reset - p.e_l,
            refractory_steps: res.interval_steps("t_ref", p.t_ref)?,
            i_e: p.i_e,
        })
    }
}

/// The state of a group of neurons as columns (structure of arrays).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IafPscExpState {
    /// Membrane potential relative to E_L (mV).
    pub v_rel: Vec<f64>,
    /// Excitatory synaptic current (pA).
    pub i_ex: Vec<f64>,
    /// Inhibitory synaptic current (pA, <= 0).
    pub i_in: Vec<f64>,
    /// Refractory steps left.
    pub refractory: Vec<u32>,
}

pub use crate::neuron_model::Column;

impl IafPscExpState {
    /// Names of the state columns, in the order [`IafPscExpState::columns`] returns them.
    pub const COLUMN_NAMES: [&'static str; 4] = ["V_m_rel", "I_syn_ex", "I_syn_in", "refractory_steps"];

    /// `n` neurons at rest with no current.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self { v_rel: vec![0.0; n], i_ex: vec![0.0; n], i_in: vec![0.0; n], refractory: vec![0; n] }
    }

    /// Number of neurons.
    #[must_use]
    pub fn len(&self) -> usize {
        self.v_rel.len()
    }

    /// Whether there are no neurons.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.v_rel.is_empty()
    }

    /// Every state column by name: the one schema that recorders and checkpoints read.
    #[must_use]
    pub fn columns(&self) -> [(&'static str, Column<'_>); 4] {
        [
            (Self::COLUMN_NAMES[0], Column::F64(&self.v_rel)),
            (Self::COLUMN_NAMES[1], Column::F64(&self.i_ex)),
            (Self::COLUMN_NAMES[2], Column::F64(&self.i_in)),
            (Self::COLUMN_NAMES[3], Column::U32(&self.refractory)),
        ]
    }
}

impl ModelState for IafPscExpState {
    fn len(&self) -> usize {
        self.v_rel.len()
    }

    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        IafPscExpState::columns(self).into()
    }

    fn set(&mut self, name: &str, i: usize, value: ColumnValue) -> bool {
        let [v, ex, inh, refractory] = Self::COLUMN_NAMES;
        match (value, name) {
            (ColumnValue::F64(x), n) if n == v => self.v_rel[i] = x,
            (ColumnValue::F64(x), n) if n == ex => self.i_ex[i] = x,
            (ColumnValue::F64(x), n) if n == inh => self.i_in[i] = x,
            (ColumnValue::U32(x), n) if n == refractory => self.refractory[i] = x,
            _ => return false,
        }
        true
    }

    fn bytes_per_neuron(&self) -> usize {
        3 * 8 + 4
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Poisson background of one population: a count per neuron and step from the neuron's own key.
#[derive(Clone, Debug)]
pub struct PoissonDrive {
    pub table: PoissonTable,
    pub weight: f64,
    /// First step that receives input: a generator is active from step 1 on (NEST's `0 < t`) and its
    /// events arrive after the background's delay, so this is delay + 1.
    pub first_step: Step,
    /// Last step that receives input (a generator's `stop` plus its delay; `Step::MAX`: none).
    pub last_step: Step,
}

impl PoissonDrive {
    /// Whether input arrives in step `step`.
    #[inline]
    #[must_use]
    pub fn active(&self, step: Step) -> bool {
        (self.first_step..=self.last_step).contains(&step)
    }

    /// The input (count x weight) of the neuron with background key `key` in step `step`.
    #[inline]
    #[must_use]
    pub fn input(&self, key: u64, step: Step) -> f64 {
        f64::from(self.table.sample_bits(u64_at(key, step))) * self.weight
    }
}

/// Advances the neurons of one population by one step (NEST's order): membrane, current decay, input due in
/// this step, threshold. `input` holds two channels per neuron (excitatory, inhibitory) and is cleared as it
/// is read. `dc(i)` is the membrane's response to the constant currents (I_e and generators') of local
/// neuron `i` over the step. Pushes the local index of every neuron that fires.
#[allow(clippy::too_many_arguments)]
pub fn step_population(
    prop: &Propagators,
    drive: Option<&PoissonDrive>,
    state: &mut IafPscExpState,
    range: std::ops::Range<usize>,
    bg_keys: &[u64],
    input: &mut [f32],
    step: Step,
    fired: &mut Vec<u32>,
    dc: impl Fn(usize) -> f64,
) {
    let drive = drive.filter(|d| d.active(step));
    let first = range.start;
    let neurons = state.v_rel[range.clone()]
        .iter_mut()
        .zip(&mut state.i_ex[range.clone()])
        .zip(&mut state.i_in[range.clone()])
        .zip(&mut state.refractory[range.clone()])
        .zip(input[2 * range.start..2 * range.end].chunks_exact_mut(2))
        .zip(&bg_keys[range]);
    for (i, (((((v, i_ex), i_in), refractory), channels), &key)) in neurons.enumerate() {
        if *refractory == 0 {
            *v = prop.p22 * *v + prop.p21_ex * *i_ex + prop.p21_in * *i_in + dc(first + i);
        } else {
            *refractory -= 1;
        }
        let mut in_ex = f64::from(channels[0]);
        let mut in_in = f64::from(channels[1]);
        channels[0] = 0.0;
        channels[1] = 0.0;
        if let Some(d) = drive {
            let input = d.input(key, step);
            // As for spikes: a non-negative weight drives the excitatory current, a negative one the inhibitory.
            if d.weight >= 0.0 {
                in_ex += input;
            } else {
                in_in += input;
            }
        }
        *i_ex = prop.p11_ex * *i_ex + in_ex;
        *i_in = prop.p11_in * *i_in + in_in;
        if *v >= prop.theta {
            *v = prop.v_reset;
            *refractory = prop.refractory_steps;
            fired.push((first + i) as u32);
        }
    }
}

/// PSC amplitude (pA) that gives a PSP peak of 1 mV for these parameters (the microcircuit's conversion;
/// valid for tau_syn != tau_m).
#[must_use]
pub fn psc_per_psp(c_m: f64, tau_m: f64, tau_syn: f64) -> f64 {
    let a = 1.0 / (tau_syn - tau_m);
    let pre = tau_m * tau_syn * a / c_m;
    let f = (tau_m / tau_syn).powf(a);
    1.0 / (pre * (f.powf(tau_m) - f.powf(tau_syn)))
}
