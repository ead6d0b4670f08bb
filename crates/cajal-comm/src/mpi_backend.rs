//! The MPI back end (cargo feature `mpi`, rsmpi 0.8): one rank per process, started by `mpirun`/`srun`.
//! MPI is initialised with `Funneled` threading, since the driver's threads run beside the main thread and
//! only the main thread calls MPI.

use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives, Root};
use mpi::Count;

use crate::{check_root, CommError, Communicator, ReduceOp};

/// This process's rank in `MPI_COMM_WORLD`; finalises MPI when dropped.
pub struct MpiComm {
    // Declared before `_universe` so that it is dropped first.
    world: SimpleCommunicator,
    _universe: Universe,
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiComm(rank {} of {})", self.world.rank(), self.world.size())
    }
}

impl MpiComm {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<Self, CommError> {
        let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or_else(|| CommError::Transport("MPI was already initialised".into()))?;
        if threading < mpi::Threading::Funneled {
            return Err(CommError::Transport(format!("the MPI library offers only {threading:?} threading")));
        }
        Ok(Self { world: universe.world(), _universe: universe })
    }
}

fn count(n: usize) -> Result<Count, CommError> {
    Count::try_from(n).map_err(|_| CommError::Transport(format!("message of {n} elements is too large for MPI")))
}

fn displacements(counts: &[Count]) -> Vec<Count> {
    let mut acc = 0;
    counts
        .iter()
        .map(|&c| {
            let d = acc;
            acc += c;
            d
        })
        .collect()
}

fn operation(op: ReduceOp) -> SystemOperation {
    match op {
        ReduceOp::Sum => SystemOperation::sum(),
        ReduceOp::Min => SystemOperation::min(),
        ReduceOp::Max => SystemOperation::max(),
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_to_all_v(&mut self, send: &[Vec<u64>]) -> Result<Vec<u64>, CommError> {
        let send_counts = send.iter().map(|b| count(b.len())).collect::<Result<Vec<_>, _>>()?;
        let mut recv_counts = vec![0 as Count; send.len()];
        self.world.all_to_all_into(&send_counts[..], &mut recv_counts[..]);
        let flat: Vec<u64> = send.concat();
        let recv_total: usize = recv_counts.iter().map(|&c| c as usize).sum();
        let mut recv = vec![0u64; recv_total];
        let send_displs = displacements(&send_counts);
        let recv_displs = displacements(&recv_counts);
        {
            let sp = Partition::new(&flat[..], &send_counts[..], &send_displs[..]);
            let mut rp = PartitionMut::new(&mut recv[..], &recv_counts[..], &recv_displs[..]);
            self.world.all_to_all_varcount_into(&sp, &mut rp);
        }
        Ok(recv)
    }

    fn all_gather_u64(&mut self, local: &[u64]) -> Result<Vec<u64>, CommError> {
        let mine = count(local.len())?;
        let mut counts = vec![0 as Count; self.size()];
        self.world.all_gather_into(&mine, &mut counts[..]);
        let displs = displacements(&counts);
        let mut out = vec![0u64; counts.iter().map(|&c| c as usize).sum()];
        {
            let mut rp = PartitionMut::new(&mut out[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(local, &mut rp);
        }
        Ok(out)
    }

    fn all_reduce_u64(&mut self, values: &[u64], op: ReduceOp) -> Result<Vec<u64>, CommError> {
        let mut out = vec![0u64; values.len()];
        self.world.all_reduce_into(values, &mut out[..], operation(op));
        Ok(out)
    }

    fn all_reduce_f64(&mut self, values: &[f64], op: ReduceOp) -> Result<Vec<f64>, CommError> {
        let mut out = vec![0f64; values.len()];
        self.world.all_reduce_into(values, &mut out[..], operation(op));
        Ok(out)
    }

    fn broadcast_u64(&mut self, root: usize, data: &mut Vec<u64>) -> Result<(), CommError> {
        check_root(root, self.size())?;
        let root_process = self.world.process_at_rank(count(root)?);
        // The length first, so that every rank can size its buffer (and refuse an oversized one alike).
        let mut len = data.len() as u64;
        root_process.broadcast_into(&mut len);
        let n = usize::try_from(len).map_err(|_| CommError::Transport(format!("a broadcast of {len} words")))?;
        count(n)?;
        if self.rank() != root {
            data.clear();
            data.resize(n, 0);
        }
        root_process.broadcast_into(&mut data[..]);
        Ok(())
    }

    fn barrier(&mut self) -> Result<(), CommError> {
        self.world.barrier();
        Ok(())
    }

    fn abort(&mut self, exit_code: i32) {
        self.world.abort(exit_code)
    }

    fn backend(&self) -> &'static str {
        "mpi"
    }
}
