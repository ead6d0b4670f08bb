//! NEST's `poisson_generator` as a population of devices: a generator never fires itself; as in NEST, every
//! connection from it carries a train of its own, drawn on the target's side per step from a key of the
//! (target, connection) pair, so the trains are the same on any layout and need no state in checkpoints.

use std::any::Any;
use std::ops::Range;

use crate::iaf_psc_exp::PoissonDrive;
use crate::neuron_model::{with_named, Column, ColumnValue, ModelState, NeuronDynamics, NeuronModel, NeuronParameters};
use crate::poisson::PoissonTable;
use crate::rng::{stream_key, u64_at, Purpose};
use crate::{CoreError, Gid, NeuronSpec, Resolution, Step};

/// The device model `poisson_generator`.
#[derive(Debug)]
pub struct PoissonGenerator;

/// The model's one instance.
pub static POISSON_GENERATOR: PoissonGenerator = PoissonGenerator;

/// A device has no state of its own: an empty block.
#[derive(Debug, Default)]
pub struct NoState(usize);

impl ModelState for NoState {
    fn len(&self) -> usize {
        self.0
    }
    fn columns(&self) -> Vec<(&'static str, Column<'_>)> {
        Vec::new()
    }
    fn set(&mut self, _: &str, _: usize, _: ColumnValue) -> bool {
        false
    }
    fn bytes_per_neuron(&self) -> usize {
        0
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl NeuronModel for PoissonGenerator {
    fn name(&self) -> &'static str {
        "poisson_generator"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn new_state(&self, n: usize) -> Box<dyn ModelState> {
        Box::new(NoState(n))
    }
    fn recordables(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A generator's parameters, as NEST names them: `rate` (Hz), `start` and `stop` (ms; active for spike
/// times in (start, stop], stop = +inf: no end).
#[derive(Clone, Debug, PartialEq)]
pub struct PoissonGeneratorParams {
    pub rate: f64,
    pub start: f64,
    pub stop: f64,
}

impl Default for PoissonGeneratorParams {
    fn default() -> Self {
        Self { rate: 0.0, start: 0.0, stop: f64::INFINITY }
    }
}

impl PoissonGeneratorParams {
    /// The parameters' names.
    pub const NAMES: [&'static str; 3] = ["rate", "start", "stop"];

    /// Sets parameter `name`; false if there is none of that name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        match name {
            "rate" => self.rate = value,
            "start" => self.start = value,
            "stop" => self.stop = value,
            _ => return false,
        }
        true
    }

    /// Checks the rate and the window, naming the first parameter out of its domain.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(CoreError::invalid("rate", self.rate, "must be a finite number >= 0 (Hz)"));
        }
        if !(self.start.is_finite() && self.start >= 0.0) {
            return Err(CoreError::invalid("start", self.start, "must be a finite time >= 0 (ms)"));
        }
        if self.stop.is_nan() || self.stop < self.start {
            return Err(CoreError::invalid("stop", self.stop, "must not be before start"));
        }
        Ok(())
    }

    /// The train of one connection with delay `delay` steps on the grid `res`: input arrives in steps
    /// (start + delay, stop + delay] (NEST's window: spikes stamped in (start, stop]).
    pub fn drive(&self, res: &Resolution, delay: u32, weight: f64) -> Result<PoissonDrive, CoreError> {
        self.validate()?;
        let start = res.duration_steps("start", self.start)?;
        let stop =
            if self.stop.is_infinite() { Step::MAX - u64::from(delay) } else { res.duration_steps("stop", self.stop)? };
        Ok(PoissonDrive {
            table: PoissonTable::new(self.rate * res.dt_ms() * 1e-3)?,
            weight,
            first_step: start + u64::from(delay) + 1,
            last_step: stop + u64::from(delay),
        })
    }
}

/// A generator's dynamics: nothing to advance; its connections' trains are drawn on their targets' side.
#[derive(Debug)]
pub struct PoissonGeneratorDynamics;

impl NeuronDynamics for PoissonGeneratorDynamics {
    fn model(&self) -> &'static dyn NeuronModel {
        &POISSON_GENERATOR
    }
    fn init(&self, _: &mut dyn ModelState, _: usize, _: f64) {}
    fn step(
        &self,
        _: &mut dyn ModelState,
        range: Range<usize>,
        _: Option<&PoissonDrive>,
        _: &[u64],
        input: &mut [f32],
        _: &[f64],
        _: Step,
        _: &mut Vec<u32>,
    ) {
        input[2 * range.start..2 * range.end].fill(0.0);
    }
    fn recordable(&self, _: &dyn ModelState, _: usize, _: usize) -> f64 {
        f64::NAN
    }
}

