//! The MPI world, when the binary is built with the `mpi` feature.

use anyhow::anyhow;

use cajal_comm::mpi_backend::MpiComm;
use cajal_comm::Communicator;

use crate::launch::World;
use crate::Failure;

/// This build can join an MPI job.
pub const AVAILABLE: bool = true;

/// Initialises MPI; the world must have the size the launcher announced.
pub fn init(expected: usize) -> Result<World, Failure> {
    let comm = MpiComm::init().map_err(|e| Failure::Run(anyhow!(e)))?;
    if comm.size() != expected && expected > 1 {
        return Err(Failure::BadInput(anyhow!(
            "the launcher started {expected} processes but MPI's world has {} rank(s): each process would run \
             the whole model on its own. Under srun, pass the MPI library's plugin: --mpi=pmix (Open MPI) or \
             --mpi=pmi2 (MPICH)",
            comm.size()
        )));
    }
    Ok(Box::new(comm))
}
