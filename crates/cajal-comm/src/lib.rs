//! The communicator interface of cajal: the small surface through which ranks exchange spikes and reduce
//! results, with back ends chosen at run time: [`Local`] (one rank), [`threads::ThreadsComm`] (N ranks in
//! one process), [`dry_run::DryRun`] (one process playing rank r of P with modelled collectives) and, with
//! the `mpi` cargo feature, `mpi_backend::MpiComm`. [`collectives`] builds byte-buffer gathers and
//! broadcasts on top of the trait.

pub mod barrier;
pub mod collectives;
pub mod dry_run;
#[cfg(feature = "mpi")]
pub mod mpi_backend;
pub mod threads;

use thiserror::Error;

pub use barrier::SpinBarrier;
pub use collectives::{broadcast_bytes, broadcast_u32s, gather_bytes};
pub use dry_run::DryRun;
pub use threads::{threads_world, ThreadsComm};

/// A failure of the transport between ranks.
#[derive(Debug, Error)]
pub enum CommError {
    #[error("communication failed: {0}")]
    Transport(String),
    /// Another rank failed and aborted the run.
    #[error("another rank failed; this rank stops too")]
    Aborted,
    /// A collective was called with arguments it cannot serve, or received data it cannot decode.
    #[error("collective: {0}")]
    Invalid(String),
}

/// Refuses a broadcast from a rank that is not in the world (every rank refuses alike, since the arguments
/// of a collective agree).
pub(crate) fn check_root(root: usize, size: usize) -> Result<(), CommError> {
    if root < size {
        Ok(())
    } else {
        Err(CommError::Invalid(format!("broadcast from rank {root} in a world of {size}")))
    }
}

/// A reduction operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Min,
    Max,
}

impl ReduceOp {
    /// Folds `b` into `a` element-wise.
    pub fn fold_u64(self, a: &mut [u64], b: &[u64]) {
        for (x, &y) in a.iter_mut().zip(b) {
            *x = match self {
                Self::Sum => x.wrapping_add(y),
                Self::Min => (*x).min(y),
                Self::Max => (*x).max(y),
            };
        }
    }

    /// Folds `b` into `a` element-wise.
    pub fn fold_f64(self, a: &mut [f64], b: &[f64]) {
        for (x, &y) in a.iter_mut().zip(b) {
            *x = match self {
                Self::Sum => *x + y,
                Self::Min => x.min(y),
                Self::Max => x.max(y),
            };
        }
    }
}

/// What every rank can ask of the others. All calls but [`Communicator::abort`] are collective: every rank
/// makes them in the same order. Sums of u64 wrap (the spike digest relies on it).
pub trait Communicator {
    /// This rank's index, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Personalised exchange: `send[r]` goes to rank r (`send.len() == size()`); returns what every rank
    /// sent to this one, concatenated in rank order.
    fn all_to_all_v(&mut self, send: &[Vec<u64>]) -> Result<Vec<u64>, CommError>;
    /// Every rank contributes `local` (lengths may differ); every rank receives all contributions
    /// concatenated in rank order.
    fn all_gather_u64(&mut self, local: &[u64]) -> Result<Vec<u64>, CommError>;
    /// Element-wise reduction of equally long vectors over all ranks, in rank order.
    fn all_reduce_u64(&mut self, values: &[u64], op: ReduceOp) -> Result<Vec<u64>, CommError>;
    /// Element-wise reduction of equally long vectors over all ranks, in rank order.
    fn all_reduce_f64(&mut self, values: &[f64], op: ReduceOp) -> Result<Vec<f64>, CommError>;
    /// Sends `root`'s `data` to every rank: on return every rank's `data` holds what `root`'s held (what the
    /// others held is dropped). Where [`Communicator::acts_as_root`] is true on a rank that is not `root`
    /// (a dry run), `data` is left as it is: that process must already hold the root's data.
    fn broadcast_u64(&mut self, root: usize, data: &mut Vec<u64>) -> Result<(), CommError>;
    /// Whether this process supplies the data of a broadcast from `root`: on rank `root` only, except in a
    /// back end whose one process stands in for the other ranks (a dry run), where it must compute what
    /// `root` would, since nobody else will. Not collective.
    fn acts_as_root(&self, root: usize) -> bool {
        self.rank() == root
    }
    /// Waits for every rank.
    fn barrier(&mut self) -> Result<(), CommError>;
    /// Tells the other ranks that this one failed, so that none waits for it forever. Not collective. A
    /// back end whose ranks are processes (MPI) ends the whole job with `exit_code`.
    fn abort(&mut self, exit_code: i32);
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

    fn all_to_all_v(&mut self, send: &[Vec<u64>]) -> Result<Vec<u64>, CommError> {
        Ok(send.first().cloned().unwrap_or_default())
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

    fn broadcast_u64(&mut self, root: usize, _data: &mut Vec<u64>) -> Result<(), CommError> {
        check_root(root, 1)
    }

    fn barrier(&mut self) -> Result<(), CommError> {
        Ok(())
    }

    fn abort(&mut self, _exit_code: i32) {}

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
        assert_eq!(c.all_to_all_v(&[vec![4, 5]]).unwrap(), vec![4, 5]);
        assert_eq!(c.all_gather_u64(&[3, 1]).unwrap(), vec![3, 1]);
        assert_eq!(c.all_reduce_u64(&[7], ReduceOp::Min).unwrap(), vec![7]);
        assert_eq!(c.all_reduce_f64(&[2.5], ReduceOp::Sum).unwrap(), vec![2.5]);
        let mut data = vec![9, 8];
        c.broadcast_u64(0, &mut data).unwrap();
        assert_eq!(data, vec![9, 8]);
        assert!(c.acts_as_root(0) && !c.acts_as_root(1));
        assert!(matches!(c.broadcast_u64(1, &mut data), Err(CommError::Invalid(_))));
        c.barrier().unwrap();
    }
}
