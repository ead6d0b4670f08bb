//! The fly optic lobe (Lappalainen et al. 2024, flyvis 1.2.0): the connectome on a hexagonal lattice of
//! columns: the connectome expanded into neurons and synapses, flyvis-style parameters, and a one-process
//! reference integrator of the graded-potential dynamics (the engine's model builder comes next).

pub mod connectome;
pub mod dynamics;
pub mod hull;
pub mod model_file;
pub mod params;
pub mod recipe;
pub mod stimulus;

pub use connectome::{Connectome, Synapse};
pub use recipe::OpticLobe;
