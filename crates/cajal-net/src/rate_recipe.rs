//! The recipe of a rate (graded-potential) network: neurons coupled continuously through a transfer
//! function of their voltage, tau dV/dt = -V + b + sum_j w_ij f(V_j) + x(t), described per target neuron
//! so that each rank builds only its part. The spiking [`crate::Recipe`] is its sibling.

use cajal_core::Gid;

/// The transfer function f that turns a neuron's voltage into what its targets receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transfer {
    /// max(V, 0) (flyvis' graded synapses).
    #[default]
    Relu,
    Tanh,
    Linear,
}

impl Transfer {
    /// f(v).
    #[inline]
    #[must_use]
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Self::Relu => v.max(0.0),
            Self::Tanh => v.tanh(),
            Self::Linear => v,
        }
    }
}

/// One neuron's constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateNeuron {
    /// Resting drive b.
    pub bias: f64,
    /// Time constant in seconds (the engine clamps it to >= dt, which keeps explicit Euler stable).
    pub tau_s: f64,
    /// Voltage at step 0.
    pub v_init: f64,
    /// The stimulus channel it receives, if any (e.g. its lattice column).
    pub input_channel: Option<u32>,
    /// Standard deviation of a white-noise term added to its drive every step (0: none), drawn from the
    /// neuron's own stream, so the same on any layout.
    pub noise_std: f64,
}

/// A rate network, described per neuron.
pub trait RateRecipe: Sync {
    /// Number of neurons; gids are `0..num_neurons()`.
    fn num_neurons(&self) -> Gid;
    /// The transfer function (one per network).
    fn transfer(&self) -> Transfer;
    /// The constants of `gid`.
    fn neuron(&self, gid: Gid) -> RateNeuron;
    /// Calls `sink(source, weight)` for every input of `target`, in a fixed order: the order in which the
    /// target sums its input on any layout.
    fn inputs_to(&self, target: Gid, sink: &mut dyn FnMut(Gid, f64));
    /// Where `gid` sits (for the spatial balancer; None: no positions).
    fn position(&self, _gid: Gid) -> Option<crate::space::Point> {
        None
    }
    /// The root seed of the noise streams.
    fn seed(&self) -> u64 {
        0
    }
    /// Number of inputs of `target`, or its expectation (for balancing and memory estimates only; defaults
    /// to counting them).
    fn in_degree(&self, target: Gid) -> usize {
        let mut n = 0;
        self.inputs_to(target, &mut |_, _| n += 1);
        n
    }
}

/// An external drive: one value per channel and step (e.g. a movie, one channel per column).
pub trait Drive: Sync {
    /// Number of channels.
    fn channels(&self) -> usize;
    /// Writes the value of every channel during step `step` into `out` (len [`Drive::channels`]).
    fn fill(&self, step: u64, out: &mut [f64]);
}

/// No drive at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDrive;

impl Drive for NoDrive {
    fn channels(&self) -> usize {
        0
    }
    fn fill(&self, _step: u64, _out: &mut [f64]) {}
}

/// A drive seen from one phase of a run: its steps count from `offset`, or (a warm-up) its first frame is
/// held throughout.
#[derive(Clone, Copy)]
pub struct PhasedDrive<'a> {
    pub inner: &'a dyn Drive,
    pub offset: u64,
    pub hold_first: bool,
}

impl Drive for PhasedDrive<'_> {
    fn channels(&self) -> usize {
        self.inner.channels()
    }
    fn fill(&self, step: u64, out: &mut [f64]) {
        let at = if self.hold_first { 0 } else { step.saturating_sub(self.offset) };
        self.inner.fill(at, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_functions() {
        assert_eq!(Transfer::Relu.apply(-2.0), 0.0);
        assert_eq!(Transfer::Relu.apply(1.5), 1.5);
        assert_eq!(Transfer::Linear.apply(-2.0), -2.0);
        assert!((Transfer::Tanh.apply(0.5) - 0.5f64.tanh()).abs() < 1e-15);
    }
}
