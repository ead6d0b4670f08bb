//! Ring buffers of delayed input: one row per future step, two channels (excitatory, inhibitory) per local
//! neuron, so that all synapses of one (source, delay) group write into a single row.

use crate::huge_pages::filled_vec;
use crate::Step;

/// Input due in the next `slots` steps for `n` neurons.
#[derive(Clone, Debug)]
pub struct RingBuffer {
    slots: usize,
    width: usize,
    data: Vec<f32>,
}

impl RingBuffer {
    /// A buffer for `n_neurons` neurons that holds input up to `max_delay` steps ahead.
    #[must_use]
    pub fn new(n_neurons: usize, max_delay: u32) -> Self {
        let slots = max_delay as usize + 1;
        let width = 2 * n_neurons;
        Self { slots, width, data: filled_vec(slots * width, 0.0) }
    }

    /// Number of rows (steps) the buffer spans.
    #[must_use]
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The row of step `step`: channel `2 i` is neuron i's excitatory input, `2 i + 1` its inhibitory.
    #[inline]
    pub fn row_mut(&mut self, step: Step) -> &mut [f32] {
        let start = (step % self.slots as u64) as usize * self.width;
        &mut self.data[start..start + self.width]
    }

    /// The row of step `step`, read-only.
    #[inline]
    #[must_use]
    pub fn row(&self, step: Step) -> &[f32] {
        let start = (step % self.slots as u64) as usize * self.width;
        &self.data[start..start + self.width]
    }
}
