//! The MPI world, when the binary is built with the `mpi` feature.

use cajal_comm::mpi_backend::MpiComm;
use cajal_comm::Communicator;

use crate::error::AppError;
use crate::launch::World;

/// This build can join an MPI job.
pub const AVAILABLE: bool = true;

/// Initialises MPI; the world must have the size the launcher announced.
pub fn init(expected: usize) -> Result<World, AppError> {
    let comm = MpiComm::init().map_err(AppError::from)?;
    if comm.size() != expected && expected > 1 {
        return Err(AppError::bad(format!(
            "the launcher started {expected} processes but MPI's world has {} rank(s): each process would run \
             the whole model on its own. Under srun, pass the MPI library's plugin: --mpi=pmix (Open MPI) or \
             --mpi=pmi2 (MPICH)",
            comm.size()
        )));
    }
    Ok(Box::new(comm))
}
