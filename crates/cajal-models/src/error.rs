//! Typed errors of model loading: each names the file, the key and the value at fault.

use std::path::PathBuf;

use thiserror::Error;

/// What is wrong with a model file or an override.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A file (the model file, or one it names: connectome, parameters, frames) cannot be read.
    #[error("cannot read {file}: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    /// The file is not valid TOML (or is empty).
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    /// A key holds a value out of its domain or of the wrong type.
    #[error("{file}: key `{key}` = {value}: {reason}")]
    Invalid { file: PathBuf, key: String, value: String, reason: String },
    /// A `--set` override is malformed or names a key the file does not have.
    #[error("--set {arg} (model file {file}): {reason}")]
    Override { file: PathBuf, arg: String, reason: String },
    /// A stimulus spec cannot be used.
    #[error("stimulus `{spec}` (--stimulus or stimulus.spec): {reason}")]
    Stimulus { spec: String, reason: String },
    /// The network built from valid keys is still inconsistent.
    #[error("{file}: {source}")]
    Network { file: PathBuf, source: cajal_net::NetError },
}
