//! Gathering serialisable values from every rank: JSON over cajal-comm's byte-buffer gather.

use serde::de::DeserializeOwned;
use serde::Serialize;

use cajal_comm::{gather_bytes, Communicator};

use crate::error::AppError;

/// Every rank's `value`, in rank order. Collective.
pub fn gather_json<T: Serialize + DeserializeOwned>(
    comm: &mut dyn Communicator,
    value: &T,
) -> Result<Vec<T>, AppError> {
    let bytes = serde_json::to_vec(value).map_err(AppError::run)?;
    gather_bytes(comm, &bytes)?.iter().map(|b| serde_json::from_slice(b).map_err(AppError::run)).collect()
}
