//! The simulation driver of cajal: builds a rank's part of a network from a recipe, runs the window loop
//! (update, exchange, deliver) on a thread team started for each chunk of a run, and feeds recorders.
//!
//! Phases and what each needs (the driver's dependency graph):
//! ```text
//! recipe ──► decomposition (balancer) ──► construct (pass 1 count, pass 2 fill; per thread)
//!        ──► min-delay all-reduce ──► spike routes (all-to-all) ──► Engine
//! Engine (a RankEngine) ──► advance(chunk) ... ──► export/import state at checkpoints
//!            each chunk: per window  deliver(prev) → update → [barrier] → collect, record, exchange → [barrier]
//! ```

pub mod construct;
pub mod driver;
pub mod error;
pub mod fanout;
pub mod partition;
pub mod plastic_state;
pub mod rank_engine;
pub mod rate_construct;
pub mod rate_engine;
pub mod recorder;
pub mod resources;
pub mod routing;
pub mod state_io;
pub mod state_probe;
pub mod thread_team;

pub use construct::{build_engine, build_engine_on, BuildOptions, ConstructStats, RankStats};
pub use driver::{pack_for_ranks, Engine, RunControl, SpikeObserver};
pub use error::SimError;
pub use fanout::{stream_fanout, Fanout};
pub use partition::{partition, partition_rate};
pub use rank_engine::RankEngine;
pub use rate_construct::{build_rate_engine, build_rate_engine_on, RateStats};
pub use rate_engine::{RateEngine, RateIo, ValueObserver};
pub use recorder::SpikeRecorder;
pub use state_probe::{StateRecording, StateSamples};
pub use thread_team::{run_rounds, Flow, RoundsDone};
