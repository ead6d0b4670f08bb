//! Typed errors of the rank-local engine.

use thiserror::Error;

/// What can go wrong inside the engine: bad parameters handed to it, or a broken internal contract.
#[derive(Debug, Error, PartialEq)]
pub enum CoreError {
    /// A parameter is out of its domain; `name` says which one.
    #[error("{name} = {value}: {reason}")]
    InvalidParameter { name: String, value: String, reason: String },
    /// A table grew past what its index type holds.
    #[error("{what} exceeds {limit}: split the network over more threads or ranks")]
    Capacity { what: String, limit: u64 },
    /// The two construction passes disagreed: the network description is not deterministic.
    #[error("construction passes disagree for target {target}: the network description must answer the same connections twice")]
    NondeterministicRecipe { target: u32 },
    /// A data file cannot be used.
    #[error("{path}: {reason}")]
    File { path: std::path::PathBuf, reason: String },
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidParameter`].
    pub fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> Self {
        Self::InvalidParameter { name: name.to_owned(), value: value.to_string(), reason: reason.to_owned() }
    }
}
