//! The fly optic lobe (Lappalainen et al. 2024, flyvis 1.2.0): the connectome on a hexagonal lattice of
//! columns. This module expands the type-level connectome into neurons and synapses; the graded-potential
//! dynamics that run it come with the model builder.

pub mod connectome;
pub mod hull;

pub use connectome::{Connectome, Synapse};
