//! Typed errors of the driver.

use thiserror::Error;

/// What can stop a run.
#[derive(Debug, Error)]
pub enum SimError {
    #[error(transparent)]
    Net(#[from] cajal_net::NetError),
    #[error(transparent)]
    Core(#[from] cajal_core::CoreError),
    #[error(transparent)]
    Comm(#[from] cajal_comm::CommError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("thread pool: {0}")]
    ThreadPool(String),
    #[error("{what}: about {needed_gib:.1} GiB needed but only {available_gib:.1} GiB available; use more ranks (or machines) or a smaller --scale")]
    OutOfMemory { what: String, needed_gib: f64, available_gib: f64 },
    #[error("restoring a checkpoint: {0}")]
    Restore(String),
    #[error("spike routing: {0}")]
    Routing(String),
    #[error("a simulation thread failed (panicked or was released by one that did)")]
    WorkerPanic,
}
