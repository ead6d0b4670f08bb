//! The dry-run back end: one process plays rank `r` of `P` without the others, so that per-rank
//! construction memory and exchange volume can be measured for large P. Collectives answer with modelled
//! data: every other rank is assumed to contribute what this one does (sums scale by P, minima and maxima
//! are this rank's, gathers repeat this rank's part), and an all-to-all returns only what this rank sends
//! to itself. Anything that needs the other ranks' real data must be computed by streaming the recipe.
//! A broadcast needs the root's real data: the one process stands in for the root as well
//! ([`Communicator::acts_as_root`] is true for every root), computes what the root would, and the
//! broadcast hands it back unchanged, exactly what rank `r` would receive.

use crate::{check_root, CommError, Communicator, ReduceOp};

/// Rank `rank` of a world of `size` that does not exist.
#[derive(Debug)]
pub struct DryRun {
    rank: usize,
    size: usize,
}

impl DryRun {
    /// Plays rank `rank` (< `size`) of `size`.
    #[must_use]
    pub fn new(rank: usize, size: usize) -> Self {
        let size = size.max(1);
        Self { rank: rank.min(size - 1), size }
    }
}

impl Communicator for DryRun {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_to_all_v(&mut self, send: &[Vec<u64>]) -> Result<Vec<u64>, CommError> {
        Ok(send.get(self.rank).cloned().unwrap_or_default())
    }

    fn all_gather_u64(&mut self, local: &[u64]) -> Result<Vec<u64>, CommError> {
        Ok(local.repeat(self.size))
    }

    fn all_reduce_u64(&mut self, values: &[u64], op: ReduceOp) -> Result<Vec<u64>, CommError> {
        Ok(match op {
            ReduceOp::Sum => values.iter().map(|v| v.wrapping_mul(self.size as u64)).collect(),
            ReduceOp::Min | ReduceOp::Max => values.to_vec(),
        })
    }

    fn all_reduce_f64(&mut self, values: &[f64], op: ReduceOp) -> Result<Vec<f64>, CommError> {
        Ok(match op {
            ReduceOp::Sum => values.iter().map(|v| v * self.size as f64).collect(),
            ReduceOp::Min | ReduceOp::Max => values.to_vec(),
        })
    }

    fn broadcast_u64(&mut self, root: usize, _data: &mut Vec<u64>) -> Result<(), CommError> {
        check_root(root, self.size)
    }

    fn acts_as_root(&self, _root: usize) -> bool {
        true
    }

    fn barrier(&mut self) -> Result<(), CommError> {
        Ok(())
    }

    fn abort(&mut self, _exit_code: i32) {}

    fn backend(&self) -> &'static str {
        "dry-run"
    }
}
