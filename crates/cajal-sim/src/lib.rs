//! The simulation driver of cajal: builds a rank's part of a network from a recipe, runs the window loop
//! (update, exchange, deliver) on a long-lived set of threads, and feeds recorders.
//!
//! Phases and what each needs (the driver's dependency graph):
//! ```text
//! recipe ──► construct (pass 1 count, pass 2 fill; per thread) ──► min-delay all-reduce ──► Engine
//! Engine ──► run(presim) ──► run(simulate) ──► report (all-reduce counts, digest)
//!            each run: per window  deliver(prev) → update → [barrier] → collect+exchange+record → [barrier]
//! ```

pub mod barrier;
pub mod construct;
pub mod driver;
pub mod error;
pub mod recorder;
pub mod resources;

pub use construct::{build_engine, ConstructStats};
pub use driver::{Engine, SpikeObserver};
pub use error::SimError;
pub use recorder::SpikeRecorder;
