//! Stand-in for the MPI world in builds without the `mpi` feature: an MPI launch of several processes is
//! refused with a message that says how to build with MPI.

use crate::error::AppError;
use crate::launch::World;

/// This build cannot join an MPI job.
pub const AVAILABLE: bool = false;

pub fn init(size: usize) -> Result<World, AppError> {
    if size <= 1 {
        return Ok(Box::new(cajal_comm::Local));
    }
    Err(AppError::bad(format!(
        "started by an MPI launcher with {size} processes, but this binary was built without MPI support; \
         build it with `cargo build --release --features mpi`"
    )))
}
