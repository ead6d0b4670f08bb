//! Typed errors of the network description.

use cajal_core::CoreError;
use thiserror::Error;

/// What can be wrong with a network description.
#[derive(Debug, Error, PartialEq)]
pub enum NetError {
    /// A distribution's parameters are out of their domain; `what` names its use (e.g. a projection's weight).
    #[error("{what}: {reason}")]
    Distribution { what: String, reason: String },
    /// A bounded distribution failed to produce a value within bounds in the allowed number of draws.
    #[error("{what}: no value within the bounds after {tries} draws")]
    RedrawLimit { what: String, tries: u32 },
    /// A structural problem (unknown population, empty population, bad rule parameter).
    #[error("{0}")]
    Invalid(String),
    /// A neuron or time parameter refused by the engine.
    #[error("{context}: {source}")]
    Core { context: String, source: CoreError },
}
