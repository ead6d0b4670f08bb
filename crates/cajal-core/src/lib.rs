//! Rank-local engine of cajal: integer time, random streams, neuron models, synapse tables, ring buffers and
//! the per-thread partition that updates neurons and delivers spikes. No I/O, no MPI, no async.

pub mod aeif_cond_exp;
pub mod current_stimulus;
pub mod digest;
pub mod error;
pub mod huge_pages;
pub mod iaf_cond_exp;
pub mod iaf_psc_alpha;
pub mod iaf_psc_delta;
pub mod iaf_psc_exp;
pub mod neuron_model;
pub mod neuron_set;
pub mod npy;
pub mod partition;
pub mod plastic_table;
pub mod poisson;
pub mod poisson_generator;
pub mod ring_buffer;
pub mod rkf45;
pub mod rng;
pub mod spike_generator;
pub mod spike_history;
pub mod stdp;
pub mod stdp_math;
mod stdp_math_tables;
pub mod synapse_table;
pub mod time;

pub use error::CoreError;
pub use neuron_model::{NeuronDynamics, NeuronModel, NeuronParameters, NeuronSpec};
pub use neuron_set::NeuronSet;
pub use time::{Resolution, Step};

/// Global neuron id: 0-based, in population order.
pub type Gid = u32;

/// A spike inside one exchange window, packed as `(lag << 32) | gid` so that sorting the packed values sorts
/// by (lag, source id): the order in which every layout delivers, which keeps input sums layout-independent.
pub type PackedSpike = u64;

/// Packs a spike emitted `lag` steps into its window by neuron `gid`.
#[inline]
#[must_use]
pub fn pack_spike(lag: u32, gid: Gid) -> PackedSpike {
    (u64::from(lag) << 32) | u64::from(gid)
}

/// Splits a packed spike into (lag, gid).
#[inline]
#[must_use]
pub fn unpack_spike(s: PackedSpike) -> (u32, Gid) {
    ((s >> 32) as u32, s as u32)
}
