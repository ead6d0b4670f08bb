//! Metrics of cajal: per-window, per-phase timers recorded into hdrhistograms on every rank, the merged
//! performance report (`perf.json`, a table) and its plots (PNG and SVG, with a bundled font); spike
//! statistics (rate, CV of inter-spike intervals, synchrony) of any run's spike files.

pub mod histogram_plot;
pub mod plot;
pub mod polar;
pub mod report;
pub mod spike_stats;
pub mod timers;

pub use report::{PerfReport, PhaseStats, RankExtra, RankPerf, RunFacts};
pub use timers::{Phase, PhaseTimers, PHASES};

use thiserror::Error;

/// What can go wrong with metrics.
#[derive(Debug, Error)]
pub enum MetricsError {
    #[error("histogram data: {0}")]
    Histogram(String),
    #[error("plot {path}: {message}")]
    Plot { path: String, message: String },
    /// Writing a report or plot failed.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A file given to read (a report, spike files) is missing or not what it should be.
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    /// Analysis settings that cannot be used (e.g. a bin width).
    #[error("{0}")]
    Settings(String),
}
