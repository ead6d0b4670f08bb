//! Gathering variable-sized data from every rank through the communicator's u64 collectives.

use serde::de::DeserializeOwned;
use serde::Serialize;

use cajal_comm::Communicator;

use crate::error::AppError;

/// Every rank's `bytes`, in rank order (each behind its length, packed into u64 words).
pub fn gather_bytes(comm: &mut dyn Communicator, bytes: &[u8]) -> Result<Vec<Vec<u8>>, AppError> {
    let mut words = vec![bytes.len() as u64];
    words.extend(bytes.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    }));
    let all = comm.all_gather_u64(&words).map_err(AppError::from)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < all.len() {
        let len = all[at] as usize;
        let n_words = len.div_ceil(8);
        let body = all.get(at + 1..at + 1 + n_words).ok_or_else(|| AppError::run("gathered data is truncated"))?;
        out.push(body.iter().flat_map(|w| w.to_le_bytes()).take(len).collect());
        at += 1 + n_words;
    }
    Ok(out)
}

/// Every rank's `value`, in rank order.
pub fn gather_json<T: Serialize + DeserializeOwned>(
    comm: &mut dyn Communicator,
    value: &T,
) -> Result<Vec<T>, AppError> {
    let bytes = serde_json::to_vec(value).map_err(AppError::run)?;
    gather_bytes(comm, &bytes)?.iter().map(|b| serde_json::from_slice(b).map_err(AppError::run)).collect()
}
