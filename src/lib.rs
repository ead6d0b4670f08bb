//! cajal: a connectome-scale spiking network simulator. This facade re-exports the library crates; the
//! `cajal` binary (src/main.rs) is the command-line interface.

pub use cajal_comm as comm;
pub use cajal_core as core;
pub use cajal_models as models;
pub use cajal_net as net;
pub use cajal_sim as sim;
