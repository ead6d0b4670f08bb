//! Network description of cajal: the recipe trait that answers lazy per-neuron questions (so each rank
//! builds only its part), connection rules, weight and delay distributions, and the decomposition of
//! neurons over ranks and threads.

pub mod decomposition;
pub mod distribution;
pub mod error;
pub mod imported;
pub mod network;
pub mod neuron_params;
pub mod parquet_tables;
pub mod rate_recipe;
pub mod recipe;
pub mod rules;
pub mod space;

pub use decomposition::{metis_owners, Balancer, Decomposition, NeuronSet, SynapseGraph};
pub use distribution::Distribution;
pub use error::NetError;
pub use imported::{EdgeTable, NodeTable, SynapseCounts};
pub use network::{DistanceTerms, PopulationNetwork, Projection};
pub use neuron_params::{NeuronClasses, ParameterColumns};
pub use rate_recipe::{Drive, NoDrive, PhasedDrive, RateNeuron, RateRecipe, Transfer};
pub use recipe::{Background, Connection, CurrentGenerator, PlasticClass, PopulationSpec, Query, Recipe};
pub use rules::Rule;
pub use space::{Boundary, CellIndex, Kernel, Placement, Point};
