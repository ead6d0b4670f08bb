//! Typed errors of checkpoint I/O and validation.

use thiserror::Error;

/// What can go wrong writing, finding or reading a checkpoint.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The URL names no store cajal can use.
    #[error("checkpoint location `{url}`: {reason}")]
    Location { url: String, reason: String },
    /// The S3 bucket does not exist or cannot be reached.
    #[error("checkpoint location `{url}`: {reason}")]
    Bucket { url: String, reason: String },
    /// The store failed.
    #[error("checkpoint store: {context}: {message}")]
    Store { context: String, message: String },
    /// There is no checkpoint (no `latest`, or no manifest for it).
    #[error("no checkpoint at `{url}`: {reason}")]
    Missing { url: String, reason: String },
    /// A shard or manifest does not match what the manifest promises.
    #[error("checkpoint `{checkpoint}` is corrupt: {reason}")]
    Corrupt { checkpoint: String, reason: String },
    /// The checkpoint belongs to another model, seed or format.
    #[error("checkpoint `{checkpoint}` does not match: {reason}")]
    Mismatch { checkpoint: String, reason: String },
}

impl CheckpointError {
    pub(crate) fn store(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Store { context: context.into(), message: e.to_string() }
    }
}
