//! The communicator interface of cajal: the small surface through which ranks exchange spikes and reduce
//! results, with back ends chosen at run time. This issue ships the one-rank back end ([`Local`]); threads
//! and MPI back ends implement the same trait.

use thiserror::Error;

/// A failure of the transport between ranks.
#[derive(Debug, Error)]
pub enum CommError {
    #[error("communication failed: {0}")]
    Transport(String),
}

/// A reduction operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Min,
    Max,
}

/// What every rank can ask of the others. All calls are collective: every rank makes them in the same order.
pub trait Communicator: Send {
    /// This rank's index, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Every rank contributes `local`; every rank receives all contributions concatenated in rank order.
    fn all_gather_u64(&mut self, local: &[u64]) -> Result<Vec<u64>, CommError>;
    /// Element-wise reduction of equally long vectors over all ranks.
    fn all_reduce_u64(&mut self, values: &[u64], op: ReduceOp) -> Result<Vec<u64>, CommError>;
    /// Element-wise reduction of equally long vectors over all ranks.
    fn all_reduce_f64(&mut self, values: &[f64], op: ReduceOp) -> Result<Vec<f64>, CommError>;
    /// Waits for every rank.
    fn barrier(&mut self) -> Result<(), CommError>;
    /// A short name of the back end, for logs and summaries.
    fn backend(&self) -> &'static str;
}

/// The one-rank back end: every collective is the identity.
#[derive(Debug, Default)]
pub struct Local;

impl Communicator for Local {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_gather_u64(&mut self, local: &[u64]) -> Result<Vec<u64>, CommError> {
        Ok(local.to_vec())
    }

    fn all_reduce_u64(&mut self, values: &[u64], _op: ReduceOp) -> Result<Vec<u64>, CommError> {
        Ok(values.to_vec())
    }

    fn all_reduce_f64(&mut self, values: &[f64], _op: ReduceOp) -> Result<Vec<f64>, CommError> {
        Ok(values.to_vec())
    }

    fn barrier(&mut self) -> Result<(), CommError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_collectives_are_the_identity() {
        let mut c = Local;
        assert_eq!((c.rank(), c.size()), (0, 1));
        assert_eq!(c.all_gather_u64(&[3, 1]).unwrap(), vec![3, 1]);
        assert_eq!(c.all_reduce_u64(&[7], ReduceOp::Min).unwrap(), vec![7]);
        assert_eq!(c.all_reduce_f64(&[2.5], ReduceOp::Sum).unwrap(), vec![2.5]);
        c.barrier().unwrap();
    }
}