impl NeuronParameters for PoissonGeneratorParams {
    fn model(&self) -> &'static dyn NeuronModel {
        &POISSON_GENERATOR
    }
    fn compile(&self, _: &Resolution) -> Result<Box<dyn NeuronDynamics>, CoreError> {
        self.validate()?;
        Ok(Box::new(PoissonGeneratorDynamics))
    }
    fn values(&self) -> Vec<(&'static str, f64)> {
        vec![("rate", self.rate), ("start", self.start), ("stop", self.stop)]
    }
    fn with_value(&self, name: &str, value: f64) -> Result<NeuronSpec, CoreError> {
        with_named(self, Self::set, name, value)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One connection from a generator, as its target's thread draws it.
#[derive(Clone, Debug)]
struct GeneratorInput {
    local: u32,
    key: u64,
    drive: usize,
}

/// The generator trains into one thread's neurons, added to their input channels before each step.
#[derive(Clone, Debug, Default)]
pub struct ThreadPoissonInputs {
    inputs: Vec<GeneratorInput>,
    drives: Vec<PoissonDrive>,
}

impl ThreadPoissonInputs {
    /// Adds the `k`-th generator connection of local neuron `local` (gid `target`) with its train.
    pub fn push(&mut self, seed: u64, local: u32, target: Gid, k: u32, drive: PoissonDrive) {
        let key = stream_key(seed, Purpose::GeneratorInput, (u64::from(target) << 32) | u64::from(k));
        self.inputs.push(GeneratorInput { local, key, drive: self.drives.len() });
        self.drives.push(drive);
    }

    /// Whether no generator reaches this thread.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Adds the input of step `step` to `channels` (two per local neuron: a non-negative weight excites).
    pub fn add_to(&self, step: Step, channels: &mut [f32]) {
        for g in &self.inputs {
            let d = &self.drives[g.drive];
            if d.active(step) {
                let x = f64::from(d.table.sample_bits(u64_at(g.key, step))) * d.weight;
                let channel = 2 * g.local as usize + usize::from(d.weight < 0.0);
                channels[channel] += x as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_window_is_start_plus_delay_exclusive_to_stop_plus_delay() {
        let res = Resolution::new(0.1).unwrap();
        let p = PoissonGeneratorParams { rate: 1e5, start: 1.0, stop: 2.0 };
        let d = p.drive(&res, 5, 1.0).unwrap();
        // NEST 3.10, start 1 ms, stop 2 ms, delay 0.5 ms: input felt in the steps stamped 1.7 .. 2.6 ms.
        assert_eq!((d.first_step, d.last_step), (16, 25));
        let open = PoissonGeneratorParams { rate: 10.0, ..PoissonGeneratorParams::default() };
        assert!(open.drive(&res, 15, 1.0).unwrap().active(u64::MAX - 15));
    }

    #[test]
    fn bad_windows_and_rates_are_refused_by_name() {
        let e = PoissonGeneratorParams { rate: -1.0, ..Default::default() }.validate().unwrap_err();
        assert!(e.to_string().contains("rate"), "{e}");
        let e = PoissonGeneratorParams { start: 5.0, stop: 2.0, rate: 1.0 }.validate().unwrap_err();
        assert!(e.to_string().contains("stop"), "{e}");
    }
}
