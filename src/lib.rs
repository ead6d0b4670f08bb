//! cajal: a connectome-scale neural network simulator. This library is the application layer (the
//! commands, one job for every model, checkpoints, outputs) over the library crates it re-exports; the
//! `cajal` binary (src/main.rs) parses the command line, dispatches and maps errors to exit codes.
//!
//! Layers, each depending only on those below it:
//! ```text
//! commands (run, resume, checkpoints, report, slurm, export-connectome, spike-stats, dry runs)
//!   └─ run_options (model file + flags -> job) ─ launch (back end, ranks, signals)
//!        └─ spiking_run | graded_run ─ job (schedule, chunks)
//!             └─ checkpointing ─ outputs, report, perf, voltage_files, state_files, progress, logging, gather
//!                  └─ cli (options), error (failure classes and exit codes)
//! (tests/module_layers.rs checks that no module reaches back to itself.)
//! ```

pub use cajal_checkpoint as checkpoint;
pub use cajal_comm as comm;
pub use cajal_core as core;
pub use cajal_models as models;
pub use cajal_net as net;
pub use cajal_sim as sim;

pub mod checkpoint_weights;
pub mod checkpointing;
pub mod cli;
pub mod commands;
pub mod error;
pub mod gather;
pub mod graded_run;
pub mod job;
pub mod launch;
pub mod logging;
pub mod outputs;
pub mod perf;
pub mod progress;
pub mod report;
pub mod run_options;
pub mod schedule;
pub mod spiking_run;
pub mod state_files;
pub mod voltage_files;
pub mod weight_files;
